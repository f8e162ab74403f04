"""A chained Ogg file whose recordings differ in sample rate is read without a false damage note."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from monitor.audio_file import AudioInputError, CallRecording, open_audio
from monitor.ffmpeg_audio import ffmpeg_tools

needs_ffmpeg = pytest.mark.skipif(ffmpeg_tools() is None, reason="needs ffmpeg and ffprobe")


@needs_ffmpeg
def test_links_at_different_sample_rates_are_read_whole_and_clean(tmp_path: Path) -> None:
    # A stream dump may join a 16 kHz recording and a 44.1 kHz one: ffmpeg starts its
    # filters anew at the join, and its raw output's timestamps start over with them.
    rng = np.random.default_rng(5)
    links = []
    for i, sr_hz in enumerate((16000, 44100)):
        link = tmp_path / f"link{i}.ogg"
        sf.write(link, rng.standard_normal((2 * sr_hz, 2)) * 0.1, sr_hz, format="OGG",
                 subtype="VORBIS")
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links))
    with CallRecording(path) as recording:
        assert recording.duration_s == pytest.approx(4.0, abs=0.05)
        blocks = list(recording.blocks(0.25))
        assert recording.decode_problems == []
    assert sum(len(agent) for agent, _ in blocks) == pytest.approx(4.0 * recording.agent_sr_hz,
                                                                   abs=0.05 * recording.agent_sr_hz)


@needs_ffmpeg
def test_a_seek_in_links_at_different_sample_rates_reads_what_a_whole_read_does(
        tmp_path: Path) -> None:
    # The second link is a 1 kHz tone for 1 s, then silence: a reader that starts after
    # the seek point must find the tone where a reader from the start finds it.
    tone_s, link_s = 1.0, 2.0
    links = []
    for i, (sr_hz, freq_hz) in enumerate(((16000, 440.0), (44100, 1000.0))):
        t = np.arange(round(link_s * sr_hz)) / sr_hz
        audio = 0.3 * np.sin(2 * np.pi * freq_hz * t) * (t < tone_s if i else 1.0)
        link = tmp_path / f"link{i}.ogg"
        sf.write(link, audio, sr_hz, format="OGG", subtype="VORBIS")
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links))
    with open_audio(path) as handle:
        sr_hz = handle.samplerate
        whole = handle.read(always_2d=True)[:, 0]
        for start_s in (0.5, 1.5):
            start = round(start_s * sr_hz)
            handle.seek(start)
            assert np.array_equal(handle.read(always_2d=True)[:, 0], whole[start:]), start_s


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
@pytest.mark.parametrize("channels", [(1, 2), (2, 1)])
def test_links_of_different_channel_counts_are_refused(tmp_path: Path, subtype: str,
                                                       channels: tuple[int, int]) -> None:
    # Read as one file, a stereo link would be mixed into the mono link's one channel (or a
    # mono link copied to both sides): you and the customer would be heard as one person.
    rng = np.random.default_rng(9)
    links = []
    for i, count in enumerate(channels):
        link = tmp_path / f"link{i}.ogg"
        sf.write(link, rng.standard_normal((2 * 16000, count)) * 0.1, 16000, format="OGG",
                 subtype=subtype)
        links.append(link.read_bytes())
    path = tmp_path / "chained.ogg"
    path.write_bytes(b"".join(links))
    with pytest.raises(AudioInputError) as caught:
        open_audio(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "recordings of 1 and 2 channels" in message
