"""Call recordings: what reaches the file, and when."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from monitor.recorder import CallRecorder


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
