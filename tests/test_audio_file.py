"""Reading recordings: odd but valid files are read whole, broken ones are named for what they are."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import (MAX_ABS_SAMPLE, AudioInputError, CallRecording, ChannelChoice,
                                ChannelChoiceNeeded, open_audio, resolve_layout)
from monitor.ffmpeg_audio import ffmpeg_tools

SR_HZ = 16000


@pytest.fixture()
def noise() -> np.ndarray:
    """Two seconds of distinct noise per channel, exactly representable in 16 bits."""
    rng = np.random.default_rng(7)
    return np.round(rng.standard_normal((2 * SR_HZ, 2)) * 0.1 * 32768) / 32768


def read_all(path: Path, choice: ChannelChoice = ChannelChoice()) -> tuple[np.ndarray, CallRecording]:
    with CallRecording(path, choice) as recording:
        blocks = list(recording.blocks(0.25))
    agent = np.concatenate([a for a, _ in blocks])
    customer = np.concatenate([c for _, c in blocks]) if blocks[0][1] is not None else None
    return (np.stack([agent, customer], axis=1) if customer is not None else agent), recording


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF, 0x7FFFFFFF])
def test_an_unfinalised_wav_is_read_to_its_end(tmp_path: Path, noise: np.ndarray,
                                               placeholder: int) -> None:
    path = tmp_path / "recording.wav"
    sf.write(path, noise, SR_HZ, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    size_at = data.index(b"data") + 4
    data[4:8] = struct.pack("<I", placeholder)  # RIFF size
    data[size_at:size_at + 4] = struct.pack("<I", placeholder)
    path.write_bytes(data)
    got, _ = read_all(path)
    np.testing.assert_array_equal(got, noise.astype(np.float32))


def test_an_empty_wav_whose_data_size_is_0_still_holds_no_audio(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 2)), SR_HZ)
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 0)
    path.write_bytes(data)
    with pytest.raises(AudioInputError, match="contains no audio"):
        open_audio(path)


def test_absurd_samples_are_silenced_and_counted_like_nan(tmp_path: Path, noise: np.ndarray) -> None:
    x = noise.astype(np.float32)
    x[5000, 0] = 1e30
    x[6000, 1] = -MAX_ABS_SAMPLE * 2
    x[7000, 0] = np.nan
    x[8000, 1] = 1.5  # over full scale, but a float file may hold that
    x[9000, 0] = -MAX_ABS_SAMPLE  # the bound itself is kept
    path = tmp_path / "float.wav"
    sf.write(path, x, SR_HZ, subtype="FLOAT")
    got, recording = read_all(path)
    assert recording.non_finite_samples == 3
    expected = x.copy()
    expected[5000, 0] = expected[6000, 1] = expected[7000, 0] = 0.0
    np.testing.assert_array_equal(got, expected)


def test_the_vad_never_warns_on_a_huge_level() -> None:
    from monitor.vad import VoiceActivityDetector

    block = np.random.default_rng(0).standard_normal(SR_HZ).astype(np.float32) * 0.1
    block[5000] = 1e30  # its frame's power overflows float32 to inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VoiceActivityDetector(SR_HZ, 0.02).process(block)


@pytest.mark.parametrize("has_customer_file", [False, True])
def test_mono_or_a_customer_file_needs_no_customer_channel(has_customer_file: bool) -> None:
    path = Path("six.wav")
    if has_customer_file:
        with pytest.raises(ChannelChoiceNeeded) as raised:
            resolve_layout(6, ChannelChoice(), True, path)
        assert "--agent-channel" in str(raised.value)
        assert "--customer-channel" not in str(raised.value) and "--mono" not in str(raised.value)
        assert resolve_layout(6, ChannelChoice(agent_channel=2), True, path).customer_channel is None
    else:
        layout = resolve_layout(6, ChannelChoice(mono=True), False, path)
        assert (layout.agent_channel, layout.customer_channel) == (0, None)
        layout = resolve_layout(6, ChannelChoice(agent_channel=3, mono=True), False, path)
        assert (layout.agent_channel, layout.customer_channel) == (3, None)


@pytest.mark.parametrize("make, message", [
    (lambda d: os.mkfifo(d / "pipe.wav") or d / "pipe.wav", "not a regular file"),
    (lambda d: Path("/dev/zero"), "not a regular file"),
])
def test_what_is_not_a_regular_file_is_named_so(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(AudioInputError, match=message):
        open_audio(make(tmp_path))


def test_an_unreadable_file_is_permission_denied(tmp_path: Path, noise: np.ndarray,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.wav"
    sf.write(path, noise, SR_HZ)
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: refuse the way the kernel would for others
        real_open = Path.open

        def refuse(self: Path, *args: object, **kwargs: object):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real_open(self, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(AudioInputError, match=r"locked.wav: permission denied"):
        open_audio(path)


def test_an_ogg_file_without_its_end_is_noted(tmp_path: Path, noise: np.ndarray) -> None:
    whole = tmp_path / "whole.ogg"
    sf.write(whole, noise, SR_HZ, format="OGG", subtype="VORBIS")
    assert CallRecording(whole).decode_problems == []
    data = whole.read_bytes()
    last_page = data.rindex(b"OggS")
    for name, cut in (("mid-page.ogg", data[: len(data) // 2]), ("page.ogg", data[:last_page])):
        path = tmp_path / name
        path.write_bytes(cut)
        recording = CallRecording(path)
        assert recording.decode_problems == [f"{name}: its last Ogg page is cut off or missing"]
        recording.close()


@pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")
def test_a_flac_stream_without_its_length_is_read_whole(tmp_path: Path, noise: np.ndarray) -> None:
    wav = tmp_path / "call.wav"
    sf.write(wav, noise, SR_HZ, subtype="PCM_16")
    stream = tmp_path / "stream.flac"
    with stream.open("wb") as out:  # written to a pipe: STREAMINFO says 0 samples
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-f", "flac", "-"], stdout=out,
                       check=True)
    assert sf.info(str(stream)).frames > len(noise)  # what libsndfile makes of it
    got, _ = read_all(stream)
    np.testing.assert_array_equal(got, noise.astype(np.float32))


def test_a_flac_stream_without_its_length_and_without_ffmpeg_says_so(
        tmp_path: Path, noise: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.audio_file

    if ffmpeg_tools() is None:
        pytest.skip("needs ffmpeg to write the stream")
    wav = tmp_path / "call.wav"
    sf.write(wav, noise, SR_HZ, subtype="PCM_16")
    stream = tmp_path / "stream.flac"
    with stream.open("wb") as out:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-f", "flac", "-"], stdout=out,
                       check=True)
    monkeypatch.setattr(monitor.audio_file, "ffmpeg_tools", lambda: None)
    with pytest.raises(AudioInputError, match="does not state its length needs ffmpeg"):
        open_audio(stream)


@pytest.mark.parametrize(("channels", "choice", "customer_file", "words"), [
    (2, ChannelChoice(customer_channel=0, mono=True), False, "--mono analyses the agent only"),
    (2, ChannelChoice(customer_channel=1), True, "with --customer the customer's own recording"),
    (1, ChannelChoice(swap=True), False, "has one channel, so there is nothing to swap"),
])
def test_channel_options_that_cannot_all_be_obeyed_are_refused(
        channels: int, choice: ChannelChoice, customer_file: bool, words: str) -> None:
    with pytest.raises(AudioInputError, match=words):
        resolve_layout(channels, choice, customer_file, Path("call.wav"))


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are Unicode")
def test_a_file_name_that_is_not_utf8_is_read(tmp_path: Path, noise: np.ndarray) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/call-\xff\xfe.wav"))
    sf.write(os.fsencode(path), noise, SR_HZ, subtype="PCM_16")
    got, _ = read_all(path)
    np.testing.assert_array_equal(got, noise.astype(np.float32))
    from monitor.analysis import analyze_recording
    from models.settings import RuleSettings

    with CallRecording(path) as recording:
        report = analyze_recording(recording, RuleSettings()).to_json()
    assert report["source"].endswith("call-\ufffd\ufffd.wav")
    assert report["channels"]["agent"] == "call-\ufffd\ufffd.wav:1"
    # No lone surrogates anywhere for a strict JSON reader to refuse.
    json.dumps(report, ensure_ascii=False).encode("utf-8")


@pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")
def test_a_long_chained_ogg_opus_file_is_read_through_all_its_links(tmp_path: Path) -> None:
    # Links of some seconds each: libsndfile then finds no length for the file at all.
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal((12 * SR_HZ, 2)) * 0.1).astype(np.float32)
    links = []
    for i, part in enumerate((noise[:6 * SR_HZ], noise[6 * SR_HZ:])):
        wav, link = tmp_path / f"link{i}.wav", tmp_path / f"link{i}.ogg"
        sf.write(wav, part, SR_HZ, subtype="PCM_16")
        encoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libopus",
                                  "-serial_offset", str(1000 * (i + 1)), str(link)], capture_output=True)
        if encoded.returncode != 0:
            pytest.skip("this ffmpeg has no Opus encoder")
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"  # two recordings joined end to end, as Ogg allows
    path.write_bytes(b"".join(links))
    assert sf.info(str(path)).frames > 2**62  # what libsndfile makes of it
    with CallRecording(path) as recording:
        assert recording.duration_s == pytest.approx(12.0, abs=0.05)
        agent = np.concatenate([a for a, _ in recording.blocks(0.25)])
    assert np.abs(agent[-recording.agent_sr_hz // 2:]).max() > 0.01  # the second link is heard


@pytest.mark.parametrize("fmt", ["AIFF", "W64", "RF64"])
def test_a_truncated_aiff_w64_or_rf64_is_refused(tmp_path: Path, noise: np.ndarray, fmt: str) -> None:
    path = tmp_path / f"cut.{fmt.lower()}"
    sf.write(path, noise, SR_HZ, format=fmt, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioInputError, match="the file is truncated"):
        open_audio(path)


@pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")
def test_ogg_speex_is_read_through_ffmpeg(tmp_path: Path, noise: np.ndarray) -> None:
    wav = tmp_path / "call.wav"
    sf.write(wav, noise[:, 0], SR_HZ, subtype="PCM_16")
    path = tmp_path / "call.ogg"
    encoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libspeex", str(path)],
                             capture_output=True)
    if encoded.returncode != 0:
        pytest.skip("this ffmpeg has no Speex encoder")
    with CallRecording(path) as recording:
        assert recording.duration_s == pytest.approx(2.0, abs=0.1)


def test_the_customer_recording_cannot_be_the_recording_itself(tmp_path: Path,
                                                               noise: np.ndarray) -> None:
    path = tmp_path / "call.wav"
    sf.write(path, noise, SR_HZ, subtype="PCM_16")
    (tmp_path / "link.wav").symlink_to(path)
    with pytest.raises(AudioInputError, match="--customer names the recording itself"):
        CallRecording(path, customer_path=tmp_path / "link.wav")
