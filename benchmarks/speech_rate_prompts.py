"""Speech rate on a second real-speech set: Asterisk's English telephone prompts.

The rate benchmark (``speech_rate_accuracy.py``) scores the detector on the
twelve pocketsphinx clips that the issue names. Twelve clips are too few to
tune on without fitting them, so this benchmark scores the same detectors on
an independent set: the US English prompts of the Asterisk PBX (Debian's
``asterisk-core-sounds-en-wav``), about 240 recordings of one professional
speaker at 8 kHz with their texts in ``core-sounds-en.txt``. A change to the
detector should not make these figures worse.

Prompts are kept when their text has at least six cmudict syllables and no
stage directions or numbers of two or more digits; single digits, ``#`` and
``*`` are spelt out as spoken ("one", "pound", "star"). Speaking time and the
true and estimated rates follow ``tests/rate_eval.py``. Besides the rate
correlation and errors, the benchmark prints the mean absolute error of the
syllable count per prompt, which does not depend on the narrow range of
rates one speaker covers.

Run from the repository root (needs ``apt-get install asterisk-core-sounds-en-wav
asterisk-core-sounds-en``; the peer's pitch track takes about two minutes)::

    python benchmarks/speech_rate_prompts.py [--no-peer]
"""
from __future__ import annotations

import argparse
import gzip
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio_fixtures import syllables  # noqa: E402
from tests.rate_eval import Detector, Item, accuracy, de_jong_wempe_nuclei, ours, speech_hops  # noqa: E402

logger = logging.getLogger("speech_rate_prompts")

PROMPT_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPT_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
MIN_SYLLABLES = 6
MIN_SPEECH_HOPS = 5
_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def spoken_text(text: str) -> str | None:
    """The words of a prompt as spoken, or None for prompts this benchmark skips.

    Parameters
    ----------
    text : str
        Prompt text from ``core-sounds-en.txt``.

    Returns
    -------
    str or None
        ``text`` with single digits, ``#`` and ``*`` spelt out; None when the
        text has stage directions (brackets or parentheses) or a number of
        two or more digits, whose reading is ambiguous.
    """
    if re.search(r"[\[\]<>()]|\d\d", text):
        return None
    text = re.sub(r"\d", lambda m: f" {_DIGIT_WORDS[int(m.group())]} ", text)
    return text.replace("#", " pound ").replace("*", " star ")


def prompt_items(prompt_dir: Path = PROMPT_DIR, texts: Path = PROMPT_TEXTS) -> Iterator[Item]:
    """Yield the prompts as evaluation items at their own sample rate (8 kHz).

    Parameters
    ----------
    prompt_dir : Path
        Folder of the prompt recordings.
    texts : Path
        Gzipped listing of ``name: text`` lines.

    Yields
    ------
    Item
        One prompt with its cmudict syllable count and energy-oracle speech hops.
    """
    with gzip.open(texts, "rt", encoding="utf-8") as lines:
        for line in lines:
            m = re.match(r"^([\w/\-]+):\s*(.+)$", line.strip())
            if not m:
                continue
            name, text = m.groups()
            spoken = spoken_text(text)
            wav = prompt_dir / f"{name}.wav"
            n_syllables = syllables(spoken) if spoken is not None else 0
            if n_syllables < MIN_SYLLABLES or not wav.exists():
                continue
            audio, sr_hz = sf.read(wav, dtype="float32", always_2d=True)
            speech = speech_hops(audio[:, 0], sr_hz)
            if speech.sum() >= MIN_SPEECH_HOPS:
                yield Item(name, audio[:, 0], sr_hz, n_syllables, speech)


def report(name: str, detector: Detector, items: list[Item]) -> None:
    """Log rate correlation, rate errors and syllable-count error for one detector."""
    acc = accuracy(detector, items)
    count_err = (acc.est_sps - acc.true_sps) * np.array([i.speech_s for i in items])
    n_syllables = sum(i.syllables for i in items)
    logger.info("%-4s n=%d  correlation %.3f  MAE %4.1f%%  bias %+5.1f%%  count error %.2f syllables per prompt "
                "(%.1f%% of %d syllables found, net)", name, len(items), acc.correlation, 100 * acc.mae_rel,
                100 * acc.bias_rel, np.mean(np.abs(count_err)), 100 * (1 + count_err.sum() / n_syllables),
                n_syllables)


def main() -> int:
    """Print the figures for our detector and, unless ``--no-peer``, for de Jong & Wempe."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-peer", action="store_true", help="skip de Jong & Wempe (about two minutes)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if not PROMPT_TEXTS.exists() or not PROMPT_DIR.is_dir():
        logger.error("needs the Asterisk prompts and their texts: "
                     "apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-en")
        return 2
    items = list(prompt_items())
    report("ours", ours, items)
    if not args.no_peer:
        report("peer", de_jong_wempe_nuclei, items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
