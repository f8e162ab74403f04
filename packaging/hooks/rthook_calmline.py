"""PyInstaller runtime hook: runs in the frozen app before ``ui.cli`` is imported.

It tells the app where the pre-rendered demo call is (the bundle carries one, so
the demo needs no espeak-ng), unless the environment already names one. The app
reads ``CALMLINE_DEMO_CALL`` in ``ui.demo_call.default_demo_path()``.
"""
import os
import sys
from pathlib import Path

_bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
_demo = _bundle / "calmline_data" / "demo_call.flac"
if _demo.is_file():
    os.environ.setdefault("CALMLINE_DEMO_CALL", str(_demo))
