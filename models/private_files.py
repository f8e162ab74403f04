"""Files that belong to the user alone: written atomically, permissions 0600."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

USER_ONLY = 0o600

_TEMPORARY_PREFIX = ".calmline-"


def restrict_to_user(fd: int) -> None:
    """Make an open file readable and writable by its owner only (0600).

    Parameters
    ----------
    fd : int
        An open file descriptor.

    Notes
    -----
    Python before 3.13 has no ``os.fchmod`` on Windows, where the mode bits
    only mean read-only anyway; there the per-user permissions of the profile
    folders keep CalmLine's files private, so nothing is done.
    """
    if hasattr(os, "fchmod"):
        os.fchmod(fd, USER_ONLY)


def write_private_text(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write a text file that appears complete or not at all, readable by the user only.

    Parameters
    ----------
    path : Path
        The file to create or replace; its folder must exist. A symbolic link
        stays a link: the file it points to is replaced.
    write : callable
        Writes the content to the stream it is given.

    Raises
    ------
    OSError
        When the folder cannot be written; no partial file is left behind.
    """
    _write_private(path, "w", write)


def same_file(path: Path, other: Path) -> bool:
    """Whether two paths name the same file, through links; for paths not yet created, the same place.

    Parameters
    ----------
    path, other : Path
        The paths to compare.

    Returns
    -------
    bool
    """
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist yet
        return Path(path).resolve() == Path(other).resolve()


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write a binary file like :func:`write_private_text` (atomically, 0600)."""
    _write_private(path, "wb", lambda stream: stream.write(data))


def write_private_texts(files: Sequence[tuple[Path, Callable[[IO[str]], None]]]) -> None:
    """Write several text files, all complete or none changed, readable by the user only.

    Each is written in full beside its target first; only when every one is
    written are they moved into place, so that a full disk half-way through an
    export leaves the files as they were.

    Parameters
    ----------
    files : sequence of (Path, callable)
        Each file to create or replace (as in :func:`write_private_text`), with
        what writes its content.

    Raises
    ------
    OSError
        When a folder cannot be written; no partial file is left behind.
    """
    staged: list[tuple[Path, Path] | None] = []
    try:
        for path, write in files:
            staged.append(_stage(path, "w", write))
        for pair in staged:
            if pair is not None:
                os.replace(*pair)
    except BaseException:
        for pair in staged:
            if pair is not None:
                pair[0].unlink(missing_ok=True)
        raise


def _write_private(path: Path, mode: str, write: Callable[[Any], object]) -> None:
    staged = _stage(path, mode, write)
    if staged is not None:
        try:
            os.replace(*staged)
        except BaseException:
            staged[0].unlink(missing_ok=True)
            raise


def _stage(path: Path, mode: str, write: Callable[[Any], object]) -> tuple[Path, Path] | None:
    """Write ``path``'s new content beside it: the (temporary, target) pair to rename, or
    None when it had to be written in place."""
    text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
    # A symlink (settings kept in a dotfiles repository) is kept: renaming over
    # it would replace the link and leave the file it points to unchanged.
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        # /dev/null, a pipe: replacing it by rename would destroy it, so write through it.
        with open(path, mode, **text) as stream:
            write(stream)
        return None
    # The temporary name does not grow with the target's, so that any name the
    # file system allows can be written.
    fd, tmp = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        restrict_to_user(fd)
        with os.fdopen(fd, mode, **text) as stream:
            write(stream)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), path


USER_ONLY_FOLDER = 0o700


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parents readable by the user only (0700).

    ``Path.mkdir(parents=True)`` gives parents the umask's mode, and the umask
    applies to ``mode=`` too, so each new folder is chmod-ed explicitly. An
    existing ``folder`` is tightened only when it is CalmLine's own (see
    :func:`is_calmline_folder`): a folder the user chose for a call log or a
    recording, such as a shared team folder or ``/tmp``, keeps its mode.

    Raises
    ------
    OSError
        When a folder cannot be created or changed.
    """
    missing = []
    ancestor = folder
    while not ancestor.exists():
        missing.append(ancestor)
        ancestor = ancestor.parent
    for each in reversed(missing):
        each.mkdir(mode=USER_ONLY_FOLDER, exist_ok=True)
        os.chmod(each, USER_ONLY_FOLDER)
    if not missing and is_calmline_folder(folder):
        os.chmod(folder, USER_ONLY_FOLDER)


def is_calmline_folder(folder: Path) -> bool:
    """Whether ``folder`` is, or lies inside, a folder named ``calmline``.

    The platform's config, data, state and cache folders for CalmLine all do
    (``~/.config/calmline``, ``%LOCALAPPDATA%\\calmline``, ...).

    Parameters
    ----------
    folder : Path
        The folder.

    Returns
    -------
    bool
    """
    return any(part.lower() == "calmline" for part in Path(folder).parts)
