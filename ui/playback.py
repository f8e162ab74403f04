"""Playing a call recording through sounddevice, with a moving position.

The audio callback runs on PortAudio's thread and must never wait on the
disk or on a lock, so a feeder thread reads the file block by block into a
short deque that the callback drains (``deque.append`` and ``popleft`` are
atomic and take no lock a waiting thread could hold); the feeder, not the
callback, waits while the deque is full. The callback counts output status
flags and the GUI's timer logs them. The GUI polls the position at about 20 Hz
instead of being signalled from the audio thread, which keeps Qt objects on
the GUI thread only.

While playing, the position is that of the sound being heard, not of the
samples just handed to PortAudio: those reach the speakers only after the
output's latency (a quarter of a second through some sound servers), and a
cursor that far ahead marks a raised voice before it is heard. The callback
keeps PortAudio's figure for that delay; the GUI takes it off the samples
handed out. Pausing drops what is still on its way, so the sound stops where
the cursor stands, and playing on starts there.

Without an output device (a headless machine, a server, an unplugged headset)
``available`` is False and ``message`` says why; the position can still be
moved so that the rest of the review works.

In the app, live capture may re-initialise PortAudio to find a replugged
device, which would free an open output stream; so the stream is announced
to the app's :class:`~monitor.capture.PortAudioHost` while it is open.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import soundfile as sf
import soxr
from PySide6.QtCore import QObject, QTimer, Signal

from monitor.audio_file import AudioInputError, open_audio
from monitor.ffmpeg_audio import FfmpegAudio

if TYPE_CHECKING:
    from monitor.capture import PortAudioHost

logger = logging.getLogger(__name__)

MAX_OUTPUT_DELAY_S = 2.0
"""Longest delay from callback to speaker believed, in seconds; a longer one (or a
negative one) means the host API does not time its buffers, and the stream's
nominal latency is used instead."""
POSITION_INTERVAL_MS = 50
"""How often the position is reported while playing (20 Hz: smooth to the eye)."""
FEED_BLOCK_S = 0.1
"""Seconds of audio per block read ahead by the feeder thread."""
FEED_DEPTH = 8
"""Blocks kept ready ahead of the callback (0.8 s: rides out a slow disk)."""
FEED_WAIT_S = 0.02
"""How long the feeder sleeps while the callback has all the blocks it can hold."""
MAX_CHANNELS = 2
"""Channels played: the agent (left) and the customer (right) of a call recording."""
_FORMAT_ERRORS = (-9998, -9997, -9994)
"""PortAudio's error codes for a format the device refuses: paInvalidChannelCount,
paInvalidSampleRate, paSampleFormatNotSupported."""

OUTPUT_LOST = ("The sound output stopped (unplugged, or the sound server quit): playback is "
               "paused. Press Play to try again.")
"""What the user is told when the output stream ends by itself while playing."""


class OutputStream(Protocol):
    """What playback needs of an output stream (``sounddevice.OutputStream`` fits).

    A stream may also have an ``active`` attribute, as sounddevice's has: False
    once it has stopped by itself, as PortAudio's does when its device or the
    sound server goes away. Without one, a stream is taken to play on. It may
    have a ``latency`` (seconds from callback to speaker, as PortAudio expects
    it), used when the callback is given no timing, and an ``abort()`` that
    stops without playing out what is buffered, used to pause.
    """

    def start(self) -> None:
        """Start calling the callback."""

    def stop(self) -> None:
        """Stop calling the callback."""

    def close(self) -> None:
        """Release the device."""


AudioCallback = Callable[[np.ndarray, int, Any, Any], None]
StreamFactory = Callable[[int, int, AudioCallback], OutputStream]
"""Makes an output stream from ``(sample rate in Hz, channels, callback)``."""


class PlaybackUnavailable(Exception):
    """Audio cannot be played here; the message is one line for the user."""


def sounddevice_stream(sr_hz: int, channels: int, callback: AudioCallback) -> OutputStream:
    """An output stream on the default sound device.

    Raises
    ------
    PlaybackUnavailable
        When there is no usable output device or it refuses the format.
    """
    try:
        import sounddevice as sd  # PortAudio may be missing entirely: import late, fail softly.
    except OSError as exc:
        raise PlaybackUnavailable(f"no audio library for playback ({exc})") from None
    try:
        return sd.OutputStream(samplerate=sr_hz, channels=channels, dtype="float32",
                               callback=callback)
    except (sd.PortAudioError, ValueError) as exc:
        code = exc.args[1] if isinstance(exc, sd.PortAudioError) and len(exc.args) > 1 else None
        if code in _FORMAT_ERRORS or isinstance(exc, ValueError):
            raise PlaybackUnavailable(f"the sound output cannot play this file ({exc})") from None
        # Anything else is the device's doing (unplugged, the sound server gone), not the file's.
        raise PlaybackUnavailable(f"no sound output can be opened; check the speakers or headset "
                                  f"({exc})") from None


def default_output_problem() -> str | None:
    """Why the default output device cannot be used, or None when it can."""
    try:
        import sounddevice as sd
    except OSError:
        return "No audio library (PortAudio) is installed: playback is off."
    try:
        sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError):
        return "No sound output device found: playback is off, but you can still move the cursor."
    return None


@dataclass(frozen=True)
class Source:
    """Channels of one file to play, in output order.

    Attributes
    ----------
    path : Path
        The recording.
    channels : tuple of int
        0-based channels of it to play.
    probed : FfmpegAudio or None
        The recording as ffprobe described it, for a file decoded by ffmpeg.
    """

    path: Path
    channels: tuple[int, ...]
    probed: FfmpegAudio | None = None

    def open(self) -> sf.SoundFile | FfmpegAudio:
        """Open the recording for reading; a file decoded by ffmpeg is not probed again."""
        return self.probed.reopen() if self.probed is not None else open_audio(self.path)


class _BlockReader:
    """Reads one file's channels in blocks of exactly ``frames`` frames at the output rate.

    A file at another rate is resampled. The feeder is not bound to real
    time, so it reads on until the resampler has given a whole block, rather
    than padding the start with silence and playing the file late.
    """

    def __init__(self, handle: sf.SoundFile | FfmpegAudio, channels: tuple[int, ...], sr_hz: int) -> None:
        self._handle = handle
        self._channels = list(channels)
        self._ratio = handle.samplerate / sr_hz
        self._resampler = (soxr.ResampleStream(int(handle.samplerate), sr_hz, len(channels),
                                               dtype="float32")
                           if int(handle.samplerate) != sr_hz else None)
        self._pending = np.zeros((0, len(channels)), np.float32)
        self._ended = False

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames, or fewer (down to none) once the file has ended."""
        while len(self._pending) < frames and not self._ended:
            data = self._handle.read(max(1, round(frames * self._ratio)), dtype="float32",
                                     always_2d=True)
            self._ended = len(data) == 0
            data = np.nan_to_num(data[:, self._channels], copy=False)
            if self._resampler is not None:
                data = self._resampler.resample_chunk(data, last=self._ended).reshape(
                    -1, len(self._channels))
            self._pending = np.concatenate((self._pending, data)) if len(self._pending) else data
        out, self._pending = self._pending[:frames], self._pending[frames:]
        return out


