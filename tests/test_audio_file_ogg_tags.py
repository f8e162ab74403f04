"""A tag a tagger appends after an Ogg file's last page is no sign of a cut-off recording."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import CallRecording
from monitor.ffmpeg_audio import ffmpeg_tools

SR_HZ = 16000
ID3V1_TAG = b"TAG" + b"A call".ljust(30, b"\0") + bytes(95)  # 128 bytes, at the very end
APE_TAG = (b"APETAGEX" + (2000).to_bytes(4, "little") + (64).to_bytes(4, "little") + bytes(16)
           + bytes(32) + b"APETAGEX" + (2000).to_bytes(4, "little") + (64).to_bytes(4, "little")
           + bytes(16))  # header, an empty item area and footer, as taggers write them
TRAILERS = {"id3v1": ID3V1_TAG, "ape": APE_TAG, "ape+id3v1": APE_TAG + ID3V1_TAG}


def ogg(tmp_path: Path, subtype: str, name: str = "call.ogg", seed: int = 1) -> Path:
    path = tmp_path / name
    noise = np.random.default_rng(seed).standard_normal((3 * SR_HZ, 2)) * 0.1
    sf.write(path, noise, SR_HZ, format="OGG", subtype=subtype)
    return path


def read_whole(path: Path) -> tuple[int, list[str]]:
    with CallRecording(path) as recording:
        frames = sum(len(agent) for agent, _ in recording.blocks(0.5))
        return frames, recording.decode_problems


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
@pytest.mark.parametrize("trailer", sorted(TRAILERS))
def test_a_tag_after_the_last_page_is_read_without_a_cut_off_note(tmp_path: Path, subtype: str,
                                                                  trailer: str) -> None:
    path = ogg(tmp_path, subtype)
    whole_frames, _ = read_whole(path)
    path.write_bytes(path.read_bytes() + TRAILERS[trailer])
    assert read_whole(path) == (whole_frames, [])


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_a_cut_off_ogg_file_is_still_noted_when_a_tag_follows_the_cut(tmp_path: Path,
                                                                      subtype: str) -> None:
    data = ogg(tmp_path, subtype).read_bytes()
    last_page = data.rindex(b"OggS")
    cuts = {"mid-page.ogg": data[:len(data) - 300], "page.ogg": data[:last_page],
            "header.ogg": data[:last_page + 10]}
    for name, cut in cuts.items():
        for suffix, trailer in (("", b""), ("tagged-", ID3V1_TAG)):
            path = tmp_path / f"{suffix}{name}"
            path.write_bytes(cut + trailer)
            _, problems = read_whole(path)
            assert problems == [f"{path.name}: its last Ogg page is cut off or missing"]


@pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")
def test_a_chained_ogg_file_with_a_tag_after_its_last_link_is_read_without_a_note(
        tmp_path: Path) -> None:
    links = [ogg(tmp_path, "VORBIS", f"link{i}.ogg", seed=i).read_bytes() for i in range(2)]
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links) + ID3V1_TAG)
    frames, problems = read_whole(path)
    assert problems == []
    assert frames == pytest.approx(6 * SR_HZ, abs=0.05 * SR_HZ)
