"""RingBuffer: wrap-around, overflow policy, sample clock, producer/consumer threads."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from monitor.ring_buffer import RingBuffer


def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """Frames whose values are their own indexes (channel c adds c * 0.5)."""
    base = np.arange(start, start + n, dtype=np.float64)[:, None]
    return (base + 0.5 * np.arange(channels)[None, :]).astype(np.float32)


def test_write_then_read_returns_the_same_frames() -> None:
    ring = RingBuffer(16, channels=2)
    assert ring.write(frames(0, 5, 2)) == 5
    assert ring.read_available() == 5
    out = ring.read()
    np.testing.assert_array_equal(out, frames(0, 5, 2))
    assert ring.read_available() == 0
    assert ring.read().shape == (0, 2)


def test_wrap_around_keeps_order() -> None:
    ring = RingBuffer(10)
    ring.write(frames(0, 7))
    np.testing.assert_array_equal(ring.read(5), frames(0, 5))
    # Fills positions 7..9 then 0..4: a write split in two.
    assert ring.write(frames(7, 8)) == 8
    np.testing.assert_array_equal(ring.read(), frames(5, 10))
    assert ring.frames_dropped == 0


def test_read_is_a_copy_not_a_view_of_the_ring() -> None:
    ring = RingBuffer(4)
    ring.write(frames(0, 4))
    out = ring.read()
    ring.write(frames(100, 4))
    np.testing.assert_array_equal(out, frames(0, 4))


def test_overflow_drops_the_newest_frames_and_counts_them() -> None:
    ring = RingBuffer(8)
    assert ring.write(frames(0, 6)) == 6
    assert ring.write(frames(6, 5)) == 2
    assert ring.frames_dropped == 3
    assert ring.overflow_count == 1
    assert ring.write(frames(11, 4)) == 0
    assert ring.frames_dropped == 7
    assert ring.overflow_count == 2
    # The oldest data survive untouched and in order.
    np.testing.assert_array_equal(ring.read(), frames(0, 8))


def test_sample_clock_counts_stored_and_read_frames() -> None:
    ring = RingBuffer(8)
    ring.write(frames(0, 5))
    ring.read(3)
    ring.write(frames(5, 9))  # 6 free: 6 stored, 3 dropped
    assert (ring.frames_stored, ring.frames_read, ring.frames_dropped) == (11, 3, 3)
    ring.read()
    assert ring.frames_read == ring.frames_stored == 11


def test_strided_one_channel_view_is_accepted() -> None:
    ring = RingBuffer(8)
    wide = frames(0, 6, channels=3)
    ring.write(wide[:, 1:2])
    np.testing.assert_array_equal(ring.read(), wide[:, 1:2])


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        RingBuffer(0)
    with pytest.raises(ValueError):
        RingBuffer(8, channels=0)


def test_concurrent_producer_and_consumer_keep_every_frame_in_order() -> None:
    """A producer thread that never overruns sends 400k frames through a 1000-frame ring."""
    ring = RingBuffer(1000, channels=2)
    total_frames = 400_000
    received: list[np.ndarray] = []
    failure: list[BaseException] = []

    def produce() -> None:
        sent = 0
        rng = np.random.default_rng(1)
        while sent < total_frames:
            n = int(min(rng.integers(1, 300), total_frames - sent))
            while ring.write_available() < n:
                time.sleep(0)  # yield the GIL so the consumer can free space
            assert ring.write(frames(sent, n, 2)) == n
            sent += n

    def consume() -> None:
        got = 0
        rng = np.random.default_rng(2)
        try:
            while got < total_frames:
                block = ring.read(int(rng.integers(1, 500)))
                if not len(block):
                    time.sleep(0)
                received.append(block)
                got += len(block)
        except BaseException as exc:  # surfaced in the main thread below
            failure.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not failure
    data = np.concatenate(received)
    # float32 holds these integers exactly (< 2**24).
    np.testing.assert_array_equal(data, frames(0, total_frames, 2))
    assert ring.frames_dropped == 0


def test_concurrent_overrun_loses_only_whole_newest_runs() -> None:
    """With a slow consumer, what arrives is still in order; only drops make gaps."""
    ring = RingBuffer(500)
    total_frames = 200_000
    received: list[np.ndarray] = []
    done = threading.Event()

    def produce() -> None:
        for start in range(0, total_frames, 100):
            ring.write(frames(start, 100))
        done.set()

    def consume() -> None:
        while not done.is_set() or ring.read_available():
            received.append(ring.read(37))

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    data = np.concatenate(received)[:, 0]
    assert len(data) + ring.frames_dropped == total_frames
    assert ring.frames_stored == len(data)
    assert np.all(np.diff(data) >= 1)
