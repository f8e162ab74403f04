"""Which monitoring engines and breathing prompt logs have a call log open, across processes.

Only an engine may close the calls left open by a crash, and only when no
other engine is running on the same log: another engine's open call is a
call in progress, not a crashed one. So each engine holds an exclusive OS
lock on a small file of its own in ``<log>.engines/`` for as long as its store
is open. The OS drops the lock when the process ends, however it ends, so a
file that can be locked belongs to an engine that is gone.

An app's breathing prompt log claims the log the same way (a ``.prompts``
file): an exercise on screen in a live app, whose engine is paused, is not one
that a crash left under way.

The folder is user-only (0700) and the files are user-only (0600), like the
log itself.
"""
from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from models.private_files import USER_ONLY, USER_ONLY_FOLDER, make_private_folder

logger = logging.getLogger(__name__)

_CLAIM_SUFFIX = ".engine"
_PROMPTS_SUFFIX = ".prompts"
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


@dataclass(frozen=True, slots=True)
class OtherClaims:
    """The live claims on a call log besides the one being registered.

    Attributes
    ----------
    engines : int
        Other live engines, in any process.
    prompt_logs : int
        Live breathing prompt logs of other processes.
    """

    engines: int
    prompt_logs: int


class EngineClaim:
    """An engine's (or a prompt log's) claim on a call log, from :meth:`registering` to
    :meth:`release`.

    Parameters
    ----------
    log : Path
        The call log.
    prompts : bool
        Claim it for a breathing prompt log instead of an engine.
    """

    def __init__(self, log: Path, prompts: bool = False) -> None:
        self.folder = engines_folder(Path(log))
        self.path: Path | None = None
        self._suffix = _PROMPTS_SUFFIX if prompts else _CLAIM_SUFFIX
        self._lock: FileLock | None = None

    @contextmanager
    def registering(self) -> Iterator[OtherClaims]:
        """Claim the log; the body learns which other claims are live.

        The body runs under a lock shared by all claims of the log, so that
        no other engine can register, and so begin a call, until it is done:
        recovery done there cannot close a call that another engine began
        meanwhile. Claims of processes that are gone are deleted on the way.

        Yields
        ------
        OtherClaims
            The other live claims on the log.

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
            own = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}{self._suffix}"
            lock = _file_lock(own, timeout=0)
            lock.acquire()
            self.path, self._lock = own, lock
            yield _live_claims(self.folder, own)

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


def _live_claims(folder: Path, own: Path) -> OtherClaims:
    """Count the other claims that are still locked, deleting the rest."""
    engines = prompt_logs = 0
    for claim in (*folder.glob(f"*{_CLAIM_SUFFIX}"), *folder.glob(f"*{_PROMPTS_SUFFIX}")):
        if claim == own:
            continue
        probe = _file_lock(claim, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            if claim.suffix == _CLAIM_SUFFIX:
                engines += 1
            elif not claim.name.startswith(f"{os.getpid()}-"):
                # This process's own exercises are told apart by time (see models.store).
                prompt_logs += 1
            continue
        probe.release(force=True)
        # Safe under the shared lock: no process is registering a claim of that name meanwhile.
        claim.unlink(missing_ok=True)
    return OtherClaims(engines, prompt_logs)
