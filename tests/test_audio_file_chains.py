"""Chained Ogg files (recordings joined end to end) are read through all their links."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import AudioInputError, CallRecording, open_audio
from monitor.ffmpeg_audio import FfmpegAudio, ffmpeg_tools

SR_HZ = 16000
LINK_S = 2
needs_ffmpeg = pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")


def chain(tmp_path: Path, subtype: str) -> Path:
    """Two short recordings joined end to end, the second four times as loud as the first."""
    rng = np.random.default_rng(11)
    links = []
    for i in range(2):
        link = tmp_path / f"link{i}.ogg"
        sf.write(link, rng.standard_normal((LINK_S * SR_HZ, 2)) * 0.1 * (1 + 3 * i), SR_HZ,
                 format="OGG", subtype=subtype)
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links))
    assert sf.info(str(path)).frames == LINK_S * SR_HZ  # libsndfile stops after the first link
    return path


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@needs_ffmpeg
@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_a_chained_ogg_file_is_read_through_all_its_links(tmp_path: Path, subtype: str) -> None:
    path = chain(tmp_path, subtype)
    with CallRecording(path) as recording:
        assert recording.duration_s == pytest.approx(2 * LINK_S, abs=0.05)
        agent = np.concatenate([a for a, _ in recording.blocks(0.25)])
        assert recording.decode_problems == []
    sr_hz = recording.agent_sr_hz
    first, second = agent[sr_hz // 2:sr_hz], agent[-sr_hz:-sr_hz // 2]
    assert rms(second) > 3 * rms(first)  # the louder second recording is heard


@needs_ffmpeg
def test_a_chained_ogg_file_cut_in_its_last_link_is_read_and_noted(tmp_path: Path) -> None:
    path = chain(tmp_path, "VORBIS")
    data = path.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: len(data) - 2000])
    with CallRecording(cut) as recording:
        assert LINK_S + 0.5 < recording.duration_s < 2 * LINK_S
        blocks = list(recording.blocks(0.25))
        assert recording.decode_problems == ["cut.ogg: its last Ogg page is cut off or missing"]
    assert len(blocks) > 4 * LINK_S


@needs_ffmpeg
def test_a_long_chained_ogg_file_is_read_the_same_from_a_seek(tmp_path: Path) -> None:
    # Links of some seconds each, which libsndfile finds no length for at all.
    rng = np.random.default_rng(7)
    links = []
    for i in range(2):
        wav, link = tmp_path / f"link{i}.wav", tmp_path / f"link{i}.ogg"
        sf.write(wav, rng.standard_normal((6 * SR_HZ, 2)) * 0.1, SR_HZ, subtype="PCM_16")
        encoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libopus",
                                  "-serial_offset", str(1000 * (i + 1)), str(link)], capture_output=True)
        if encoded.returncode != 0:
            pytest.skip("this ffmpeg has no Opus encoder")
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links))
    with open_audio(path) as handle:
        whole = handle.read(always_2d=True)
        start = round(7.3 * handle.samplerate)  # in the second link
        assert handle.seek(start) == start
        np.testing.assert_array_equal(handle.read(4000, always_2d=True), whole[start:start + 4000])
        assert isinstance(handle, FfmpegAudio) and handle.decode_problem is None


def test_a_chained_ogg_file_without_ffmpeg_says_what_it_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.audio_file

    path = chain(tmp_path, "VORBIS")
    monkeypatch.setattr(monitor.audio_file, "ffmpeg_tools", lambda: None)
    with pytest.raises(AudioInputError, match="joined from several recordings needs ffmpeg"):
        open_audio(path)


def test_an_ogg_file_of_one_recording_stays_with_libsndfile(tmp_path: Path) -> None:
    path = tmp_path / "one.ogg"
    sf.write(path, np.zeros((SR_HZ, 2)), SR_HZ, format="OGG", subtype="VORBIS")
    path.write_bytes(path.read_bytes() + b"\0" * 100)  # padding after its end is no link
    with open_audio(path) as handle:
        assert isinstance(handle, sf.SoundFile)
        assert handle.frames == SR_HZ
