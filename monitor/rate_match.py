"""Bringing a second stream to a master stream's sample rate and pairing the two in time."""
from __future__ import annotations

import numpy as np
import soxr


class RateMatcher:
    """Resamples a stream to the master's rate and pairs it with the master, sample for sample.

    Parameters
    ----------
    from_sr_hz : int
        Rate of the stream to convert, Hz.
    to_sr_hz : int
        Rate of the master stream, Hz.

    Notes
    -----
    Pair ``i`` holds master sample ``i`` and the converted stream at the same
    instant, ``i / to_sr_hz``. The resampler releases its output in bursts and
    only once it has seen enough input (up to about 0.1 s at 8 kHz), so master
    samples wait in this object until their partners arrive: pairs come out
    late, never shifted. Each block given to :meth:`push` must cover the same
    span of time for both streams.
    """

    def __init__(self, from_sr_hz: int, to_sr_hz: int) -> None:
        self._from_sr_hz = int(from_sr_hz)
        self._to_sr_hz = int(to_sr_hz)
        self._resampler = (soxr.ResampleStream(from_sr_hz, to_sr_hz, 1, dtype="float32")
                           if from_sr_hz != to_sr_hz else None)
        self._master = np.zeros(0, np.float32)
        self._other = np.zeros(0, np.float32)
        self._master_in = 0  # master samples received, for the length of a missing block
        self._other_in = 0

    def push(self, master: np.ndarray, other: np.ndarray | None) -> np.ndarray:
        """Add the next blocks of both streams and return the pairs now complete.

        Parameters
        ----------
        master : np.ndarray, shape (n,)
            Next master samples, at ``to_sr_hz``.
        other : np.ndarray, shape (m,), or None
            The other stream over the same span, at ``from_sr_hz``; None is silence.

        Returns
        -------
        np.ndarray, shape (k, 2), float32
            Master in column 0 and the converted stream in column 1, continuing
            where the previous call's pairs ended. ``k`` may be shorter or longer
            than ``n`` while the resampler fills and releases its output.
        """
        master = np.asarray(master, np.float32).reshape(-1)
        self._master_in += master.size
        if other is None:
            due = round(self._master_in * self._from_sr_hz / self._to_sr_hz) - self._other_in
            other = np.zeros(max(0, due), np.float32)
        other = np.asarray(other, np.float32).reshape(-1)
        self._other_in += other.size
        if self._resampler is not None:
            other = self._resampler.resample_chunk(other)
        self._master = np.concatenate([self._master, master])
        self._other = np.concatenate([self._other, other])
        return self._take(min(self._master.size, self._other.size))

    def flush(self) -> np.ndarray:
        """End both streams: pair every master sample still waiting.

        Returns
        -------
        np.ndarray, shape (k, 2), float32
            The remaining pairs; the converted stream is zero where it ran short.
        """
        if self._resampler is not None:
            self._other = np.concatenate([self._other,
                                          self._resampler.resample_chunk(np.zeros(0, np.float32),
                                                                         last=True)])
        short = self._master.size - self._other.size
        if short > 0:
            self._other = np.concatenate([self._other, np.zeros(short, np.float32)])
        return self._take(self._master.size)

    def _take(self, n: int) -> np.ndarray:
        pairs = np.stack([self._master[:n], self._other[:n]], axis=1)
        self._master = self._master[n:]
        self._other = self._other[n:]
        return pairs
