"""Test-wide set-up: Qt runs offscreen unless a test session chose a display itself."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
