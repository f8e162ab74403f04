"""Cost and latency of the live path (ring buffer, engine thread, rules, store).

* Speed: a 60-minute two-party call replayed with ``--fast`` through the
  engine, as a ratio to real time (goal: 50x or better, i.e. at most 2 % of
  one core during a real call). CPU time is printed too.
* Latency: the demo call replayed in real time; for each event, the time from
  the moment its condition was met in the audio to its emission (goal: at most
  300 ms).

Run: ``.venv/bin/python benchmarks/live_path_speed.py [--minutes 60] [--skip-latency]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ui.cli import use_one_blas_thread  # noqa: E402

use_one_blas_thread()  # as the calmline command does, before numpy loads

from benchmarks.long_calls import WORK, long_call  # noqa: E402
from models.baseline import Baseline  # noqa: E402
from models.events import EventPhase  # noqa: E402
from models.frames import FeatureFrame  # noqa: E402
from monitor.audio_file import CallRecording  # noqa: E402
from monitor.capture import FileReplaySource  # noqa: E402
from monitor.engine import EngineOptions, LiveEvent, MonitorEngine, StatusChange  # noqa: E402
from ui.demo_call import write_demo_call  # noqa: E402


class Tally:
    """Counts what the engine reports and keeps OPEN updates with their emission time."""

    def __init__(self) -> None:
        self.events = 0
        self.opens: list[LiveEvent] = []
        self.started_wall: float | None = None

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        pass

    def on_event(self, event: LiveEvent) -> None:
        self.events += 1
        if event.update.phase is EventPhase.OPEN:
            self.opens.append(event)

    def on_status(self, status: StatusChange) -> None:
        if status.kind == "monitoring_started":
            self.started_wall = status.wall_time_s


def replay(path: Path, fast: bool, store: Path) -> tuple[float, float, Tally, MonitorEngine]:
    tally = Tally()
    source = FileReplaySource(CallRecording(path), fast=fast)
    engine = MonitorEngine(source, None, tally, EngineOptions(store_path=store, stereo_channels=(0, 1)))
    wall, cpu = time.perf_counter(), time.process_time()
    engine.start()
    engine.join()
    if engine.error is not None:
        sys.exit(f"live_path_speed: the engine failed: {engine.error}")
    return time.perf_counter() - wall, time.process_time() - cpu, tally, engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        call = long_call(args.minutes)
        wall_s, cpu_s, tally, _ = replay(call, fast=True, store=Path(tmp) / "calls.sqlite3")
        audio_s = args.minutes * 60
        print(f"live path, {args.minutes} min replayed --fast: {wall_s:.1f} s wall, {cpu_s:.1f} s CPU, "
              f"{tally.events} event updates")
        ratio = audio_s / wall_s
        print(f"speed: {ratio:.0f}x real time (goal >= 50x) {'OK' if ratio >= 50 else 'UNDER'}; "
              f"CPU per second of call: {100 * cpu_s / audio_s:.2f} % of one core")
        if args.skip_latency:
            return 0
        demo = write_demo_call(WORK / "demo_call.wav")
        _, _, tally, engine = replay(demo, fast=False, store=Path(tmp) / "latency.sqlite3")
        assert tally.started_wall is not None
        lat = [e.wall_time_s - (tally.started_wall + e.update.event.end_s) for e in tally.opens]
        print(f"latency in real-time replay of the demo call ({len(lat)} events): "
              f"median {1000 * statistics.median(lat):.0f} ms, max {1000 * max(lat):.0f} ms "
              f"(goal <= 300 ms) {'OK' if max(lat) <= 0.3 else 'OVER'}")
        inner = list(engine.open_latencies_s)
        print(f"  of which inside the engine (audio arrival to emission): "
              f"median {1000 * statistics.median(inner):.0f} ms, max {1000 * max(inner):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
