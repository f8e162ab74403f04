"""Tests for the BS.1770 loudness stage (monitor/loudness.py).

Reference levels follow EBU Tech 3341, whose test signals are stereo pairs: a
stereo 1 kHz sine at -23 dBFS reads -23.0 LUFS. One meter here measures one
channel, so the same sine on a single channel reads 10*log10(2) = 3.01 LU less.
"""
from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from monitor.framing import hop_end_sample
from monitor.loudness import LoudnessMeter, k_weighting_sos, mean_square_to_lufs
from tests.audio_fixtures import espeak, have, office_noise, resample, scale_to_dbfs, telephone_band, write_wav

RATES_HZ = (8000, 16000, 44100, 48000)
MONO_OFFSET_DB = 10 * math.log10(2)
TOLERANCE_LU = 0.1
FIRST_FULL_MOMENTARY = 3  # the first hop whose 400 ms window holds no padding
FIRST_FULL_SHORT_TERM = 29  # likewise for the 3 s window


def sine(sr_hz: int, level_dbfs: float, duration_s: float, freq_hz: float = 1000.0) -> np.ndarray:
    """A sine whose peak is ``level_dbfs``."""
    n = np.arange(round(duration_s * sr_hz))
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * n / sr_hz)


def tone_burst(sr_hz: int, high_s: float, low_s: float, duration_s: float,
               high_dbfs: float = -20.0, low_dbfs: float = -30.0) -> np.ndarray:
    """A 1 kHz sine alternating ``high_s`` at ``high_dbfs`` and ``low_s`` at ``low_dbfs``.

    The level switches at a sample boundary and the phase runs on, so every
    period holds exactly the same samples.
    """
    n = np.arange(round(duration_s * sr_hz))
    period = round((high_s + low_s) * sr_hz)
    high = (n % period) < round(high_s * sr_hz)
    amplitude = np.where(high, 10 ** (high_dbfs / 20), 10 ** (low_dbfs / 20))
    return amplitude * np.sin(2 * np.pi * 1000.0 * n / sr_hz)


def burst_expected_lufs(high_s: float, low_s: float, high_dbfs: float = -20.0, low_dbfs: float = -30.0) -> float:
    """Mono loudness of a 1 kHz tone burst over whole periods: the energy average of its two levels."""
    mean_power = (high_s * 10 ** (high_dbfs / 10) + low_s * 10 ** (low_dbfs / 10)) / (high_s + low_s)
    return 10 * math.log10(mean_power) - MONO_OFFSET_DB


