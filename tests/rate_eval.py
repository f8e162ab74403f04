"""Evaluation of speech-rate estimators against cmudict syllable counts.

Shared by ``tests/test_speech_rate.py`` and ``benchmarks/speech_rate_accuracy.py``.

Speaking time
    Truth and estimate share one definition of speaking time: the 100 ms hops
    that an energy oracle on the clean clip marks as speech. A 10 ms frame is
    active when its level is within 30 dB of the clip's 99th-percentile frame
    level; a hop is speech when at least half of its frames are active.
    Counting a hop only when the majority of it is active rounds each speech
    run to the nearest hop instead of always up, so time-stretching the audio
    scales the speaking time by the same factor on average; a VAD with
    hangover would add a constant per run and bias the tempo check.
True rate
    cmudict syllables of the transcript / speaking time.
Estimated rate
    nuclei whose peak falls in a speech hop / speaking time.

The peer, :func:`de_jong_wempe_nuclei`, follows the Praat script "Syllable
Nuclei v2" (de Jong & Wempe 2009, as revised in 2010) with its defaults:
Praat's intensity at a 50 Hz pitch floor (Kaiser window of 128 ms, 16 ms
step, mean subtracted), all local maxima above the 99th-percentile intensity
minus 25 dB, kept when the lowest intensity between a peak and the next one
is more than 2 dB below the peak, and voiced according to a pitch track
(``librosa.pyin`` standing in for Praat's autocorrelation pitch, 50-450 Hz).
The script's extra "sounding" check is implied by the intensity threshold
and left out.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

from monitor.speech_rate import detect_nuclei
from tests.audio_fixtures import espeak, pocketsphinx_clips, syllables, telephone_band, tempo

HOP_S = 0.1
TEMPO_FACTORS = (0.7, 0.8, 0.9, 1.1, 1.2, 1.3, 1.4)
Detector = Callable[[np.ndarray, int], np.ndarray]

ESPEAK_SENTENCES = (
    "Thank you for calling, my name is Alex, how can I help you today?",
    "I understand that the delivery was late and I am sorry about that.",
    "Could you please read me the number printed on the back of your card?",
    "We have updated your account and the refund should arrive within five days.",
    "Is there anything else that I can do for you this afternoon?",
    "The technician will visit on Tuesday morning between eight and twelve.",
)
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland+m3")
ESPEAK_WPM = (100, 150, 200, 250, 300)


@dataclass(frozen=True)
class Item:
    """One evaluation recording.

    Attributes
    ----------
    name : str
        Label.
    audio : np.ndarray, shape (n,)
        Mono audio at ``sr_hz``.
    sr_hz : int
        Sample rate in Hz.
    syllables : int
        cmudict syllables of the transcript.
    speech : np.ndarray, shape (hops,), bool
        Speech flags per 100 ms hop (from the clean recording).
    """

    name: str
    audio: np.ndarray
    sr_hz: int
    syllables: int
    speech: np.ndarray

    @property
    def speech_s(self) -> float:
        """Speaking time in seconds."""
        return float(self.speech.sum()) * HOP_S

    @property
    def true_rate_sps(self) -> float:
        """True speech rate in syllables per second of speaking time."""
        return self.syllables / self.speech_s


def speech_hops(x: np.ndarray, sr_hz: int, hop_s: float = HOP_S, range_db: float = 30.0) -> np.ndarray:
    """Energy-oracle speech flags per hop for a clean recording.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Clean mono audio.
    sr_hz : int
        Sample rate in Hz.
    hop_s : float
        Hop length in seconds.
    range_db : float
        Frames within this many dB of the 99th-percentile 10 ms frame level are active.

    Returns
    -------
    np.ndarray, shape (ceil(n / hop),), bool
        True for hops in which at least half of the 10 ms frames are active.
    """
    frame = sr_hz // 100
    per_hop = round(hop_s * sr_hz) // frame
    n_hops = int(np.ceil(x.size / (per_hop * frame)))
    padded = np.zeros(n_hops * per_hop * frame)
    padded[:x.size] = x
    level_db = 10 * np.log10(np.mean(padded.reshape(-1, frame) ** 2, axis=1) + 1e-12)
    active = level_db >= np.percentile(level_db[: int(np.ceil(x.size / frame))], 99) - range_db
    return active.reshape(n_hops, per_hop).sum(axis=1) * 2 >= per_hop


def rate_in_speech(times_s: np.ndarray, speech: np.ndarray, hop_s: float = HOP_S) -> float:
    """Nuclei per second of speaking time, counting only nuclei inside speech hops.

    Parameters
    ----------
    times_s : np.ndarray, shape (k,)
        Nucleus times in seconds.
    speech : np.ndarray, shape (hops,), bool
        Speech flags per hop.
    hop_s : float
        Hop length in seconds.

    Returns
    -------
    float
        Rate in syllables per second.
    """
    hops = np.minimum((np.asarray(times_s) / hop_s).astype(int), speech.size - 1)
    return float(speech[hops].sum()) / (float(speech.sum()) * hop_s)


def _item(name: str, audio: np.ndarray, sr_hz: int, n_syl: int,
          clean: np.ndarray | None = None) -> Item:
    return Item(name, np.asarray(audio, np.float32), sr_hz, n_syl,
                speech_hops(audio if clean is None else clean, sr_hz))


@lru_cache(maxsize=1)
def real_items() -> tuple[Item, ...]:
    """The 12 pocketsphinx clips at 16 kHz."""
    return tuple(_item(c.name, c.audio, c.sr_hz, syllables(c.text)) for c in pocketsphinx_clips())


@lru_cache(maxsize=1)
def telephone_items() -> tuple[Item, ...]:
    """The real clips band-limited to 300-3400 Hz; speaking time from the clean clip."""
    return tuple(_item(i.name + "/tel", telephone_band(i.audio, i.sr_hz), i.sr_hz, i.syllables, i.audio)
                 for i in real_items())


@lru_cache(maxsize=1)
def espeak_items() -> tuple[Item, ...]:
    """espeak-ng sentences at 100-300 wpm with four voices, one sentence per (voice, wpm) pair."""
    items = []
    k = 0
    for voice in ESPEAK_VOICES:
        for wpm in ESPEAK_WPM:
            text = ESPEAK_SENTENCES[k % len(ESPEAK_SENTENCES)]
            k += 1
            items.append(_item(f"{voice}@{wpm}", espeak(text, wpm, voice=voice), 16000, syllables(text)))
    return tuple(items)


def concatenated(items: Sequence[Item], gap_s: float = 0.3) -> Item:
    """Join recordings with short silences into one long recording."""
    sr = items[0].sr_hz
    gap = np.zeros(round(gap_s * sr), np.float32)
    audio = np.concatenate([np.concatenate((i.audio, gap)) for i in items])
    return _item("+".join(i.name for i in items), audio, sr, sum(i.syllables for i in items))


@lru_cache(maxsize=1)
def real_concatenations() -> tuple[Item, ...]:
    """The real clips in two ~20 s recordings: the LibriVox sentences, and the rest."""
    items = real_items()
    book = [i for i in items if i.name.startswith("sense")]
    rest = [i for i in items if not i.name.startswith("sense")]
    return concatenated(book), concatenated(rest)


@lru_cache(maxsize=1)
def espeak_concatenations() -> tuple[Item, ...]:
    """One ~15-30 s recording per espeak voice: its sentences at the five rates, joined."""
    items = espeak_items()
    per_voice = len(ESPEAK_WPM)
    return tuple(concatenated(items[k:k + per_voice]) for k in range(0, len(items), per_voice))


def tempo_item(item: Item, factor: float) -> Item:
    """``item`` played ``factor`` times faster; speaking time from the stretched audio."""
    return _item(f"{item.name}x{factor}", tempo(item.audio, item.sr_hz, factor), item.sr_hz, item.syllables)


@dataclass(frozen=True)
class Accuracy:
    """Agreement of estimated and true rates.

    Attributes
    ----------
    correlation : float
        Pearson correlation of estimated and true rates.
    mae_rel : float
        Mean absolute relative error, |est - true| / true.
    bias_rel : float
        Mean relative error (est - true) / true.
    est_sps, true_sps : np.ndarray, shape (items,)
        The rates in syllables per second.
    """

    correlation: float
    mae_rel: float
    bias_rel: float
    est_sps: np.ndarray
    true_sps: np.ndarray


def accuracy(detector: Detector, items: Sequence[Item]) -> Accuracy:
    """Compare ``detector``'s rates with the true rates of ``items``."""
    est = np.array([rate_in_speech(detector(i.audio, i.sr_hz), i.speech) for i in items])
    true = np.array([i.true_rate_sps for i in items])
    rel = (est - true) / true
    return Accuracy(float(np.corrcoef(est, true)[0, 1]), float(np.mean(np.abs(rel))),
                    float(np.mean(rel)), est, true)


