"""Labelled two-party conversation tracks built from real read speech.

There is no labelled conversational corpus on this machine, so one is built:
real utterances from ``pocketsphinx-testdata`` are laid into an agent track
and a customer track that take turns with random gaps and occasional double
talk, then degraded per test condition.

Every clip is first passed through the analysis pipeline's DC blocker (a
2nd-order 60 Hz high-pass, ``monitor.features.DC_CUTOFF_HZ``), and so is the
office noise: the detector never sees anything below it. The audiobook clips
carry a drifting offset and rumble near -45 dBFS below 60 Hz; left in, it
raised their apparent background by ~9 dB (so the oracle dropped their weak
speech frames), put DC steps into the tracks at every utterance boundary, and
labelled the rumble in the pauses of two clips as speech.

Ground truth (the energy oracle)
--------------------------------
Labels come from each CLEAN (DC-blocked) utterance before any level change or
degradation, at 10 ms frames (160 samples at 16 kHz, frames aligned to the track):

* frame energy ``e`` in dB of the utterance's samples;
* speech if ``e > max(peak - 35 dB, floor + 12 dB)``, where ``peak`` is the
  loudest frame of the utterance and ``floor`` the 5th percentile of its
  frames (the recording's own background, ~-60 dBFS in the audiobook clips,
  i.e. only 45 dB under their peaks);
* gaps shorter than 100 ms between speech frames are bridged (stop closures
  inside words), and isolated runs shorter than 30 ms are dropped (clicks).

The truth is the talker's voice, not what survives the channel: the
telephone condition keeps the labels of the full-band clean speech, including
weak frames (mostly low-frequency voicing) that the band limit and the 20 dB
SNR noise bury.

Conditions (all for the agent's channel; the customer line is the reference)
---------------------------------------------------------------------------
``clean``       agent track plus a -70 dBFS room floor.
``telephone``   agent and customer through the 300-3400 Hz band and an 8 kHz
                round trip, then office noise 20 dB under the agent's speech.
``neighbour``   another talker's utterances 20 dB under the agent, in the gaps
                and over the agent, plus a -60 dBFS office floor.
``bleed``       the customer line, delayed 5-40 ms, 15-25 dB down and
                low-passed, leaking into the agent's mic, plus a -60 dBFS floor.
``combined``    all of the above at once. The neighbour and the bleed pass
                through the phone band with the agent's voice: the band
                limit comes after the room, whatever the mic picks up.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from monitor.features import DC_CUTOFF_HZ
from tests.audio_fixtures import (office_noise, pocketsphinx_clips, resample, rms_dbfs,
                                  telephone_band)

SR_HZ = 16000
FRAME = 160
PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
"""Asterisk's recorded prompts (asterisk-core-sounds-en-wav): one professional voice, 8 kHz."""
"""Label frame in samples (10 ms at 16 kHz)."""

AGENT_LEVEL_DBFS = -26.0
CUSTOMER_LEVEL_DBFS = -24.0
CONDITIONS = ("clean", "telephone", "neighbour", "bleed", "combined")


def oracle_labels(x: np.ndarray, peak_range_db: float = 35.0, floor_margin_db: float = 12.0,
                  bridge_frames: int = 10, min_run_frames: int = 3) -> np.ndarray:
    """Speech/non-speech per 10 ms frame of one clean utterance (see module docstring)."""
    n = len(x) // FRAME
    f = x[:n * FRAME].reshape(n, FRAME).astype(np.float64)
    e = 10 * np.log10(np.mean(f ** 2, axis=1) + 1e-12)
    thr = max(e.max() - peak_range_db, np.percentile(e, 5) + floor_margin_db)
    lab = e > thr
    idx = np.flatnonzero(lab)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= bridge_frames:
            lab[a:b] = True
    # Drop runs too short to be speech.
    edges = np.flatnonzero(np.diff(np.r_[0, lab.astype(np.int8), 0]))
    for s, e_ in zip(edges[::2], edges[1::2]):
        if e_ - s < min_run_frames:
            lab[s:e_] = False
    return lab


@dataclass(frozen=True)
class Conversation:
    """Clean two-party conversation, labelled per 10 ms frame.

    Attributes
    ----------
    agent, customer : np.ndarray
        Clean float32 tracks at 16 kHz, shape (n_frames * 160,).
    agent_labels, customer_labels : np.ndarray
        Bool per 10 ms frame, shape (n_frames,).
    """

    agent: np.ndarray
    customer: np.ndarray
    agent_labels: np.ndarray
    customer_labels: np.ndarray


@dataclass(frozen=True)
class Condition:
    """One test condition: what each detector hears, and the truth.

    Attributes
    ----------
    name : str
        One of ``CONDITIONS``.
    agent_mic : np.ndarray
        The agent's microphone signal (detector input), float32.
    customer_line : np.ndarray
        The customer's line as received (reference for bleed rejection).
    agent_labels, customer_labels : np.ndarray
        Bool per 10 ms frame.
    neighbour_labels : np.ndarray
        Bool per frame where the neighbouring talker speaks (all False when absent).
    bleed : bool
        Whether customer bleed is present in ``agent_mic``.
    """

    name: str
    agent_mic: np.ndarray
    customer_line: np.ndarray
    agent_labels: np.ndarray
    customer_labels: np.ndarray
    neighbour_labels: np.ndarray
    bleed: bool


