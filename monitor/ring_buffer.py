"""A preallocated lock-free ring buffer between an audio callback and one consumer.

Thread-safety without locks
---------------------------
There is exactly one producer (the audio callback, or a replay thread) and
exactly one consumer (the engine thread). Each side owns one counter:

* ``_frames_stored`` (total frames ever written) is assigned only by the producer,
* ``_frames_read`` (total frames ever read) is assigned only by the consumer.

Both are Python ints that only grow; rebinding an attribute is atomic under
CPython's GIL, and the GIL hand-over orders memory, so each side sees either
the old or the new value of the other side's counter, never a torn one.
A stale value is always on the safe side: the producer may see too *little*
free space (and drop a block it could have kept), the consumer may see too
*little* data (and read it on its next call). The producer publishes its
counter only after the sample copy is complete, and the consumer only after it
has copied the samples out, so neither side ever touches a region the other
side is still using. This argument relies on the GIL; it is not made for
free-threaded CPython builds.

Overflow policy: drop the newest
--------------------------------
When the consumer falls behind and the ring is full, the frames that do not fit
are discarded and counted (:attr:`RingBuffer.frames_dropped`). Dropping the
newest means the producer never moves the consumer's read position, which is
what keeps the buffer lock-free (dropping the oldest would need both sides to
write the read index). Stored frames stay contiguous on the
:attr:`RingBuffer.frames_stored` clock; a drop leaves a hole in real time that
the consumer learns about from the counter, not a jump inside the data.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt


class RingBuffer:
    """Fixed-size multichannel sample FIFO for one producer and one consumer.

    Parameters
    ----------
    capacity_frames : int
        Number of frames (samples per channel) the ring holds. Allocated once here.
    channels : int
        Channels per frame.
    dtype : numpy dtype
        Sample type; float32 for audio.

    Notes
    -----
    :meth:`write` is meant to be called from a real-time audio callback: it
    does not block, lock, log or allocate sample memory. It creates a handful
    of small slice-view objects per call, which CPython cannot avoid.
    """

    def __init__(self, capacity_frames: int, channels: int = 1,
                 dtype: npt.DTypeLike = np.float32) -> None:
        if capacity_frames < 1:
            raise ValueError(f"capacity_frames must be at least 1, got {capacity_frames}")
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self._buffer = np.zeros((capacity_frames, channels), dtype=dtype)
        self._capacity_frames = capacity_frames
        self._frames_stored = 0
        self._frames_read = 0
        self._frames_dropped = 0
        self._overflow_count = 0

    @property
    def capacity_frames(self) -> int:
        """Frames the ring can hold."""
        return self._capacity_frames

    @property
    def channels(self) -> int:
        """Channels per frame."""
        return self._buffer.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """Sample type."""
        return self._buffer.dtype

    @property
    def frames_stored(self) -> int:
        """Total frames ever accepted by :meth:`write`: the ring's sample clock.

        The frame that will be returned next by :meth:`read` has index
        :attr:`frames_read` on this clock.
        """
        return self._frames_stored

    @property
    def frames_read(self) -> int:
        """Total frames ever returned by :meth:`read`."""
        return self._frames_read

    @property
    def frames_dropped(self) -> int:
        """Total frames discarded because the ring was full."""
        return self._frames_dropped

    @property
    def overflow_count(self) -> int:
        """Number of :meth:`write` calls that had to discard frames."""
        return self._overflow_count

    def read_available(self) -> int:
        """Frames the consumer can read now."""
        return self._frames_stored - self._frames_read

    def write_available(self) -> int:
        """Frames the producer can write now without dropping any."""
        return self._capacity_frames - (self._frames_stored - self._frames_read)

    def write(self, block: np.ndarray) -> int:
        """Copy a block of frames in; producer side only.

        Parameters
        ----------
        block : numpy.ndarray, shape (n_frames, channels)
            Frames to store. May be a strided view (e.g. one channel of a
            wider callback buffer).

        Returns
        -------
        int
            Frames stored. The remaining ``n_frames - stored`` frames (the
            newest ones) were dropped and counted.
        """
        n_frames = block.shape[0]
        free = self._capacity_frames - (self._frames_stored - self._frames_read)
        stored = n_frames if n_frames <= free else free
        if stored < n_frames:
            self._frames_dropped += n_frames - stored
            self._overflow_count += 1
        if stored:
            start = self._frames_stored % self._capacity_frames
            first = min(stored, self._capacity_frames - start)
            self._buffer[start:start + first] = block[:first]
            if first < stored:
                self._buffer[:stored - first] = block[first:stored]
            # Publish only after the copy so the consumer never reads half a block.
            self._frames_stored += stored
        return stored

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """Take the oldest unread frames out; consumer side only.

        Parameters
        ----------
        max_frames : int or None
            Upper bound on frames returned; None takes everything available.

        Returns
        -------
        numpy.ndarray, shape (n_frames, channels)
            A fresh copy (possibly empty) that the caller owns.
        """
        available = self._frames_stored - self._frames_read
        n_frames = available if max_frames is None else max(0, min(available, max_frames))
        out = np.empty((n_frames, self.channels), dtype=self._buffer.dtype)
        if n_frames:
            start = self._frames_read % self._capacity_frames
            first = min(n_frames, self._capacity_frames - start)
            out[:first] = self._buffer[start:start + first]
            if first < n_frames:
                out[first:] = self._buffer[:n_frames - first]
            # Release the space only after copying it out.
            self._frames_read += n_frames
        return out
