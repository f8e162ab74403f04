"""Handles over many runs: what CalmLine opens for a run, it closes when the run ends."""
from __future__ import annotations

import gc
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from ui.cli import main


def test_monitor_without_an_events_log_closes_what_it_opened(tmp_path: Path) -> None:
    call = tmp_path / "line_noise.wav"
    noise = np.random.default_rng(0).standard_normal((16000, 2)) * 1e-3
    sf.write(call, noise.astype(np.float32), 16000, subtype="PCM_16")
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert main(["monitor", "--headless", "--replay", str(call), "--fast"]) == 0
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
