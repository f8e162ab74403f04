"""Live capture against a private PulseAudio server, device listing, file replay.

The PulseAudio tests capture the monitors of two null sinks (``agent_mic`` and
``customer_line``) while ``paplay`` plays a different tone into each, through
PortAudio's ALSA ``pulse`` device exactly as CalmLine does on a Linux desktop.
Faults are real: a sink is unloaded (an unplugged headset) and the server is
restarted. Waits use generous timeouts; nothing asserts how fast things happen.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sounddevice as sd
import soundfile as sf

import monitor.capture
from monitor.capture import (
    CaptureChunk,
    CaptureSource,
    FileReplaySource,
    PortAudioHost,
    SoundDeviceSource,
    SourceState,
)
from monitor.audio_file import CallRecording, ChannelChoice
from monitor.devices import (DeviceError, OpenTarget, PulseStreamRoute, list_input_devices,
                             parse_device_spec, resolve_portaudio_input)
from tests.pulse_server import PulseServer, dominant_frequency_hz, pulse_server, write_tone

__all__ = ["pulse_server"]  # the fixture is used by name

SR_HZ = 16000
AGENT_TONE_HZ = 440.0
CUSTOMER_TONE_HZ = 1000.0
TONE_S = 120.0


class Recorder:
    """Plays the engine: polls and reads sources, keeping every chunk."""

    def __init__(self, sources: Iterable[CaptureSource]) -> None:
        self.sources = list(sources)
        self.chunks: dict[CaptureSource, list[CaptureChunk]] = {s: [] for s in self.sources}
        self.states: dict[CaptureSource, set[SourceState]] = {s: set() for s in self.sources}

    def step(self) -> None:
        for source in self.sources:
            source.poll()
            chunk = source.read()
            self.chunks[source].append(chunk)
            self.states[source].add(chunk.status.state)

    def until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline_s = time.monotonic() + timeout_s
        while time.monotonic() < deadline_s:
            self.step()
            if condition():
                return True
            time.sleep(0.05)
        return False

    def frames(self, source: CaptureSource, since_chunk: int = 0) -> np.ndarray:
        chunks = self.chunks[source][since_chunk:]
        if not chunks:
            return np.zeros((0, source.channels), np.float32)
        return np.concatenate([chunk.samples for chunk in chunks])

    def mark(self, source: CaptureSource) -> int:
        return len(self.chunks[source])


@pytest.fixture
def tones(tmp_path: Path) -> dict[str, Path]:
    return {"agent": write_tone(tmp_path / "agent.wav", AGENT_TONE_HZ, TONE_S, SR_HZ),
            "customer": write_tone(tmp_path / "customer.wav", CUSTOMER_TONE_HZ, TONE_S, SR_HZ)}


def tone_hz(samples: np.ndarray) -> float:
    return dominant_frequency_hz(samples[-SR_HZ:, 0], SR_HZ)


def assert_hears(samples: np.ndarray, frequency_hz: float) -> None:
    assert len(samples) >= SR_HZ
    assert abs(tone_hz(samples) - frequency_hz) < 20
    # Not silence, and not a mix with the other party's tone.
    assert float(np.sqrt(np.mean(samples[-SR_HZ:] ** 2))) > 0.05


def two_monitor_sources() -> tuple[PortAudioHost, SoundDeviceSource, SoundDeviceSource]:
    host = PortAudioHost()
    agent = SoundDeviceSource("pulse:agent_mic.monitor", sr_hz=SR_HZ, role="microphone",
                              host=host)
    customer = SoundDeviceSource("pulse:customer_line.monitor", sr_hz=SR_HZ,
                                 role="customer audio", host=host)
    return host, agent, customer


# -- specs and listing -----------------------------------------------------


def test_without_any_input_the_default_says_there_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.devices

    monkeypatch.setattr(monitor.devices, "_portaudio_default_input", lambda: -1)
    monkeypatch.setattr(monitor.devices, "_portaudio_inputs", lambda: [])
    monkeypatch.setattr(monitor.devices, "pulse_sources", lambda: [])
    monkeypatch.setattr(monitor.devices, "pulse_default_source", lambda: None)
    monkeypatch.setattr(monitor.devices, "_wasapi_loopback_devices", lambda: [])
    [default] = list_input_devices()
    assert default.name == "default" and default.max_channels == 0
    assert "none at the moment" in default.label


def test_spec_strings_parse() -> None:
    assert parse_device_spec("default").kind == "default"
    spec = parse_device_spec("pulse:alsa_output.pci.analog-stereo.monitor#1")
    assert (spec.kind, spec.target, spec.channel) == (
        "pulse", "alsa_output.pci.analog-stereo.monitor", 1)
    assert parse_device_spec("3").target == 3
    assert parse_device_spec("Headset #2, ALSA").target == "Headset #2, ALSA"
    with pytest.raises(DeviceError):
        parse_device_spec("pulse:")


def test_device_list_names_every_pulse_source_and_opens_by_that_name(
        pulse_server: PulseServer) -> None:
    # PortAudio lists ALSA's 'pulse' device only if a server answered when it
    # initialised, and this process imported sounddevice before the server ran.
    assert PortAudioHost().refresh_device_list()
    devices = {device.name: device for device in list_input_devices()}
    for name in ("pulse:agent_mic.monitor", "pulse:customer_line.monitor"):
        assert devices[name].kind == "monitor"
        assert devices[name].host_api == "PulseAudio"
        assert resolve_portaudio_input(parse_device_spec(name)).pulse_source == name[6:]
    default_source = pulse_server.pactl("get-default-source").strip()
    assert devices[f"pulse:{default_source}"].default
    assert list(devices)[0] == "default"


def test_unknown_pulse_source_is_a_one_line_error(pulse_server: PulseServer) -> None:
    with pytest.raises(DeviceError) as info:
        resolve_portaudio_input(parse_device_spec("pulse:no_such_source"))
    assert "no_such_source" in str(info.value) and "\n" not in str(info.value)


# -- live capture ----------------------------------------------------------


def test_two_monitors_at_once_each_hear_their_own_party(
        pulse_server: PulseServer, tones: dict[str, Path]) -> None:
    pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    _, agent, customer = two_monitor_sources()
    recorder = Recorder([agent, customer])
    agent.start()
    customer.start()
    try:
        assert recorder.until(lambda: all(len(recorder.frames(s)) >= 2 * SR_HZ
                                          for s in (agent, customer)), timeout_s=20)
    finally:
        agent.stop()
        customer.stop()
    assert_hears(recorder.frames(agent), AGENT_TONE_HZ)
    assert_hears(recorder.frames(customer), CUSTOMER_TONE_HZ)
    for source in (agent, customer):
        counters = source.counters
        assert recorder.states[source] == {SourceState.RUNNING}
        assert counters.input_overflows == 0 and counters.dropped_frames == 0
        assert counters.losses == 0 and counters.stream_errors == 0
        # The sample clock is contiguous across chunks.
        chunks = [c for c in recorder.chunks[source] if len(c.samples)]
        for before, after in zip(chunks, chunks[1:]):
            assert after.first_frame_index == before.first_frame_index + len(before.samples)


def test_unplugged_microphone_is_reported_lost_and_recovers_while_customer_runs(
        pulse_server: PulseServer, tones: dict[str, Path]) -> None:
    agent_player = pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    _, agent, customer = two_monitor_sources()
    recorder = Recorder([agent, customer])
    agent.start()
    customer.start()
    try:
        assert recorder.until(lambda: len(recorder.frames(agent)) >= SR_HZ, timeout_s=20)

        # Unplug: the sink and its monitor vanish. (The player goes first, or
        # PulseAudio would move it onto the customer's sink.)
        pulse_server.stop_player(agent_player)
        pulse_server.unload_sink("agent_mic")
        assert recorder.until(lambda: agent.state is SourceState.LOST, timeout_s=10)
        assert agent.message.startswith("microphone lost")
        # Stay unplugged for a few retry periods.
        assert not recorder.until(lambda: agent.state is SourceState.RUNNING, timeout_s=5)

        pulse_server.load_sink("agent_mic")
        pulse_server.play("agent_mic", tones["agent"])
        back = recorder.mark(agent)
        assert recorder.until(lambda: agent.state is SourceState.RUNNING
                              and len(recorder.frames(agent, back)) >= 2 * SR_HZ, timeout_s=30)
        customer_frames_before_end = customer.frames_stored
        assert recorder.until(lambda: customer.frames_stored > customer_frames_before_end,
                              timeout_s=5)
    finally:
        agent.stop()
        customer.stop()

    assert_hears(recorder.frames(agent, back), AGENT_TONE_HZ)
    assert agent.counters.losses == 1 and agent.counters.recoveries == 1
    assert any(chunk.status.discontinuity for chunk in recorder.chunks[agent][back:])

    # The customer stream ran throughout, without a single gap or fault.
    assert recorder.states[customer] == {SourceState.RUNNING}
    assert customer.counters.losses == 0 and customer.counters.stream_errors == 0
    assert customer.counters.dropped_frames == 0
    assert not any(chunk.status.discontinuity for chunk in recorder.chunks[customer])
    assert_hears(recorder.frames(customer), CUSTOMER_TONE_HZ)


def test_a_missing_headset_interrupts_the_other_party_less_and_less(
        pulse_server: PulseServer, tones: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # A PortAudio-named microphone that is not plugged in (as on Windows or macOS) can
    # only be found again by re-initialising PortAudio, which closes the customer's
    # stream; here the waits are scaled down from 30 s / 120 s to 0.5 s / 4 s.
    pulse_server.play("customer_line", tones["customer"])
    host = PortAudioHost(busy_reinit_interval_s=0.5, max_busy_reinit_interval_s=4.0)
    reinit_times_s: list[float] = []
    real_reinitialise = host._reinitialise_portaudio

    def counted() -> None:
        reinit_times_s.append(time.monotonic())
        real_reinitialise()

    monkeypatch.setattr(host, "_reinitialise_portaudio", counted)
    customer = SoundDeviceSource("pulse:customer_line.monitor", sr_hz=SR_HZ,
                                 role="customer audio", host=host)
    agent = SoundDeviceSource("CalmLine Test USB Headset", sr_hz=SR_HZ, role="microphone",
                              host=host, retry_interval_s=0.1)
    recorder = Recorder([agent, customer])
    customer.start()
    try:
        assert recorder.until(lambda: len(recorder.frames(customer)) >= SR_HZ, timeout_s=20)
        started_s = time.monotonic()
        agent.start()
        recorder.until(lambda: False, timeout_s=12.0)
        back = recorder.mark(customer)
        assert recorder.until(lambda: customer.state is SourceState.RUNNING
                              and len(recorder.frames(customer, back)) >= SR_HZ, timeout_s=10)
    finally:
        agent.stop()
        customer.stop()

    assert agent.counters.recoveries == 0
    # Interruptions at about 0, 0.5, 1.5, 3.5, 7.5 and 11.5 s instead of every 0.5 s.
    busy_s = [t_s for t_s in reinit_times_s if t_s >= started_s]
    waits_s = np.diff(busy_s)
    assert 4 <= len(busy_s) <= 7, waits_s
    assert waits_s[-1] >= 3.9 and np.all(np.diff(waits_s) >= -0.1), waits_s
    # Each reopen was a restart, not a loss: the engine fills the gap without telling the user.
    assert recorder.states[customer] == {SourceState.RUNNING, SourceState.RESTARTING}
    assert customer.counters.losses == 0
    assert any(chunk.status.discontinuity for chunk in recorder.chunks[customer])
    assert_hears(recorder.frames(customer, back), CUSTOMER_TONE_HZ)


def test_sound_server_restart_loses_both_parties_and_both_recover(
        pulse_server: PulseServer, tones: dict[str, Path]) -> None:
    pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    _, agent, customer = two_monitor_sources()
    recorder = Recorder([agent, customer])
    agent.start()
    customer.start()
    try:
        assert recorder.until(lambda: all(len(recorder.frames(s)) >= SR_HZ
                                          for s in (agent, customer)), timeout_s=20)
        pulse_server.restart()
        assert recorder.until(lambda: agent.state is SourceState.LOST
                              and customer.state is SourceState.LOST, timeout_s=10)
        pulse_server.play("agent_mic", tones["agent"])
        pulse_server.play("customer_line", tones["customer"])
        marks = {s: recorder.mark(s) for s in (agent, customer)}
        assert recorder.until(lambda: all(s.state is SourceState.RUNNING
                                          and len(recorder.frames(s, marks[s])) >= 2 * SR_HZ
                                          for s in (agent, customer)), timeout_s=30)
        assert agent.message == "microphone running"
    finally:
        agent.stop()
        customer.stop()
    assert_hears(recorder.frames(agent, marks[agent]), AGENT_TONE_HZ)
    assert_hears(recorder.frames(customer, marks[customer]), CUSTOMER_TONE_HZ)
    assert agent.counters.recoveries == customer.counters.recoveries == 1


def test_default_input_follows_a_default_source_change(
        pulse_server: PulseServer, tones: dict[str, Path]) -> None:
    pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    pulse_server.pactl("set-default-source", "agent_mic.monitor")
    source = SoundDeviceSource("default", sr_hz=SR_HZ, role="microphone")
    recorder = Recorder([source])
    source.start()
    try:
        assert recorder.until(lambda: len(recorder.frames(source)) >= 2 * SR_HZ, timeout_s=20)
        assert_hears(recorder.frames(source), AGENT_TONE_HZ)
        pulse_server.pactl("set-default-source", "customer_line.monitor")
        switched = recorder.mark(source)
        assert recorder.until(
            lambda: len(recorder.frames(source, switched)) >= 2 * SR_HZ
            and abs(tone_hz(recorder.frames(source, switched)) - CUSTOMER_TONE_HZ) < 20,
            timeout_s=30)
    finally:
        source.stop()


# -- stall detection on a busy machine -----------------------------------------


class FakeClock:
    """A monotonic clock the test moves by hand, s."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


