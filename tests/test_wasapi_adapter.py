"""The Windows WASAPI loopback source against a stand-in for pyaudiowpatch.

The real thing needs Windows; this checks what can be checked here: the
adapter opens the loopback device the way pyaudiowpatch's API expects, moves
callback data into the ring (first channels only), counts overflows, and
reports a dead stream as lost and recovers it.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from monitor.capture import SourceState, WasapiLoopbackSource
from monitor.devices import parse_device_spec

LOOPBACK = {"index": 7, "name": "Speakers (Realtek) [Loopback]", "defaultSampleRate": 48000.0,
            "maxInputChannels": 2}


class FakeStream:
    def __init__(self, callback) -> None:
        self.callback = callback
        self.active = True
        self.closed = False

    def is_active(self) -> bool:
        return self.active

    def stop_stream(self) -> None:
        self.active = False

    def close(self) -> None:
        self.closed = True


class FakePyAudio:
    opened: list[dict] = []

    def get_default_wasapi_loopback(self) -> dict:
        return dict(LOOPBACK)

    def get_loopback_device_info_generator(self):
        yield dict(LOOPBACK)

    def open(self, **kwargs) -> FakeStream:
        FakePyAudio.opened.append(kwargs)
        return FakeStream(kwargs["stream_callback"])

    def terminate(self) -> None:
        pass


@pytest.fixture()
def fake_pyaudiowpatch(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("pyaudiowpatch")
    module.PyAudio = FakePyAudio
    module.paFloat32, module.paContinue, module.paInputOverflow = 1, 0, 2
    monkeypatch.setitem(sys.modules, "pyaudiowpatch", module)
    monkeypatch.setattr(sys, "platform", "win32")
    FakePyAudio.opened = []
    return module


def test_loopback_delivers_the_first_channel_and_recovers(fake_pyaudiowpatch) -> None:
    source = WasapiLoopbackSource(parse_device_spec("wasapi-loopback:default"), channels=1,
                                  retry_interval_s=0.0)
    source.start()
    assert source.state is SourceState.RUNNING and source.sr_hz == 48000
    opened = FakePyAudio.opened[-1]
    assert opened["input_device_index"] == 7 and opened["channels"] == 2 and opened["input"]
    stereo = np.stack([np.arange(480), -np.arange(480)], axis=1).astype(np.float32)
    stream = source._stream
    assert stream.callback(stereo.tobytes(), 480, {}, 0) == (None, 0)
    stream.callback(stereo.tobytes(), 480, {}, fake_pyaudiowpatch.paInputOverflow)
    chunk = source.read()
    assert np.array_equal(chunk.samples[:480, 0], stereo[:, 0])
    assert source.counters.input_overflows == 1
    stream.active = False  # the output device went away
    source.poll()
    assert source.state is SourceState.LOST and source.counters.losses == 1
    source.poll()  # the retry interval has passed: reopened on a fresh PyAudio
    assert source.state is SourceState.RUNNING and source.counters.recoveries == 1
    source.stop()
    assert source.state is SourceState.STOPPED


def test_unknown_loopback_device_is_a_clear_error(fake_pyaudiowpatch) -> None:
    from monitor.devices import DeviceError

    with pytest.raises(DeviceError, match="no WASAPI loopback device"):
        WasapiLoopbackSource(parse_device_spec("wasapi-loopback:Headphones"))


def test_loopback_outside_windows_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.devices import DeviceError

    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(DeviceError, match="only on Windows"):
        WasapiLoopbackSource(parse_device_spec("wasapi-loopback:default"))