def meter_all(x: np.ndarray, sr_hz: int, block_sizes: list[int] | None = None,
              libebur128_compatible: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Run a fresh meter over ``x``, in one call or in blocks of the given sizes (cycled)."""
    meter = LoudnessMeter(sr_hz, libebur128_compatible=libebur128_compatible)
    if block_sizes is None:
        return meter.process(x)
    outputs = []
    pos = 0
    i = 0
    while pos < x.size:
        n = block_sizes[i % len(block_sizes)]
        outputs.append(meter.process(x[pos:pos + n]))
        pos += n
        i += 1
    return (np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs]))


def speech_with_noise(sr_hz: int) -> np.ndarray:
    """A few seconds of synthetic speech at -20 dBFS RMS over -55 dBFS office noise, with pauses."""
    x = espeak("Thank you for calling. Please hold while I look up your account, "
               "this may take a few minutes.", sr_hz=sr_hz)
    x = scale_to_dbfs(x, -20.0)
    return (x + office_noise(x.size, sr_hz, level_dbfs=-55.0)).astype(np.float32)


# --- K-weighting filter ----------------------------------------------------

@pytest.mark.parametrize("libebur128_compatible", [False, True])
def test_k_weighting_48k_matches_bs1770_coefficients(libebur128_compatible: bool) -> None:
    published = np.array([
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ])
    sos = k_weighting_sos(48000, libebur128_compatible)
    assert sos.shape == (2, 6)
    np.testing.assert_allclose(sos, published, rtol=0, atol=1e-8)


def response_db(sos: np.ndarray, f_hz: np.ndarray, sr_hz: int) -> np.ndarray:
    _, h = signal.sosfreqz(sos, worN=f_hz, fs=sr_hz)
    return 20 * np.log10(np.abs(h))


@pytest.mark.parametrize("sr_hz", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000])
def test_k_weighting_is_the_same_filter_at_every_rate(sr_hz: int) -> None:
    sos = k_weighting_sos(sr_hz)
    for section in sos:
        assert np.all(np.abs(np.roots(section[3:])) < 1.0)
    _, h_dc = signal.sosfreqz(sos, worN=[0.0], fs=sr_hz)
    assert h_dc[0] == 0  # the RLB stage has a double zero at DC
    f_hz = np.geomspace(20.0, min(0.46 * sr_hz, 20000.0), 400)
    reference_db = response_db(k_weighting_sos(48000), f_hz, 48000)
    np.testing.assert_allclose(response_db(sos, f_hz, sr_hz), reference_db, atol=0.02)
    # A 1 kHz tone reads its own level (the -0.691 dB offset is rounded in the standard).
    assert abs(-0.691 + response_db(sos, np.array([1000.0]), sr_hz)[0]) < 0.02


def test_libebur128_design_drifts_at_low_rates() -> None:
    # Why the default design differs from libebur128/ffmpeg below 48 kHz: the
    # unnormalised RLB numerator raises the passband with falling rate, and the
    # bilinear shelf bends, yet 1 kHz happens to stay close.
    f_hz = np.array([100.0, 1000.0, 2500.0])
    drift_db = (response_db(k_weighting_sos(8000, libebur128_compatible=True), f_hz, 8000)
                - response_db(k_weighting_sos(48000), f_hz, 48000))
    np.testing.assert_allclose(drift_db, [0.215, 0.013, 0.496], atol=0.005)


def test_rejects_bad_configuration_and_input() -> None:
    with pytest.raises(ValueError):
        k_weighting_sos(3000)
    with pytest.raises(ValueError):
        LoudnessMeter(16000, hop_s=0.3)
    meter = LoudnessMeter(16000)
    with pytest.raises(ValueError):
        meter.process(np.zeros((10, 2)))
    with pytest.raises(ValueError):
        meter.process(np.zeros(10, dtype=np.int16))


def test_mean_square_to_lufs() -> None:
    out = mean_square_to_lufs(np.array([0.0, 1.0, 0.1]))
    assert out[0] == -np.inf
    np.testing.assert_allclose(out[1:], [-0.691, -10.691])


# --- EBU Tech 3341 style signals ---------------------------------------------

@pytest.mark.parametrize("sr_hz", RATES_HZ)
@pytest.mark.parametrize("level_dbfs", [-23.0, -33.0])
def test_steady_sine_reads_its_level(sr_hz: int, level_dbfs: float) -> None:
    momentary, short_term = meter_all(sine(sr_hz, level_dbfs, 5.0), sr_hz)
    assert momentary.size == short_term.size == 50
    expected = level_dbfs - MONO_OFFSET_DB  # -26.01 LUFS for -23 dBFS
    np.testing.assert_allclose(momentary[3:], expected, atol=TOLERANCE_LU)
    np.testing.assert_allclose(short_term[29:], expected, atol=TOLERANCE_LU)
    # Until a window fills, the time before the stream counts as silence.
    assert abs(momentary[0] - (expected + 10 * math.log10(1 / 4))) < TOLERANCE_LU
    assert abs(short_term[14] - (expected + 10 * math.log10(15 / 30))) < TOLERANCE_LU


def test_burst_expectations_match_tech_3341() -> None:
    # Tech 3341 quotes -23.0 LUFS for the stereo bursts; check our energy arithmetic agrees.
    for high_s, low_s in ((1.34, 1.66), (0.18, 0.22)):
        stereo = burst_expected_lufs(high_s, low_s) + MONO_OFFSET_DB
        assert abs(stereo - (-23.0)) < 0.05


@pytest.mark.parametrize("sr_hz", RATES_HZ)
def test_tech_3341_case_9_short_term_constant(sr_hz: int) -> None:
    _, short_term = meter_all(tone_burst(sr_hz, 1.34, 1.66, 12.0), sr_hz)
    settled = short_term[29:]  # windows ending at 3 s and later
    nominal = -23.0 - MONO_OFFSET_DB
    assert np.all(np.abs(settled - nominal) <= TOLERANCE_LU)
    assert np.all(np.abs(settled - burst_expected_lufs(1.34, 1.66)) <= 0.02)
    assert np.ptp(settled) < 0.01


@pytest.mark.parametrize("sr_hz", RATES_HZ)
def test_tech_3341_case_12_momentary_constant(sr_hz: int) -> None:
    momentary, _ = meter_all(tone_burst(sr_hz, 0.18, 0.22, 6.0), sr_hz)
    settled = momentary[3:]  # windows ending at 0.4 s and later
    nominal = -23.0 - MONO_OFFSET_DB
    assert np.all(np.abs(settled - nominal) <= TOLERANCE_LU)
    assert np.all(np.abs(settled - burst_expected_lufs(0.18, 0.22)) <= 0.02)
    assert np.ptp(settled) < 0.01


# --- Streaming behaviour ------------------------------------------------------

@pytest.mark.parametrize("sr_hz", [11025, 16000, 44100])
def test_block_split_invariance(sr_hz: int) -> None:
    x = speech_with_noise(sr_hz)
    whole = meter_all(x, sr_hz)
    rng = np.random.default_rng(sr_hz)
    sizes = [0, 1, 7, 160, 4410, 0, 1] + [int(n) for n in rng.integers(0, 3 * sr_hz, 20)]
    split = meter_all(x, sr_hz, sizes)
    n_hops = sum(1 for k in range(1000) if hop_end_sample(k, sr_hz, 0.1) <= x.size)
    assert whole[0].size == split[0].size == n_hops
    np.testing.assert_array_equal(whole[0], split[0])
    np.testing.assert_array_equal(whole[1], split[1])


def test_sample_by_sample_matches_one_call() -> None:
    sr_hz = 8000
    x = sine(sr_hz, -30.0, 0.9, freq_hz=440.0)
    whole = meter_all(x, sr_hz)
    single = meter_all(x, sr_hz, [1])
    np.testing.assert_array_equal(whole[0], single[0])
    np.testing.assert_array_equal(whole[1], single[1])


def test_non_finite_samples_count_as_zero() -> None:
    sr_hz = 16000
    clean = sine(sr_hz, -23.0, 6.0)
    clean[[100, 5000, 30000]] = 0.0
    dirty = clean.copy()
    dirty[[100, 5000, 30000]] = [np.nan, np.inf, -np.inf]
    expected = meter_all(clean, sr_hz)
    got = meter_all(dirty, sr_hz, [1000, 4410, 7])
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[0][5:], -23.0 - MONO_OFFSET_DB, atol=TOLERANCE_LU)


def test_digital_silence_is_minus_infinity() -> None:
    sr_hz = 16000
    x = np.concatenate((np.zeros(sr_hz), sine(sr_hz, -23.0, 1.0)))
    momentary, short_term = meter_all(x, sr_hz, [333])
    assert np.all(momentary[:10] == -np.inf) and np.all(short_term[:10] == -np.inf)
    assert np.all(np.isfinite(momentary[10:])) and np.all(np.isfinite(short_term[10:]))


def test_dc_offset_and_clipping_are_harmless() -> None:
    sr_hz = 16000
    x = sine(sr_hz, -23.0, 5.0)
    momentary, _ = meter_all(x + 0.3, sr_hz)
    reference, _ = meter_all(x, sr_hz)
    # The RLB high-pass removes DC within a few tens of milliseconds.
    np.testing.assert_allclose(momentary[5:], reference[5:], atol=0.01)
    clipped, _ = meter_all(np.clip(sine(sr_hz, 6.0, 3.0), -1.0, 1.0).astype(np.float32), sr_hz)
    assert np.all(np.isfinite(clipped)) and np.all(clipped[3:] < 0.0)


def test_other_hop_lengths() -> None:
    sr_hz = 16000
    meter = LoudnessMeter(sr_hz, hop_s=0.05)
    momentary, short_term = meter.process(sine(sr_hz, -23.0, 4.0))
    assert momentary.size == 80
    np.testing.assert_allclose(momentary[7:], -23.0 - MONO_OFFSET_DB, atol=TOLERANCE_LU)
    np.testing.assert_allclose(short_term[59:], -23.0 - MONO_OFFSET_DB, atol=TOLERANCE_LU)


@pytest.mark.parametrize("sr_hz", [8000, 16000])
def test_speech_reads_the_same_at_low_rates_as_at_48k(sr_hz: int) -> None:
    x = speech_with_noise(sr_hz)
    if sr_hz == 8000:
        x = telephone_band(x, sr_hz)
    momentary, _ = meter_all(x, sr_hz)
    reference, _ = meter_all(resample(x, sr_hz, 48000), 48000)
    speech = reference > -70.0
    speech[:FIRST_FULL_MOMENTARY] = False
    np.testing.assert_allclose(momentary[speech], reference[speech], atol=0.05)


# --- Against ffmpeg's ebur128 -------------------------------------------------

needs_ffmpeg = pytest.mark.skipif(not have("ffmpeg"), reason="ffmpeg not installed")



def ffmpeg_metadata(path: Path, tmp_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-100 ms M and S from ffmpeg ebur128 frame metadata (printed to 3 decimals).

    With ``metadata=1`` ebur128 cuts its output into 100 ms frames, and frame
    ``k`` carries the values of the windows ending at ``(k + 1) * 100 ms``.
    """
    out = tmp_dir / f"{path.stem}.meta.txt"
    subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-v", "error", "-y", "-i", str(path),
                    "-af", f"ebur128=metadata=1,ametadata=mode=print:file={out}", "-f", "null", "-"],
                   check=True)
    text = out.read_text()
    momentary = np.array([float(v) for v in re.findall(r"lavfi\.r128\.M=(\S+)", text)])
    short_term = np.array([float(v) for v in re.findall(r"lavfi\.r128\.S=(\S+)", text)])
    return momentary, short_term


