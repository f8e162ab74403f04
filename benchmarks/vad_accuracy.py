"""Frame accuracy of the voice activity detector on built conversations.

Builds labelled two-party conversations from real read speech (see
``tests/conversation_tracks.py`` for the tracks, the ground-truth definition
and the conditions), runs the agent's detector with the customer line as
reference, and prints per condition: frame accuracy, recall, precision,
recall during double talk, and false accepts on bleed-only and
neighbour-only frames. Also the customer's detector (no reference) and plain
WebRTC VAD for comparison, and the CPU time per channel-hour of the agent's
detector in 1 s and 0.1 s blocks.

The detector's parameters were tuned on seeds 0-1, except the onset lead and
the noisy hangover, which were chosen on seeds 0-9 (``--seeds 5`` and
``--seeds 5 --first-seed 5`` give both halves); seeds 10 and up are held out.

Run: ``python benchmarks/vad_accuracy.py [--seconds 300] [--seeds 3] [--first-seed 0]``
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import webrtcvad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.vad import VoiceActivityDetector  # noqa: E402
from tests.conversation_tracks import (CONDITIONS, SR_HZ, Condition, Scores,  # noqa: E402
                                       build_condition, build_conversation, score)

logger = logging.getLogger("vad_accuracy")


def run_detector(x: np.ndarray, reference: np.ndarray | None, block_s: float = 0.1,
                 **kwargs: object) -> np.ndarray:
    """Run a fresh detector over ``x`` in blocks of ``block_s`` seconds."""
    vad = VoiceActivityDetector(SR_HZ, **kwargs)
    step = round(block_s * SR_HZ)
    out = []
    for i in range(0, len(x), step):
        out.append(vad.process(x[i:i + step], None if reference is None else reference[i:i + step]))
    out.append(vad.flush())
    return np.concatenate(out)


def plain_webrtc(x: np.ndarray, mode: int = 2) -> np.ndarray:
    """WebRTC VAD alone at 10 ms frames."""
    v = webrtcvad.Vad(mode)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    return np.array([v.is_speech(pcm[i:i + 320], SR_HZ) for i in range(0, len(pcm) - 319, 320)])


def _row(label: str, s: Scores) -> str:
    return (f"{label:<28} acc {s.accuracy:.3f}  rec {s.recall:.3f}  prec {s.precision:.3f}  "
            f"dt-rec {s.double_talk_recall:.3f}  bleed-FA {s.bleed_false_accept:.3f}  "
            f"neigh-FA {s.neighbour_false_accept:.3f}")


def _pooled(scores: list[Scores]) -> Scores:
    w = np.array([s.n_frames for s in scores], float)

    def avg(name: str) -> float:
        v = np.array([getattr(s, name) for s in scores], float)
        ok = ~np.isnan(v)
        return float(np.average(v[ok], weights=w[ok])) if ok.any() else float("nan")

    return Scores(*(avg(f) for f in ("accuracy", "recall", "precision", "double_talk_recall",
                                     "bleed_false_accept", "neighbour_false_accept")),
                  n_frames=int(w.sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="length of each conversation")
    ap.add_argument("--seeds", type=int, default=3, help="number of conversations")
    ap.add_argument("--first-seed", type=int, default=0, help="seed of the first conversation")
    ap.add_argument("--block-s", type=float, default=0.1, help="block size fed to the detector")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    results: dict[str, list[Scores]] = {}
    cpu_s = {1.0: 0.0, 0.1: 0.0}
    audio_s = 0.0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        conv = build_conversation(args.seconds, seed)
        for name in CONDITIONS:
            cond: Condition = build_condition(conv, name, seed)
            flags = run_detector(cond.agent_mic, cond.customer_line, args.block_s)
            # CPU time, not wall time: other jobs on the machine must not count.
            for block_s in cpu_s:
                t0 = time.process_time()
                run_detector(cond.agent_mic, cond.customer_line, block_s)
                cpu_s[block_s] += time.process_time() - t0
            audio_s += len(cond.agent_mic) / SR_HZ
            results.setdefault(f"agent/{name}", []).append(score(flags, cond))
            results.setdefault(f"agent/{name} (webrtc only)", []).append(
                score(plain_webrtc(cond.agent_mic), cond))
            if name in ("clean", "telephone"):
                cflags = run_detector(cond.customer_line, None, args.block_s)
                results.setdefault(f"customer/{name}", []).append(
                    score(cflags, cond, labels=cond.customer_labels))
    for label, s in results.items():
        logger.info(_row(label, _pooled(s)))
    for block_s, spent_s in cpu_s.items():
        logger.info("speed: %.2f s CPU per channel-hour (agent detector with reference, %.0f ms blocks)",
                    spent_s / audio_s * 3600.0, block_s * 1000)


if __name__ == "__main__":
    main()
