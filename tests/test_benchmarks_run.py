"""The benchmarks still run against the code they measure (they are not otherwise tested).

Only a short smoke run each: their figures are for people to read, not for assertions.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.audio_fixtures import have

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the benchmark call")
def test_the_live_path_benchmark_runs() -> None:
    result = subprocess.run([sys.executable, "benchmarks/live_path_speed.py", "--minutes", "1",
                             "--skip-latency"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "x real time" in result.stdout