class FakeInputStream:
    """Stands in for ``sd.InputStream``: opens, starts and stays active; nothing calls back by itself."""

    def __init__(self, **kwargs: object) -> None:
        self.callback = kwargs["callback"]
        self.active = True

    def start(self) -> None:
        pass

    def abort(self) -> None:
        self.active = False

    def close(self, ignore_errors: bool = False) -> None:
        pass


def test_a_held_up_engine_thread_does_not_take_a_running_device_for_lost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A long garbage collection (or a process starved of CPU) holds up the engine
    # thread and the callback alike; the audio waits in the driver's buffer. When
    # it ends, the engine may poll before the callback has stored that audio: the
    # silence it sees is its own process's, not the device's.
    clock = FakeClock()
    monkeypatch.setattr(monitor.capture, "time", SimpleNamespace(monotonic=clock))
    monkeypatch.setattr(monitor.capture, "resolve_portaudio_input", lambda spec: OpenTarget(
        device=0, environment={}, pulse_source=None, max_channels=1, label="fake input"))
    monkeypatch.setattr(monitor.capture.sd, "InputStream", FakeInputStream)
    source = SoundDeviceSource("default", sr_hz=SR_HZ, role="microphone", stall_timeout_s=1.0)
    source.start()
    block = np.zeros((800, 1), np.float32)

    def deliver_and_poll(blocks: int) -> None:
        for _ in range(blocks):
            source._stream.callback(block, len(block), None, sd.CallbackFlags())
            clock.now_s += 0.05
            source.poll()

    deliver_and_poll(10)
    clock.now_s += 1.7  # held up: neither the callback nor the engine ran
    source.poll()
    assert source.state is SourceState.RUNNING, source.message
    deliver_and_poll(35)  # the callback stores what waited, then audio flows on
    assert source.state is SourceState.RUNNING and source.counters.losses == 0
    # A device that really stops while the engine polls as usual is still lost.
    for _ in range(30):
        clock.now_s += 0.05
        source.poll()
    assert source.state is SourceState.LOST
    assert source.message.startswith("microphone lost: no audio for")
    source.stop()


