"""Writing result files: atomically, and readable by the user only."""
from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

USER_ONLY = 0o600


class OutputError(Exception):
    """A result file cannot be written; the message is one line for the user."""


def write_text_output(target: str, write: Callable[[IO[str]], None]) -> None:
    """Write text to ``target`` (a path, or ``-`` for standard output).

    The file appears complete or not at all, with permissions 0600, so a
    crash never leaves half a report and nobody else can read a call's data.
    """
    if target == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    path = Path(target).expanduser()
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        os.fchmod(fd, USER_ONLY)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            write(stream)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