_DC_SOS = signal.butter(2, 60.0, "highpass", fs=SR_HZ, output="sos")
"""The pipeline's DC blocker (``monitor.features``), applied to the fixtures."""


@lru_cache(maxsize=1)
def _clips() -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for c in pocketsphinx_clips():
        x = resample(c.audio, c.sr_hz, SR_HZ)
        # Zero phase and offset removed first: a causal filter would turn the
        # clip's offset into a click at its start.
        x = signal.sosfiltfilt(_DC_SOS, x - x.mean()).astype(np.float32)
        x = x[: len(x) // FRAME * FRAME]
        out.append((x, oracle_labels(x)))
    return out


def _noise(n: int, level_dbfs: float, seed: int) -> np.ndarray:
    """Office noise as the detector sees it: DC-blocked, then at ``level_dbfs`` RMS."""
    x = signal.sosfilt(_DC_SOS, office_noise(n, SR_HZ, 0.0, seed=seed))
    return (x * 10 ** ((level_dbfs - rms_dbfs(x)) / 20)).astype(np.float32)


def _active_gain(x: np.ndarray, lab: np.ndarray, level_dbfs: float) -> float:
    return 10 ** ((level_dbfs - _active_level(x, lab)) / 20)


def _active_level(x: np.ndarray, lab: np.ndarray) -> float:
    return rms_dbfs(x.reshape(-1, FRAME)[lab])


def _speaker_track(items: list[tuple[int, int]], clips: list[tuple[np.ndarray, np.ndarray]],
                   n_frames: int, level_dbfs: float, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Lay utterances ``(clip index, start frame)`` into one track."""
    x = np.zeros(n_frames * FRAME, np.float32)
    lab = np.zeros(n_frames, bool)
    for ci, start in items:
        clip, clab = clips[ci]
        n = min(len(clab), n_frames - start)
        if n <= 0:
            continue
        g = _active_gain(clip, clab, level_dbfs + rng.uniform(-3, 3))
        x[start * FRAME:(start + n) * FRAME] += g * clip[:n * FRAME]
        lab[start:start + n] |= clab[:n]
    return x, lab


def build_conversation(duration_s: float, seed: int = 0, overlap_p: float = 0.3) -> Conversation:
    """Two tracks taking turns: 1-2 utterances a turn, 0.2-2 s gaps, sometimes double talk.

    Parameters
    ----------
    duration_s : float
        Track length in seconds.
    seed : int
        Seed for every random choice (deterministic).
    overlap_p : float
        Probability that a turn starts 0.3-1.5 s before the other party finishes.
    """
    rng = np.random.default_rng(seed)
    clips = _clips()
    if not clips:
        raise RuntimeError("pocketsphinx-testdata is not installed")
    n_frames = int(duration_s * 100)
    turns: dict[str, list[tuple[int, int]]] = {"agent": [], "customer": []}
    speaker = "customer" if rng.random() < 0.5 else "agent"
    t = int(rng.uniform(0.3, 1.0) * 100)
    while t < n_frames:
        end = t
        for k in range(1 + int(rng.random() < 0.4)):
            ci = int(rng.integers(len(clips)))
            start = end if k == 0 else end + int(rng.uniform(0.2, 0.8) * 100)
            turns[speaker].append((ci, start))
            end = start + len(clips[ci][1])
        if rng.random() < overlap_p:
            t = max(t + 30, end - int(rng.uniform(0.3, 1.5) * 100))
        else:
            t = end + int(rng.uniform(0.2, 2.0) * 100)
        speaker = "agent" if speaker == "customer" else "customer"
    a, al = _speaker_track(turns["agent"], clips, n_frames, AGENT_LEVEL_DBFS, rng)
    c, cl = _speaker_track(turns["customer"], clips, n_frames, CUSTOMER_LEVEL_DBFS, rng)
    return Conversation(a, c, al, cl)


def _neighbour(n_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A talker at the next desk: busy (~60 % of the time), 20 dB under the agent."""
    clips = _clips()
    items = []
    t = int(rng.uniform(0, 1.0) * 100)
    while t < n_frames:
        ci = int(rng.integers(len(clips)))
        items.append((ci, t))
        t += len(clips[ci][1]) + int(rng.uniform(0.2, 2.0) * 100)
    x, lab = _speaker_track(items, clips, n_frames, AGENT_LEVEL_DBFS - 20.0, rng)
    # Distance across the room dulls the highs.
    sos = signal.butter(2, 3000, "low", fs=SR_HZ, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32), lab


def _bleed(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The customer line leaking from the earpiece into the mic."""
    delay = int(rng.uniform(0.005, 0.040) * SR_HZ)
    atten_db = rng.uniform(15, 25)
    cutoff_hz = rng.uniform(1500, 3000)
    sos = signal.butter(2, cutoff_hz, "low", fs=SR_HZ, output="sos")
    y = signal.sosfilt(sos, line) * 10 ** (-atten_db / 20)
    return np.r_[np.zeros(delay), y[:len(y) - delay]].astype(np.float32)


def _telephone(x: np.ndarray) -> np.ndarray:
    """300-3400 Hz band and an 8 kHz round trip, as a phone line delivers it."""
    y = resample(telephone_band(x, SR_HZ), SR_HZ, 8000)
    y = resample(y, 8000, SR_HZ)
    return y[:len(x)].astype(np.float32)


def build_condition(conv: Conversation, name: str, seed: int = 0) -> Condition:
    """Degrade a clean conversation for one named condition (see module docstring)."""
    rng = np.random.default_rng([seed, CONDITIONS.index(name)])
    n = len(conv.agent)
    n_frames = len(conv.agent_labels)
    tel = name in ("telephone", "combined")
    # The phone band comes after the room, so it limits every sound the mic picks up.
    channel = _telephone if tel else np.copy
    mic = channel(conv.agent)
    mic_speech = mic
    line = channel(conv.customer)
    neigh_lab = np.zeros(n_frames, bool)
    if name in ("neighbour", "combined"):
        neigh, neigh_lab = _neighbour(n_frames, rng)
        mic = mic + channel(neigh)
    has_bleed = name in ("bleed", "combined")
    if has_bleed:
        mic = mic + channel(_bleed(line, rng))
    floor_dbfs = {"clean": -70.0}.get(name, -60.0)
    if tel:
        # 20 dB SNR against the band-limited speech, which has lost its lows.
        floor_dbfs = _active_level(mic_speech, conv.agent_labels) - 20.0
    mic = mic + _noise(n, floor_dbfs, int(rng.integers(1 << 30)))
    line = line + _noise(n, floor_dbfs if tel else -70.0, int(rng.integers(1 << 30)))
    return Condition(name, mic.astype(np.float32), line.astype(np.float32),
                     conv.agent_labels, conv.customer_labels, neigh_lab, has_bleed)


@dataclass(frozen=True)
class Scores:
    """Frame-level scores of a detector against the oracle.

    Attributes
    ----------
    accuracy : float
        Fraction of 10 ms frames classified correctly.
    recall, precision : float
        Over agent speech frames.
    double_talk_recall : float
        Recall over frames where both parties speak (nan if none).
    bleed_false_accept : float
        Fraction of customer-only frames flagged as agent speech (nan if no bleed).
    neighbour_false_accept : float
        Fraction of neighbour-only frames (agent silent) flagged (nan if no neighbour).
    n_frames : int
        Frames scored.
    """

    accuracy: float
    recall: float
    precision: float
    double_talk_recall: float
    bleed_false_accept: float
    neighbour_false_accept: float
    n_frames: int


def _rate(flags: np.ndarray, mask: np.ndarray) -> float:
    return float(flags[mask].mean()) if mask.any() else float("nan")


def score(flags: np.ndarray, cond: Condition, labels: np.ndarray | None = None,
          skip_frames: int = 0) -> Scores:
    """Score per-frame flags against the agent's labels (or ``labels``)."""
    truth = cond.agent_labels if labels is None else labels
    n = min(len(flags), len(truth))
    f, t = flags[skip_frames:n], truth[skip_frames:n]
    cust = cond.customer_labels[skip_frames:n]
    neigh = cond.neighbour_labels[skip_frames:n]
    return Scores(
        accuracy=float(np.mean(f == t)),
        recall=_rate(f, t),
        precision=_rate(t, f),
        double_talk_recall=_rate(f, t & cust) if labels is None else float("nan"),
        bleed_false_accept=_rate(f, cust & ~t) if cond.bleed and labels is None else float("nan"),
        neighbour_false_accept=_rate(f, neigh & ~t) if neigh.any() else float("nan"),
        n_frames=len(f),
    )


def prompt_speech(hop: int = 1600) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each of Asterisk's recorded prompts at 16 kHz and DC-blocked as the analysis has it.

    Parameters
    ----------
    hop : int
        Hop length in samples at 16 kHz.

    Returns
    -------
    list of (np.ndarray, np.ndarray)
        Per prompt, its audio, shape (n,), and its speech hops by the energy
        oracle, shape (n // hop,), bool; empty when the prompts are not installed.
    """
    dc_b, dc_a = signal.butter(2, DC_CUTOFF_HZ, "highpass", fs=SR_HZ)
    prompts = []
    for path in sorted(PROMPTS.rglob("*.wav")):
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        x = signal.lfilter(dc_b, dc_a, soxr.resample(x[:, 0], sr, SR_HZ)).astype(np.float32)
        labels = oracle_labels(x)
        n = labels.size * FRAME // hop
        speech = labels[:n * hop // FRAME].reshape(n, hop // FRAME).mean(axis=1) >= 0.5
        if speech.any():
            prompts.append((x, speech))
    return prompts
