"""Writing result files: atomically, and readable by the user only."""
from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from models.errors import UserError
from models.private_files import same_file, write_private_text


class OutputError(UserError):
    """A result file cannot be written; the message is one line for the user."""


class StdoutError(OutputError):
    """Standard output cannot be written (closed, or on a full disk)."""


@contextmanager
def stdout_errors() -> Iterator[None]:
    """Turn a failed write to standard output into a one-line :class:`StdoutError`.

    A reader that stops early (:class:`BrokenPipeError`) is not an error and
    passes through, for the caller to end quietly.

    Raises
    ------
    StdoutError
        When a write to standard output fails (a full disk, say).
    """
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise StdoutError(f"cannot write to standard output ({exc.strerror or exc})") from None


def _own_files() -> dict[Path, str]:
    """CalmLine's own files, which no output may replace, wherever this run's options point."""
    from models.app_settings import default_settings_path
    from models.profile import default_profile_path
    from models.store import default_store_path

    return {default_settings_path(): "the settings file", default_profile_path(): "the voice profile",
            default_store_path(): "the call log"}


def check_output_target(target: str | Path, keep: Mapping[Path, str] | None = None,
                        replaces: tuple[str, ...] = ()) -> None:
    """Refuse, before any work is done, an output file that cannot or must not be written.

    Parameters
    ----------
    target : str or Path
        The file to write, or ``-`` for standard output (accepted unless it is closed).
    keep : mapping of Path to str, optional
        Files this run reads or writes elsewhere, each with what it is ("the
        recording being analysed"). Writing over one of them would destroy
        the user's data or the run's other output, so it is refused; so is
        writing over CalmLine's own settings, voice profile and call log.
    replaces : tuple of str, optional
        Name endings (such as ``".json"``) of the existing files this output
        may replace. Any other existing file is refused, so that a slip on the
        command line (``--json call.wav``) cannot destroy a recording or a
        document. Empty when the user has already agreed to replace the file
        (in a save dialog).

    Raises
    ------
    OutputError
        With a one-line message naming the problem.
    """
    if str(target) == "-":
        if sys.stdout is None:  # the program was started with standard output closed (">&-")
            raise StdoutError("standard output is closed; give a file name instead of -")
        return
    if str(target) == "":  # Path("") would mean the current folder
        raise OutputError("an empty output file name; give a file name, or - for standard output")
    path = Path(target).expanduser()
    try:
        # The checks below take a name too long, a folder that cannot be
        # entered or a symbolic link loop for "no such file": ask the OS.
        path.stat()
    except FileNotFoundError:
        pass  # a new file, or a link to one
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise OutputError(f"{path.parent}: no such folder")
    for other, what in {**_own_files(), **(keep or {})}.items():
        if _same_file(path, Path(other).expanduser()):
            raise OutputError(f"{path}: is {what}; choose another file name")
    if replaces and path.is_file() and not path.name.lower().endswith(replaces):
        raise OutputError(f"{path}: exists and is not a {' or '.join(replaces)} file, so it is not "
                          "replaced; choose another name, or delete it first")
    if not path.exists() or path.is_file():  # a device is written through, not replaced
        try:
            # The file is written as a new file in its folder, then renamed.
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror})") from None


def _same_file(path: Path, other: Path) -> bool:
    if path.exists() and not path.is_file():
        return False  # a device such as /dev/null takes any number of writers
    return same_file(path, other)


def write_text_output(target: str, write: Callable[[IO[str]], None]) -> None:
    """Write text to ``target`` (a path, or ``-`` for standard output).

    The file appears complete or not at all, with permissions 0600, so a
    crash never leaves half a report and nobody else can read a call's data.
    """
    check_output_target(target)
    if target == "-":
        with stdout_errors():
            write(sys.stdout)
            sys.stdout.flush()
        return
    path = Path(target).expanduser()
    try:
        write_private_text(path, write)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
