"""Recordings libsndfile cannot decode (M4A/AAC, WMA, AMR, WebM), read through ffmpeg.

Phones and meeting tools save calls in such containers. When an ``ffmpeg``
and ``ffprobe`` are installed, :class:`FfmpegAudio` decodes the first audio
stream to 32-bit float PCM in a child process and hands it out in blocks, so
a long recording is never held whole, in memory or on disk. It offers the part
of :class:`soundfile.SoundFile` that CalmLine reads: ``samplerate``,
``channels``, ``frames``, :meth:`~FfmpegAudio.read`, :meth:`~FfmpegAudio.seek`,
:meth:`~FfmpegAudio.close` and use as a context manager.

The length comes from ffprobe. Compressed formats can decode a few
milliseconds longer or shorter than their container says, so reads are padded
with silence or cut to that length. ffmpeg reads the local file only
(``-protocol_whitelist file,pipe``); nothing goes over the network.
"""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

_PROBE_TIMEOUT_S = 30.0
# A child console window would flash up over the softphone on Windows.
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0


class FfmpegError(RuntimeError):
    """ffmpeg or ffprobe cannot read the file; the message is one line."""


def ffmpeg_tools() -> tuple[str, str] | None:
    """Paths of ``ffmpeg`` and ``ffprobe`` on the PATH, or None when either is missing."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return (ffmpeg, ffprobe) if ffmpeg and ffprobe else None


class FfmpegAudio:
    """The first audio stream of a file, decoded by ffmpeg as it is read.

    Parameters
    ----------
    path : Path
        The recording.
    tools : tuple of str
        Paths of ``ffmpeg`` and ``ffprobe`` (see :func:`ffmpeg_tools`).

    Raises
    ------
    FfmpegError
        When ffprobe finds no audio stream, or no length, in the file.
    """

    extra_info = ""
    """No header log (soundfile's ``extra_info``): the container's checks are ffmpeg's."""

    def __init__(self, path: Path, tools: tuple[str, str]) -> None:
        self.path = Path(path)
        self._ffmpeg, ffprobe = tools
        stream = _probe(self.path, ffprobe)
        self.samplerate = int(stream["sample_rate"])
        self.channels = int(stream["channels"])
        self.frames = round(float(stream["duration"]) * self.samplerate)
        if self.samplerate <= 0 or self.channels <= 0 or self.frames <= 0:
            raise FfmpegError("ffprobe finds no audio in it")
        self._position = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._decoded_to_end = False

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = False) -> np.ndarray:
        """Read from the current position.

        Parameters
        ----------
        frames : int
            Frames to read; -1 reads to the end.
        dtype : str
            Sample type of the result.
        always_2d : bool
            Return shape (n, channels) even for one channel.

        Returns
        -------
        np.ndarray
            Shape (n, channels), or (n,) for one channel without ``always_2d``;
            n is ``frames`` cut at the end of the recording.

        Raises
        ------
        FfmpegError
            When ffmpeg stops with an error before the end: the data is damaged.
        """
        n = self.frames - self._position if frames < 0 else min(frames, self.frames - self._position)
        n = max(n, 0)
        out = np.zeros((n, self.channels), dtype=np.float32)
        if n and not self._decoded_to_end:
            process = self._process or self._start()
            assert process.stdout is not None
            raw = process.stdout.read(n * self.channels * 4)
            got = len(raw) // (self.channels * 4)
            out[:got] = np.frombuffer(raw, "<f4", count=got * self.channels).reshape(got, self.channels)
            if got < n:
                self._end_of_stream(process)
        self._position += n
        if not always_2d and self.channels == 1:
            out = out[:, 0]
        return out.astype(dtype, copy=False)

    def seek(self, frame: int) -> int:
        """Move to ``frame`` (clamped to the recording) and return it."""
        self._stop()
        self._position = min(max(int(frame), 0), self.frames)
        self._decoded_to_end = False
        return self._position

    def close(self) -> None:
        """Stop the decoder."""
        self._stop()

    def reopen(self) -> FfmpegAudio:
        """Another reader of the same recording, at its start, without running ffprobe again.

        Returns
        -------
        FfmpegAudio
            Independent of this one (its own decoder), so both may be read at once.
        """
        twin = copy.copy(self)
        twin._position = 0
        twin._process = None
        twin._decoded_to_end = False
        return twin

    def __enter__(self) -> FfmpegAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        command = [self._ffmpeg, "-nostdin", "-v", "error", "-protocol_whitelist", "file,pipe"]
        if self._position:
            command += ["-ss", f"{self._position / self.samplerate:.6f}"]
        command += ["-i", f"file:{self.path}", "-map", "0:a:0", "-f", "f32le",
                    "-ac", str(self.channels), "-ar", str(self.samplerate), "pipe:1"]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, creationflags=_NO_WINDOW)
        return self._process

    def _end_of_stream(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        self._process = None
        if code != 0:
            raise FfmpegError(f"ffmpeg stopped decoding it with exit code {code}")
        # The decoder ran dry a little before the container's length: the rest is silence.
        self._decoded_to_end = True

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            if process.stdout is not None:
                process.stdout.close()
            process.wait()


def _probe(path: Path, ffprobe: str) -> dict[str, str]:
    command = [ffprobe, "-v", "error", "-protocol_whitelist", "file,pipe", "-select_streams", "a:0",
               "-show_entries", "stream=sample_rate,channels,duration:format=duration",
               "-of", "json", f"file:{path}"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S,
                                creationflags=_NO_WINDOW)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FfmpegError(f"ffprobe could not be run ({exc})") from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unreadable"
        raise FfmpegError(f"ffprobe cannot read it ({reason.split(': ', 1)[-1]})")
    info = json.loads(result.stdout or "{}")
    streams = info.get("streams") or []
    if not streams:
        raise FfmpegError("it holds no audio stream")
    stream = dict(streams[0])
    # Matroska and WebM give the length for the whole file only.
    duration = stream.get("duration") or info.get("format", {}).get("duration")
    if duration in (None, "N/A") or "sample_rate" not in stream or "channels" not in stream:
        raise FfmpegError("ffprobe finds no length or format for its audio")
    stream["duration"] = duration
    return stream