# -- file replay -----------------------------------------------------------


def test_fast_replay_delivers_every_frame_through_a_small_ring(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    data = np.random.default_rng(3).uniform(-0.5, 0.5, (3 * SR_HZ, 2)).astype(np.float32)
    sf.write(str(path), data, SR_HZ, subtype="FLOAT")
    source = FileReplaySource(CallRecording(path), fast=True, ring_s=0.05)
    source.start()
    chunks = []
    deadline_s = time.monotonic() + 60
    while time.monotonic() < deadline_s:
        chunk = source.read(300)
        chunks.append(chunk)
        if chunk.status.state is SourceState.STOPPED and not len(chunk.samples):
            break
        time.sleep(0.0005)
    assert source.join(timeout_s=5)
    out = np.concatenate([chunk.samples for chunk in chunks])
    np.testing.assert_array_equal(out, data)
    assert source.counters.dropped_frames == 0
    assert not any(chunk.status.discontinuity for chunk in chunks)
    assert source.message == "replay finished"


def test_real_time_replay_of_one_channel_delivers_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    data = np.random.default_rng(4).uniform(-0.5, 0.5, (SR_HZ, 2)).astype(np.float32)
    sf.write(str(path), data, SR_HZ, subtype="FLOAT")
    source = FileReplaySource(CallRecording(path, ChannelChoice(agent_channel=1, mono=True)))
    assert (source.sr_hz, source.channels) == (SR_HZ, 1)
    source.start()
    recorder = Recorder([source])
    assert recorder.until(lambda: source.state is SourceState.STOPPED
                          and source.frames_stored == SR_HZ, timeout_s=30)
    recorder.step()
    np.testing.assert_array_equal(recorder.frames(source)[:, 0], data[:, 1])
    assert source.counters.dropped_frames == 0


def test_a_paused_replay_holds_its_place_and_goes_on_from_there(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    data = np.random.default_rng(5).uniform(-0.5, 0.5, (2 * SR_HZ, 2)).astype(np.float32)
    sf.write(str(path), data, SR_HZ, subtype="FLOAT")
    source = FileReplaySource(CallRecording(path))
    source.start()
    recorder = Recorder([source])
    assert recorder.until(lambda: source.frames_stored >= SR_HZ // 2, timeout_s=30)
    source.pause()
    assert source.paused
    time.sleep(0.1)  # the block being written when paused may still land
    held = source.frames_stored
    time.sleep(1.0)
    assert source.frames_stored == held < 2 * SR_HZ
    source.resume()
    assert recorder.until(lambda: source.state is SourceState.STOPPED
                          and source.frames_stored == 2 * SR_HZ, timeout_s=30)
    recorder.step()
    np.testing.assert_array_equal(recorder.frames(source), data)  # nothing skipped or repeated
    assert source.counters.dropped_frames == 0


def test_stopping_a_paused_replay_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    sf.write(str(path), np.zeros((5 * SR_HZ, 2), np.float32), SR_HZ)
    source = FileReplaySource(CallRecording(path))
    source.start()
    source.pause()
    time.sleep(0.2)
    source.stop()
    assert source.join(timeout_s=5) and source.state is SourceState.STOPPED


def test_the_route_check_never_holds_up_the_engine(
        pulse_server: PulseServer, tones: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # While the sound server restarts, pactl can take seconds to answer.
    import monitor.capture

    real = monitor.capture.pulse_stream_route
    asked, answered, release = threading.Event(), threading.Event(), threading.Event()

    def slow_pactl(name: str, value: str) -> PulseStreamRoute | None:
        asked.set()
        release.wait(timeout=10.0)
        try:
            return real(name, value)
        finally:
            answered.set()

    monkeypatch.setattr(monitor.capture, "pulse_stream_route", slow_pactl)
    pulse_server.play("customer_line", tones["customer"])
    _, _, customer = two_monitor_sources()
    recorder = Recorder([customer])
    customer.start()
    try:
        assert recorder.until(asked.is_set, timeout_s=20)
        for _ in range(5):
            recorder.step()  # polls return while pactl is still busy
        assert not answered.is_set()
        release.set()
        assert answered.wait(timeout=10.0)
        recorder.until(lambda: False, timeout_s=1.5)  # its answer is read, and more are asked
    finally:
        customer.stop()
    assert recorder.states[customer] == {SourceState.RUNNING}


def test_portaudio_is_not_reinitialised_under_a_playing_chime(pulse_server: PulseServer) -> None:
    import sounddevice as sd

    host = PortAudioHost()
    assert host.refresh_device_list()  # PortAudio was set up before this sound server started
    tone = (0.01 * np.sin(2 * np.pi * 660 * np.arange(SR_HZ) / SR_HZ)).astype(np.float32)
    sd.play(tone, SR_HZ)  # as the cue chime does, on a thread of its own
    try:
        assert sd.get_stream().active
        # Pa_Terminate would free the stream that play()'s thread is waiting on.
        assert not host.refresh_device_list()
    finally:
        sd.wait()
    assert host.refresh_device_list()


def test_a_device_list_refresh_reopens_running_streams_on_the_engine_thread(
        pulse_server: PulseServer, tones: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings dialog asks for a fresh device list between calls (a headset plugged in
    # since start-up); the streams are the engine thread's, so it does the reopening.
    pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    host, agent, customer = two_monitor_sources()
    reinit_threads: list[str] = []
    real_reinitialise = host._reinitialise_portaudio

    def counted() -> None:
        reinit_threads.append(threading.current_thread().name)
        real_reinitialise()

    recorder = Recorder([agent, customer])
    stop = threading.Event()

    def engine() -> None:
        while not stop.is_set():
            recorder.step()
            time.sleep(0.05)

    agent.start()
    customer.start()
    # Only now: the first stream a process opens may re-initialise a device list older
    # than the test's PulseAudio server.
    monkeypatch.setattr(host, "_reinitialise_portaudio", counted)
    thread = threading.Thread(target=engine, name="test-engine")
    thread.start()
    try:
        assert not host.refresh_device_list()  # during a call: not at the cost of a gap
        assert host.refresh_device_list(interrupt_running=True, timeout_s=10.0)
        assert reinit_threads == ["test-engine"]
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join()
        back = {s: recorder.mark(s) for s in (agent, customer)}
        assert recorder.until(lambda: all(s.state is SourceState.RUNNING
                                          and len(recorder.frames(s, back[s])) >= SR_HZ
                                          for s in (agent, customer)), timeout_s=10)
        agent.stop()
        customer.stop()
    for source, tone in ((agent, AGENT_TONE_HZ), (customer, CUSTOMER_TONE_HZ)):
        assert recorder.states[source] == {SourceState.RUNNING, SourceState.RESTARTING}
        assert source.counters.losses == 0
        assert_hears(recorder.frames(source, back[source]), tone)


def test_a_stream_that_delivers_while_being_reopened_still_shows_the_restart(
        pulse_server: PulseServer, tones: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine fills a restart's gap only if a poll shows RESTARTING. A new stream can
    # deliver before the poll that reopened it ends; here each one is made to.
    pulse_server.play("agent_mic", tones["agent"])
    pulse_server.play("customer_line", tones["customer"])
    host, agent, customer = two_monitor_sources()
    for source in (agent, customer):
        reopen = source._reopen_after_reinit

        def reopen_and_await_audio(reopen: Callable[[], None] = reopen,
                                   source: SoundDeviceSource = source) -> None:
            stored = source._ring.frames_stored
            reopen()
            deadline_s = time.monotonic() + 5.0
            while source._ring.frames_stored == stored and time.monotonic() < deadline_s:
                time.sleep(0.005)

        monkeypatch.setattr(source, "_reopen_after_reinit", reopen_and_await_audio)
    recorder = Recorder([agent, customer])
    agent.start()
    customer.start()
    try:
        assert recorder.until(lambda: all(s.state is SourceState.RUNNING
                                          for s in (agent, customer)), timeout_s=5)
        with ThreadPoolExecutor(max_workers=1) as settings_dialog:
            refreshed = settings_dialog.submit(host.refresh_device_list, True, 10.0)
            assert recorder.until(lambda: refreshed.done(), timeout_s=10)
        assert refreshed.result()
        assert recorder.until(lambda: all(s.state is SourceState.RUNNING
                                          for s in (agent, customer)), timeout_s=5)
        for source in (agent, customer):
            assert recorder.states[source] == {SourceState.RUNNING, SourceState.RESTARTING}
    finally:
        agent.stop()
        customer.stop()


def test_an_unanswered_refresh_is_withdrawn(pulse_server: PulseServer, tones: dict[str, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pulse_server.play("agent_mic", tones["agent"])
    host, agent, _ = two_monitor_sources()
    reinits: list[float] = []
    monkeypatch.setattr(host, "_reinitialise_portaudio", lambda: reinits.append(time.monotonic()))
    agent.start()
    try:
        assert agent.state is SourceState.RUNNING
        # Nothing polls the source, as when the engine thread is stuck.
        assert not host.refresh_device_list(interrupt_running=True, timeout_s=0.2)
        agent.poll()
        assert reinits == [] and agent.state is SourceState.RUNNING
    finally:
        agent.stop()


def test_portaudio_is_not_reinitialised_under_an_outside_stream(pulse_server: PulseServer) -> None:
    # The review window's playback announces its stream while it is open.
    host = PortAudioHost()
    host.outside_stream_opened()
    assert not host.refresh_device_list()
    assert not host.refresh_device_list(interrupt_running=True)
    host.outside_stream_closed()
    assert host.refresh_device_list()


def test_a_refresh_while_a_source_retries_is_left_to_the_engine_thread(
        pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # A lost source's retries open streams on the engine thread; PortAudio must not be
    # re-initialised under one of them from another thread.
    host = PortAudioHost()
    reinit_threads: list[str] = []
    monkeypatch.setattr(host, "_reinitialise_portaudio",
                        lambda: reinit_threads.append(threading.current_thread().name))
    source = SoundDeviceSource("pulse:no_such_sink.monitor", sr_hz=SR_HZ, role="microphone",
                               host=host)
    source.start()
    stop = threading.Event()

    def engine() -> None:
        while not stop.is_set():
            source.poll()
            time.sleep(0.05)

    thread = threading.Thread(target=engine, name="test-engine")
    thread.start()
    try:
        assert source.state is SourceState.LOST
        assert host.refresh_device_list(timeout_s=10.0)
    finally:
        stop.set()
        thread.join()
        source.stop()
    assert reinit_threads == ["test-engine"]


def test_a_read_says_how_many_frames_the_full_ring_dropped_after_it() -> None:
    from monitor.capture import CaptureCounters

    class Source(CaptureSource):
        counters = property(lambda self: CaptureCounters())

        def start(self) -> None:
            pass

        def stop(self) -> None:
            pass

        def poll(self) -> None:
            pass

        def deliver(self, frames: int) -> None:
            self._ring.write(np.ones((frames, 1), np.float32))

    source = Source(100, 1, 1.0, "agent")  # a ring of 100 frames
    source.deliver(80)
    source.deliver(50)  # 20 fit, 30 dropped: the newest
    chunk = source.read()
    assert chunk.samples.shape[0] == 100 and chunk.dropped_after == 30
    assert chunk.status.discontinuity
    source.deliver(10)
    chunk = source.read()
    assert chunk.samples.shape[0] == 10 and chunk.dropped_after == 0
    assert not chunk.status.discontinuity
