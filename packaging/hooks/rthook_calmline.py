"""PyInstaller runtime hook: runs in the frozen app before ``ui.cli`` is imported.

It tells the app where the pre-rendered demo call is (the bundle carries one, so
the demo needs no espeak-ng), unless the environment already names one. The app
reads ``CALMLINE_DEMO_CALL`` in ``ui.demo_call.default_demo_path()``.

This hook runs first, before PyInstaller's own hooks, which load Qt and print a
crash report when Ctrl-C lands in them. Until the entry script takes over
(``calmline_entry.py`` puts Python's usual Ctrl-C handling back), Ctrl-C ends the
app with the same line and exit code as Ctrl-C later on; nothing has been done
yet that could be lost.
"""
import _signal  # built in, unlike ``signal``, whose import alone takes long enough to be hit
import os


def _interrupted_while_loading(signum, frame):
    os.write(2, b"calmline: interrupted\n")
    os._exit(130)


# An ignored SIGINT (a background job) stays ignored.
if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_while_loading)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

_bundle = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
_demo = _bundle / "calmline_data" / "demo_call.flac"
if _demo.is_file():
    os.environ.setdefault("CALMLINE_DEMO_CALL", str(_demo))

