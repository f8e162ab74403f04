"""Long two-party calls for benchmarks, built from the demo call (git-ignored cache)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ui.demo_call import render_call

WORK = Path(__file__).resolve().parent / ".work"


def long_call(minutes: int, sr_hz: int = 16000) -> Path:
    """A stereo call of ``minutes`` minutes: the demo call over and over, with varied gains."""
    path = WORK / f"call_{minutes}min_{sr_hz}.wav"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    demo = render_call(sr_hz=sr_hz)
    rng = np.random.default_rng(0)
    total = minutes * 60 * sr_hz
    tmp = path.with_suffix(".part.wav")
    with sf.SoundFile(tmp, "w", sr_hz, 2, "PCM_16", format="WAV") as out:
        written = 0
        while written < total:
            gain = 10 ** (rng.uniform(-4, 4) / 20)
            piece = np.clip(demo[: total - written] * gain, -1, 1)
            out.write(piece)
            written += len(piece)
    tmp.replace(path)
    return path
