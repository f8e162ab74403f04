"""Test-wide set-up.

Qt runs offscreen unless a test session chose a display itself, and the
user's own CalmLine folders (settings, call log, logs, cache) are replaced
by a throwaway tree, so running the tests never touches a real user's data.
"""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = tempfile.mkdtemp(prefix="calmline-tests-")
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_name] = os.path.join(_HOME, _name.lower())
