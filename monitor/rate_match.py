"""Bringing a stream to another sample rate, block by block, in step with a master stream."""
from __future__ import annotations

import numpy as np
import soxr


class RateMatcher:
    """Resamples a stream so each block matches a block of the master stream.

    Parameters
    ----------
    from_sr_hz : int
        Rate of the stream to convert, Hz.
    to_sr_hz : int
        Rate of the master stream, Hz.
    """

    def __init__(self, from_sr_hz: int, to_sr_hz: int) -> None:
        self._resampler = (soxr.ResampleStream(from_sr_hz, to_sr_hz, 1, dtype="float32")
                           if from_sr_hz != to_sr_hz else None)
        self._pending = np.zeros(0, np.float32)

    def match(self, block: np.ndarray, n_out: int) -> np.ndarray:
        """Convert ``block`` and return exactly ``n_out`` samples at the master rate.

        The resampler's start-up delay shows as a few leading zeros on the first
        blocks; after that, output follows input sample for sample.
        """
        if self._resampler is not None:
            block = self._resampler.resample_chunk(np.asarray(block, np.float32))
        self._pending = np.concatenate([self._pending, np.asarray(block, np.float32)])
        out = self._pending[:n_out]
        self._pending = self._pending[n_out:]
        if out.size < n_out:
            out = np.concatenate([np.zeros(n_out - out.size, np.float32), out])
        return out
