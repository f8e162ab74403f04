"""Reading call recordings in blocks, with the two parties picked out.

A recording is read block by block, never whole. Stereo files follow the
usual dual-channel call-recording layout (agent left, customer right);
a second file may carry the customer; a mono file carries the agent only.
Every problem with the input becomes an :class:`AudioInputError` whose
message is one line a user can act on.
"""
from __future__ import annotations

import io
import logging
import os
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from models.errors import UserError
from models.private_files import same_file
from monitor.ffmpeg_audio import (SHORTFALL_TOLERANCE_S, FfmpegAudio, FfmpegDataError, FfmpegError,
                                  ffmpeg_tools)

logger = logging.getLogger(__name__)

MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 96000
MAX_ABS_SAMPLE = 1000.0
"""Largest believable sample magnitude (1.0 is full scale): +60 dB over full scale.

Float files may legitimately exceed 1.0 a little (gain applied after
recording), but no recording holds samples a thousand times full scale: such
values are corrupt floats, and one of them would swamp the level, speech
detection and pace of everything around it. They are treated like NaN."""
MP3_SHORTFALL_SHARE = 0.02
"""Share of an MP3's stated length (0-1) its audio may fall short by, beyond codec padding.

An MP3's decoder skips damaged frames and decodes on; measured on lame- and
ffmpeg-made files (8-44.1 kHz, CBR and VBR, with and without a Xing header), a
whole one decodes within 0.17 s of the length given, one damaged spot holding
0.2 s of audio costs 0.26-0.65 s, and a few such spots in a 30 s file about 1 s.
Such a file is analysed with the gap noted; one cut in half is truncated."""


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
        M4A/AAC, WMA, AMR, WebM and Ogg Speex through ffmpeg where it is installed.
        MP3 is read through ffmpeg too where it is installed.

    Returns
    -------
    soundfile.SoundFile or FfmpegAudio
        An open handle with ``samplerate`` (Hz), ``channels``, ``frames``,
        ``read``, ``seek`` and ``close``.

    Raises
    ------
    AudioInputError
        With one line for the user when the file is missing, not a regular
        file, unreadable, empty, not audio, truncated or damaged, or at a
        sample rate outside 8-96 kHz.
    """
    _check_regular_readable_file(path)
    if _starts_as_mpeg_audio(path) and ffmpeg_tools() is not None:
        handle = _open_with_ffmpeg(path, "MP3", shortfall_share=MP3_SHORTFALL_SHARE)
    else:
        handle = _open_with_soundfile(path)
    if not MIN_SAMPLE_RATE_HZ <= handle.samplerate <= MAX_SAMPLE_RATE_HZ:
        rate = handle.samplerate
        handle.close()
        raise AudioInputError(
            f"{path}: sample rate {rate} Hz is outside the supported "
            f"{MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ} Hz")
    if handle.frames == 0:
        handle.close()
        raise AudioInputError(f"{path}: contains no audio")
    is_w64 = isinstance(handle, sf.SoundFile) and handle.format == "W64"
    missing = _w64_missing_data_bytes(path) if is_w64 else _missing_data_bytes(handle.extra_info)
    if missing:
        handle.close()
        raise AudioInputError(f"{path}: the file is truncated ({missing} bytes of audio data are missing)")
    stated = _ds64_frames(handle.extra_info)
    if stated > handle.frames:
        rate, present = handle.samplerate, handle.frames
        handle.close()
        raise AudioInputError(f"{path}: the file is truncated (its audio ends at {present / rate:.1f} s, "
                              f"its header says {stated / rate:.1f} s)")
    return handle


def _open_with_soundfile(path: Path) -> sf.SoundFile | FfmpegAudio:
    """Open a recording with libsndfile, or with ffmpeg where libsndfile cannot read it or reads it wrong."""
    try:
        handle: sf.SoundFile | FfmpegAudio = sf.SoundFile(_soundfile_name(path))
    except sf.LibsndfileError as exc:
        container = _ffmpeg_container(path)
        if container is None:
            raise AudioInputError(f"{path}: not a readable audio file ({_reason(exc)})") from None
        handle = _open_with_ffmpeg(path, container)
    except TypeError:
        # libsndfile takes a .raw name as headerless PCM and then needs the rate,
        # channels and encoding given; soundfile raises TypeError for their absence.
        raise AudioInputError(
            f"{path}: headerless raw audio, so its sample rate and encoding are unknown; "
            "convert it to WAV first (for example with sox)") from None
    except (OSError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: cannot be opened ({exc})") from None
    if isinstance(handle, sf.SoundFile):
        handle = _repair_or_reject(path, handle)
    return handle


def _soundfile_name(path: Path) -> str | bytes:
    """The name under which soundfile opens ``path``.

    A POSIX file name is bytes; one that is not valid UTF-8 reaches Python with
    surrogate escapes, which soundfile's own ``str.encode`` refuses, while the
    bytes themselves open it. Windows names are Unicode, and soundfile opens a
    ``str`` there with the wide-character API.
    """
    return str(path) if sys.platform == "win32" else os.fsencode(path)


def _check_regular_readable_file(path: Path) -> None:
    """Raise the one-line :class:`AudioInputError` for a path that holds no readable file."""
    try:
        if not path.exists():
            raise AudioInputError(f"{path}: no such file")
        if path.is_dir():
            raise AudioInputError(f"{path}: is a folder, not an audio file")
        # A pipe, socket or device (/dev/zero) has no length to analyse, and opening
        # a pipe would wait for a writer forever; it is not "empty" either.
        if not path.is_file():
            raise AudioInputError(f"{path}: not a regular file (a device, pipe or socket); "
                                  "save the recording to a file first")
        with path.open("rb"):
            pass
        if path.stat().st_size == 0:
            raise AudioInputError(f"{path}: the file is empty")
    except PermissionError:  # of the file, or of a folder on its path
        raise AudioInputError(f"{path}: permission denied (you may not read this file)") from None
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot be opened ({exc.strerror or exc})") from None


# libsndfile reads a FLAC stream whose STREAMINFO gives 0 total samples (allowed
# for a stream written to a pipe) as this many frames, and then cannot seek in it;
# so too a long chained Ogg Opus file (recordings joined end to end), past whose
# first link it cannot read.
_SF_COUNT_MAX = 2**63 - 1
# A WAV recorder that never finalised its header may leave the data chunk's size 0;
# libsndfile then takes the samples that follow for a chunk it does not know.
_EMPTY_DATA_LOG = re.compile(r"^data\s*:\s*0\s*\n\*\*\* Unknown chunk marker .* at position (\d+)",
                             re.MULTILINE)
# libsndfile's notes on an Ogg file whose end is missing (cut off mid-page, or after a
# page): the audio before it decodes, so it is analysed and the cut is noted, unless
# its pages show a whole stream followed by a tag (ID3v1, APE) or padding.
_OGG_CUT_LOG = re.compile(r"^Ogg ?: (Last page lacks an end-of-stream bit|Junk after the last page)",
                          re.MULTILINE)
# libsndfile reads an Ogg file's first logical stream only; what follows it is "junk" to it,
# though it may be more recordings joined on (a chained file, as stream dumps make).
_OGG_AFTER_END_LOG = re.compile(r"^Ogg ?: Junk after the last page", re.MULTILINE)
# An Ogg page header: capture pattern, version, flags, granule position, serial number,
# page number, checksum and the number of lacing values (segment sizes) that follow.
_OGG_PAGE_HEADER = struct.Struct("<4sBBqIIIB")
_OGG_CHECKSUM_AT = 22  # byte offset of the checksum in a page header
_BITS_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))
_OGG_BEGINS_STREAM = 0x02  # page header flags
_OGG_ENDS_STREAM = 0x04
_OGG_CUT_NOTE = "its last Ogg page is cut off or missing"
# Where a codec's identification header (the first packet of a stream's first page)
# states the channel count: (how the header starts, the byte that holds the count).
_OGG_CHANNELS_BYTE = ((b"\x01vorbis", 11), (b"OpusHead", 9))


def _repair_or_reject(path: Path, handle: sf.SoundFile) -> sf.SoundFile | FfmpegAudio:
    """Read around what libsndfile gets wrong in valid files.

    Parameters
    ----------
    path : Path
        The recording.
    handle : soundfile.SoundFile
        It, as libsndfile opened it (closed here when replaced or rejected).

    Returns
    -------
    soundfile.SoundFile or FfmpegAudio
        A handle whose ``frames`` are the recording's true length.

    """
    if handle.format == "OGG" and (handle.frames == _SF_COUNT_MAX
                                   or _OGG_AFTER_END_LOG.search(handle.extra_info)):
        chain = _ogg_pages(path)
        if chain is not None and chain.chained:
            handle.close()
            if len(chain.channel_counts) > 1:
                # Decoded as one, a stereo recording would be mixed into a mono one's channel
                # (or the mono one copied to both sides): you and the customer as one voice.
                counts = " and ".join(map(str, sorted(chain.channel_counts)))
                raise AudioInputError(f"{path}: joins recordings of {counts} channels, which "
                                      "cannot be analysed as one call; save them as separate files")
            return _open_with_ffmpeg(path, "Ogg", needs="Ogg audio joined from several recordings",
                                     chain=chain)
    if handle.format == "MP3" and ffmpeg_tools() is not None:
        # An MP3 that its first bytes did not give away (see _starts_as_mpeg_audio).
        handle.close()
        return _open_with_ffmpeg(path, "MP3", shortfall_share=MP3_SHORTFALL_SHARE)
    if handle.frames == _SF_COUNT_MAX:
        container = handle.format
        handle.close()
        return _open_with_ffmpeg(path, container,
                                 needs=f"{container} audio that does not state its length")
    if handle.format in ("WAV", "WAVEX") and handle.frames == 0:
        match = _EMPTY_DATA_LOG.search(handle.extra_info)
        if match and path.stat().st_size > int(match.group(1)):
            return _PatchedWav(path, int(match.group(1)) - 4, handle)
    return handle


@dataclass(frozen=True)
class _OggPages:
    """What the page headers of an Ogg file say.

    Attributes
    ----------
    chained : bool
        Another logical stream begins where the first one ends (recordings joined end to end).
    cut_off : bool
        Its last page is cut off, or ends no stream: the end of the last recording is missing.
        Bytes after a whole last page that are no Ogg page (a tag, padding) cut nothing off.
    channel_counts : frozenset of int
        Channels of its recordings, as far as their codec's header says (Vorbis, Opus).
    """

    chained: bool
    cut_off: bool
    channel_counts: frozenset[int]


def _ogg_pages(path: Path) -> _OggPages | None:
    """What the page headers of an Ogg file say of its streams and its end.

    Only page headers and codec headers are read, never the audio, but for the last
    page where other bytes follow it. None for a file of streams multiplexed side by
    side, or one that cannot be read.
    """
    first_serial: int | None = None
    channel_counts: set[int] = set()
    first_ended = chained = last_ends_stream = False
    last_start = 0
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            while True:
                start = handle.tell()
                header = handle.read(_OGG_PAGE_HEADER.size)
                if len(header) < _OGG_PAGE_HEADER.size or not header.startswith(b"OggS"):
                    # What follows the last whole page: nothing, a page cut off in its header,
                    # or bytes of no page at all (a tagger's ID3v1 or APE tag, padding).
                    trailer_is_page = bool(header) and b"OggS".startswith(header[:4])
                    break
                last_start = start
                _, _, flags, _, serial, _, _, segments = _OGG_PAGE_HEADER.unpack(header)
                if first_ended and not chained:
                    if not flags & _OGG_BEGINS_STREAM:
                        return None
                    chained = True
                if first_serial is None:
                    first_serial = serial
                first_ended = first_ended or (serial == first_serial and bool(flags & _OGG_ENDS_STREAM))
                last_ends_stream = bool(flags & _OGG_ENDS_STREAM)
                body_bytes = sum(handle.read(segments))
                if flags & _OGG_BEGINS_STREAM:
                    head = handle.read(min(body_bytes, 16))
                    body_bytes -= len(head)
                    channel_counts.update(head[at] for start_of, at in _OGG_CHANNELS_BYTE
                                          if head.startswith(start_of) and len(head) > at)
                handle.seek(body_bytes, io.SEEK_CUR)
            # A whole file ends with a whole page that ends a stream; a cut one runs past its
            # end. A page cut in its header, with a tag appended, can pass for a whole one
            # until its checksum is checked.
            whole = last_ends_stream and start <= size and not trailer_is_page
            if whole and start < size:
                handle.seek(last_start)
                whole = _ogg_page_checksum_holds(handle.read(start - last_start))
    except OSError:
        return None
    return _OggPages(chained=chained, cut_off=not whole, channel_counts=frozenset(channel_counts))


def _ogg_page_checksum_holds(page: bytes) -> bool:
    """Whether an Ogg page's checksum matches its bytes.

    Ogg's CRC-32 is zlib's with the bits of every byte, and of the result, in the
    other order, started from 0 and not inverted at the end.
    """
    stated = int.from_bytes(page[_OGG_CHECKSUM_AT:_OGG_CHECKSUM_AT + 4], "little")
    unchecked = page[:_OGG_CHECKSUM_AT] + bytes(4) + page[_OGG_CHECKSUM_AT + 4:]
    crc = zlib.crc32(unchecked.translate(_BITS_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{crc:032b}"[::-1], 2) == stated


class _ChainedOgg(FfmpegAudio):
    """A chained Ogg file, read through ffmpeg, which says nothing of a cut-off last page.

    Parameters
    ----------
    path : Path
        The recording.
    tools : tuple of str
        Paths of ``ffmpeg`` and ``ffprobe``.
    chain : _OggPages
        What its page headers say.
    """

    def __init__(self, path: Path, tools: tuple[str, str], chain: _OggPages) -> None:
        super().__init__(path, tools, chained=True)
        self.chain = chain


def _decode_problem(path: Path, handle: sf.SoundFile | FfmpegAudio, missing_s: float) -> str | None:
    """What went wrong decoding ``handle``, for the notes; ``missing_s`` is what a read found missing."""
    if isinstance(handle, FfmpegAudio):
        if handle.decode_problem is not None:
            return f"ffmpeg reported \"{handle.decode_problem}\""
        if isinstance(handle, _ChainedOgg) and handle.chain.cut_off:
            return _OGG_CUT_NOTE
        missing_s = handle.missing_s
    elif handle.format == "OGG" and _OGG_CUT_LOG.search(handle.extra_info):
        pages = _ogg_pages(path)
        if pages is None or pages.cut_off:
            return _OGG_CUT_NOTE
    if missing_s:
        return f"its audio ends {missing_s:.1f} s before the length its header gives"
    return None


class _PatchedView(io.RawIOBase):
    """A file read as if a few of its bytes were others: a header repaired in passing, never on disk.

    Parameters
    ----------
    path : Path
        The file.
    offset : int
        Byte offset of the bytes to replace.
    replacement : bytes
        What is read there instead.
    """

    def __init__(self, path: Path, offset: int, replacement: bytes) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._offset = offset
        self._replacement = replacement

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._file.tell()
        count = self._file.readinto(buffer) or 0
        low = max(start, self._offset)
        high = min(start + count, self._offset + len(self._replacement))
        if low < high:
            memoryview(buffer).cast("B")[low - start:high - start] = \
                self._replacement[low - self._offset:high - self._offset]
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


class _PatchedWav(sf.SoundFile):
    """An unfinalised WAV whose data chunk says 0 bytes, read to the end of the file.

    The size is read as the 0xFFFFFFFF placeholder, which libsndfile takes to
    mean "up to the end of the file", as other recorders write it.

    Parameters
    ----------
    path : Path
        The recording.
    size_offset : int
        Byte offset of the data chunk's size field.
    original : soundfile.SoundFile
        The recording as first opened (closed here).
    """

    def __init__(self, path: Path, size_offset: int, original: sf.SoundFile) -> None:
        original.close()
        self._view = _PatchedView(path, size_offset, b"\xff\xff\xff\xff")
        try:
            super().__init__(self._view, mode="r")
        except BaseException:
            self._view.close()
            raise
        logger.info("%s: the WAV header was never finalised (data size 0); reading to the end of "
                    "the file", path)

    def close(self) -> None:
        """Close the recording and the file under it."""
        try:
            super().close()
        finally:
            self._view.close()


# Leading bytes of common recording formats that libsndfile cannot decode:
# these are read through ffmpeg where it is installed, and otherwise the user
# is told what the file is and how to convert it, not just "unrecognised".
_FFMPEG_SIGNATURES = ((4, b"ftyp", "M4A/MP4 (AAC)"), (0, b"#!AMR", "AMR"),
                      (0, bytes.fromhex("3026b2758e66cf11"), "WMA"),
                      (0, bytes.fromhex("1a45dfa3"), "WebM/Matroska"),
                      # The Speex header packet right after the first Ogg page's header.
                      (28, b"Speex   ", "Ogg Speex"))


def _ffmpeg_container(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(36)
    except OSError:
        return None
    for offset, signature, name in _FFMPEG_SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return name
    return None


_ID3V2_HEADER = struct.Struct(">3sBBB4s")  # "ID3", version, revision, flags, syncsafe size
_ID3V2_HAS_FOOTER = 0x10


def _starts_as_mpeg_audio(path: Path) -> bool:
    """Whether the file begins with an MPEG audio frame (an MP3), after any ID3v2 tag.

    Such a file is read through ffmpeg where it is installed, never opened by
    libsndfile: the libmpg123 inside it prints its complaints on stderr (even of
    whole files, and at opening), which no caller can turn off, stops at a length
    it guessed from the first bitrate, and gives up at a damaged frame. ffmpeg's
    complaints are caught for the report's notes, and it decodes past damage.
    """
    if path.suffix.lower() == ".raw":
        return False  # headerless PCM to libsndfile, whose samples may look like a frame header
    try:
        with path.open("rb") as handle:
            head = handle.read(_ID3V2_HEADER.size)
            if head.startswith(b"ID3") and len(head) == _ID3V2_HEADER.size:
                _, _, _, flags, size = _ID3V2_HEADER.unpack(head)
                tag_bytes = sum(byte << (7 * (3 - i)) for i, byte in enumerate(size))
                handle.seek(_ID3V2_HEADER.size + tag_bytes
                            + (_ID3V2_HEADER.size if flags & _ID3V2_HAS_FOOTER else 0))
                head = handle.read(4)
    except OSError:
        return False
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    # Reserved values of the version, layer, bitrate and sample rate fields mean no frame
    # (and layer bits 00 with the same sync are an ADTS AAC stream).
    return ((head[1] >> 3) & 3 != 1 and (head[1] >> 1) & 3 != 0
            and head[2] >> 4 != 15 and (head[2] >> 2) & 3 != 3)


def _open_with_ffmpeg(path: Path, container: str, needs: str | None = None,
                      chain: _OggPages | None = None, shortfall_share: float = 0.0) -> FfmpegAudio:
    tools = ffmpeg_tools()
    if tools is None:
        raise AudioInputError(
            f"{path}: {needs or f'{container} audio'} needs ffmpeg, which is not installed; install "
            f"it, or convert the file to WAV or FLAC (for example: ffmpeg -i {path.name} {path.stem}.wav)")
    try:
        return (FfmpegAudio(path, tools, shortfall_share=shortfall_share) if chain is None
                else _ChainedOgg(path, tools, chain))
    except FfmpegDataError as exc:
        raise AudioInputError(f"{path}: the file is truncated or damaged ({exc})") from None
    except FfmpegError as exc:
        raise AudioInputError(f"{path}: not a readable {container} file ({exc})") from None


# libsndfile clamps a chunk that runs past the end of the file and notes it in its
# header log as "<chunk> : <declared> (should be <present>)": the data chunk of a
# WAV, the SSND chunk of an AIFF. The file's own chunk (RIFF, FORM) may be cut in
# metadata after whole audio, so its note is no sign of missing audio.
_DATA_LOG = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# A W64 data chunk gets no such note, so its header is read here: chunks of a GUID and
# a 64-bit size that counts the header, each 8-byte aligned, after a 40-byte file header.
_W64_CHUNK_HEADER = struct.Struct("<16sQ")
_W64_FIRST_CHUNK = 40
_W64_DATA_GUID = bytes.fromhex("64617461f3acd3118cd100c04f8edb8a")
# An RF64 file states its length in its ds64 chunk; libsndfile notes a shorter data chunk so.
_DS64_LOG = re.compile(r"Calculated frame count (\d+) does not match value from 'ds64' chunk of (\d+)")
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


def _w64_missing_data_bytes(path: Path) -> int:
    """Bytes of a W64 file's data chunk that are not in the file; 0 where its header cannot tell."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            offset = _W64_FIRST_CHUNK
            while offset + _W64_CHUNK_HEADER.size <= size:
                handle.seek(offset)
                guid, chunk_bytes = _W64_CHUNK_HEADER.unpack(handle.read(_W64_CHUNK_HEADER.size))
                if guid == _W64_DATA_GUID:
                    if chunk_bytes in _UNFINALISED_SIZES:
                        return 0
                    return max(0, offset + chunk_bytes - size)
                if chunk_bytes < _W64_CHUNK_HEADER.size:
                    return 0
                offset += -(-chunk_bytes // 8) * 8
    except OSError:
        pass
    return 0


def _ds64_frames(header_log: str) -> int:
    """The length an RF64 file's ds64 chunk states, in frames, where its data falls short of it; else 0."""
    match = _DS64_LOG.search(header_log)
    return int(match.group(2)) if match else 0


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "does not exist" in text:
        # libsndfile says this of MP3 streams it cannot parse, though the file is there.
        return "unrecognised or damaged data"
    if "SF_INFO struct incomplete" in text:
        # libsndfile's words for a header that gives no usable rate, channels or length
        # (a rate of 0 or NaN, two data chunks): nothing the user could act on.
        return "its header is invalid"
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

    # Options that cannot all be obeyed are refused rather than some silently ignored.
    if choice.customer_channel is not None and choice.mono:
        raise AudioInputError("--mono analyses the agent only; it cannot take a --customer-channel")
    if choice.customer_channel is not None and has_customer_file:
        raise AudioInputError("--customer-channel picks the customer in this recording; with "
                              "--customer the customer's own recording is used instead")
    if choice.swap and channels == 1:
        raise AudioInputError(f"{path}: has one channel, so there is nothing to swap")
    # --mono means the agent alone, on channel 1 unless said otherwise; with a
    # customer file only the agent's channel is to be chosen here.
    if channels > 2 and choice.agent_channel is None and not choice.mono:
        if has_customer_file:
            raise ChannelChoiceNeeded(
                f"{path}: has {channels} channels; choose the agent's with --agent-channel N", channels)
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
        self.ran_dry = False
        self.missing_s = 0.0  # audio found missing before the stated length, beyond codec padding

    @property
    def done(self) -> bool:
        return self.position >= self.total

    def read_block(self, k: int) -> np.ndarray:
        target = min(self.total, round((k + 1) * self.block_s * self.sr_hz))
        span = max(0, target - self.position)
        wanted = 0 if self.ran_dry else max(0, min(self.handle.frames, target) - self.position)
        data = np.empty((span, self.handle.channels), dtype=np.float32)
        got = 0
        if wanted > 0:
            try:
                got = self._read_into(data[:wanted])
            except FfmpegDataError as exc:
                raise AudioInputError(f"{self.path}: the file is truncated or damaged ({exc})") from None
            except (sf.LibsndfileError, RuntimeError) as exc:  # FfmpegError is a RuntimeError
                raise AudioInputError(f"{self.path}: the audio data is damaged ({_reason(exc)})") from None
            if got < wanted:
                missing_s = (self.handle.frames - self.position - got) / self.sr_hz
                if missing_s > self._allowed_shortfall_s():
                    raise AudioInputError(
                        f"{self.path}: the file is truncated (its audio ends at "
                        f"{(self.position + got) / self.sr_hz:.1f} s, its header says "
                        f"{self.handle.frames / self.sr_hz:.1f} s)")
                self.ran_dry = True
                if missing_s > SHORTFALL_TOLERANCE_S:
                    self.missing_s = missing_s
        data[got:] = 0.0
        self.position += span
        return data

    def _allowed_shortfall_s(self) -> float:
        """How far the audio may end before the stated length, in seconds (ffmpeg pads its own)."""
        # libsndfile gives an MP3 without a Xing header a length guessed from its size:
        # up to 0.15 s more than whole CBR files decode to, as measured (see MP3_SHORTFALL_SHARE).
        if isinstance(self.handle, sf.SoundFile) and self.handle.format == "MP3":
            return SHORTFALL_TOLERANCE_S + MP3_SHORTFALL_SHARE * self.handle.frames / self.sr_hz
        return 0.0

    def _read_into(self, out: np.ndarray) -> int:
        """Read ``len(out)`` frames into ``out``; return how many there were."""
        if isinstance(self.handle, sf.SoundFile):
            # Straight into the block: a separate array and a copy cost more than decoding.
            return len(self.handle.read(dtype="float32", always_2d=True, out=out))
        got = self.handle.read(len(out), dtype="float32", always_2d=True)
        out[: len(got)] = got
        return len(got)


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
        if self.customer_path is not None and same_file(self.path, self.customer_path):
            # Its first channel would be taken for the customer: the agent's, by default.
            raise AudioInputError(f"{self.customer_path}: --customer names the recording itself; "
                                  "leave it out for a stereo recording (customer on channel 2, "
                                  "or --customer-channel N)")
        self._main = open_audio(self.path)
        self._other: sf.SoundFile | FfmpegAudio | None = None
        self._cursors: list[_Cursor | None] = [None, None]  # main, other: of the last read
        try:
            self.layout = resolve_layout(self._main.channels, choice,
                                         self.customer_path is not None, self.path)
            if self.customer_path is not None:
                self._other = open_audio(self.customer_path)
        except AudioInputError:
            self.close()
            raise
        self.non_finite_samples = 0  # NaN, infinite and out-of-range samples replaced by 0 so far

    @property
    def customer_channels(self) -> int | None:
        """Channel count of the separate customer recording (its first is used); None without one."""
        return None if self._other is None else int(self._other.channels)

    @property
    def decode_problems(self) -> list[str]:
        """What the decoders reported of a cut-off or damaged file, one line per file.

        Known for certain only once the file has been read to its end.
        """
        problems = []
        for path, handle, cursor in zip((self.path, self.customer_path), (self._main, self._other),
                                        self._cursors):
            if path is None or handle is None:
                continue
            problem = _decode_problem(path, handle, cursor.missing_s if cursor is not None else 0.0)
            if problem is not None:
                problems.append(f"{path.name}: {problem}")
        return problems

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
        NaN and infinite samples, and those beyond :data:`MAX_ABS_SAMPLE`, are
        replaced by 0 and counted in ``non_finite_samples``. A file that ends
        early is padded with silence until the other one ends.

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
        self._cursors = [main_cursor, other_cursor]
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
        # False for NaN too (a comparison, so without a warning).
        valid = np.abs(x) <= MAX_ABS_SAMPLE
        if not valid.all():
            self.non_finite_samples += int(x.size - np.count_nonzero(valid))
            x = np.where(valid, x, np.float32(0.0))
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
