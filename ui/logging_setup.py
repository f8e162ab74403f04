"""Where CalmLine's log goes: rotating files in the user log folder, and stderr.

The files are for the helpdesk (``calmline --diagnostics`` names the folder):
1 MB each, five kept, readable by the user only, like every CalmLine file.
Warnings also go to stderr; ``--verbose`` sends everything there.
"""
from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO

from platformdirs import user_log_path

from models.private_files import USER_ONLY, make_private_folder, restrict_to_user

LOG_FILE_NAME = "calmline.log"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 5
_FILE_HANDLER_NAME = "calmline-file"
_STDERR_HANDLER_NAME = "calmline-stderr"


def default_log_dir() -> Path:
    """The user log folder (``~/.local/state/calmline/log`` on Linux)."""
    return user_log_path("calmline", appauthor=False)


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating log whose files, including each new one after a rollover, are 0600."""

    def _open(self) -> IO[str]:
        # FileHandler opens with the umask's permissions; the log names calls and devices.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, USER_ONLY)
        restrict_to_user(fd)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes, as the CLI's own messages do.

    A handler holding the stream it was made with would keep writing to one
    that was since replaced and closed (pytest's capture, a GUI launcher).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        # StreamHandler.__init__ assigns the stream; the current one is always used.
        pass


def configure_logging(verbose: bool = False, log_dir: Path | None = None) -> Path | None:
    """Send log records to the rotating log file and to stderr.

    Calling it again replaces the handlers it added before (the CLI's tests
    call ``main`` many times in one process).

    Parameters
    ----------
    verbose : bool
        Log debug details, to the file and to stderr; otherwise the file gets
        info and up, stderr warnings and up.
    log_dir : Path, optional
        The log folder; :func:`default_log_dir` by default.

    Returns
    -------
    Path or None
        The log file, or None when the folder cannot be written (then a
        warning on stderr says so, and CalmLine carries on without a file).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() in (_FILE_HANDLER_NAME, _STDERR_HANDLER_NAME):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Each engine start takes and probes lock files; filelock's details of every
    # attempt would bury CalmLine's own in a verbose log.
    logging.getLogger("filelock").setLevel(logging.INFO)

    stderr = CurrentStderrHandler()
    stderr.set_name(_STDERR_HANDLER_NAME)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter("calmline: %(levelname)s: %(message)s"))
    root.addHandler(stderr)

    folder = log_dir or default_log_dir()
    path = folder / LOG_FILE_NAME
    try:
        make_private_folder(folder)
        handler = PrivateRotatingFileHandler(path, maxBytes=LOG_MAX_BYTES,
                                             backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file: %s (%s)", folder, exc.strerror or exc)
        return None
    handler.set_name(_FILE_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path