class _Feeder:
    """Reads the files ahead of the audio callback in its own thread.

    The first source sets the rate; a second file at another rate (the
    customer's recording of the same call) is resampled to it, and whichever
    file ends first is continued with silence.

    ``frames_out`` counts the file's frames handed to the output, and
    ``frames_after_end`` the silence handed out after them: the end has been
    heard once that silence is longer than what the output still holds.
    """

    def __init__(self, sources: list[Source], sr_hz: int, start_frame: int) -> None:
        self.start_frame = start_frame
        self.frames_out = 0
        self.frames_after_end = 0
        self.finished = False
        self._sources = sources
        self._sr_hz = sr_hz
        self._chunks: deque[np.ndarray | None] = deque()
        self._pending: np.ndarray | None = None
        self._ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calmline-playback-feeder",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with ExitStack() as stack:
                handles = [stack.enter_context(source.open()) for source in self._sources]
                for handle in handles:
                    handle.seek(min(round(self.start_frame * handle.samplerate / self._sr_hz),
                                    handle.frames))
                readers = [_BlockReader(h, source.channels, self._sr_hz)
                           for source, h in zip(self._sources, handles)]
                block = max(1, round(FEED_BLOCK_S * self._sr_hz))
                while not self._stop.is_set():
                    parts = [reader.read(block) for reader in readers]
                    longest = max(len(part) for part in parts)
                    if longest == 0:
                        break
                    if len(parts) == 1:
                        self._put(parts[0])
                        continue
                    # The file that ended first goes on in silence until the other ends.
                    self._put(np.concatenate([np.pad(part, ((0, longest - len(part)), (0, 0)))
                                              for part in parts], axis=1))
        except (sf.LibsndfileError, RuntimeError, OSError, AudioInputError) as exc:
            # Damaged audio plays as silence from there on; the analysis reports the damage.
            logger.warning("playback stopped reading %s: %s",
                           ", ".join(str(s.path) for s in self._sources), exc)
        self._put(None)

    def _put(self, item: np.ndarray | None) -> None:
        while not self._stop.is_set():
            if len(self._chunks) < FEED_DEPTH:
                self._chunks.append(item)
                return
            self._stop.wait(FEED_WAIT_S)

    def fill(self, out: np.ndarray) -> None:
        """Fill ``out`` (frames x channels) from the read-ahead blocks; silence where none is ready."""
        done = 0
        wanted = len(out)
        while done < wanted and not self._ended:
            if self._pending is None:
                try:
                    self._pending = self._chunks.popleft()
                except IndexError:
                    break  # underrun: the rest of this buffer is silence
                if self._pending is None:
                    self._ended = True
                    break
            take = min(wanted - done, len(self._pending))
            out[done: done + take] = self._pending[:take]
            self._pending = self._pending[take:] if take < len(self._pending) else None
            done += take
        out[done:] = 0.0
        self.frames_out += done
        if self._ended:
            self.frames_after_end += wanted - done
            self.finished = True

    def close(self) -> None:
        self._stop.set()


