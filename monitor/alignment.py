"""Keeping two capture streams on one timeline.

Two devices run on two clocks: they start at different moments, deliver in
bursts of different sizes, and drift apart by a few parts per thousand over
a shift. A loopback capture may deliver nothing at all while nothing plays
(WASAPI loopback is silent then), and either device may vanish. The aligner
turns whatever arrived into blocks that cover the same span of time for
both parties:

* The agent's stream is the master clock while it delivers; the customer's
  samples are taken to match it, at the customer's own rate.
* When the customer is late, the aligner waits up to ``max_wait_s`` for it,
  then fills the gap with silence (a silent loopback or a lost device).
* When the customer runs ahead by more than ``max_backlog_s`` (its clock is
  faster), the oldest surplus is dropped, so drift never builds up latency.
* When the agent's device is lost, wall-clock time takes over as the master,
  so the customer is still analysed and a call can still end.

The aligner is pure bookkeeping over numpy arrays, with the clock passed in,
so it is tested without any device.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AlignmentCounters:
    """What the aligner had to repair, in seconds of audio."""

    customer_filled_s: float = 0.0
    customer_dropped_s: float = 0.0
    agent_filled_s: float = 0.0


class _Pending:
    """Samples received but not yet handed on, as a list of chunks."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.size = 0

    def push(self, samples: np.ndarray) -> None:
        if samples.size:
            self.chunks.append(samples)
            self.size += samples.size

    def take(self, n: int) -> np.ndarray:
        """Up to ``n`` samples from the front."""
        n = min(n, self.size)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        joined = self.chunks[0] if len(self.chunks) == 1 else np.concatenate(self.chunks)
        taken, rest = joined[:n], joined[n:]
        self.chunks = [rest] if rest.size else []
        self.size = rest.size
        return taken

    def drop(self, n: int) -> None:
        self.take(n)


class StreamAligner:
    """Aligns the agent's and the customer's captured samples.

    Parameters
    ----------
    agent_sr_hz : int
        Agent sample rate in Hz.
    customer_sr_hz : int or None
        Customer sample rate in Hz; None in mic-only mode.
    max_wait_s : float
        How long to wait for late customer audio before filling silence, s.
    max_backlog_s : float
        Customer audio held beyond the agent's timeline before the surplus is dropped, s.
    """

    def __init__(self, agent_sr_hz: int, customer_sr_hz: int | None,
                 max_wait_s: float = 0.15, max_backlog_s: float = 0.3) -> None:
        self.agent_sr_hz = agent_sr_hz
        self.customer_sr_hz = customer_sr_hz
        self.max_wait_s = max_wait_s
        self.max_backlog_s = max_backlog_s
        self.counters = AlignmentCounters()
        self._agent = _Pending()
        self._customer = _Pending()
        self._agent_out = 0  # agent samples handed on so far: the shared timeline
        self._customer_out = 0
        self._customer_lost = False
        self._wall_anchor: tuple[float, int] | None = None

    @property
    def timeline_s(self) -> float:
        """Seconds of aligned audio handed on so far."""
        return self._agent_out / self.agent_sr_hz

    def push_agent(self, samples: np.ndarray) -> None:
        """Add captured agent samples.

        Parameters
        ----------
        samples : np.ndarray, shape (n,), float32
            Mono samples at ``agent_sr_hz``, in capture order.
        """
        self._agent.push(samples)

    def push_customer(self, samples: np.ndarray) -> None:
        """Add captured customer samples (ignored in mic-only mode).

        Parameters
        ----------
        samples : np.ndarray, shape (n,), float32
            Mono samples at ``customer_sr_hz``, in capture order.
        """
        if self.customer_sr_hz is not None:
            self._customer.push(samples)

    def agent_lost(self, now_s: float) -> None:
        """The agent's device stopped delivering; wall-clock time becomes the master."""
        if self._wall_anchor is None:
            self._wall_anchor = (now_s, self._agent_out + self._agent.size)

    def agent_restored(self) -> None:
        """The agent's device delivers again; it is the master clock once more."""
        self._wall_anchor = None

    def customer_lost(self) -> None:
        """The customer's device is gone: fill its side with silence without waiting."""
        self._customer_lost = True

    def customer_restored(self) -> None:
        """The customer's device delivers again."""
        self._customer_lost = False

    def pull(self, now_s: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Aligned blocks ready now.

        Parameters
        ----------
        now_s : float
            Monotonic wall-clock time in seconds.

        Returns
        -------
        agent : np.ndarray
            Agent samples (possibly empty).
        customer : np.ndarray or None
            Customer samples over the same span at the customer rate; None in mic-only mode.
        """
        if self._wall_anchor is not None:
            self._fill_agent_from_wall_clock(now_s)
        if self.customer_sr_hz is None:
            agent = self._agent.take(self._agent.size)
            self._agent_out += agent.size
            return agent, None
        covered = self._agent_ready_without_wait()
        late_s = (self._agent.size - covered) / self.agent_sr_hz
        # Hold back the agent until the customer catches up, unless the customer
        # is known to be gone or has been late for longer than we may wait.
        waiting = not self._customer_lost and late_s <= self.max_wait_s
        n_agent = covered if waiting else self._agent.size
        agent = self._agent.take(n_agent)
        self._agent_out += agent.size
        target_customer = self._customer_samples_at(self._agent_out)
        needed = target_customer - self._customer_out
        customer = self._customer.take(needed)
        if customer.size < needed:
            self.counters.customer_filled_s += (needed - customer.size) / self.customer_sr_hz
            customer = np.concatenate([customer, np.zeros(needed - customer.size, np.float32)])
        self._customer_out += customer.size
        surplus = self._customer.size - round(self.max_backlog_s * self.customer_sr_hz)
        if surplus > 0:
            self._customer.drop(surplus)
            self.counters.customer_dropped_s += surplus / self.customer_sr_hz
        return agent, customer

    def _agent_ready_without_wait(self) -> int:
        """Agent samples whose customer counterpart has already arrived."""
        covered = self._agent_samples_at(self._customer_out + self._customer.size) - self._agent_out
        return max(0, min(covered, self._agent.size))

    def _customer_samples_at(self, agent_samples: int) -> int:
        assert self.customer_sr_hz is not None
        return agent_samples * self.customer_sr_hz // self.agent_sr_hz

    def _agent_samples_at(self, customer_samples: int) -> int:
        assert self.customer_sr_hz is not None
        return customer_samples * self.agent_sr_hz // self.customer_sr_hz

    def _fill_agent_from_wall_clock(self, now_s: float) -> None:
        assert self._wall_anchor is not None
        anchor_s, anchor_samples = self._wall_anchor
        due = anchor_samples + round((now_s - anchor_s) * self.agent_sr_hz)
        missing = due - (self._agent_out + self._agent.size)
        if missing > 0:
            self._agent.push(np.zeros(missing, np.float32))
            self.counters.agent_filled_s += missing / self.agent_sr_hz
