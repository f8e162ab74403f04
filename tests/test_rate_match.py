"""Pairing a stream at another rate with the master stream: timing and continuity."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from monitor.rate_match import RateMatcher


def _clicks(sr_hz: int, duration_s: float, every_s: float, first_s: float
            ) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(round(duration_s * sr_hz), np.float32)
    times_s = np.arange(first_s, duration_s - 0.1, every_s)
    x[np.round(times_s * sr_hz).astype(int)] = 1.0
    return x, times_s


def _paired(master: np.ndarray, other: np.ndarray, from_sr_hz: int, to_sr_hz: int,
            block_s: float) -> np.ndarray:
    matcher = RateMatcher(from_sr_hz, to_sr_hz)
    n_in, n_out = round(block_s * from_sr_hz), round(block_s * to_sr_hz)
    parts = [matcher.push(master[k * n_out:(k + 1) * n_out], other[i:i + n_in])
             for k, i in enumerate(range(0, other.size, n_in))]
    return np.concatenate([*parts, matcher.flush()])


@pytest.mark.parametrize("from_sr_hz, to_sr_hz", [(8000, 16000), (44100, 16000), (48000, 16000),
                                                  (16000, 48000), (22050, 44100)])
@pytest.mark.parametrize("block_s", [0.01, 0.1])
def test_pairs_hold_the_same_instant_of_both_streams(from_sr_hz: int, to_sr_hz: int,
                                                     block_s: float) -> None:
    duration_s = 3.0
    other, times_s = _clicks(from_sr_hz, duration_s, 0.25, first_s=0.5)
    master = np.arange(round(duration_s * to_sr_hz), dtype=np.float32)
    pairs = _paired(master, other, from_sr_hz, to_sr_hz, block_s)
    np.testing.assert_array_equal(pairs[:, 0], master)  # every master sample, once, in order
    peaks, _ = signal.find_peaks(np.abs(pairs[:, 1]), height=0.3, distance=to_sr_hz // 10)
    assert peaks.size == times_s.size
    np.testing.assert_allclose(peaks / to_sr_hz, times_s, atol=1.5 / min(from_sr_hz, to_sr_hz))


def test_a_tone_comes_through_whole() -> None:
    sr_in, sr_out = 8000, 16000
    t = np.arange(2 * sr_in) / sr_in
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    pairs = _paired(np.zeros(2 * sr_out, np.float32), tone, sr_in, sr_out, 0.02)
    expected = np.sin(2 * np.pi * 440 * np.arange(len(pairs)) / sr_out)
    settled = slice(round(0.01 * sr_out), len(pairs) - round(0.01 * sr_out))  # filter edges
    assert np.max(np.abs(pairs[settled, 1] - expected[settled])) < 0.01


def test_a_missing_block_is_silence_of_the_right_length() -> None:
    matcher = RateMatcher(8000, 16000)
    first = matcher.push(np.ones(1600, np.float32), None)
    rest = matcher.push(np.ones(1600, np.float32), np.full(800, 0.5, np.float32))
    pairs = np.concatenate([first, rest, matcher.flush()])
    assert len(pairs) == 3200
    assert np.all(np.abs(pairs[:1500, 1]) < 0.01)
    assert np.all(np.abs(pairs[1700:3100, 1] - 0.5) < 0.01)


def test_equal_rates_pair_the_blocks_as_they_come() -> None:
    rng = np.random.default_rng(0)
    master, other = rng.standard_normal((2, 4000)).astype(np.float32)
    matcher = RateMatcher(16000, 16000)
    pairs = matcher.push(master, other)
    np.testing.assert_array_equal(pairs, np.stack([master, other], axis=1))
    assert matcher.flush().shape == (0, 2)
