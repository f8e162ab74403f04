"""Playback follows the sound being heard, not the samples handed to the output.

A fake stream stands in for the sound card and says, as PortAudio's callback
does, when each buffer will reach the speaker; one test plays through a real
(private) PulseAudio server to check that the timing sounddevice gives is read.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from tests.pulse_server import PulseServer, pulse_server
from ui.playback import Playback, sounddevice_stream

__all__ = ["pulse_server"]  # the fixture is used by name

SR_HZ = 16000
DAC_DELAY_S = 0.25
"""From callback to speaker, as measured through PulseAudio."""
BUFFER_FRAMES = 160


class TimedStream:
    """An output stream that times its buffers as PortAudio does; the test pulls audio."""

    def __init__(self, sr_hz: int, channels: int, callback) -> None:
        self.sr_hz = sr_hz
        self.channels = channels
        self.callback = callback
        self.active = False
        self.aborted = self.closed = False
        self.clock_s = 1000.0

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        raise AssertionError("pausing must drop what is buffered, not play it out")

    def abort(self) -> None:
        self.active = False
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int = BUFFER_FRAMES) -> np.ndarray:
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        time = SimpleNamespace(currentTime=self.clock_s,
                               outputBufferDacTime=self.clock_s + DAC_DELAY_S)
        self.callback(out, frames, time, None)
        self.clock_s += frames / self.sr_hz
        return out


@pytest.fixture
def recording(tmp_path: Path) -> np.ndarray:
    """70 s of noise that is never exactly zero, so that silence the output adds stands out."""
    rng = np.random.default_rng(5)
    x = (rng.uniform(0.1, 0.9, 70 * SR_HZ) * rng.choice([-1.0, 1.0], 70 * SR_HZ)).astype(np.float32)
    sf.write(tmp_path / "call.wav", x, SR_HZ, subtype="FLOAT")
    return x


@pytest.fixture
def playback(qtbot, tmp_path: Path, recording: np.ndarray):
    streams: list[TimedStream] = []

    def factory(sr_hz: int, channels: int, callback) -> TimedStream:
        streams.append(TimedStream(sr_hz, channels, callback))
        return streams[-1]

    player = Playback(stream_factory=factory)
    player.load(tmp_path / "call.wav")
    player.streams = streams
    yield player
    player.unload()


def pull_file_frames(qtbot, stream: TimedStream, frames: int,
                     pulled_before: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """Pull buffers until ``frames`` frames of the file have come out (the feeder may lag).

    ``pulled_before`` are buffers already pulled from ``stream``, counted in.
    """
    pulled = list(pulled_before)

    def enough() -> bool:
        pulled.append(stream.pull())
        return sum(int(np.count_nonzero(p[:, 0])) for p in pulled) >= frames

    qtbot.waitUntil(enough, timeout=20_000)
    audio = np.concatenate(pulled)[:, 0]
    return audio[audio != 0]


def test_the_position_is_what_is_heard_and_seeking_or_pausing_stays_exact(
        qtbot, playback: Playback, recording: np.ndarray) -> None:
    playback.seek(60.0)
    assert playback.position_s == 60.0
    playback.play()
    stream = playback.streams[-1]
    first = stream.pull()  # silence if the feeder has no block yet, else the file's first frames
    assert playback.position_s == 60.0  # nothing of the file reached the speaker yet

    handed_out = pull_file_frames(qtbot, stream, SR_HZ, (first,))  # 1 s handed to the output
    unheard = round(DAC_DELAY_S * SR_HZ) + BUFFER_FRAMES
    heard_s = 60.0 + (len(handed_out) - unheard) / SR_HZ
    # 1:00.75 rather than 1:01.00: a quarter of a second, and the buffer in hand, still to come.
    assert playback.position_s == pytest.approx(heard_s)
    np.testing.assert_array_equal(handed_out, recording[60 * SR_HZ: 60 * SR_HZ + len(handed_out)])

    playback.pause()  # the sound stops where the cursor stands, and so does the position
    assert stream.aborted and stream.closed and not playback.playing
    assert playback.position_s == pytest.approx(heard_s)
    playback.play()  # and playing on starts there: nothing is skipped
    again = pull_file_frames(qtbot, playback.streams[-1], 800)
    start = round(heard_s * SR_HZ)
    np.testing.assert_array_equal(again, recording[start: start + len(again)])

    playback.seek(30.0)  # while playing: the old place's sound is still on its way
    assert playback.position_s == 30.0
    pull_file_frames(qtbot, playback.streams[-1], unheard - BUFFER_FRAMES)
    assert playback.position_s == 30.0


def test_the_end_is_reached_when_it_is_heard(qtbot, playback: Playback,
                                             recording: np.ndarray) -> None:
    duration_s = len(recording) / SR_HZ
    playback.seek(duration_s - 0.5)
    playback.play()
    stream = playback.streams[-1]
    tail = pull_file_frames(qtbot, stream, SR_HZ // 2)  # the whole rest of the file is out
    assert len(tail) == SR_HZ // 2
    # The position is polled while the last quarter second is still on its way.
    with qtbot.waitSignal(playback.position_changed, timeout=5_000):
        pass
    assert playback.playing and playback.position_s < duration_s

    with qtbot.waitSignal(playback.playing_changed, timeout=20_000) as stopped:
        silent = 0
        while silent < round(DAC_DELAY_S * SR_HZ) + BUFFER_FRAMES:
            silent += int(np.count_nonzero(stream.pull()[:, 0] == 0))
    assert stopped.args == [False]
    assert playback.position_s == duration_s


def test_the_position_trails_a_real_output_by_the_delay_portaudio_gives(
        qtbot, pulse_server: PulseServer, tmp_path: Path, recording: np.ndarray) -> None:
    """Through sounddevice and PulseAudio: the callback's timing is read, and taken off."""
    import sounddevice as sd

    # PortAudio found its devices when first used, perhaps before this server ran.
    sd._terminate()
    sd._initialize()
    file_frames_out = [0]
    last_buffer: list[tuple[float, int]] = []

    def factory(sr_hz: int, channels: int, callback):
        def watched(outdata, frames, time, status) -> None:
            callback(outdata, frames, time, status)
            file_frames_out[0] += int(np.count_nonzero(outdata[:, 0]))
            last_buffer[:] = [(time.outputBufferDacTime - time.currentTime, frames)]
        return sounddevice_stream(sr_hz, channels, watched)

    playback = Playback(stream_factory=factory)
    playback.load(tmp_path / "call.wav")
    playback.seek(10.0)
    playback.play()
    try:
        assert playback.playing, "the private PulseAudio server gave no output stream"
        qtbot.waitUntil(lambda: playback.position_s > 10.5, timeout=20_000)
        playback.pause()
        paused_at_s = playback.position_s
    finally:
        playback.unload()
    (delay_s, frames), = last_buffer
    assert 0.0 < delay_s < 2.0, "PortAudio gave no timing for the buffers"
    unheard = round(delay_s * SR_HZ) + frames
    assert paused_at_s == pytest.approx(10.0 + (file_frames_out[0] - unheard) / SR_HZ)
