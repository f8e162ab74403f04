"""Voice activity detection: accuracy on built conversations, and streaming behaviour."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy import signal

from monitor.vad import VoiceActivityDetector
from tests.audio_fixtures import have, pocketsphinx_clips
from tests.conversation_tracks import (SR_HZ, Condition, build_condition, build_conversation,
                                       score)

pytestmark = pytest.mark.skipif(not pocketsphinx_clips() or not have("sox"),
                                reason="needs pocketsphinx-testdata and sox")

SEED = 7
DURATION_S = 90.0


@lru_cache(maxsize=None)
def _condition(name: str) -> Condition:
    return build_condition(build_conversation(DURATION_S, SEED), name, SEED)


def _run(x: np.ndarray, reference: np.ndarray | None, block: int = SR_HZ, **kwargs: object
         ) -> np.ndarray:
    vad = VoiceActivityDetector(SR_HZ, **kwargs)
    parts = [vad.process(x[i:i + block], None if reference is None else reference[i:i + block])
             for i in range(0, len(x), block)]
    return np.concatenate(parts + [vad.flush()])


# Floors are what the detector reaches on this track (measured, minus ~1 point of slack).
@pytest.mark.parametrize("name, min_accuracy, max_neighbour_fa", [
    ("clean", 0.965, None), ("telephone", 0.95, None), ("neighbour", 0.95, 0.075),
    ("bleed", 0.965, None), ("combined", 0.94, 0.06),
])
def test_agent_accuracy_per_condition(name: str, min_accuracy: float,
                                      max_neighbour_fa: float | None) -> None:
    cond = _condition(name)
    s = score(_run(cond.agent_mic, cond.customer_line), cond)
    assert s.accuracy >= min_accuracy, s
    if cond.bleed:
        assert s.bleed_false_accept <= 0.04, s
    if max_neighbour_fa is not None:
        assert s.neighbour_false_accept <= max_neighbour_fa, s


# The goal, 0.95, on this track; "combined" reads 0.951 here, and 0.957 / 0.950 / 0.953
# over 300 s tracks of seeds 0-4 / 5-9 / 10-14, the last held out (benchmarks/vad_accuracy.py).
@pytest.mark.parametrize("name", ["clean", "telephone", "neighbour", "bleed", "combined"])
def test_agent_goal_accuracy(name: str) -> None:
    cond = _condition(name)
    assert score(_run(cond.agent_mic, cond.customer_line), cond).accuracy >= 0.95


@pytest.mark.xfail(reason="our own goal, not reached: 0.064 of neighbour-only frames flagged on this "
                          "track (0.053 over 300 s tracks, seeds 0-9), nearly all of it the 140 ms "
                          "hangover after the agent's utterances and the 60 ms onset lead before them",
                   strict=False)
def test_neighbour_false_accept_goal() -> None:
    cond = _condition("neighbour")
    assert score(_run(cond.agent_mic, cond.customer_line), cond).neighbour_false_accept <= 0.03


@pytest.mark.parametrize("name", ["clean", "telephone", "bleed"])
def test_agent_detected_during_double_talk(name: str) -> None:
    cond = _condition(name)
    s = score(_run(cond.agent_mic, cond.customer_line), cond)
    assert s.double_talk_recall >= 0.85, s


def test_noisy_mic_without_bleed_learns_no_bleed() -> None:
    """Office noise on the mic must not read as leakage, or double talk is gated away."""
    cond = _condition("telephone")
    vad = VoiceActivityDetector(SR_HZ)
    vad.process(cond.agent_mic, cond.customer_line)
    frames = cond.agent_mic[:len(cond.agent_labels) * 160].reshape(-1, 160).astype(np.float64)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1))
    silent = ~cond.agent_labels & ~cond.customer_labels
    assert vad.noise_floor_dbfs is not None
    assert abs(vad.noise_floor_dbfs - np.percentile(level[silent], 10)) < 3.0
    # The line is ~20 dB over the mic's noise: an unnoticed floor would read as about -20 dB.
    assert vad.bleed_gain_db < -28.0


def test_strong_bleed_needs_the_reference() -> None:
    """At the strongest leak (-15 dB) the level gate alone is fooled; the reference fixes it."""
    cond = _condition("clean")
    sos = signal.butter(2, 2000, "low", fs=SR_HZ, output="sos")
    leak = signal.sosfilt(sos, cond.customer_line) * 10 ** (-15 / 20)
    delay = round(0.03 * SR_HZ)
    mic = (cond.agent_mic + np.r_[np.zeros(delay), leak[:-delay]]).astype(np.float32)
    bleed_only = cond.customer_labels & ~cond.agent_labels
    with_ref = _run(mic, cond.customer_line)[bleed_only].mean()
    without = _run(mic, None)[bleed_only].mean()
    assert with_ref < 0.03 < without


def test_customer_channel_without_reference() -> None:
    cond = _condition("clean")
    s = score(_run(cond.customer_line, None), cond, labels=cond.customer_labels)
    assert s.accuracy >= 0.94, s


def test_leaving_tones_out_of_learning_leaves_speech_alone() -> None:
    cond = _condition("clean")
    ordinary = _run(cond.customer_line, None)
    np.testing.assert_array_equal(_run(cond.customer_line, None, learn_from_tones=False), ordinary)


def test_learned_level_and_profile_level() -> None:
    cond = _condition("neighbour")
    vad = VoiceActivityDetector(SR_HZ)
    vad.process(cond.agent_mic, cond.customer_line)
    level = vad.speech_level_dbfs
    frames = cond.agent_mic[:len(cond.agent_labels) * 160].reshape(-1, 160).astype(np.float64)
    true_p80 = np.percentile(10 * np.log10(np.mean(frames ** 2, axis=1))[cond.agent_labels], 80)
    assert level is not None and abs(level - true_p80) < 3.0
    # A saved level gates a neighbour out from the first frame, before the agent says anything.
    neighbour_only = cond.agent_mic * ~np.repeat(cond.agent_labels, 160)
    flags = _run(neighbour_only[:10 * SR_HZ], None, reference_level_dbfs=level)
    assert flags.mean() < 0.03


@pytest.mark.parametrize("with_reference", [True, False])
def test_block_split_invariance(with_reference: bool) -> None:
    cond = _condition("combined")
    x = cond.agent_mic[:12 * SR_HZ]
    ref = cond.customer_line[:12 * SR_HZ] if with_reference else None
    whole = _run(x, ref, block=len(x))
    rng = np.random.default_rng(3)
    vad = VoiceActivityDetector(SR_HZ)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 2, 159, 160, 161, 480, 1234, 16000]))
        parts.append(vad.process(x[i:i + n], None if ref is None else ref[i:i + n]))
        i += n
    split = np.concatenate(parts + [vad.flush()])
    assert len(whole) == len(x) // 160
    np.testing.assert_array_equal(split, whole)
    assert whole.any() and not whole.all()


def test_empty_and_short_blocks() -> None:
    vad = VoiceActivityDetector(SR_HZ)
    empty = vad.process(np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert empty.dtype == bool and empty.shape == (0,)
    assert vad.process(np.zeros(159, np.float32)).shape == (0,)
    # Each flag is held back for the onset lead (6 frames by default), then reported in order.
    assert vad.process(np.zeros(1, np.float32)).shape == (0,)
    assert vad.process(np.zeros(6 * 160, np.float32)).shape == (1,)
    assert vad.process(np.zeros(1, np.float32)).shape == (0,)
    assert vad.flush().shape == (6,)
    assert vad.flush().shape == (0,)
    assert vad.speech_level_dbfs is None
    # A reference may start mid-frame after reference-less calls.
    vad.process(np.zeros(100, np.float32))
    vad.process(np.zeros(100, np.float32), np.zeros(100, np.float32))
    assert vad.flush().shape == (1,)


def test_frame_length_and_validation() -> None:
    vad = VoiceActivityDetector(SR_HZ, frame_s=0.03)
    assert vad.process(np.zeros(SR_HZ, np.float32)).size + vad.flush().size == 33
    with pytest.raises(ValueError):
        VoiceActivityDetector(SR_HZ, frame_s=0.025)
    with pytest.raises(ValueError):
        VoiceActivityDetector(11025)
    with pytest.raises(ValueError):
        VoiceActivityDetector(SR_HZ).process(np.zeros(320, np.float32), np.zeros(160, np.float32))


@pytest.mark.parametrize("sr_hz, frame_s", [(8000, 0.01), (16000, 0.02), (48000, 0.03)])
def test_faint_line_noise_at_the_start_is_not_speech(sr_hz: int, frame_s: float) -> None:
    # WebRTC's VAD calls its first 70-90 ms speech whatever they hold; fed in odd
    # blocks so the warm-up is counted across calls.
    noise = (np.random.default_rng(1).standard_normal(2 * sr_hz) * 10 ** (-55 / 20)).astype(np.float32)
    vad = VoiceActivityDetector(sr_hz, frame_s)
    flags = np.concatenate([vad.process(noise[i:i + 331]) for i in range(0, noise.size, 331)]
                           + [vad.flush()])
    assert flags.size == noise.size // round(frame_s * sr_hz) and not flags.any()


def test_speech_from_the_first_sample_is_found_after_the_warm_up() -> None:
    clip = pocketsphinx_clips()[0]
    x = signal.resample_poly(clip.audio, SR_HZ, clip.sr_hz).astype(np.float32)
    frame_level = 20 * np.log10(np.sqrt(np.mean(x[: x.size // 160 * 160].reshape(-1, 160) ** 2, axis=1)) + 1e-9)
    first_loud = int(np.argmax(frame_level > frame_level.max() - 20))
    vad = VoiceActivityDetector(SR_HZ)
    flags = np.concatenate((vad.process(x[first_loud * 160:]), vad.flush()))
    # WebRTC's verdicts for the first 10 frames are ignored; the onset lead (6 frames)
    # reaches back into them once the speech is confirmed.
    assert not flags[:4].any()
    assert flags[4:30].mean() > 0.8
