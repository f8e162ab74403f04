"""Recordings libsndfile cannot decode well (M4A/AAC, WMA, AMR, WebM, MP3), read through ffmpeg.

Phones and meeting tools save calls in such containers. When an ``ffmpeg``
and ``ffprobe`` are installed, :class:`FfmpegAudio` decodes the first audio
stream to 32-bit float PCM in a child process and hands it out in blocks, so
a long recording is never held whole, in memory or on disk. It offers the part
of :class:`soundfile.SoundFile` that CalmLine reads: ``samplerate``,
``channels``, ``frames``, :meth:`~FfmpegAudio.read`, :meth:`~FfmpegAudio.seek`,
:meth:`~FfmpegAudio.close` and use as a context manager.

The length comes from ffprobe; a stream that does not state it (a FLAC or
WebM written to a pipe, an MP3 without a Xing header, whose length ffprobe
only guesses from its first bitrate), or a chained Ogg file, whose length
ffprobe gets wrong, is decoded once to count its frames. Compressed formats can decode a
few milliseconds longer or shorter than their container says, so reads are
padded with silence or cut to that length. A decoder that
runs dry well before that length, or fails, means the file is truncated or
damaged: that is raised as :class:`FfmpegDataError` rather than analysed as
silence. Errors the decoder reports while it goes on (a damaged frame, or the
cut-off end of a format that does not state its length) are kept in
:attr:`FfmpegAudio.decode_problem` for the analysis to note: the audio that
did decode is still worth analysing. ffmpeg reads the local file only
(``-protocol_whitelist file,pipe``); nothing goes over the network.
"""
from __future__ import annotations

import copy
import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import numpy as np

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT_S = 30.0
# How far a decoder may run dry before the container's length and still count as
# whole, in seconds: codec padding and priming are milliseconds, a cut-off file
# misses whole seconds.
SHORTFALL_TOLERANCE_S = 0.5
# ffprobe's words (at warning level) for a length it guessed from the file size and a
# bitrate: for a variable-bitrate MP3 without a Xing header, seconds off either way.
_ESTIMATED_LENGTH_NOTE = "Estimating duration from bitrate"
# ffmpeg's error lines kept per decoder: the first says what went wrong.
_MAX_ERROR_LINES = 20
# Where a chained file's links differ in rate or channels, ffmpeg starts its filters anew
# and the output's timestamps start over. A raw output keeps no timestamps, so the muxer
# only says so and writes every sample: not a decoding error.
_RAW_TIMESTAMP_NOTE = "non monotonically increasing dts to muxer"
# How long to wait for the last error lines of a decoder that has ended, in seconds.
_ERROR_READER_TIMEOUT_S = 5.0
# Bytes read per chunk while counting the frames of a stream that does not state its length.
_COUNT_CHUNK_BYTES = 1 << 20
# A child console window would flash up over the softphone on Windows.
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0


class FfmpegError(RuntimeError):
    """ffmpeg or ffprobe cannot read the file; the message is one line."""


