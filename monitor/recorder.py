"""Recording calls to disk, only when the user has turned recording on.

Each call becomes one stereo FLAC (agent left, customer right) at the
agent's sample rate, readable by the user only, in a file of its own: an
existing recording is never overwritten. The engine detects a call's start a
moment after its first words, so the recorder keeps a short pre-roll of
aligned audio and starts the file where the call started.

A recording that cannot be written (folder read-only, disk nearly full)
raises :class:`RecordingError` and stops that call's recording only; what
was written so far is closed and kept. The recorder stops while some space
is left (:data:`MIN_FREE_BYTES`): a FLAC file cut off by a full disk lacks
its length and its last frame, and the call log, which matters more than a
recording, needs room to go on.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from pathlib import Path

import numpy as np
import soundfile as sf

from models.errors import UserError
from models.private_files import USER_ONLY, make_private_folder
from monitor.rate_match import RateMatcher

logger = logging.getLogger(__name__)

PREROLL_S = 5.0

MIN_FREE_BYTES = 8 * 1024 * 1024
"""Free space below which no recording is started or continued, bytes: a few minutes
of a call's FLAC, checked once per second of audio."""


class RecordingError(UserError):
    """A call's recording cannot be started, written or finished; the message is one line."""


class CallRecorder:
    """Writes the aligned audio of each call to its own FLAC file.

    Parameters
    ----------
    folder : Path
        Where recordings go (created user-only).
    agent_sr_hz : int
        Agent sample rate, Hz; the file's rate.
    customer_sr_hz : int or None
        Customer sample rate, Hz (resampled to the agent's); None records silence on the right.
    preroll_s : float
        Audio kept before a call's detection, s.
    """

    def __init__(self, folder: Path, agent_sr_hz: int, customer_sr_hz: int | None,
                 preroll_s: float = PREROLL_S) -> None:
        self.folder = Path(folder)
        self.sr_hz = agent_sr_hz
        self._customer_matcher = (RateMatcher(customer_sr_hz, agent_sr_hz)
                                  if customer_sr_hz is not None else None)
        self._preroll: deque[np.ndarray] = deque()
        self._preroll_frames = 0
        self._max_preroll = round(preroll_s * agent_sr_hz)
        self._position = 0  # stereo frames formed so far: the stream timeline
        self._unchecked_frames = 0  # written since free space was last checked
        self._file: sf.SoundFile | None = None
        self.path: Path | None = None

    def push(self, agent: np.ndarray, customer: np.ndarray | None) -> None:
        """Add the next aligned block (always, so that the pre-roll is ready).

        When the customer's rate differs, the pairs reach the file a resampler's
        delay (up to about 0.1 s) after they are pushed, so the last moment of a
        call, which is silence by the time the call ends, can be left out.

        Parameters
        ----------
        agent : np.ndarray, shape (n,), float32
            The agent's samples at the recorder's rate.
        customer : np.ndarray or None
            The customer's samples over the same span, at the customer's rate;
            None in mic-only mode (the right channel is then silent).
        """
        if self._customer_matcher is None:
            stereo = np.stack([agent, np.zeros(agent.size, np.float32)], axis=1)
        else:
            stereo = self._customer_matcher.push(agent, customer)
        if not len(stereo):
            return
        self._position += len(stereo)
        if self._file is not None:
            try:
                self._file.write(stereo)
            except sf.SoundFileError as exc:
                reason = _reason(exc, self._file)
                path = self._abandon()
                raise RecordingError(f"Recording stopped: cannot write {path} ({reason}); "
                                     "the part recorded so far is kept") from exc
            self._unchecked_frames += len(stereo)
            if self._unchecked_frames >= self.sr_hz:
                self._unchecked_frames = 0
                low = _low_space(self.folder)
                if low:
                    path = self.end()
                    raise RecordingError(f"Recording stopped: {low}; the part recorded so far "
                                         f"is kept in {path}")
            return
        self._preroll.append(stereo)
        self._preroll_frames += len(stereo)
        while self._preroll_frames - len(self._preroll[0]) >= self._max_preroll:
            self._preroll_frames -= len(self._preroll.popleft())

    def begin(self, name: str, start_s: float) -> Path:
        """Start a call's file, beginning at stream time ``start_s`` (within the pre-roll).

        Parameters
        ----------
        name : str
            File name without extension: the file is ``<folder>/<name>.flac``,
            or ``<name>-2.flac``, ``<name>-3.flac``, ... when that exists; 0600.
        start_s : float
            Stream time in seconds at which the file begins; audio from there
            that is still in the pre-roll is written first.

        Returns
        -------
        Path
            The file being written.

        Raises
        ------
        RecordingError
            The folder or the file cannot be written; no file is left behind.
        """
        self.end()
        held = np.concatenate(list(self._preroll)) if self._preroll else np.zeros((0, 2), np.float32)
        first = self._position - len(held)
        skip = max(0, round(start_s * self.sr_hz) - first)
        # The pre-roll is spent either way: audio before this call never belongs to the next.
        self._preroll.clear()
        self._preroll_frames = 0
        try:
            make_private_folder(self.folder)
            low = _low_space(self.folder)
            if low:
                raise RecordingError(f"Not recording this call: {low}")
            path = _create_new(self.folder, name)
        except OSError as exc:
            raise RecordingError(f"Not recording this call: cannot write in {self.folder} "
                                 f"({exc.strerror or exc})") from exc
        try:
            # Opened by name, not through the descriptor that reserved it: on Windows
            # libsndfile's C runtime is not Python's, and a descriptor means nothing to it.
            # Truncating the empty file keeps its user-only mode.
            sound = sf.SoundFile(path, "w", self.sr_hz, 2, "PCM_16", format="FLAC")
        except (sf.SoundFileError, OSError) as exc:
            _remove(path)
            raise RecordingError(f"Not recording this call: cannot write {path} ({exc})") from exc
        try:
            sound.write(held[skip:])
        except sf.SoundFileError as exc:
            reason = _reason(exc, sound)
            _close_quietly(sound)
            _remove(path)  # it holds no more than the pre-roll
            raise RecordingError(f"Not recording this call: cannot write {path} ({reason})") \
                from exc
        self._file, self.path = sound, path
        self._unchecked_frames = 0
        logger.info("recording the call to %s", path)
        return path

    def end(self) -> Path | None:
        """Close the current call's file.

        Returns
        -------
        Path or None
            The file, or None when no call is being recorded.

        Raises
        ------
        RecordingError
            The end of the file cannot be written; the file is closed all the same.
        """
        if self._file is None:
            return None
        sound, path = self._file, self.path
        self._file = self.path = None
        try:
            sound.close()
        except sf.SoundFileError as exc:
            raise RecordingError(f"Cannot finish the recording {path} ({exc})") from exc
        return path

    def _abandon(self) -> Path | None:
        """Stop writing the current file after a failure; the audio from now on goes to the pre-roll."""
        sound, path = self._file, self.path
        self._file = self.path = None
        if sound is not None:
            _close_quietly(sound)
        return path


