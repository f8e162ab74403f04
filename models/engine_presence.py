"""Which monitoring engines have a call log open, across processes.

Only an engine may close the calls left open by a crash, and only when no
other engine is running on the same log: another engine's open call is a
call in progress, not a crashed one. So each engine holds an exclusive OS
lock on a small file of its own in ``<log>.engines/`` for as long as its store
is open. The OS drops the lock when the process ends, however it ends, so a
file that can be locked belongs to an engine that is gone.

The folder is user-only (0700) and the files are user-only (0600), like the
log itself.
"""
from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from models.private_files import USER_ONLY, USER_ONLY_FOLDER, make_private_folder

logger = logging.getLogger(__name__)

_CLAIM_SUFFIX = ".engine"
_GUARD_NAME = "guard.lock"
_GUARD_TIMEOUT_S = 30.0


def engines_folder(log: Path) -> Path:
    """The folder of a call log's engine claims.

    Parameters
    ----------
    log : Path
        The call log.

    Returns
    -------
    Path
        ``<log>.engines`` beside the log, the real one when ``log`` is a
        symbolic link: engines reaching one log by different paths must meet.
    """
    real = log.resolve()
    return real.with_name(real.name + ".engines")


class EngineClaim:
    """One engine's claim on a call log, from :meth:`registering` to :meth:`release`.

    Parameters
    ----------
    log : Path
        The call log.
    """

    def __init__(self, log: Path) -> None:
        self.folder = engines_folder(Path(log))
        self.path: Path | None = None
        self._lock: FileLock | None = None

    @contextmanager
    def registering(self) -> Iterator[bool]:
        """Claim the log for this engine; the body learns whether no other engine is live.

        The body runs under a lock shared by all engines of the log, so that
        no other engine can register, and so begin a call, until it is done:
        recovery done there cannot close a call that another engine began
        meanwhile. Claims of engines that are gone are deleted on the way.

        Yields
        ------
        bool
            True if this is the only live engine on the log.

        Raises
        ------
        TimeoutError
            If another engine held the shared lock for too long.
        OSError
            If the claim cannot be made.
        """
        make_private_folder(self.folder)
        # The folder is CalmLine's own whatever the log's folder is, so it is always tightened.
        os.chmod(self.folder, USER_ONLY_FOLDER)
        with _file_lock(self.folder / _GUARD_NAME, timeout=_GUARD_TIMEOUT_S):
            own = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}{_CLAIM_SUFFIX}"
            lock = _file_lock(own, timeout=0)
            lock.acquire()
            self.path, self._lock = own, lock
            yield not _live_claims(self.folder, own)

    def release(self) -> None:
        """Drop the claim and delete its file; nothing happens if there is none."""
        if self._lock is None or self.path is None:
            return
        lock, path = self._lock, self.path
        self._lock = self.path = None
        lock.release(force=True)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            # A stale claim costs nothing: the next engine finds it unlocked and deletes it.
            logger.warning("%s: cannot delete the engine claim (%s)", path, exc.strerror)


def _file_lock(path: Path, timeout: float) -> FileLock:
    return FileLock(path, timeout=timeout, mode=USER_ONLY)


def _live_claims(folder: Path, own: Path) -> int:
    """Count the other engines' claims that are still locked, deleting the rest."""
    live = 0
    for claim in folder.glob(f"*{_CLAIM_SUFFIX}"):
        if claim == own:
            continue
        probe = _file_lock(claim, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            live += 1
            continue
        probe.release(force=True)
        # Safe under the shared lock: no engine is registering a claim of that name meanwhile.
        claim.unlink(missing_ok=True)
    return live