class FfmpegDataError(FfmpegError):
    """The file opened, but its audio ends early or does not decode: it is truncated or damaged."""


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
    chained : bool
        The file is a chained Ogg file (recordings joined end to end). ffprobe
        then gives one link's length and ffmpeg seeks by one link's timestamps,
        so the frames are counted and reading from a position decodes the file
        from its start.
    shortfall_share : float
        Share of the stated length (0-1) by which the audio may end early beyond
        codec padding and still be read, with the gap noted in :attr:`missing_s`
        rather than raised: damaged MP3 frames are skipped, so the audio after
        them still decodes. 0 raises for any gap beyond codec padding.

    Raises
    ------
    FfmpegError
        When ffprobe finds no audio stream in the file.
    FfmpegDataError
        When the file states no length and ffmpeg fails while counting its frames.
    """

    extra_info = ""
    """No header log (soundfile's ``extra_info``): the container's checks are ffmpeg's."""

    def __init__(self, path: Path, tools: tuple[str, str], chained: bool = False,
                 shortfall_share: float = 0.0) -> None:
        self.path = Path(path)
        self._ffmpeg, ffprobe = tools
        self._chained = chained
        self._shortfall_share = shortfall_share
        stream = _probe(self.path, ffprobe)
        self.samplerate = int(stream["sample_rate"] or 0)
        self.channels = int(stream["channels"] or 0)
        if self.samplerate <= 0 or self.channels <= 0:
            raise FfmpegError("ffprobe finds no audio in it")
        self.decode_problem: str | None = None
        """ffmpeg's first decoding error so far, or None while the audio decodes cleanly."""
        self.missing_s = 0.0
        """Seconds by which the audio ended before its stated length, beyond codec padding."""
        duration = None if chained else stream.get("duration")
        # Without a stated length the decoder is the only judge of it (the spec allows
        # a FLAC stream to leave its total-samples field 0, for one).
        self.frames = (round(float(duration) * self.samplerate) if duration is not None
                       else self._count_frames())
        if self.frames <= 0:
            raise FfmpegError("ffprobe finds no audio in it")
        self._position = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._error_reader: threading.Thread | None = None
        self._errors: list[str] = []
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
        FfmpegDataError
            When the decoded audio ends well before the container's length, or
            ffmpeg fails: the file is truncated or damaged.
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
                self._end_of_stream(process, self._position + got)
        self._position += n
        if self._position >= self.frames:
            # The decoder's errors for what was read are out by now (it runs ahead of us).
            self._keep_errors()
        if not always_2d and self.channels == 1:
            out = out[:, 0]
        return out.astype(dtype, copy=False)

    def seek(self, frame: int) -> int:
        """Move to ``frame`` (clamped to the recording) and return it."""
        self._stop()
        self._position = min(max(int(frame), 0), self.frames)
        self._errors = []  # the stopped decoder's; what is read from here is decoded anew
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
        twin._error_reader = None
        twin._errors = []
        twin._decoded_to_end = False
        return twin

    def __enter__(self) -> FfmpegAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        before_input, filters = self._decoder_options(self._position)
        self._errors = []
        self._process, self._error_reader = _decoder(
            self._ffmpeg, self.path, before_input,
            [*filters, "-f", "f32le", "-ac", str(self.channels), "-ar", str(self.samplerate)],
            self._errors)
        if self._chained and self._position:
            self._discard(self._process, self._position)
        return self._process

    def _discard(self, process: subprocess.Popen[bytes], frames: int) -> None:
        """Read past a new decoder's first ``frames`` frames (a chained file's seek)."""
        assert process.stdout is not None
        left_bytes = frames * self.channels * 4
        while left_bytes > 0:
            chunk = process.stdout.read(min(left_bytes, _COUNT_CHUNK_BYTES))
            if not chunk:
                return  # ran dry: the read that follows finds the end
            left_bytes -= len(chunk)

    def _decoder_options(self, start_frame: int) -> tuple[list[str], list[str]]:
        """Input options and output filters for a decoder that starts at ``start_frame``."""
        if not self._chained:
            return (["-ss", f"{start_frame / self.samplerate:.6f}"] if start_frame else []), []
        # Every link of a chain starts its timestamps anew. Read as unseekable, ffmpeg skips
        # its length probe, which stumbles over a later link and says so as an error;
        # samples are counted rather than timed, so the joins raise no timestamp errors.
        # A link of another rate or channel count gets filters of its own, which would apply
        # a trim (atrim) again from its start: the decoder starts at the file's start, and
        # _start reads past the frames before ``start_frame``.
        return ["-seekable", "0"], ["-af", "asetpts=N/SR/TB"]

    def _end_of_stream(self, process: subprocess.Popen[bytes], decoded: int) -> None:
        code = process.wait()
        self._process = None
        if self._error_reader is not None:
            self._error_reader.join(_ERROR_READER_TIMEOUT_S)  # every error line is in by now
        if code != 0:
            raise FfmpegDataError(_with_first_error(
                f"ffmpeg stopped decoding it with exit code {code}", self._errors))
        missing_s = (self.frames - decoded) / self.samplerate
        if missing_s > SHORTFALL_TOLERANCE_S + self._shortfall_share * self.frames / self.samplerate:
            raise FfmpegDataError(_with_first_error(
                f"its audio ends at {decoded / self.samplerate:.1f} s, "
                f"its header says {self.frames / self.samplerate:.1f} s", self._errors))
        if missing_s > SHORTFALL_TOLERANCE_S:
            self.missing_s = missing_s
        self._keep_errors()
        # The decoder ran dry a little before the container's length: the rest is silence.
        self._decoded_to_end = True

    def _keep_errors(self) -> None:
        if self._errors:
            logger.warning("%s: ffmpeg reported %d decoding error(s), the first: %s", self.path,
                           len(self._errors), self._errors[0])
            if self.decode_problem is None:
                self.decode_problem = self._errors[0]
            self._errors = []

    def _count_frames(self) -> int:
        """Decode the whole stream once, to mono 16-bit, and count its frames."""
        errors: list[str] = []
        before_input, filters = self._decoder_options(0)
        process, reader = _decoder(self._ffmpeg, self.path, before_input,
                                   [*filters, "-f", "s16le", "-ac", "1", "-ar", str(self.samplerate)],
                                   errors)
        assert process.stdout is not None
        total_bytes = 0
        try:
            while chunk := process.stdout.read(_COUNT_CHUNK_BYTES):
                total_bytes += len(chunk)
        finally:
            process.stdout.close()
            code = process.wait()
            reader.join(_ERROR_READER_TIMEOUT_S)
        if code != 0:
            raise FfmpegDataError(_with_first_error(
                f"ffmpeg stopped decoding it with exit code {code}", errors))
        if errors:
            logger.warning("%s: ffmpeg reported %d decoding error(s), the first: %s", self.path,
                           len(errors), errors[0])
            self.decode_problem = errors[0]
        return total_bytes // 2

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            if process.stdout is not None:
                process.stdout.close()
            process.wait()
        reader, self._error_reader = self._error_reader, None
        if reader is not None:
            reader.join(_ERROR_READER_TIMEOUT_S)


def _decoder(ffmpeg: str, path: Path, before_input: list[str], output: list[str],
             errors: list[str]) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """Start ffmpeg decoding the first audio stream of ``path`` to its stdout.

    Parameters
    ----------
    ffmpeg : str
        Path of ``ffmpeg``.
    path : Path
        The recording.
    before_input : list of str
        Options for the input (a seek).
    output : list of str
        Options for the raw output (filters, format, channels, rate in Hz).
    errors : list of str
        Receives ffmpeg's error lines, without their ``[component @ address]`` prefix.

    Returns
    -------
    process : subprocess.Popen
        The decoder; its stdout carries the samples.
    reader : threading.Thread
        Collects its error lines (so a full stderr pipe can never stall the
        decoder); it ends when the decoder does.
    """
    command = [ffmpeg, "-nostdin", "-v", "error", "-protocol_whitelist", "file,pipe", *before_input,
               "-i", f"file:{path}", "-map", "0:a:0", *output, "pipe:1"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, creationflags=_NO_WINDOW)
    assert process.stderr is not None
    reader = threading.Thread(target=_collect_errors, args=(process.stderr, errors),
                              name="ffmpeg-stderr", daemon=True)
    reader.start()
    return process, reader


def _with_first_error(message: str, errors: list[str]) -> str:
    return f"{message}; ffmpeg: {errors[0]}" if errors else message


def _collect_errors(stream: IO[bytes], errors: list[str]) -> None:
    with stream:
        for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            if line and len(errors) < _MAX_ERROR_LINES and _RAW_TIMESTAMP_NOTE not in line:
                # "[matroska,webm @ 0x55d0] File ended prematurely": the user needs the words.
                errors.append(line.split("] ", 1)[-1] if line.startswith("[") else line)


def _probe(path: Path, ffprobe: str) -> dict[str, str | None]:
    command = [ffprobe, "-v", "warning", "-protocol_whitelist", "file,pipe", "-select_streams", "a:0",
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
    stream: dict[str, str | None] = dict(streams[0])
    if "sample_rate" not in stream or "channels" not in stream:
        raise FfmpegError("ffprobe finds no format for its audio")
    # Matroska and WebM give the length for the whole file only; a stream written
    # to a pipe may give none (None: the frames are counted instead).
    duration = stream.get("duration") or info.get("format", {}).get("duration")
    guessed = _ESTIMATED_LENGTH_NOTE in result.stderr
    stream["duration"] = None if duration in (None, "N/A") or guessed else duration
    return stream
