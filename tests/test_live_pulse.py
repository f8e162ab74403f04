"""Live capture end to end, on a private PulseAudio server with two null sinks.

A scripted call is played into ``agent_mic`` and ``customer_line`` with
paplay while the engine captures both ``.monitor`` sources, exactly as it
would capture a headset and a softphone's output.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from models.baseline import Baseline
from models.events import EventPhase
from models.frames import FeatureFrame
from monitor.capture import PortAudioHost, make_source
from monitor.engine import EngineOptions, LiveEvent, MonitorEngine, StatusChange
from tests.audio_fixtures import have
from tests.pulse_server import PulseServer, pulse_server
from tests.scripted_calls import (EXPECTED_INTERRUPTION_STARTS_S, UNPLUG_AT_S, UNPLUG_SCRIPT, split_at,
                                  write_interruptions_call)

__all__ = ["pulse_server"]  # the fixture is used by name

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")


class Collector:
    """Keeps everything the engine reports, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[LiveEvent] = []
        self.statuses: list[StatusChange] = []
        self.frames = 0

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        self.frames += 1

    def on_event(self, event: LiveEvent) -> None:
        with self.lock:
            self.events.append(event)

    def on_status(self, status: StatusChange) -> None:
        with self.lock:
            self.statuses.append(status)

    def kinds(self) -> list[str]:
        with self.lock:
            return [s.kind for s in self.statuses]

    def closed(self, kind: str) -> list:
        with self.lock:
            return [e.update.event for e in self.events
                    if e.update.phase is EventPhase.CLOSE and e.update.event.kind.value == kind]

    def wait_for(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False


def start_engine(collector: Collector, tmp_path: Path, host: PortAudioHost | None = None) -> MonitorEngine:
    host = host or PortAudioHost()
    agent = make_source("pulse:agent_mic.monitor", 16000, "microphone", host)
    customer = make_source("pulse:customer_line.monitor", 16000, "customer audio", host)
    engine = MonitorEngine(agent, customer, collector,
                           EngineOptions(store_path=tmp_path / "calls.sqlite3"))
    engine.start()
    # Null-sink monitors deliver their first audio about 2 s after opening.
    assert collector.wait_for(lambda: collector.frames >= 5, 20), "no audio from the monitors"
    return engine


def interruption_starts(collector: Collector) -> list[float]:
    return [e.start_s for e in collector.closed("interruption")]


def play_interruptions_call(pulse_server: PulseServer, tmp_path: Path, collector: Collector,
                            host: PortAudioHost | None = None,
                            meanwhile: Callable[[], None] = lambda: None) -> MonitorEngine:
    """Play the scripted call into both sinks while an engine captures them; ``meanwhile`` runs mid-call."""
    call = write_interruptions_call(tmp_path)
    engine = start_engine(collector, tmp_path, host)
    try:
        t0_frames = collector.frames
        players = [pulse_server.play("agent_mic", call["agent"]),
                   pulse_server.play("customer_line", call["customer"])]
        meanwhile()
        for player in players:
            player.wait(timeout=60)
        time.sleep(1.5)
    finally:
        engine.stop()
    assert engine.error is None
    offset_s = t0_frames * 0.1  # stream time when playback started
    starts = [s - offset_s for s in interruption_starts(collector)]
    assert starts == pytest.approx(EXPECTED_INTERRUPTION_STARTS_S, abs=1.0), starts
    return engine


def test_live_capture_finds_exactly_the_two_interruptions(pulse_server: PulseServer,
                                                          tmp_path: Path) -> None:
    collector = Collector()
    engine = play_interruptions_call(pulse_server, tmp_path, collector)
    assert "call_started" in collector.kinds() and "call_ended" in collector.kinds()
    assert "overflow" not in collector.kinds()
    assert len(engine.open_latencies_s) == 2 and max(engine.open_latencies_s) <= 0.3
    assert all(s.counters.input_overflows == 0 for s in (engine._agent, engine._customer))


def test_unplugged_microphone_is_reported_and_recovered(pulse_server: PulseServer, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.engine")
    call = write_interruptions_call(tmp_path, script=UNPLUG_SCRIPT, name="unplug")
    # The agent's audio goes in two pieces around the unplug, so nothing plays into a vanished sink.
    agent_first, agent_second = split_at(call["agent"], UNPLUG_AT_S, tmp_path)
    collector = Collector()
    engine = start_engine(collector, tmp_path)
    try:
        customer = pulse_server.play("customer_line", call["customer"])
        pulse_server.play("agent_mic", agent_first).wait(timeout=30)
        pulse_server.unload_sink("agent_mic")
        assert collector.wait_for(lambda: "microphone_lost" in collector.kinds(), 10)
        assert len(collector.closed("interruption")) == 1  # the first one, closed before the loss
        pulse_server.load_sink("agent_mic")
        second = pulse_server.play("agent_mic", agent_second)
        assert collector.wait_for(lambda: "microphone_restored" in collector.kinds(), 15)
        second.wait(timeout=40)
        customer.wait(timeout=40)
        time.sleep(1.5)
    finally:
        engine.stop()
    assert engine.error is None
    kinds = collector.kinds()
    assert kinds.index("microphone_lost") < kinds.index("microphone_restored")
    assert "customer_audio_lost" not in kinds
    # Both interruptions are there: the one before the unplug and the one after the recovery.
    assert len(collector.closed("interruption")) == 2
    assert kinds.count("call_started") == 1  # the call survived the unplug
    # The gap was bridged with silence on the agent's side, and the log says how much.
    assert engine._aligner.counters.agent_filled_s > 0
    assert any(r.getMessage().startswith("lines kept in step") for r in caplog.records)


def test_reopening_both_streams_mid_call_is_silent_and_keeps_the_call_in_step(
        pulse_server: PulseServer, tmp_path: Path) -> None:
    # A device-list refresh (or a search for a missing headset) closes and reopens the
    # running streams. The user is not told, the call goes on, and the missing audio is
    # filled in on the call's clock, so later events stay where they happened.
    collector = Collector()
    host = PortAudioHost()

    def reopen_between_the_interruptions() -> None:
        time.sleep(9.0)
        assert host.refresh_device_list(interrupt_running=True, timeout_s=10.0)

    engine = play_interruptions_call(pulse_server, tmp_path, collector, host,
                                     reopen_between_the_interruptions)
    kinds = collector.kinds()
    assert not [k for k in kinds if k.endswith("_lost") or k.endswith("_restored")], kinds
    assert kinds.count("call_started") == 1
    assert all(s.counters.losses == 0 for s in (engine._agent, engine._customer))
    assert engine._aligner.counters.agent_filled_s > 0


def test_devices_command_lists_sources_by_stable_name(pulse_server: PulseServer) -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ui.cli", "devices", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    names = {d["name"]: d["kind"] for d in json.loads(result.stdout)}
    assert names["pulse:agent_mic.monitor"] == "monitor"
    assert names["pulse:customer_line.monitor"] == "monitor"
    assert "default" in names