class Playback(QObject):
    """Plays one recording with a position the GUI can follow and move.

    Parameters
    ----------
    parent : QObject, optional
        Owner.
    stream_factory : callable, optional
        Makes the output stream (see :data:`StreamFactory`); tests pass a
        fake one. By default the sounddevice default output is used, after
        checking that one exists.
    audio_host : PortAudioHost, optional
        The process's PortAudio host when capture runs in the same process;
        it holds re-initialisation while a stream is open.
    """

    position_changed = Signal(float)
    """The play position, in seconds."""
    playing_changed = Signal(bool)
    """Playback started (True) or stopped (False)."""
    problem = Signal(str)
    """Something went wrong; one line for the user."""

    def __init__(self, parent: QObject | None = None,
                 stream_factory: StreamFactory | None = None,
                 audio_host: PortAudioHost | None = None) -> None:
        super().__init__(parent)
        self._audio_host = audio_host
        if stream_factory is None:
            self._factory: StreamFactory = sounddevice_stream
            self._unavailable = default_output_problem()
        else:
            self._factory = stream_factory
            self._unavailable = None
        self._sources: list[Source] = []
        self._sr_hz = 0
        self._frames = 0
        self._position_frames = 0
        self._stream: OutputStream | None = None
        self._feeder: _Feeder | None = None
        self._status_flags = 0  # written by the audio callback only
        self._status_flags_logged = 0
        # Written by the audio callback only: how long after it ran the first frame of its
        # last buffer reaches the speaker, in seconds, and that buffer's length in frames.
        self._dac_delay_s = math.nan
        self._buffer_frames = 0
        self._timer = QTimer(self)
        self._timer.setInterval(POSITION_INTERVAL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def available(self) -> bool:
        """Whether audio can be played here."""
        return self._unavailable is None

    @property
    def message(self) -> str:
        """Why playback is off, or an empty string when it is available."""
        return self._unavailable or ""

    @property
    def playing(self) -> bool:
        """Whether audio is playing."""
        return self._stream is not None

    @property
    def duration_s(self) -> float:
        """Length of the loaded file in seconds (0 when none is loaded)."""
        return self._frames / self._sr_hz if self._sr_hz else 0.0

    @property
    def position_s(self) -> float:
        """The play position in seconds: while playing, that of the sound being heard."""
        if not self._sr_hz:
            return 0.0
        frames = self._position_frames
        feeder = self._feeder
        if feeder is not None:
            frames = feeder.start_frame + self._heard_frames(feeder, self._stream)
        return min(frames, self._frames) / self._sr_hz

    def _unheard_frames(self, stream: OutputStream | None) -> int:
        """Frames handed to the output that had not been heard when the callback last ran."""
        delay_s = self._dac_delay_s
        if 0.0 <= delay_s <= MAX_OUTPUT_DELAY_S:  # False for NaN: no timing given yet
            return round(delay_s * self._sr_hz) + self._buffer_frames
        return round(float(getattr(stream, "latency", 0.0)) * self._sr_hz)

    def _heard_frames(self, feeder: _Feeder, stream: OutputStream | None) -> int:
        """Frames of the file from ``feeder``'s start that have been heard."""
        handed_out = feeder.frames_out + feeder.frames_after_end
        return min(feeder.frames_out, max(0, handed_out - self._unheard_frames(stream)))

    def load(self, path: Path, channels: Sequence[int] | None = None,
             customer_path: Path | None = None) -> None:
        """Get ready to play ``path`` from its start (stops what was playing).

        Parameters
        ----------
        path : Path
            The recording.
        channels : sequence of int, optional
            0-based channels of ``path`` to play, in output order; the file's
            first ones by default. With ``customer_path``, one channel: yours.
        customer_path : Path, optional
            The customer's side in a file of its own; its first channel is
            played after ``channels``, at the rate of ``path``.

        Raises
        ------
        PlaybackUnavailable
            When a file cannot be opened for playback, or has no such channel.
        """
        self.unload()
        files = [Path(path)] + ([Path(customer_path)] if customer_path is not None else [])
        shapes = []
        probed: list[FfmpegAudio | None] = []
        for file in files:
            try:
                with open_audio(file) as handle:
                    shapes.append((int(handle.samplerate), int(handle.frames), int(handle.channels)))
                    # Every play and seek opens the file again; ffprobe takes ~50 ms of that.
                    probed.append(handle if isinstance(handle, FfmpegAudio) else None)
            except AudioInputError as exc:
                raise PlaybackUnavailable(f"{exc} (it cannot be played)") from None
        (sr_hz, frames, count) = shapes[0]
        wanted = MAX_CHANNELS - len(files) + 1
        chosen = list(channels) if channels is not None else list(range(min(count, wanted)))
        if not chosen or len(chosen) > wanted or not all(0 <= c < count for c in chosen):
            raise PlaybackUnavailable(f"{files[0].name} has no channels {[c + 1 for c in chosen]} "
                                      "to play")
        self._sources = [Source(files[0], tuple(chosen), probed[0])]
        if customer_path is not None:
            self._sources.append(Source(files[1], (0,), probed[1]))
            other_sr_hz, other_frames, _ = shapes[1]
            frames = max(frames, round(other_frames * sr_hz / other_sr_hz))
        self._sr_hz = sr_hz
        self._frames = frames
        self._position_frames = 0
        self.position_changed.emit(0.0)

    def unload(self) -> None:
        """Stop and forget the file."""
        self.pause()
        self._sources = []
        self._sr_hz = self._frames = self._position_frames = 0

    def toggle(self) -> None:
        """Play if paused, pause if playing."""
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        """Play from the current position; reports a ``problem`` if that is impossible."""
        if self.playing or not self._sources:
            return
        if self._unavailable is not None:
            self.problem.emit(self._unavailable)
            return
        if self._position_frames >= self._frames:
            self._position_frames = 0
        self._dac_delay_s = math.nan
        self._buffer_frames = 0
        self._feeder = _Feeder(self._sources, self._sr_hz, self._position_frames)
        if self._audio_host is not None:
            self._audio_host.outside_stream_opened()
        try:
            stream = self._factory(self._sr_hz, sum(len(s.channels) for s in self._sources),
                                   self._callback)
            stream.start()
        except PlaybackUnavailable as exc:
            self._stream_closed()
            self._drop_feeder()
            self.problem.emit(str(exc))
            return
        self._stream = stream
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        """Stop playing, keeping the position of the sound last heard."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._timer.stop()
        try:
            # What is on its way to the speaker is dropped, not played out past the cursor.
            getattr(stream, "abort", stream.stop)()
            stream.close()
        except Exception as exc:  # a device that vanished mid-play must not take the window with it
            logger.warning("closing the output stream failed: %s", exc)
        self._stream_closed()
        self._drop_feeder(stream)
        self.playing_changed.emit(False)
        self.position_changed.emit(self.position_s)

    def _stream_closed(self) -> None:
        if self._audio_host is not None:
            self._audio_host.outside_stream_closed()

    def seek(self, t_s: float) -> None:
        """Move the play position to ``t_s`` seconds (works while playing, paused, or without audio)."""
        if not self._sr_hz:
            return
        frame = min(max(0, round(t_s * self._sr_hz)), self._frames)
        if self.playing:
            old = self._feeder
            # The callback picks up the new feeder at its next buffer; assignment is atomic.
            self._feeder = _Feeder(self._sources, self._sr_hz, frame)
            if old is not None:
                old.close()
        self._position_frames = frame
        self.position_changed.emit(self.position_s)

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status:
            self._status_flags += 1
        feeder = self._feeder
        if feeder is None:
            outdata[:] = 0.0
        else:
            feeder.fill(outdata)
        # After the fill: the GUI must not take a new buffer's delay off the count before it.
        if time is not None:
            self._dac_delay_s = time.outputBufferDacTime - time.currentTime
            self._buffer_frames = frames

    def _drop_feeder(self, stream: OutputStream | None = None) -> None:
        feeder, self._feeder = self._feeder, None
        if feeder is not None:
            self._position_frames = min(feeder.start_frame + self._heard_frames(feeder, stream),
                                        self._frames)
            feeder.close()

    def _poll(self) -> None:
        flags = self._status_flags
        if flags != self._status_flags_logged:
            logger.debug("output stream: %d buffers with status flags (underflow or priming)",
                         flags - self._status_flags_logged)
            self._status_flags_logged = flags
        feeder = self._feeder
        self.position_changed.emit(self.position_s)
        if (feeder is not None and feeder.finished
                and feeder.frames_after_end >= self._unheard_frames(self._stream)):
            self.pause()
            self._position_frames = self._frames
            self.position_changed.emit(self.position_s)
        elif self._stream is not None and not getattr(self._stream, "active", True):
            # Its callback is never called again: without this the window would show
            # "playing" forever, with a cursor that does not move.
            logger.warning("the output stream stopped by itself")
            self.pause()
            self.problem.emit(OUTPUT_LOST)
