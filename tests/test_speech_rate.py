"""Speech rate: accuracy on real read speech, tempo scaling, streaming behaviour."""
from __future__ import annotations

import numpy as np
import pytest

from models.frames import HOP_S
from monitor.features import CallFeatureExtractor
from monitor.framing import hop_end_sample
from monitor.speech_rate import NucleusDetector, SpeechRateEstimator, count_nuclei, detect_nuclei
from tests.audio_fixtures import POCKETSPHINX_DATA, espeak, have
from tests.rate_eval import (accuracy, ours, real_concatenations, real_items, speech_hops,
                             tempo_errors)

needs_real = pytest.mark.skipif(not POCKETSPHINX_DATA.exists(), reason="pocketsphinx-testdata not installed")
needs_sox = pytest.mark.skipif(not have("sox"), reason="sox not installed")
needs_espeak = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng not installed")


@needs_real
def test_mean_absolute_error_on_real_speech_within_15_percent() -> None:
    acc = accuracy(ours, real_items())
    assert acc.mae_rel <= 0.15, f"MAE {acc.mae_rel:.3f}"


@needs_real
def test_pace_through_the_whole_analysis_path_within_15_percent() -> None:
    # The accuracy tests divide by an energy oracle's speaking time; the app divides by
    # the VAD's speech hops. Each clip is padded with faint line noise, as a call would be.
    rng = np.random.default_rng(0)
    rel = []
    for item in real_items():
        x = np.concatenate((np.zeros(item.sr_hz // 2), item.audio, np.zeros(item.sr_hz)))
        x = (x + 1e-3 * rng.standard_normal(x.size)).astype(np.float32)
        extractor = CallFeatureExtractor(item.sr_hz, None, HOP_S)
        frames = extractor.process(x) + extractor.flush()
        rates = [f.agent.rate_sps for f in frames if f.agent.rate_sps is not None]
        if rates:  # clips with under 1.5 s of speech give no rate
            rel.append(rates[-1] / item.true_rate_sps - 1.0)
    assert len(rel) >= 8
    assert np.mean(np.abs(rel)) <= 0.15, f"MAE {np.mean(np.abs(rel)):.3f}"


@needs_real
@pytest.mark.xfail(strict=True, reason="goal not reached: correlation 0.894 on the 12 real clips "
                   "(peer de Jong & Wempe: see benchmarks/speech_rate_accuracy.py)")
def test_correlation_with_true_rate_on_real_speech_at_least_095() -> None:
    acc = accuracy(ours, real_items())
    assert acc.correlation >= 0.95, f"correlation {acc.correlation:.3f}"


@needs_real
def test_correlation_on_real_speech_no_worse_than_measured() -> None:
    # Guards the figure reached so far against regressions while the 0.95 goal is open.
    assert accuracy(ours, real_items()).correlation >= 0.88


@needs_real
@needs_sox
def test_rate_scales_with_tempo_on_real_speech() -> None:
    err = np.abs(tempo_errors(ours, real_concatenations()))
    assert np.median(err) <= 0.05, f"median tempo error {np.median(err):.3f}"
    assert err.max() <= 0.15, f"worst tempo error {err.max():.3f}"


@needs_espeak
def test_rate_rises_with_words_per_minute() -> None:
    text = "Could you please read me the number printed on the back of your card?"
    rates = []
    for wpm in (120, 200, 280):
        x = espeak(text, wpm)
        rates.append(count_nuclei(x, 16000) / speech_hops(x, 16000).sum())
    assert rates[0] < rates[1] < rates[2]


def _hop_audio(x: np.ndarray, hop_len: int) -> list[np.ndarray]:
    return [x[i:i + hop_len] for i in range(0, x.size - hop_len + 1, hop_len)]


def _run(x: np.ndarray, speech: np.ndarray, rng: np.random.Generator | None) -> list[float | None]:
    est = SpeechRateEstimator(window_speech_s=2.0, min_speech_s=1.0)
    rates = []
    for k, hop in enumerate(_hop_audio(x, 1600)):
        if rng is None:
            est.process(hop)
        else:
            cuts = np.sort(rng.integers(0, hop.size + 1, size=rng.integers(0, 6)))
            for part in np.split(hop, cuts):  # includes empty and 1-sample blocks
                est.process(part)
        rates.append(est.rate_for_hop(k, bool(speech[k])))
    return rates


@needs_real
def test_results_do_not_depend_on_block_split() -> None:
    clip = real_items()[1]
    x = clip.audio
    speech = speech_hops(x, 16000)
    whole = _run(x, speech, None)
    split = _run(x, speech, np.random.default_rng(1))
    assert whole == split
    assert any(r is not None for r in whole)

    tiny = NucleusDetector(16000)
    single = [tiny.process(x[i:i + 1]) for i in range(8000)]
    ref = NucleusDetector(16000).process(x[:8000])
    assert np.array_equal(np.concatenate([n.peak_sample for n in single]), ref.peak_sample)
    assert np.array_equal(np.concatenate([n.confirm_sample for n in single]), ref.confirm_sample)
    # Each nucleus is reported by the call that brings the stream to its confirmation sample.
    for i, n in enumerate(single):
        assert np.all(n.confirm_sample == i + 1)
    assert np.allclose(detect_nuclei(x, 16000, block_samples=333), detect_nuclei(x, 16000))


def _pipeline_rates(x: np.ndarray, speech: np.ndarray, block_lens: list[int]) -> list[float | None]:
    # As monitor.features drives it: process a block, then ask for every hop whose end it covers.
    est = SpeechRateEstimator(16000, 0.1)
    rates: list[float | None] = []
    fed = 0
    for n in block_lens:
        est.process(x[fed:fed + n])
        fed += n
        while len(rates) < speech.size and hop_end_sample(len(rates), 16000, 0.1) <= fed:
            rates.append(est.rate_for_hop(len(rates), bool(speech[len(rates)])))
    return rates


@needs_real
def test_rate_for_hop_does_not_depend_on_look_ahead() -> None:
    # 1 s blocks give the detector up to a second of audio past the hop asked
    # for; 1-400 sample blocks almost none. The rates must still be identical.
    items = real_items()
    x = np.concatenate([i.audio for i in items[:6]])
    speech = speech_hops(x, 16000)[: x.size // 1600]
    big = _pipeline_rates(x, speech, [16000] * (x.size // 16000 + 1))
    rng = np.random.default_rng(7)
    small = _pipeline_rates(x, speech, rng.integers(1, 400, size=x.size).tolist())
    assert len(big) == len(small) == speech.size
    assert big == small
    assert sum(r is not None for r in big) > 100


def test_rate_for_hop_before_its_audio_is_an_error() -> None:
    est = SpeechRateEstimator(16000, 0.1)
    est.process(np.zeros(1599, np.float32))
    with pytest.raises(ValueError):
        est.rate_for_hop(0, True)


def test_none_until_min_speech_and_pauses_not_counted() -> None:
    est = SpeechRateEstimator(16000, 0.1, window_speech_s=3.0, min_speech_s=1.5)
    rng = np.random.default_rng(0)
    results = []
    for k in range(40):
        est.process(0.01 * rng.standard_normal(1600).astype(np.float32))
        results.append(est.rate_for_hop(k, speech=(k % 2 == 0)))
    first = next(k for k, r in enumerate(results) if r is not None)
    assert first == 28  # the 15th speech hop: hops 0, 2, ..., 28
    assert all(r is None for r in results[:first])
    assert results[first] == pytest.approx(0.0)


def test_rate_counts_nuclei_in_speech_hops_only() -> None:
    # Tone bursts of 60 ms every 250 ms are voiced, clearly separated "syllables": 4 per second.
    sr = 16000
    t = np.arange(sr * 8) / sr
    gate = ((t % 0.25) < 0.06).astype(np.float32)
    x = (0.3 * np.sin(2 * np.pi * 150 * t) * gate).astype(np.float32)
    est = SpeechRateEstimator(sr, 0.1, window_speech_s=4.0, min_speech_s=1.0)
    rate = None
    for k, hop in enumerate(_hop_audio(x, 1600)):
        est.process(hop)
        rate = est.rate_for_hop(k, speech=k < 60)  # the last 2 s are marked non-speech
    assert est.nuclei_count >= 30
    assert rate == pytest.approx(4.0, rel=0.1)


def test_empty_and_silent_input() -> None:
    est = SpeechRateEstimator()
    est.process(np.zeros(0, np.float32))
    for k in range(30):
        est.process(np.zeros(1600, np.float32))
        rate = est.rate_for_hop(k, True)
    assert rate == 0.0
    assert est.nuclei_count == 0
