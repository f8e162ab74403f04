"""A long real-time capture with the machine's other core busy: are there overflows?

Starts a private PulseAudio server with two null sinks, plays a long
two-party call into them, captures both ``.monitor`` sources through the
engine (as a headset and a softphone's output would be captured) while a
busy-loop process keeps another core at 100 %, and prints the fault counters
and the engine's CPU share. Goal (issue 3): no input overflows in 10 minutes.

Run: ``.venv/bin/python benchmarks/capture_soak.py [--minutes 10]``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.long_calls import long_call  # noqa: E402
from models.baseline import Baseline  # noqa: E402
from models.frames import FeatureFrame  # noqa: E402
from monitor.capture import PortAudioHost, make_source  # noqa: E402
from monitor.engine import EngineOptions, LiveEvent, MonitorEngine, StatusChange  # noqa: E402
from tests.pulse_server import PulseServer, pulse_tools_missing  # noqa: E402


class Tally:
    """Counts event updates and 'overflow' statuses (on the engine thread)."""

    def __init__(self) -> None:
        self.events = 0
        self.overflow_statuses = 0

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        pass

    def on_event(self, event: LiveEvent) -> None:
        self.events += 1

    def on_status(self, status: StatusChange) -> None:
        self.overflow_statuses += status.kind == "overflow"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    missing = pulse_tools_missing()
    if missing:
        sys.exit(f"capture_soak: needs {', '.join(missing)}")
    call = long_call(max(10, int(args.minutes + 1)))
    with tempfile.TemporaryDirectory(prefix="calmline-soak-") as tmp:
        tmp_path = Path(tmp)
        x, sr = sf.read(call, dtype="float32", frames=int((args.minutes * 60 + 30) * 16000))
        sf.write(tmp_path / "agent.wav", x[:, 0], sr, subtype="PCM_16")
        sf.write(tmp_path / "customer.wav", x[:, 1], sr, subtype="PCM_16")
        (tmp_path / "pulse").mkdir()
        server = PulseServer(tmp_path / "pulse", ["agent_mic", "customer_line"])
        os.environ.update(server.client_env)
        server.start()
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            tally = Tally()
            host = PortAudioHost()
            agent = make_source("pulse:agent_mic.monitor", 16000, "microphone", host)
            customer = make_source("pulse:customer_line.monitor", 16000, "customer audio", host)
            engine = MonitorEngine(agent, customer, tally,
                                   EngineOptions(store_path=tmp_path / "calls.sqlite3"))
            server.play("agent_mic", tmp_path / "agent.wav")
            server.play("customer_line", tmp_path / "customer.wav")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            engine.start()
            time.sleep(args.minutes * 60)
            engine.stop()
            cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            busy.kill()
            busy.wait()
            server.stop()
    if engine.error is not None:
        # An engine that died at once would otherwise pass as "no overflows".
        sys.exit(f"capture_soak: the engine failed: {engine.error!r}")
    for source in (agent, customer):
        c = source.counters
        print(f"{source.role:15s} input overflows {c.input_overflows}, dropped frames {c.dropped_frames}, "
              f"stream errors {c.stream_errors}, losses {c.losses}")
    overflows = sum(s.counters.input_overflows + s.counters.dropped_frames for s in (agent, customer))
    print(f"{args.minutes:g} min captured with another core busy: {tally.events} event updates, "
          f"{tally.overflow_statuses} 'overflow' statuses, "
          f"CPU {100 * cpu_s / wall_s:.2f} % of one core; overflows {overflows} (goal 0) "
          f"{'OK' if overflows == 0 else 'FAIL'}")
    return 0 if overflows == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
