"""Live capture on a busy agent PC: overflows, ring fill, engine lag, cue latency, CPU.

Starts a private PulseAudio server with two null sinks, plays a two-party call
into them in a loop, and captures both ``.monitor`` sources through the engine
exactly as ``calmline monitor`` does, once per scenario:

* ``idle``: nothing plays (silence from both monitors);
* ``speech``: the call plays;
* ``busy``: the call plays while one busy-loop process per core runs at
  normal priority and ``dd`` writes to the temporary folder;
* ``gc``: as ``busy``, plus a thread in this process that keeps a large heap
  and runs full garbage collections, which hold the GIL (and so keep the
  audio callbacks from running) for tens to hundreds of milliseconds;
* ``stall4`` and ``stall12``: the call plays and the engine thread is made
  to sleep once, mid-run, for 4 s (the 10 s ring must hold it) or 12 s
  (it cannot: the newest 2 s must be dropped, counted and reported).

Per scenario it prints the input overflows (count and per hour), frames the
rings dropped and the 'overflow' statuses the engine sent, the rings'
high-water mark (largest backlog the engine found at a read, ms), the
engine's lag behind capture (backlog at each read: median, and the largest of
the last 20 reads, to show whether it caught up), source losses and the
silence filled in for them, how much real time is missing from the engine's
timeline, the engine's arrival-to-emission latency of cues (ms; the time the
audio waited in the ring is the lag above), and CalmLine's CPU share (this
process minus the garbage-collecting thread, % of one core). Counts and
ratios only; nothing here is a pass/fail of speed on this machine.

Run from the repository root::

    python benchmarks/capture_under_load.py [--seconds 60] [--scenarios idle,speech,busy,gc,stall4,stall12]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.baseline import Baseline  # noqa: E402
from models.events import EventPhase  # noqa: E402
from models.frames import FeatureFrame  # noqa: E402
from monitor.capture import CaptureSource, PortAudioHost, make_source  # noqa: E402
from monitor.engine import EngineOptions, LiveEvent, MonitorEngine, StatusChange  # noqa: E402
from tests.pulse_server import PulseServer, pulse_tools_missing  # noqa: E402

SR_HZ = 16000
SCENARIOS = ("idle", "speech", "busy", "gc", "stall4", "stall12")
STALL_AT_S = 20.0
"""When the injected engine stall starts, s after the engine started (audio flows by then)."""


class Listener:
    """Keeps what the engine reports; runs on the engine thread."""

    def __init__(self) -> None:
        self.frames = 0
        self.opens: list[LiveEvent] = []
        self.statuses: list[StatusChange] = []

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        self.frames += 1

    def on_event(self, event: LiveEvent) -> None:
        if event.update.phase is EventPhase.OPEN:
            self.opens.append(event)

    def on_status(self, status: StatusChange) -> None:
        self.statuses.append(status)


class RingWatch:
    """Wraps a source's ring read to record the backlog found at each read (engine thread).

    Also notes the wall time of the first and the last read that found audio, so that
    the audio the engine's timeline is missing (or has filled in) can be worked out.
    """

    def __init__(self, source: CaptureSource) -> None:
        ring = source._ring
        self.backlogs: list[int] = []
        self.first: tuple[float, int] | None = None
        self.last_s = 0.0
        read = ring.read

        def watched_read(max_frames: int | None = None) -> np.ndarray:
            backlog = ring.read_available()
            self.backlogs.append(backlog)
            if backlog:
                now_s = time.time()
                self.first = self.first or (now_s, backlog)
                self.last_s = now_s
            return read(max_frames)

        ring.read = watched_read


class GcPressure(threading.Thread):
    """Keeps many small containers alive and runs a full collection every 2 s (holds the GIL).

    Parameters
    ----------
    containers : int
        Dicts to keep alive (each with a list: twice as many containers).
    """

    def __init__(self, containers: int) -> None:
        super().__init__(name="gc-pressure", daemon=True)
        self._containers = containers
        self.stop = threading.Event()
        self.pauses_s: list[float] = []
        self.cpu_s = 0.0

    def run(self) -> None:
        heap = [{"i": i, "v": [i]} for i in range(self._containers)]
        while not self.stop.wait(2.0):
            started = time.perf_counter()
            gc.collect()
            self.pauses_s.append(time.perf_counter() - started)
        del heap
        self.cpu_s = time.thread_time()


def write_call(folder: Path, seconds: float) -> dict[str, Path]:
    """The demo call, repeated to ``seconds``, as one mono file per party."""
    from ui.demo_call import render_call

    demo = render_call(sr_hz=SR_HZ)
    reps = int(np.ceil(seconds * SR_HZ / len(demo)))
    call = np.tile(demo, (reps, 1))[: int(seconds * SR_HZ)]
    paths = {"agent_mic": folder / "agent.wav", "customer_line": folder / "customer.wav"}
    sf.write(paths["agent_mic"], call[:, 0], SR_HZ, subtype="PCM_16")
    sf.write(paths["customer_line"], call[:, 1], SR_HZ, subtype="PCM_16")
    return paths


def run_scenario(name: str, seconds: float, server: PulseServer, call: dict[str, Path],
                 tmp: Path, gc_containers: int) -> dict[str, object]:
    """Capture for ``seconds`` under one scenario and measure."""
    load: list[subprocess.Popen] = []
    players: list[subprocess.Popen] = []
    if name in ("busy", "gc"):
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(os.cpu_count() or 2)]
        load.append(subprocess.Popen(
            ["sh", "-c", f"while true; do dd if=/dev/zero of={tmp}/dd.bin bs=1M count=256 "
                         "conv=fsync status=none; done"]))
    if name != "idle":
        players = [server.play(sink, path) for sink, path in call.items()]
    pressure = GcPressure(gc_containers) if name == "gc" else None
    if pressure is not None:
        pressure.start()
    listener = Listener()
    host = PortAudioHost()
    agent = make_source("pulse:agent_mic.monitor", SR_HZ, "microphone", host)
    customer = make_source("pulse:customer_line.monitor", SR_HZ, "customer audio", host)
    watches = {"agent": RingWatch(agent), "customer": RingWatch(customer)}
    engine = MonitorEngine(agent, customer, listener, EngineOptions())
    stall_s = {"stall4": 4.0, "stall12": 12.0}.get(name, 0.0)
    if stall_s:
        step = engine._step
        stalled = threading.Event()
        started_s = time.monotonic()

        def slow_step(now_s: float) -> bool:
            if not stalled.is_set() and time.monotonic() - started_s >= STALL_AT_S:
                stalled.set()
                time.sleep(stall_s)
            return step(now_s)

        engine._step = slow_step
    cpu0, wall0 = time.process_time(), time.perf_counter()
    engine.start()
    time.sleep(seconds)
    engine.stop()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    if pressure is not None:
        pressure.stop.set()
        pressure.join()
    for process in load:
        process.kill()
        process.wait()
    for player in players:
        server.stop_player(player)
    if engine.error is not None:
        raise RuntimeError(f"{name}: the engine failed: {engine.error!r}")
    harness_cpu_s = pressure.cpu_s if pressure is not None else 0.0
    first_s, first_backlog = watches["agent"].first or (0.0, 0)
    # Real time the agent's audio spans (from the first frame read to the last read)
    # against the engine's timeline: positive when audio is missing from the timeline,
    # negative when silence was filled in (a source taken for lost and reopened).
    missing_s = (watches["agent"].last_s - first_s + first_backlog / SR_HZ
                 - engine._aligner.timeline_s)
    counters = {role: s.counters for role, s in (("agent", agent), ("customer", customer))}
    hours = wall_s / 3600
    backlog_ms = [1000 * b / SR_HZ for w in watches.values() for b in w.backlogs]
    tail = [1000 * b / SR_HZ for w in watches.values() for b in w.backlogs[-20:]]
    overflows = sum(c.input_overflows for c in counters.values())
    return {
        "scenario": name,
        "wall_s": wall_s,
        "input_overflows": overflows,
        "overflows_per_h": overflows / hours,
        "dropped_frames": sum(c.dropped_frames for c in counters.values()),
        "stream_errors": sum(c.stream_errors for c in counters.values()),
        "high_water_ms": max(backlog_ms, default=0.0),
        "lag_median_ms": statistics.median(backlog_ms) if backlog_ms else 0.0,
        "lag_end_ms": max(tail, default=0.0),
        "overflow_statuses": sum(s.kind == "overflow" for s in listener.statuses),
        "timeline_missing_s": missing_s,
        "filled_s": engine._aligner.counters.agent_filled_s,
        "losses": sum(c.losses for c in counters.values()),
        "cues": len(listener.opens),
        "engine_latency_ms": ((1000 * statistics.median(engine.open_latencies_s),
                               1000 * max(engine.open_latencies_s))
                              if engine.open_latencies_s else None),
        "cpu_pct": 100 * (cpu_s - harness_cpu_s) / wall_s,
        "gc_pause_ms": (1000 * max(pressure.pauses_s)) if pressure and pressure.pauses_s else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="capture time per scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, from {', '.join(SCENARIOS)}")
    parser.add_argument("--gc-objects", type=int, default=1_000_000,
                        help="dicts the 'gc' scenario keeps alive (its pauses grow with it)")
    args = parser.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    missing = pulse_tools_missing()
    if missing:
        sys.exit(f"capture_under_load: needs {', '.join(missing)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="calmline-load-") as tmp_name:
        tmp = Path(tmp_name)
        call = write_call(tmp, args.seconds + 30)
        (tmp / "pulse").mkdir()
        server = PulseServer(tmp / "pulse", ["agent_mic", "customer_line"])
        saved = {k: os.environ.get(k) for k in server.client_env}
        os.environ.update(server.client_env)
        server.start()
        try:
            for name in names:
                results.append(run_scenario(name, args.seconds, server, call, tmp, args.gc_objects))
                print(format_row(results[-1]), flush=True)
        finally:
            server.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return 0


def format_row(r: dict[str, object]) -> str:
    """One line per scenario."""
    def pair(value: object) -> str:
        return "-" if value is None else f"{value[0]:.0f}/{value[1]:.0f}"

    gc_ms = r["gc_pause_ms"]
    return (f"{r['scenario']:8s} {r['wall_s']:.0f} s: input overflows {r['input_overflows']} "
            f"({r['overflows_per_h']:.0f}/h), dropped {r['dropped_frames']} frames, "
            f"'overflow' statuses {r['overflow_statuses']}, stream errors {r['stream_errors']}; "
            f"ring high-water {r['high_water_ms']:.0f} ms, lag median {r['lag_median_ms']:.0f} ms, "
            f"at end {r['lag_end_ms']:.0f} ms; losses {r['losses']}, agent silence filled {r['filled_s']:.2f} s, "
            f"real time missing from the timeline {r['timeline_missing_s']:+.2f} s; "
            f"cues {r['cues']}, arrival->emit median/max {pair(r['engine_latency_ms'])} ms; "
            f"CPU {r['cpu_pct']:.1f} % of a core"
            + ("" if gc_ms is None else f"; longest GC pause {gc_ms:.0f} ms"))


if __name__ == "__main__":
    sys.exit(main())