def tempo_errors(detector: Detector, items: Sequence[Item],
                 factors: Sequence[float] = TEMPO_FACTORS) -> np.ndarray:
    """Relative errors of the rate ratio under time-stretching.

    Returns
    -------
    np.ndarray, shape (items, factors)
        ``(rate(tempo(x, f)) / rate(x)) / f - 1``.
    """
    out = np.zeros((len(items), len(factors)))
    for a, item in enumerate(items):
        base = rate_in_speech(detector(item.audio, item.sr_hz), item.speech)
        for b, f in enumerate(factors):
            t = tempo_item(item, f)
            out[a, b] = rate_in_speech(detector(t.audio, t.sr_hz), t.speech) / base / f - 1.0
    return out


def ours(x: np.ndarray, sr_hz: int) -> np.ndarray:
    """Nucleus times in seconds from :func:`monitor.speech_rate.detect_nuclei`."""
    return detect_nuclei(x, sr_hz)


def praat_intensity_db(x: np.ndarray, sr_hz: int, min_pitch_hz: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Praat-style intensity contour (``To Intensity``, subtract mean).

    Returns
    -------
    times_s : np.ndarray, shape (frames,)
        Frame centres in seconds.
    db : np.ndarray, shape (frames,)
        Intensity in dB (arbitrary reference).
    """
    step = round(0.8 / min_pitch_hz * sr_hz)
    win_len = round(6.4 / min_pitch_hz * sr_hz) | 1
    w = signal.windows.kaiser(win_len, beta=2 * np.pi ** 2 + 0.5)
    x = np.asarray(x, np.float64)
    if x.size < win_len:
        x = np.pad(x, (0, win_len - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, win_len)[::step]
    mean = frames @ w / w.sum()
    power = ((frames - mean[:, None]) ** 2) @ w / w.sum()
    times = (np.arange(frames.shape[0]) * step + win_len // 2) / sr_hz
    return times, 10 * np.log10(power + 1e-20)


_PYIN_CACHE: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


def _pyin_voiced(x: np.ndarray, sr_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (s) and voiced flags of a pYIN pitch track, cached per signal."""
    import librosa  # evaluation only

    key = (hashlib.sha1(x.tobytes()).hexdigest(), sr_hz)
    if key not in _PYIN_CACHE:
        hop = sr_hz // 100
        _, voiced, _ = librosa.pyin(x, fmin=50.0, fmax=450.0, sr=sr_hz, frame_length=1024, hop_length=hop)
        _PYIN_CACHE[key] = (np.arange(voiced.size) * hop / sr_hz, voiced)
    return _PYIN_CACHE[key]


def de_jong_wempe_nuclei(x: np.ndarray, sr_hz: int, silence_db: float = -25.0,
                         min_dip_db: float = 2.0) -> np.ndarray:
    """Syllable nuclei after de Jong & Wempe's Praat script (see module notes).

    Returns
    -------
    np.ndarray, shape (k,)
        Nucleus times in seconds.
    """
    t, db = praat_intensity_db(x, sr_hz)
    threshold = max(np.quantile(db, 0.99) + silence_db, db.min())
    i = np.flatnonzero((db[1:-1] > db[:-2]) & (db[1:-1] >= db[2:])) + 1
    # Parabolic interpolation stands in for Praat's sinc interpolation of the peaks.
    a, b, c = db[i - 1], db[i], db[i + 1]
    denom = a - 2 * b + c
    shift = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, -1), 0.0)
    peak_t = t[i] + shift * (t[1] - t[0])
    peak_db = b - 0.25 * (a - c) * shift
    keep = peak_db > threshold
    peak_i, peak_t, peak_db = i[keep], peak_t[keep], peak_db[keep]
    valid = [peak_t[p] for p in range(peak_i.size - 1)
             if peak_db[p] - db[peak_i[p]:peak_i[p + 1] + 1].min() > min_dip_db]
    if not valid:
        return np.zeros(0)
    pt, voiced = _pyin_voiced(np.asarray(x, np.float32), sr_hz)
    valid_t = np.asarray(valid)
    nearest = np.clip(np.round(valid_t / (pt[1] - pt[0])).astype(int), 0, voiced.size - 1)
    return valid_t[voiced[nearest]]
