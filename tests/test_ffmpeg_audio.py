"""Reading recordings through ffmpeg: blocks, seeking and the declared length."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import AudioInputError, open_audio
from monitor.ffmpeg_audio import FfmpegAudio, FfmpegDataError, ffmpeg_tools

pytestmark = pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")


@pytest.fixture()
def stereo(tmp_path: Path) -> tuple[np.ndarray, Path]:
    """Three seconds of distinct noise per channel, as 16-bit WAV and lossless FLAC-in-Matroska."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3 * 8000, 2)) * 0.1).astype(np.float32)
    wav = tmp_path / "call.wav"
    sf.write(wav, x, 8000, subtype="PCM_16")
    mka = tmp_path / "call.mka"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "flac", str(mka)], check=True)
    return sf.read(wav, dtype="float32")[0], mka


def test_blocks_and_seeks_give_the_samples(stereo: tuple[np.ndarray, Path]) -> None:
    x, mka = stereo
    with open_audio(mka) as handle:
        assert isinstance(handle, FfmpegAudio)
        assert (handle.samplerate, handle.channels, handle.frames) == (8000, 2, len(x))
        blocks = [handle.read(777, always_2d=True) for _ in range(len(x) // 777 + 2)]
        np.testing.assert_array_equal(np.concatenate(blocks), x)
        assert len(blocks[-1]) == 0  # nothing past the end
        assert handle.seek(12000) == 12000
        np.testing.assert_array_equal(handle.read(4000, always_2d=True), x[12000:16000])
        handle.seek(0)
        np.testing.assert_array_equal(handle.read(10), x[:10])


def test_a_reopened_reader_is_independent_and_not_probed_again(
        stereo: tuple[np.ndarray, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.ffmpeg_audio

    x, mka = stereo
    with open_audio(mka) as handle:
        np.testing.assert_array_equal(handle.read(5000, always_2d=True), x[:5000])

        def no_probe(*args: object) -> None:
            raise AssertionError("probed again")

        monkeypatch.setattr(monitor.ffmpeg_audio, "_probe", no_probe)
        with handle.reopen() as twin:
            assert (twin.samplerate, twin.channels, twin.frames) == (8000, 2, len(x))
            twin.seek(12000)
            np.testing.assert_array_equal(twin.read(4000, always_2d=True), x[12000:16000])
            np.testing.assert_array_equal(handle.read(1000, always_2d=True), x[5000:6000])


def test_a_decoder_that_runs_dry_early_is_padded_to_the_declared_length(
        stereo: tuple[np.ndarray, Path]) -> None:
    x, mka = stereo
    with open_audio(mka) as handle:
        handle.frames += 80  # as if the container declared 10 ms more than the codec gives
        got = handle.read(always_2d=True)
    assert len(got) == len(x) + 80
    np.testing.assert_array_equal(got[:len(x)], x)
    assert not got[len(x):].any()


def test_a_decoder_that_runs_dry_long_before_the_declared_length_means_a_truncated_file(
        stereo: tuple[np.ndarray, Path]) -> None:
    x, mka = stereo
    with open_audio(mka) as handle:
        handle.frames += 8000  # as if the container declared a second the file no longer holds
        with pytest.raises(FfmpegDataError, match=r"its audio ends at 3.0 s, its header says 4.0 s"):
            handle.read(always_2d=True)


def test_a_decoding_error_means_a_damaged_file(stereo: tuple[np.ndarray, Path], tmp_path: Path) -> None:
    _, mka = stereo
    cut = tmp_path / "cut.mka"
    cut.write_bytes(mka.read_bytes()[: mka.stat().st_size // 2])
    with open_audio(cut) as handle:  # the header is whole: only decoding tells
        with pytest.raises(FfmpegDataError, match="ffmpeg: File ended prematurely"):
            handle.read(always_2d=True)


def test_a_stream_that_does_not_state_its_length_is_counted(stereo: tuple[np.ndarray, Path],
                                                            tmp_path: Path) -> None:
    x, mka = stereo
    live = tmp_path / "live.flac"
    with live.open("wb") as out:  # written to a pipe: STREAMINFO gives 0 samples, ffprobe no duration
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(mka), "-f", "flac", "-"], stdout=out, check=True)
    tools = ffmpeg_tools()
    assert tools is not None
    with FfmpegAudio(live, tools) as handle:
        assert handle.frames == len(x)
        np.testing.assert_array_equal(handle.read(always_2d=True), x)


def test_a_file_without_audio_is_one_line(tmp_path: Path) -> None:
    video = tmp_path / "screen.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:d=1",
                    "-c:v", "ffv1", str(video)], check=True)
    with pytest.raises(AudioInputError, match=r"screen.mkv: not a readable WebM/Matroska file \(.*no audio"):
        open_audio(video)
