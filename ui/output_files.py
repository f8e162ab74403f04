"""Writing result files: atomically, and readable by the user only."""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from models.errors import UserError
from models.private_files import same_file, write_private_text


class OutputError(UserError):
    """A result file cannot be written; the message is one line for the user."""


def check_output_target(target: str | Path, keep: Mapping[Path, str] | None = None) -> None:
    """Refuse, before any work is done, an output file that cannot or must not be written.

    Parameters
    ----------
    target : str or Path
        The file to write, or ``-`` for standard output (always accepted).
    keep : mapping of Path to str, optional
        Files this run reads or writes elsewhere, each with what it is ("the
        recording being analysed"). Writing over one of them would destroy
        the user's data or the run's other output, so it is refused.

    Raises
    ------
    OutputError
        With a one-line message naming the problem.
    """
    if str(target) == "-":
        return
    path = Path(target).expanduser()
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such folder")
    for other, what in (keep or {}).items():
        if _same_file(path, Path(other).expanduser()):
            raise OutputError(f"{path}: is {what}; choose another file name")


def _same_file(path: Path, other: Path) -> bool:
    if path.exists() and not path.is_file():
        return False  # a device such as /dev/null takes any number of writers
    return same_file(path, other)


def write_text_output(target: str, write: Callable[[IO[str]], None]) -> None:
    """Write text to ``target`` (a path, or ``-`` for standard output).

    The file appears complete or not at all, with permissions 0600, so a
    crash never leaves half a report and nobody else can read a call's data.
    """
    if target == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    check_output_target(target)
    path = Path(target).expanduser()
    try:
        write_private_text(path, write)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
