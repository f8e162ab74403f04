"""Writing result files: atomically, and readable by the user only."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from models.errors import UserError
from models.private_files import write_private_text



class OutputError(UserError):
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
        write_private_text(path, write)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
