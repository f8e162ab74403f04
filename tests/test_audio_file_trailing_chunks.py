"""A chunk after the audio that is cut off costs no audio; audio that is cut off is still refused."""
from __future__ import annotations

import struct
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import AudioInputError, CallRecording, open_audio

SR_HZ = 16000
METADATA = b"INFOISFT" + b"CalmLine test recorder\0" * 10


def with_trailing_chunk(tmp_path: Path, fmt: str) -> tuple[Path, bytes]:
    """A two-second recording with a metadata chunk after its audio, its sizes updated to match."""
    path = tmp_path / f"call.{fmt.lower()}"
    rng = np.random.default_rng(5)
    sf.write(path, rng.standard_normal((2 * SR_HZ, 2)) * 0.1, SR_HZ, format=fmt, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    if fmt == "W64":  # a 'list' chunk: GUID, 64-bit size counting its 24-byte header, 8-byte aligned
        body = METADATA + b"\0" * (-len(METADATA) % 8)
        data += uuid.UUID("7473696c-912f-11cf-a5d6-28db04c10000").bytes_le
        data += struct.pack("<Q", 24 + len(body)) + body
        data[16:24] = struct.pack("<Q", len(data))
    elif fmt == "RF64":  # its RIFF size is in the ds64 chunk
        data += b"LIST" + struct.pack("<I", len(METADATA)) + METADATA
        ds64 = data.index(b"ds64")
        data[ds64 + 8:ds64 + 16] = struct.pack("<Q", len(data) - 8)
    else:
        data += b"ANNO" + struct.pack(">I", len(METADATA)) + METADATA
        data[4:8] = struct.pack(">I", len(data) - 8)
    path.write_bytes(data)
    return path, bytes(data)


@pytest.mark.parametrize("fmt", ["W64", "RF64", "AIFF"])
def test_a_file_cut_in_a_chunk_after_its_audio_is_analysed(tmp_path: Path, fmt: str) -> None:
    path, data = with_trailing_chunk(tmp_path, fmt)
    path.write_bytes(data[: len(data) - 50])
    with CallRecording(path) as recording:
        assert recording.duration_s == pytest.approx(2.0, abs=0.01)
        assert sum(len(a) for a, _ in recording.blocks(0.5)) >= 2 * SR_HZ


@pytest.mark.parametrize("fmt", ["W64", "RF64", "AIFF"])
def test_a_file_with_a_chunk_after_its_audio_cut_in_the_audio_is_refused(tmp_path: Path,
                                                                         fmt: str) -> None:
    path, data = with_trailing_chunk(tmp_path, fmt)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioInputError, match="the file is truncated"):
        open_audio(path)


def test_the_missing_audio_of_a_cut_w64_is_counted_exactly(tmp_path: Path) -> None:
    path, data = with_trailing_chunk(tmp_path, "W64")
    cut = len(data) // 2
    path.write_bytes(data[:cut])
    audio_end = data.index(b"data") + 24 + 2 * SR_HZ * 4
    with pytest.raises(AudioInputError, match=rf"\({audio_end - cut} bytes of audio data are missing\)"):
        open_audio(path)