def _create_new(folder: Path, name: str) -> Path:
    """Create an empty ``<name>.flac``, or ``<name>-2.flac`` and so on if taken, 0600.

    Two calls can start within the same second, and one engine's names can
    meet another's; creating exclusively is what keeps an earlier recording whole.
    """
    number = 1
    while True:
        path = folder / (f"{name}.flac" if number == 1 else f"{name}-{number}.flac")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, USER_ONLY))
        except FileExistsError:
            number += 1
        else:
            return path


def _low_space(folder: Path) -> str:
    """Why there is too little free space in ``folder`` to record, or "" when there is enough."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        # Some file systems cannot say; writing to the file will tell if it fails.
        logger.debug("cannot read the free space in %s", folder, exc_info=True)
        return ""
    if free >= MIN_FREE_BYTES:
        return ""
    return f"the disk is nearly full ({free / 1e6:.1f} MB free in {folder})"


def _reason(exc: sf.SoundFileError, sound: sf.SoundFile) -> str:
    """Why libsndfile failed, as the system said it ("No space left on device") when it did.

    libsndfile's error codes only say "System error."; the text that names the
    system's reason is kept on the open file, which soundfile does not expose.
    """
    try:
        detail = sf._ffi.string(sf._snd.sf_strerror(sound._file)).decode(errors="replace")
    except AttributeError:  # a soundfile version without these internals
        return str(exc)
    system = "System error : "
    return detail.removeprefix(system).rstrip(".") if detail.startswith(system) else str(exc)


def _close_quietly(sound: sf.SoundFile) -> None:
    try:
        sound.close()
    except sf.SoundFileError:
        # Already failing: the caller reports the first error, which says why.
        logger.debug("closing a failed recording failed too", exc_info=True)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        logger.debug("cannot remove the unfinished recording %s", path, exc_info=True)
