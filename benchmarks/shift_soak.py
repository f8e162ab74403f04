"""A shift's worth of calls through the whole desktop app: does its memory stay flat?

Renders a few scripted calls (espeak-ng), strings many of them together into
one recording with a pause after each (longer than the silence that ends a
call, so each is a call of its own in the log), and replays it with
``--fast`` through the real app wiring (:class:`ui.app.CalmLineApp`: live
window, engine, call log, breathing offers) in a fresh interpreter, with a
temporary settings file, call log and user folders. After each call ends the
app process samples itself:

* RSS (kB), Python heap (allocated blocks; traced kB with ``--tracemalloc``)
  and the number of objects the garbage collector tracks;
* open file descriptors, OS threads, Python threads and child processes;
* Qt: top-level widgets, all widgets, the QObjects reachable from the
  application, the app and its windows (and the QTimers among them), and the
  Python wrappers of Qt objects alive;
* the log handlers installed.

It prints the figures after warm-up, after 10 calls and at the end, the growth
per call after warm-up (least squares) and a verdict: the rule is "memory
stays flat over a shift", so every count must end where it was after warm-up
and RSS and the Python heap within a few per cent (allocator noise). The
object types that grew most are listed to point at a leak.

Run: ``QT_QPA_PLATFORM=offscreen /tmp/venv/bin/python benchmarks/shift_soak.py [--calls 100]``
(``--record`` records each call too; ``--json FILE`` keeps the samples).
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import statistics
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from PySide6.QtCore import QObject

    from monitor.engine import LiveEvent, StatusChange
    from ui.app import CalmLineApp

logger = logging.getLogger("benchmarks.shift_soak")

SR_HZ = 16000
PAUSE_S = 12.0
"""Silence after each call, s: more than the 10 s of silence that ends a call."""

FLAT_RATIO = 1.05
"""How far RSS and the Python heap may end above their post-warm-up level (allocator noise)."""

COUNTS = ("gc_objects", "fds", "os_threads", "py_threads", "subprocesses", "top_level_widgets",
          "widgets", "qobjects", "qtimers", "qt_wrappers", "log_handlers")
MEMORY = ("rss_kb", "py_blocks", "traced_kb")
GC_SLACK = 50
"""Objects the garbage collector tracks that may come and go with the moment of a sample."""


# -- the app process ---------------------------------------------------------------------

def _status_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _child_processes() -> int:
    tasks = Path("/proc/self/task")
    return sum(len((task / "children").read_text().split()) for task in tasks.iterdir())


def _fd_kinds() -> dict[str, int]:
    kinds: collections.Counter[str] = collections.Counter()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        kinds[target.split(":")[0] if ":" in target else target] += 1
    return dict(kinds)


def _qt_objects(roots: list[QObject]) -> tuple[int, int]:
    """QObjects reachable from ``roots`` (their trees) and the QTimers among them."""
    from PySide6.QtCore import QObject, QTimer

    seen: dict[int, QObject] = {}
    for root in roots:
        for obj in [root, *root.findChildren(QObject)]:
            seen[id(obj)] = obj
    return len(seen), sum(isinstance(o, QTimer) for o in seen.values())


def _log_handlers() -> int:
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    return sum(len(lg.handlers) for lg in loggers)


def sample(calm: CalmLineApp, call: int, events: int, detail: bool) -> dict:
    """The app process's figures now (on the GUI thread, after a full collection).

    Parameters
    ----------
    calm : CalmLineApp
        The app.
    call : int
        How many calls have ended.
    events : int
        Event updates received so far.
    detail : bool
        Add the object counts by type, the kinds of open files and the top-level widgets.

    Returns
    -------
    dict
        The figures, by name (memory in kB).
    """
    import tracemalloc

    from PySide6.QtWidgets import QApplication
    from shiboken6 import Shiboken

    gc.collect()
    app = QApplication.instance()
    top = QApplication.topLevelWidgets()
    qobjects, qtimers = _qt_objects([app, calm, *top])
    # The sqlite3 module keeps a weak reference to every cursor and prunes the dead
    # ones only every 200 cursors: a sawtooth, not a leak, so dead ones are not counted.
    objects = [o for o in gc.get_objects() if not (type(o) is weakref.ref and o() is None)]
    figures = {
        "call": call,
        "rss_kb": _status_field("VmRSS"),
        "py_blocks": sys.getallocatedblocks(),
        "traced_kb": tracemalloc.get_traced_memory()[0] // 1024 if tracemalloc.is_tracing() else 0,
        "gc_objects": len(objects),
        "fds": len(os.listdir("/proc/self/fd")),
        "os_threads": _status_field("Threads"),
        "py_threads": threading.active_count(),
        "subprocesses": _child_processes(),
        "top_level_widgets": len(top),
        "widgets": len(QApplication.allWidgets()),
        "qobjects": qobjects,
        "qtimers": qtimers,
        "qt_wrappers": len(Shiboken.getAllValidWrappers()),
        "log_handlers": _log_handlers(),
        "event_updates": events,
    }
    if detail:
        figures["types"] = dict(collections.Counter(type(o).__qualname__ for o in objects))
        figures["fd_kinds"] = _fd_kinds()
        figures["top_level"] = sorted(type(w).__name__ for w in top)
    del objects
    return figures


def child(args: argparse.Namespace) -> int:
    """Run the app on the shift recording (``args.child``); print one JSON line per ended call."""
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    from PySide6.QtWidgets import QApplication

    from ui.app import CalmLineApp, make_application

    call_path, folder = args.child, args.child.parent
    detail_calls = {args.warmup, args.calls}

    app = make_application()
    settings = folder / "settings.toml"
    calm = CalmLineApp(call_path, fast=True, settings_path=settings,
                       store_path=folder / "calls.sqlite3", log_replays=True)
    ended, events = [0], [0]

    def on_event(_live: LiveEvent) -> None:
        events[0] += 1

    def on_status(status: StatusChange) -> None:
        if status.kind == "call_ended":
            ended[0] += 1
            if args.breathe:
                # "Breathe now" takes up the offer on screen, or starts an exercise;
                # the agent stops it early (closes the pacer) when the phone rings.
                calm.breathe_now()
                for widget in QApplication.topLevelWidgets():
                    if type(widget).__name__ == "BreathingPacer":
                        widget.close()
            figures = sample(calm, ended[0], events[0], ended[0] in detail_calls)
            sys.stdout.write(json.dumps(figures) + "\n")
            sys.stdout.flush()

    # Connected after the app's own handlers: each sample sees the call fully ended.
    calm.bridge.statusReceived.connect(on_status)
    calm.bridge.eventReceived.connect(on_event)
    left = [args.engine_runs]

    def on_stopped(problem: str) -> None:
        left[0] -= 1
        if problem or not left[0]:
            app.quit()
            return
        # As the agent would after a break: pausing and resuming monitoring starts a
        # new engine (threads, sources, call log connection) on the replay again.
        calm.set_paused(True)
        calm.set_paused(False)

    calm.runner.stopped.connect(on_stopped)
    calm.start()
    if args.history:
        calm.open_history()  # left open: it refreshes after every call
    app.exec()
    calm.shutdown()
    problem = calm.window.status_text
    if "replay has finished" not in problem:
        sys.stderr.write(f"shift_soak: the replay did not finish cleanly: {problem}\n")
        return 1
    return 0


# -- the recording ------------------------------------------------------------------------

def write_shift(path: Path, calls: int, sr_hz: int = SR_HZ) -> float:
    """Write ``calls`` calls (a few scripts in turn, varied gains), each followed by a pause.

    Returns
    -------
    float
        The recording's length in seconds.
    """
    import numpy as np
    import soundfile as sf

    from tests.scripted_calls import INTERRUPTIONS_SCRIPT, UNPLUG_SCRIPT
    from ui.demo_call import DEMO_SCRIPT, NOISE_LEVEL_DBFS, render_call

    # Mostly short calls (speed), with the full demo call (every cue, a breathing
    # prompt after the raised voice) every third call.
    rendered = [render_call(script, sr_hz=sr_hz, seed=i)
                for i, script in enumerate((INTERRUPTIONS_SCRIPT, UNPLUG_SCRIPT, DEMO_SCRIPT))]
    rng = np.random.default_rng(0)
    pause = round(PAUSE_S * sr_hz)
    written = 0
    with sf.SoundFile(path, "w", sr_hz, 2, "PCM_16", format="FLAC") as out:
        for i in range(calls):
            call = rendered[i % len(rendered)] * np.float32(10 ** (rng.uniform(-3, 3) / 20))
            out.write(np.clip(call, -1.0, 1.0))
            noise = rng.standard_normal((pause, 2)).astype(np.float32)
            out.write(noise * np.float32(10 ** (NOISE_LEVEL_DBFS / 20)))
            written += len(call) + pause
    return written / sr_hz


# -- the report ---------------------------------------------------------------------------

def report(samples: list[dict], warmup: int) -> bool:
    """Print the figures and growth; True when everything stayed flat."""
    base = next(s for s in samples if s["call"] == warmup)
    at10 = next((s for s in samples if s["call"] == 10), None)
    last = samples[-1]
    after = [s for s in samples if s["call"] >= warmup]
    logger.info("%-18s %10s %10s %10s %12s %7s  %s", "figure", f"call {warmup}",
                "call 10" if at10 else "", f"call {last['call']}", "per call", "ratio", "verdict")
    flat = True
    for name in MEMORY + COUNTS:
        if name == "traced_kb" and not last[name]:
            continue
        slope = statistics.linear_regression([s["call"] for s in after],
                                             [s[name] for s in after]).slope
        if base[name]:
            ratio = last[name] / base[name]
        else:
            ratio = 1.0 if last[name] == 0 else float("inf")
        if name in MEMORY:
            ok = ratio <= FLAT_RATIO
        else:
            # A few objects come and go with the moment (the engine runs on while the GUI samples).
            slack = GC_SLACK if name == "gc_objects" else 0
            ok = last[name] <= max(s[name] for s in samples if s["call"] <= warmup) + slack
        flat &= ok
        logger.info("%-18s %10d %10s %10d %+12.2f %7.3f  %s", name, base[name],
                    "" if at10 is None else at10[name], last[name], slope, ratio,
                    "flat" if ok else "GROWS")
    if "types" in base and "types" in last:
        grown = sorted(((last["types"].get(t, 0) - n, t) for t, n in
                        {**{t: 0 for t in last["types"]}, **base["types"]}.items()), reverse=True)
        logger.info("object types grown most from call %d to %d: %s", warmup, last["call"],
                    ", ".join(f"{t} {d:+d}" for d, t in grown[:8] if d > 0) or "none")
        if base["fd_kinds"] != last["fd_kinds"]:
            logger.info("open files at call %d: %s; at call %d: %s", warmup, base["fd_kinds"],
                        last["call"], last["fd_kinds"])
        logger.info("top-level widgets at the end: %s", ", ".join(last["top_level"]))
    return flat


def main() -> int:
    """Build the shift, run the app over it and print the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls in the shift (default 100)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="calls before the reference sample (default 5)")
    parser.add_argument("--engine-runs", type=int, default=1, metavar="N",
                        help="split the shift into N monitoring runs (pause and resume between "
                             "them, each a new engine); must divide --calls (default 1)")
    parser.add_argument("--record", action="store_true", help="record each call (FLAC) too")
    parser.add_argument("--history", action="store_true",
                        help="keep the History window open (it refreshes after each call)")
    parser.add_argument("--breathe", action="store_true",
                        help="after each call, press Breathe now and stop the exercise early")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace Python allocations (slower, exact heap figures)")
    parser.add_argument("--json", type=Path, help="write every sample to this file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.warmup < 1 or args.calls <= args.warmup:
        parser.error("needs --calls > --warmup >= 1")
    if args.engine_runs < 1 or args.calls % args.engine_runs:
        parser.error("--engine-runs must divide --calls")
    with tempfile.TemporaryDirectory(prefix="calmline-shift-") as tmp:
        folder = Path(tmp)
        shift = folder / "shift.flac"
        started = time.perf_counter()
        audio_s = write_shift(shift, args.calls // args.engine_runs) * args.engine_runs
        logger.info("shift of %d calls in %d monitoring run(s): %.0f min of audio, written in "
                    "%.0f s", args.calls, args.engine_runs, audio_s / 60,
                    time.perf_counter() - started)
        (folder / "settings.toml").write_text(
            "[general]\nretention_days = 90\n"
            f"recording_enabled = {'true' if args.record else 'false'}\n")
        env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
        # The app's own folders (profile, Qt window state, logs, recordings) are throwaway too.
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[name] = str(folder / name.lower())
        command = [sys.executable, __file__, "--child", str(shift), "--calls", str(args.calls),
                   "--warmup", str(args.warmup), "--engine-runs", str(args.engine_runs)]
        command += [f"--{name}" for name in ("tracemalloc", "history", "breathe")
                    if getattr(args, name)]
        started = time.perf_counter()
        samples = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                samples.append(json.loads(line))
                if len(samples) % 10 == 0:
                    logger.info("  %d calls, RSS %d kB", len(samples), samples[-1]["rss_kb"])
        wall_s = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"shift_soak: the app process failed (exit code {proc.returncode})")
    if args.json is not None:
        args.json.write_text(json.dumps(samples, indent=1))
    if len(samples) != args.calls:
        sys.exit(f"shift_soak: {len(samples)} calls ended, expected {args.calls}: the calls "
                 "were not told apart")
    logger.info("%d calls through the app in %.0f s (%.0fx real time), %d event updates shown",
                len(samples), wall_s, audio_s / wall_s, samples[-1]["event_updates"])
    flat = report(samples, args.warmup)
    logger.info("verdict: %s", "memory and handles stay flat over the shift" if flat
                else "SOMETHING GROWS with every call")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
