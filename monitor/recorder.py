"""Recording calls to disk, only when the user has turned recording on.

Each call becomes one stereo FLAC (agent left, customer right) at the
agent's sample rate, readable by the user only. The engine detects a call's
start a moment after its first words, so the recorder keeps a short
pre-roll of aligned audio and starts the file where the call started.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path

import numpy as np
import soundfile as sf

from models.private_files import make_private_folder
from monitor.rate_match import RateMatcher

logger = logging.getLogger(__name__)

PREROLL_S = 5.0


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
            self._file.write(stereo)
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
            File name without extension; the file is ``<folder>/<name>.flac``, 0600.
        start_s : float
            Stream time in seconds at which the file begins; audio from there
            that is still in the pre-roll is written first.

        Returns
        -------
        Path
            The file being written.
        """
        self.end()
        make_private_folder(self.folder)
        self.path = self.folder / f"{name}.flac"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        self._file = sf.SoundFile(self.path, "w", self.sr_hz, 2, "PCM_16", format="FLAC")
        held = np.concatenate(list(self._preroll)) if self._preroll else np.zeros((0, 2), np.float32)
        first = self._position - len(held)
        skip = max(0, round(start_s * self.sr_hz) - first)
        self._file.write(held[skip:])
        self._preroll.clear()
        self._preroll_frames = 0
        logger.info("recording the call to %s", self.path)
        return self.path

    def end(self) -> Path | None:
        """Close the current call's file; returns its path."""
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        path, self.path = self.path, None
        return path
