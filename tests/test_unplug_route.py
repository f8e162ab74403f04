"""An unplugged microphone never lends its line to the customer's voice.

When a source vanishes, PulseAudio moves its recording streams onto the
default source, here the customer's line. These tests unplug the agent's
sink while the customer talks, on a private PulseAudio server, with the
periodic ``pactl`` check set far apart so that it cannot be what catches the
move: the server's own announcement must.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.events import EventPhase
from monitor.capture import PortAudioHost, SoundDeviceSource, SourceState
from monitor.engine import EngineOptions, MonitorEngine
from tests.audio_fixtures import have
from tests.pulse_server import PulseServer, pulse_server, write_tone
from tests.test_capture import SR_HZ, Recorder
from tests.test_live_pulse import Collector
from ui.demo_call import Utterance, render_call

__all__ = ["pulse_server"]  # the fixture is used by name

NEVER_S = 600.0
"""A periodic route check this far apart never runs during a test."""


def monitor_source(name: str, role: str, host: PortAudioHost) -> SoundDeviceSource:
    return SoundDeviceSource(f"pulse:{name}.monitor", sr_hz=SR_HZ, role=role, host=host,
                             pulse_check_interval_s=NEVER_S)


def test_the_microphone_line_carries_nothing_of_the_source_it_was_moved_to(
        pulse_server: PulseServer, tmp_path: Path) -> None:
    pulse_server.play("customer_line", write_tone(tmp_path / "customer.wav", 1000.0, 60.0, SR_HZ))
    host = PortAudioHost()
    agent = monitor_source("agent_mic", "microphone", host)
    customer = monitor_source("customer_line", "customer audio", host)
    recorder = Recorder([agent, customer])
    agent.start()
    customer.start()
    try:
        # The microphone's own line is silent, so anything loud on it later is the customer.
        assert recorder.until(lambda: len(recorder.frames(agent)) >= SR_HZ, timeout_s=20)
        unplugged = recorder.mark(agent)
        pulse_server.unload_sink("agent_mic")
        lost = recorder.until(lambda: agent.state is SourceState.LOST, timeout_s=10)
        reason = agent.message
        recorder.until(lambda: False, timeout_s=0.5)  # whatever was left in the ring is read
    finally:
        agent.stop()
        customer.stop()
    after = recorder.frames(agent, unplugged)[:, 0]
    loud_s = np.count_nonzero(np.abs(after) > 0.05) / SR_HZ
    assert loud_s == 0, f"{loud_s:.2f} s of the customer's tone on the microphone's line"
    assert lost and reason == "microphone lost: source agent_mic.monitor went away"
    assert customer.state is SourceState.STOPPED and customer.counters.losses == 0


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the customer")
def test_unplugging_while_the_customer_talks_is_no_interruption(
        pulse_server: PulseServer, tmp_path: Path) -> None:
    script = (Utterance("customer", 0.5, "I have already called three times this week, and every "
                        "time someone tells me it will be fixed tomorrow, and nothing ever "
                        "happens, so I want to speak to a manager right now."),)
    customer_path = tmp_path / "customer.wav"
    sf.write(customer_path, render_call(script, sr_hz=SR_HZ)[:, 1], SR_HZ, subtype="PCM_16")
    collector = Collector()
    host = PortAudioHost()
    engine = MonitorEngine(monitor_source("agent_mic", "microphone", host),
                           monitor_source("customer_line", "customer audio", host), collector,
                           EngineOptions(store_path=tmp_path / "calls.sqlite3"))
    engine.start()
    try:
        assert collector.wait_for(lambda: collector.frames >= 5, 20), "no audio from the monitors"
        player = pulse_server.play("customer_line", customer_path)
        assert collector.wait_for(lambda: "call_started" in collector.kinds(), 20)
        # Well into the customer's turn, where the agent starting to talk would be cutting in.
        collector.wait_for(lambda: False, 2.0)
        pulse_server.unload_sink("agent_mic")
        player.wait(timeout=60)
        collector.wait_for(lambda: False, 1.5)
    finally:
        engine.stop()
    assert engine.error is None
    with collector.lock:
        interruptions = [e for e in collector.events if e.update.event.kind.value == "interruption"
                         and e.update.phase is EventPhase.OPEN]
    assert interruptions == []
    assert "microphone_lost" in collector.kinds()
    assert "customer_audio_lost" not in collector.kinds()


def test_other_programs_changing_their_streams_do_not_hold_up_the_microphone(
        pulse_server: PulseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Softphones and browsers change their recording streams all the time (volume, corking):
    # only announcements about this stream or its source may hold its audio for a check.
    import monitor.capture

    real = monitor.capture.pulse_stream_route
    asked: list[str] = []

    def counted(name: str, value: str):
        asked.append(value)
        return real(name, value)

    monkeypatch.setattr(monitor.capture, "pulse_stream_route", counted)
    pulse_server.play("customer_line", write_tone(tmp_path / "customer.wav", 1000.0, 60.0, SR_HZ))
    host = PortAudioHost()
    agent = monitor_source("agent_mic", "microphone", host)
    recorder = Recorder([agent])
    other = subprocess.Popen(["parecord", "--device=customer_line.monitor", "--raw", "/dev/null"],
                             env=pulse_server._client_process_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    agent.start()
    try:
        # Running, and named by its first check (asked at once, whatever the interval).
        assert recorder.until(lambda: len(recorder.frames(agent)) >= SR_HZ and asked, timeout_s=20)
        recorder.until(lambda: False, timeout_s=0.5)
        checks = len(asked)
        outputs = json.loads(pulse_server.pactl("-f", "json", "list", "source-outputs"))
        (others_index,) = [o["index"] for o in outputs
                           if o["properties"].get("application.name") == "parecord"]
        for volume in ("50%", "80%", "30%"):
            pulse_server.pactl("set-source-output-volume", str(others_index), volume)
        mark = recorder.mark(agent)
        recorder.until(lambda: False, timeout_s=1.0)
    finally:
        agent.stop()
        other.terminate()
        other.wait(timeout=5)
    assert len(asked) == checks, "another program's stream made the microphone stop to check"
    assert len(recorder.frames(agent, mark)) >= 0.8 * SR_HZ
    assert agent.counters.losses == 0
