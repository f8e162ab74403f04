"""Reading call recordings in blocks, with the two parties picked out.

A recording is read block by block, never whole. Stereo files follow the
usual dual-channel call-recording layout (agent left, customer right);
a second file may carry the customer; a mono file carries the agent only.
Every problem with the input becomes an :class:`AudioInputError` whose
message is one line a user can act on.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from models.errors import UserError
from monitor.ffmpeg_audio import FfmpegAudio, FfmpegError, ffmpeg_tools

logger = logging.getLogger(__name__)

MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 96000


class AudioInputError(UserError):
    """A recording cannot be analysed; the message is one line for the user."""


class ChannelChoiceNeeded(AudioInputError):
    """A recording has more than two channels and nobody said which party is which.

    Parameters
    ----------
    message : str
        The one line for the user (it names the command-line options).
    channels : int
        The recording's channel count, for a window that asks instead.
    """

    def __init__(self, message: str, channels: int) -> None:
        super().__init__(message)
        self.channels = channels


@dataclass(frozen=True)
class ChannelChoice:
    """Which channels carry which party.

    Attributes
    ----------
    agent_channel : int or None
        0-based channel index of the agent in the main file; None means the default (0).
    customer_channel : int or None
        0-based channel index of the customer in the main file; None means the default
        (1 for a stereo file, none for mono). Ignored when a customer file is given.
    swap : bool
        Swap the default stereo layout (agent right, customer left).
    mono : bool
        Analyse the agent only, whatever the file holds.
    """

    agent_channel: int | None = None
    customer_channel: int | None = None
    swap: bool = False
    mono: bool = False


def channel_levels_dbfs(path: Path, max_s: float = 60.0, block_s: float = 1.0) -> list[float | None]:
    """The level of each channel over the start of a recording, to tell the parties apart.

    Parameters
    ----------
    path : Path
        The recording.
    max_s : float
        How much of its start to read, in seconds.
    block_s : float
        Block length for reading, in seconds.

    Returns
    -------
    list of float or None
        Per channel, the RMS level in dBFS of its loudest ``block_s`` block
        (speech stands out from line noise there), or None when the channel
        is digitally silent.

    Raises
    ------
    AudioInputError
        When the file cannot be read.
    """
    with open_audio(path) as handle:
        block = max(1, round(block_s * handle.samplerate))
        peak_ms = np.zeros(int(handle.channels))
        left = round(max_s * handle.samplerate)
        try:
            while left > 0:
                data = handle.read(min(block, left), dtype="float32", always_2d=True)
                if len(data) == 0:
                    break
                data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
                peak_ms = np.maximum(peak_ms, np.mean(np.square(data, dtype=np.float64), axis=0))
                left -= len(data)
        except (sf.LibsndfileError, RuntimeError, FfmpegError) as exc:
            raise AudioInputError(f"{path}: could not be read ({_reason(exc)})") from None
    return [float(10.0 * np.log10(ms)) if ms > 0 else None for ms in peak_ms.tolist()]


def open_audio(path: Path) -> sf.SoundFile | FfmpegAudio:
    """Open a recording for reading in blocks, after checking that it can be analysed.

    Parameters
    ----------
    path : Path
        The recording: anything libsndfile reads (WAV, FLAC, OGG, MP3, ...), or
        M4A/AAC, WMA, AMR and WebM through ffmpeg where it is installed.

    Returns
    -------
    soundfile.SoundFile or FfmpegAudio
        An open handle with ``samplerate`` (Hz), ``channels``, ``frames``,
        ``read``, ``seek`` and ``close``.

    Raises
    ------
    AudioInputError
        With one line for the user when the file is missing, empty, not audio,
        truncated, or at a sample rate outside 8-96 kHz.
    """
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: the file is empty")
    try:
        handle = sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        container = _ffmpeg_container(path)
        if container is None:
            raise AudioInputError(f"{path}: not a readable audio file ({_reason(exc)})") from None
        handle = _open_with_ffmpeg(path, container)
    except (OSError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: cannot be opened ({exc})") from None
    if not MIN_SAMPLE_RATE_HZ <= handle.samplerate <= MAX_SAMPLE_RATE_HZ:
        rate = handle.samplerate
        handle.close()
        raise AudioInputError(
            f"{path}: sample rate {rate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz")
    if handle.frames == 0:
        handle.close()
        raise AudioInputError(f"{path}: contains no audio")
    missing = _missing_data_bytes(handle.extra_info)
    if missing:
        handle.close()
        raise AudioInputError(f"{path}: the file is truncated ({missing} bytes of audio data are missing)")
    return handle


# Leading bytes of common recording formats that libsndfile cannot decode:
# these are read through ffmpeg where it is installed, and otherwise the user
# is told what the file is and how to convert it, not just "unrecognised".
_FFMPEG_SIGNATURES = ((4, b"ftyp", "M4A/MP4 (AAC)"), (0, b"#!AMR", "AMR"),
                      (0, bytes.fromhex("3026b2758e66cf11"), "WMA"),
                      (0, bytes.fromhex("1a45dfa3"), "WebM/Matroska"))


def _ffmpeg_container(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    for offset, signature, name in _FFMPEG_SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return name
    return None


def _open_with_ffmpeg(path: Path, container: str) -> FfmpegAudio:
    tools = ffmpeg_tools()
    if tools is None:
        raise AudioInputError(
            f"{path}: {container} audio needs ffmpeg, which is not installed; install it, or "
            f"convert the file to WAV or FLAC (for example: ffmpeg -i {path.name} {path.stem}.wav)")
    try:
        return FfmpegAudio(path, tools)
    except FfmpegError as exc:
        raise AudioInputError(f"{path}: not a readable {container} file ({exc})") from None


# libsndfile clamps a WAV whose data chunk runs past the end of the file and
# notes it in its header log as "data : <declared> (should be <present>)".
_DATA_LOG = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Recorders that never finalised the header leave these placeholders; such files are fine.
_UNFINALISED_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFFFFFFFFFF}


def _missing_data_bytes(header_log: str) -> int:
    match = _DATA_LOG.search(header_log)
    if not match:
        return 0
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _UNFINALISED_SIZES or declared <= present:
        return 0
    return declared - present


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "does not exist" in text:
        # libsndfile says this of MP3 streams it cannot parse, though the file is there.
        return "unrecognised or damaged data"
    # libsndfile prefixes the path; the user already sees it.
    return text.split(": ", 1)[-1].rstrip(".")


@dataclass(frozen=True)
class PartyLayout:
    """Resolved channel layout of a recording (0-based channel indices).

    ``customer_channel`` is None when the main file carries no customer: mono,
    ``--mono``, or the customer in a file of their own.
    """

    agent_channel: int
    customer_channel: int | None


def resolve_layout(channels: int, choice: ChannelChoice, has_customer_file: bool,
                   path: Path) -> PartyLayout:
    """Decide which channel is which party, or explain why that is impossible.

    Parameters
    ----------
    channels : int
        Channel count of the main file.
    choice : ChannelChoice
        What the user asked for.
    has_customer_file : bool
        Whether the customer comes from a second file.
    path : Path
        The main file, for messages.

    Returns
    -------
    PartyLayout
    """
    def check(index: int, what: str) -> int:
        if not 0 <= index < channels:
            raise AudioInputError(
                f"{path}: has {channels} channel{'s' if channels != 1 else ''}; "
                f"there is no channel {index + 1} for the {what}")
        return index

    if channels > 2 and choice.agent_channel is None:
        raise ChannelChoiceNeeded(
            f"{path}: has {channels} channels; choose them with --agent-channel N "
            f"and --customer-channel M (or --mono)", channels)
    default_agent = 1 if choice.swap else 0
    agent = check(choice.agent_channel if choice.agent_channel is not None else
                  min(default_agent, channels - 1), "agent")
    if choice.mono or has_customer_file:
        return PartyLayout(agent, None)
    if choice.customer_channel is not None:
        customer = check(choice.customer_channel, "customer")
    elif channels == 1:
        return PartyLayout(agent, None)
    elif channels == 2:
        customer = 1 - agent
    else:
        return PartyLayout(agent, None)
    if customer == agent:
        raise AudioInputError(f"{path}: the agent and the customer cannot both be channel {agent + 1}")
    return PartyLayout(agent, customer)


class _Cursor:
    """Reads one file in blocks of a fixed duration, padding it with silence to the call's end."""

    def __init__(self, handle: sf.SoundFile | FfmpegAudio, path: Path | None, duration_s: float,
                 block_s: float) -> None:
        self.handle = handle
        self.path = path
        self.sr_hz = int(handle.samplerate)
        self.total = round(duration_s * self.sr_hz)
        self.block_s = block_s
        self.position = 0

    @property
    def done(self) -> bool:
        return self.position >= self.total

    def read_block(self, k: int) -> np.ndarray:
        target = min(self.total, round((k + 1) * self.block_s * self.sr_hz))
        span = max(0, target - self.position)
        wanted = max(0, min(self.handle.frames, target) - self.position)
        data = np.zeros((span, self.handle.channels), dtype=np.float32)
        if wanted > 0:
            try:
                got = self.handle.read(wanted, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:  # FfmpegError is a RuntimeError
                raise AudioInputError(f"{self.path}: the audio data is damaged ({_reason(exc)})") from None
            if len(got) < wanted:
                raise AudioInputError(
                    f"{self.path}: the file is truncated (its audio ends at "
                    f"{(self.position + len(got)) / self.sr_hz:.1f} s, its header says "
                    f"{self.handle.frames / self.sr_hz:.1f} s)")
            data[: len(got)] = got
        self.position += span
        return data


class CallRecording:
    """A call recording opened for block-wise reading.

    Parameters
    ----------
    path : Path
        The main recording (agent, and customer when stereo).
    choice : ChannelChoice
        Channel selection.
    customer_path : Path, optional
        A separate recording of the customer (its first channel is used).
    """

    def __init__(self, path: Path, choice: ChannelChoice = ChannelChoice(),
                 customer_path: Path | None = None) -> None:
        self.path = Path(path)
        self.customer_path = Path(customer_path) if customer_path is not None else None
        if choice.mono and self.customer_path is not None:
            raise AudioInputError("--mono and --customer cannot be used together")
        self._main = open_audio(self.path)
        self._other: sf.SoundFile | FfmpegAudio | None = None
        try:
            self.layout = resolve_layout(self._main.channels, choice,
                                         self.customer_path is not None, self.path)
            if self.customer_path is not None:
                self._other = open_audio(self.customer_path)
        except AudioInputError:
            self.close()
            raise
        self.non_finite_samples = 0

    @property
    def channels(self) -> int:
        """Channel count of the main recording."""
        return int(self._main.channels)

    @property
    def agent_sr_hz(self) -> int:
        """Sample rate of the agent's audio in Hz."""
        return int(self._main.samplerate)

    @property
    def customer_sr_hz(self) -> int | None:
        """Sample rate of the customer's audio in Hz, or None without a customer."""
        if self._other is not None:
            return int(self._other.samplerate)
        return self.agent_sr_hz if self.layout.customer_channel is not None else None

    @property
    def has_customer(self) -> bool:
        """Whether the recording carries the customer's side."""
        return self.customer_sr_hz is not None

    @property
    def duration_s(self) -> float:
        """Length of the call in seconds (the longer of the two files)."""
        main_s = self._main.frames / self._main.samplerate
        if self._other is not None:
            return max(main_s, self._other.frames / self._other.samplerate)
        return main_s

    def blocks(self, block_s: float = 1.0) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield ``(agent, customer)`` blocks of about ``block_s`` seconds.

        Both blocks of a pair cover the same span of time. Samples are float32;
        NaN and infinite samples are replaced by 0 and counted in
        ``non_finite_samples``. A file that ends early is padded with silence
        until the other one ends.

        Parameters
        ----------
        block_s : float
            Block length in seconds (rounded to whole samples at each file's rate).

        Yields
        ------
        agent : np.ndarray, shape (n,), float32
            The agent's samples at the recording's rate.
        customer : np.ndarray or None
            The customer's samples at the customer's rate; None when the
            recording gives the agent only.

        Raises
        ------
        AudioInputError
            When the data turns out to be unreadable or shorter than its header says.
        """
        duration_s = self.duration_s
        main_cursor = _Cursor(self._main, self.path, duration_s, block_s)
        other_cursor = (_Cursor(self._other, self.customer_path, duration_s, block_s)
                        if self._other is not None else None)
        cursors = [c for c in (main_cursor, other_cursor) if c is not None]
        k = 0
        while not all(c.done for c in cursors):
            main = main_cursor.read_block(k)
            other = other_cursor.read_block(k) if other_cursor is not None else None
            k += 1
            agent = self._clean(main[:, self.layout.agent_channel])
            if other is not None:
                yield agent, self._clean(other[:, 0])
            elif self.layout.customer_channel is not None:
                yield agent, self._clean(main[:, self.layout.customer_channel])
            else:
                yield agent, None

    def _clean(self, x: np.ndarray) -> np.ndarray:
        finite = np.isfinite(x)
        if not finite.all():
            self.non_finite_samples += int(x.size - np.count_nonzero(finite))
            x = np.where(finite, x, np.float32(0.0))
        return np.ascontiguousarray(x, dtype=np.float32)

    def close(self) -> None:
        """Close the underlying files."""
        for handle in (self._main, self._other):
            if handle is not None:
                handle.close()

    def __enter__(self) -> CallRecording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