def ffmpeg_framelog(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-100 ms M and S from ebur128's frame log (printed to 1 decimal).

    ``framelog=verbose`` logs at verbose level, hidden by ffmpeg's default
    log level, so ``-v verbose`` is needed to see the lines.
    """
    result = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-v", "verbose", "-i", str(path),
                             "-filter_complex", "ebur128=framelog=verbose", "-f", "null", "-"],
                            check=True, capture_output=True, text=True)
    lines = re.findall(r"t:\s*\S+\s+TARGET:.*?M:\s*(\S+)\s+S:\s*(\S+)", result.stderr)
    return np.array([float(m) for m, _ in lines]), np.array([float(s) for _, s in lines])


def ffmpeg_test_signal(kind: str, sr_hz: int) -> np.ndarray:
    if kind == "speech":
        return speech_with_noise(sr_hz)
    return (sine(sr_hz, -23.0, 4.0, freq_hz=997.0) + sine(sr_hz, -40.0, 4.0, freq_hz=3000.0)).astype(np.float32)


# ffmpeg reports a -120.7 floor until a window has filled, where this meter
# zero-pads, so comparisons start at the first full window.
@needs_ffmpeg
@pytest.mark.parametrize(("kind", "sr_hz"), [("speech", 16000), ("speech", 8000),
                                             ("sine", 16000), ("sine", 44100)])
def test_compatible_design_matches_ffmpeg_ebur128(kind: str, sr_hz: int, tmp_path: Path) -> None:
    x = ffmpeg_test_signal(kind, sr_hz)
    path = write_wav(tmp_path / f"{kind}{sr_hz}.wav", x, sr_hz, subtype="FLOAT")
    momentary, short_term = meter_all(x, sr_hz, libebur128_compatible=True)
    ff_momentary, ff_short_term = ffmpeg_metadata(path, tmp_path)
    assert ff_momentary.size == momentary.size
    # ffmpeg weights a mono channel by 1.0 as we do (dual-mono only changes its
    # integrated loudness) and filters at the file's own rate with the same
    # design, so the only difference is its 3-decimal printout.
    np.testing.assert_allclose(momentary[FIRST_FULL_MOMENTARY:], ff_momentary[FIRST_FULL_MOMENTARY:], atol=0.002)
    np.testing.assert_allclose(short_term[FIRST_FULL_SHORT_TERM:], ff_short_term[FIRST_FULL_SHORT_TERM:], atol=0.002)


@needs_ffmpeg
@pytest.mark.parametrize(("kind", "sr_hz", "tolerance_lu"), [("speech", 16000, 0.15), ("sine", 16000, 0.1),
                                                             ("speech", 44100, 0.01), ("sine", 44100, 0.01)])
def test_default_design_near_ffmpeg_ebur128(kind: str, sr_hz: int, tolerance_lu: float, tmp_path: Path) -> None:
    # ffmpeg's design reads low-rate audio louder than the standard (see
    # test_libebur128_design_drifts_at_low_rates); the gap shrinks to nothing at 48 kHz.
    x = ffmpeg_test_signal(kind, sr_hz)
    path = write_wav(tmp_path / f"{kind}{sr_hz}.wav", x, sr_hz, subtype="FLOAT")
    momentary, short_term = meter_all(x, sr_hz)
    ff_momentary, ff_short_term = ffmpeg_metadata(path, tmp_path)
    np.testing.assert_allclose(momentary[FIRST_FULL_MOMENTARY:], ff_momentary[FIRST_FULL_MOMENTARY:],
                               atol=tolerance_lu)
    np.testing.assert_allclose(short_term[FIRST_FULL_SHORT_TERM:], ff_short_term[FIRST_FULL_SHORT_TERM:],
                               atol=tolerance_lu)


@needs_ffmpeg
def test_compatible_design_matches_ffmpeg_frame_log(tmp_path: Path) -> None:
    sr_hz = 16000
    x = speech_with_noise(sr_hz)
    path = write_wav(tmp_path / "speech.wav", x, sr_hz, subtype="FLOAT")
    momentary, short_term = meter_all(x, sr_hz, libebur128_compatible=True)
    ff_momentary, ff_short_term = ffmpeg_framelog(path)
    assert ff_momentary.size == momentary.size
    # The log prints one decimal: agreement to half a step plus a hair.
    np.testing.assert_allclose(momentary[FIRST_FULL_MOMENTARY:], ff_momentary[FIRST_FULL_MOMENTARY:], atol=0.051)
    np.testing.assert_allclose(short_term[FIRST_FULL_SHORT_TERM:], ff_short_term[FIRST_FULL_SHORT_TERM:], atol=0.051)
