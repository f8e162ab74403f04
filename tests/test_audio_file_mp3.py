"""MP3 recordings: a length that is only an estimate, damaged frames, and no decoder noise on stderr."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import AudioInputError, CallRecording
from monitor.ffmpeg_audio import ffmpeg_tools
from ui.cli import main

pytestmark = pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")

SR_HZ = 16000
LENGTH_S = 20.0
# What libmpg123 (inside libsndfile) writes straight to stderr: "[src/libmpg123/...] error:
# ...", "Note: Illegal Audio-MPEG-Header ...", "Warning: Xing stream size off ...".
MPG123_MARKS = ("libmpg123", "Note: ", "Warning: ")


def speechlike(sr_hz: int) -> np.ndarray:
    """Voiced bursts over varying loudness, with pauses: a variable bitrate varies on it."""
    t = np.arange(round(LENGTH_S * sr_hz)) / sr_hz
    envelope = (np.sin(2 * np.pi * 0.7 * t) > -0.2) * (0.3 + 0.7 * np.abs(np.sin(2 * np.pi * 0.13 * t)))
    voiced = sum(np.sin(2 * np.pi * f_hz * t) / k for k, f_hz in enumerate((180, 360, 540, 900), 1))
    noise = np.random.default_rng(3).standard_normal(len(t))
    return 0.2 * envelope * (voiced + 0.3 * noise)


def mp3(tmp_path: Path, name: str, *options: str) -> Path:
    wav, path = tmp_path / f"{name}.wav", tmp_path / f"{name}.mp3"
    sf.write(wav, speechlike(SR_HZ), SR_HZ, subtype="PCM_16")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libmp3lame", *options, str(path)],
                   check=True)
    return path


def damaged(tmp_path: Path) -> Path:
    """A whole VBR MP3 with a Xing header and a run of garbage in its middle, as a bad sector leaves."""
    path = mp3(tmp_path, "damaged", "-q:a", "6")
    data = bytearray(path.read_bytes())
    middle, run = len(data) // 2, len(data) // 150  # about 0.13 s of audio
    data[middle:middle + run] = np.random.default_rng(8).integers(0, 256, run, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def read_all(path: Path) -> tuple[float, list[str]]:
    """Seconds of audio read, and the decode problems noted."""
    with CallRecording(path) as recording:
        frames = sum(len(agent) for agent, _ in recording.blocks(1.0))
        return frames / recording.agent_sr_hz, recording.decode_problems


def test_a_slightly_short_damaged_mp3_is_analysed_with_a_note_and_nothing_from_libmpg123(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = damaged(tmp_path)
    out = tmp_path / "report.json"
    assert main(["analyze", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["duration_s"] == pytest.approx(LENGTH_S, abs=0.2)
    assert any(note.startswith("damaged.mp3: ") and "may be cut off or damaged there" in note
               for note in report["notes"])
    stderr = capfd.readouterr().err
    assert not [line for line in stderr.splitlines() if any(mark in line for mark in MPG123_MARKS)]


def test_an_mp3_cut_in_half_is_still_refused_as_truncated(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = mp3(tmp_path, "whole", "-q:a", "6")  # its Xing header counts the frames
    data = path.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[:len(data) // 2])
    assert main(["analyze", str(cut), "--json", str(tmp_path / "report.json")]) == 2
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"calmline: {cut}: ") and "truncated" in lines[0]


@pytest.mark.parametrize("options", [("-b:a", "32k"), ("-q:a", "6"), ("-b:a", "64k", "-abr", "1")],
                         ids=["cbr", "vbr", "abr"])
def test_an_mp3_without_a_xing_header_is_read_to_its_true_end(tmp_path: Path,
                                                               options: tuple[str, ...]) -> None:
    # Without the header only the file size and the first frame's bitrate tell the length:
    # libsndfile stopped a variable-bitrate file at that guess, half way through, and
    # refused a constant-bitrate one whose guess came out a few frames long.
    path = mp3(tmp_path, "noxing", *options, "-write_xing", "0")
    seconds, problems = read_all(path)
    assert seconds == pytest.approx(LENGTH_S, abs=0.2)
    assert problems == []


def test_without_ffmpeg_an_mp3_whose_guessed_length_is_a_little_long_is_still_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.audio_file

    path = mp3(tmp_path, "noxing", "-b:a", "32k", "-write_xing", "0")
    monkeypatch.setattr(monitor.audio_file, "ffmpeg_tools", lambda: None)
    with CallRecording(path) as recording:
        assert isinstance(recording._main, sf.SoundFile)
        assert recording.duration_s > LENGTH_S  # libsndfile's guess from the file size
        seconds = sum(len(agent) for agent, _ in recording.blocks(1.0)) / recording.agent_sr_hz
        assert seconds == pytest.approx(recording.duration_s)  # padded with silence
        assert recording.decode_problems == []


def test_without_ffmpeg_an_mp3_cut_in_half_is_still_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.audio_file

    data = mp3(tmp_path, "whole", "-q:a", "6").read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[:len(data) // 2])
    monkeypatch.setattr(monitor.audio_file, "ffmpeg_tools", lambda: None)
    with pytest.raises(AudioInputError, match="the file is truncated"):
        read_all(cut)
