"""Responsiveness of the live window: launch, first meter update, UI-thread stalls.

* Launch to visible: from spawning a fresh ``python`` process to the live
  window's first paint (goal: at most 1.5 s, warm: the second launch, with
  the OS file cache warm).
* First meter update: from spawning to the first frame shown by the meters
  (goal: at most 3 s).
* UI-thread stall: a 10 ms QTimer heartbeat on the GUI thread while the app
  monitors a real-time replay of the demo call; the longest gap between two
  beats beyond the 10 ms period is the longest stall (goal: at most 100 ms).

Each measurement runs the real app wiring (:class:`ui.app.CalmLineApp`) in a
child process, with a temporary settings file and call log.

Run: ``/tmp/venv/bin/python benchmarks/ui_responsiveness.py [--seconds 20]``
(``QT_QPA_PLATFORM=offscreen`` for a headless run).
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

logger = logging.getLogger("benchmarks.ui_responsiveness")

HEARTBEAT_MS = 10
GOALS = {"launch_to_visible_s": 1.5, "first_meter_update_s": 3.0, "max_stall_ms": 100.0}


def child(launched_at: float, call: Path, seconds: float) -> dict[str, float | int]:
    """Run the app on ``call`` in real time for ``seconds``; return the timings."""
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer

    from ui.app import CalmLineApp, make_application

    result: dict[str, float | int] = {}
    app = make_application()

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
            if event.type() == QEvent.Type.Paint and "launch_to_visible_s" not in result:
                result["launch_to_visible_s"] = time.time() - launched_at
            return False

    with tempfile.TemporaryDirectory(prefix="calmline-bench-") as tmp:
        calm = CalmLineApp(call, fast=False, settings_path=Path(tmp) / "settings.toml",
                           store_path=Path(tmp) / "calls.db", tray_available=False,
                           chime=lambda: None)
        paint_filter = FirstPaint()
        calm.window.installEventFilter(paint_filter)
        beats: list[float] = []
        heartbeat = QTimer()
        heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(lambda: beats.append(time.perf_counter()))
        frames = [0]

        def on_frame() -> None:
            if not frames[0]:
                result["first_meter_update_s"] = time.time() - launched_at
                heartbeat.start()
                QTimer.singleShot(round(seconds * 1000), app.quit)
            frames[0] += 1

        calm.window.frameShown.connect(on_frame)
        calm.start()
        app.exec()
        calm.shutdown()
        gaps_ms = [(b - a) * 1000 for a, b in zip(beats, beats[1:])]
        result["max_stall_ms"] = max(0.0, max(gaps_ms, default=0.0) - HEARTBEAT_MS)
        result["beats"] = len(beats)
        result["frames_shown"] = frames[0]
        result["frames_coalesced"] = calm.bridge.frames_coalesced
        result["cues_counted"] = sum(calm.window.counts.values())
    return result


def spawn(call: Path, seconds: float) -> dict[str, float | int]:
    """Run :func:`child` in a fresh interpreter, timed from the spawn."""
    launched_at = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", str(launched_at), "--call", str(call),
                          "--seconds", str(seconds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure and print the figures against the goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="how long to monitor the real-time replay")
    parser.add_argument("--call", type=Path, help="the recording to replay (default: demo call)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        sys.stdout.write(json.dumps(child(args.child, args.call, args.seconds)) + "\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    call = args.call
    if call is None:
        from ui.demo_call import default_demo_path
        from ui.demo_call import write_demo_call

        call = default_demo_path()
        if not call.exists():
            write_demo_call(call)
    spawn(call, 1.0)  # warm-up: the goals are for a warm start
    figures = spawn(call, args.seconds)
    logger.info("UI responsiveness (warm start, %s s real-time replay of %s)", args.seconds, call.name)
    for name, goal in GOALS.items():
        value = figures[name]
        verdict = "ok" if value <= goal else "OVER GOAL"
        logger.info("  %-22s %8.3f   goal <= %g  %s", name, value, goal, verdict)
    logger.info("  heartbeats %d, frames shown %d (coalesced %d), events counted %d",
                figures["beats"], figures["frames_shown"], figures["frames_coalesced"],
                figures["cues_counted"])
    return 0 if all(figures[n] <= g for n, g in GOALS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
