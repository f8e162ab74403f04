"""Call recordings: what reaches the file, and when."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from monitor.recorder import CallRecorder, RecordingError


def _clicks(sr_hz: int, times_s: np.ndarray, duration_s: float) -> np.ndarray:
    x = np.zeros(round(duration_s * sr_hz), np.float32)
    x[np.round(times_s * sr_hz).astype(int)] = 0.9
    return x


def test_both_sides_of_a_call_keep_time_in_the_file(tmp_path: Path) -> None:
    """A customer device at 8 kHz is resampled without lagging the agent's 16 kHz mic."""
    duration_s, block_s = 8.0, 0.02
    times_s = np.arange(3.0, 7.5, 0.5)
    agent, customer = _clicks(16000, times_s, duration_s), _clicks(8000, times_s, duration_s)
    recorder = CallRecorder(tmp_path / "recordings", 16000, 8000, preroll_s=2.0)
    n_agent, n_customer = round(block_s * 16000), round(block_s * 8000)
    for k in range(round(duration_s / block_s)):
        if k == round(4.0 / block_s):
            path = recorder.begin("call", start_s=2.5)  # detected at 4 s, started at 2.5 s
        recorder.push(agent[k * n_agent:(k + 1) * n_agent], customer[k * n_customer:(k + 1) * n_customer])
    assert recorder.end() == path
    audio, sr_hz = sf.read(path, dtype="float32")
    assert sr_hz == 16000
    assert path.stat().st_mode & 0o777 == 0o600
    found = [signal.find_peaks(np.abs(audio[:, ch]), height=0.3, distance=1600)[0] / sr_hz + 2.5
             for ch in (0, 1)]
    np.testing.assert_allclose(found[0], times_s, atol=1e-4)
    np.testing.assert_allclose(found[1], times_s, atol=2e-4)


def _push_seconds(recorder: CallRecorder, seconds: float, block_s: float = 0.1) -> None:
    n = round(block_s * recorder.sr_hz)
    for _ in range(round(seconds / block_s)):
        recorder.push(np.full(n, 0.1, np.float32), None)


def test_a_recording_never_overwrites_an_earlier_one(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir(mode=0o700)
    (folder / "call.flac").write_bytes(b"an earlier recording")
    recorder = CallRecorder(folder, 16000, None)
    paths = []
    for _ in range(2):  # two calls given the same name, as in the same second with no call log
        _push_seconds(recorder, 1.0)
        paths.append(recorder.begin("call", start_s=0.0))
        _push_seconds(recorder, 1.0)
        assert recorder.end() == paths[-1]
    assert [p.name for p in paths] == ["call-2.flac", "call-3.flac"]
    assert (folder / "call.flac").read_bytes() == b"an earlier recording"
    for path in paths:
        assert sf.info(path).frames > 0 and path.stat().st_mode & 0o777 == 0o600


def test_a_nearly_full_disk_stops_the_recording_and_keeps_a_valid_file(tmp_path: Path,
                                                                      monkeypatch) -> None:
    import monitor.recorder

    free = {"bytes": 10 * monitor.recorder.MIN_FREE_BYTES}

    def disk_usage(path: Path) -> SimpleNamespace:
        return SimpleNamespace(total=100 * monitor.recorder.MIN_FREE_BYTES, used=0, free=free["bytes"])

    monkeypatch.setattr(monitor.recorder.shutil, "disk_usage", disk_usage)
    recorder = CallRecorder(tmp_path / "recordings", 16000, None)
    path = recorder.begin("call", start_s=0.0)
    _push_seconds(recorder, 2.0)
    free["bytes"] = 1_000_000
    with pytest.raises(RecordingError, match=r"nearly full \(1\.0 MB free"):
        _push_seconds(recorder, 2.0)
    _push_seconds(recorder, 1.0)  # the call goes on unrecorded
    assert recorder.end() is None
    # Stopped while there was room to finish the file: it is whole, not cut off.
    assert 2.0 <= sf.info(path).duration <= 3.1
    with pytest.raises(RecordingError, match="Not recording this call: the disk is nearly full"):
        recorder.begin("next", start_s=4.0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["call.flac"]


def test_a_recording_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the recordings folder should be")
    recorder = CallRecorder(tmp_path / "data" / "recordings", 16000, None)
    _push_seconds(recorder, 1.0)
    with pytest.raises(RecordingError, match="Not recording this call: cannot write in .*data/recordings"):
        recorder.begin("call", start_s=0.0)
    _push_seconds(recorder, 1.0)
    assert recorder.end() is None


def test_the_recording_is_opened_by_name_not_through_a_descriptor(tmp_path: Path,
                                                                 monkeypatch) -> None:
    # libsndfile's sf_open_fd fails on Windows, where its C runtime is not Python's.
    opened: list[object] = []
    real = sf.SoundFile

    def sound_file(file: object, *args: object, **kwargs: object) -> sf.SoundFile:
        opened.append(file)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(sf, "SoundFile", sound_file)
    recorder = CallRecorder(tmp_path / "recordings", 16000, None)
    path = recorder.begin("call", 0.0)
    recorder.end()
    assert opened == [path] and path.stat().st_mode & 0o777 == 0o600
