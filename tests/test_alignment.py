"""Aligning two capture streams: jitter, drift, silent loopback, lost devices."""
from __future__ import annotations

import numpy as np

from monitor.alignment import StreamAligner


def ramp(start: int, n: int) -> np.ndarray:
    """Samples whose values are their own sample index, to check alignment exactly."""
    return np.arange(start, start + n, dtype=np.float32)


def test_equal_rates_in_lockstep_pass_straight_through() -> None:
    al = StreamAligner(16000, 16000)
    al.push_agent(ramp(0, 1600))
    al.push_customer(ramp(0, 1600))
    a, c = al.pull(0.0)
    assert np.array_equal(a, c) and a.size == 1600


def test_late_customer_is_waited_for_then_the_blocks_line_up() -> None:
    al = StreamAligner(16000, 16000, max_wait_s=0.15)
    al.push_agent(ramp(0, 800))
    al.push_customer(ramp(0, 320))
    a, c = al.pull(0.0)
    assert a.size == c.size == 320  # only the covered span is handed on
    al.push_customer(ramp(320, 480))
    a, c = al.pull(0.05)
    assert np.array_equal(a, ramp(320, 480)) and np.array_equal(c, ramp(320, 480))


def test_silent_loopback_is_filled_after_the_wait() -> None:
    al = StreamAligner(16000, 16000, max_wait_s=0.15)
    al.push_agent(ramp(0, 1600))  # 100 ms: still within the wait
    a, c = al.pull(0.0)
    assert a.size == 0
    al.push_agent(ramp(1600, 1600))  # 200 ms uncovered: past the wait
    a, c = al.pull(0.2)
    assert a.size == c.size == 3200 and not c.any()
    assert al.counters.customer_filled_s == 0.2


def test_different_rates_cover_the_same_span() -> None:
    al = StreamAligner(48000, 8000)
    total_a = total_c = 0
    rng = np.random.default_rng(0)
    for _ in range(200):
        na = int(rng.integers(100, 2000))
        al.push_agent(np.zeros(na, np.float32))
        al.push_customer(np.zeros(na // 6 + int(rng.integers(0, 2)), np.float32))
        a, c = al.pull(0.0)
        total_a += a.size
        total_c += c.size
    assert abs(total_a / 48000 - total_c / 8000) < 0.001


def test_fast_customer_clock_is_trimmed_so_latency_stays_bounded() -> None:
    al = StreamAligner(16000, 16000, max_backlog_s=0.3)
    for _ in range(600):  # 60 s, the customer clock 1% fast
        al.push_agent(np.zeros(1600, np.float32))
        al.push_customer(np.zeros(1616, np.float32))
        a, c = al.pull(0.0)
        assert a.size == c.size
    assert 0.3 <= al.counters.customer_dropped_s <= 0.7


def test_lost_agent_hands_over_to_the_wall_clock() -> None:
    al = StreamAligner(16000, 16000)
    al.agent_lost(now_s=10.0)
    al.push_customer(ramp(0, 16000))
    a, c = al.pull(now_s=11.0)
    assert a.size == 16000 and not a.any() and np.array_equal(c, ramp(0, 16000))
    assert al.counters.agent_filled_s == 1.0
    al.agent_restored()
    al.push_agent(ramp(0, 160))
    al.push_customer(ramp(16000, 160))
    a, c = al.pull(now_s=11.01)
    assert a.size == c.size == 160


def test_lost_customer_is_filled_without_waiting() -> None:
    al = StreamAligner(16000, 16000)
    al.customer_lost()
    al.push_agent(ramp(0, 160))
    a, c = al.pull(0.0)
    assert a.size == c.size == 160 and not c.any()


def test_mic_only_passes_the_agent_through() -> None:
    al = StreamAligner(16000, None)
    al.push_agent(ramp(0, 100))
    a, c = al.pull(0.0)
    assert c is None and a.size == 100
