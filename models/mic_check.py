"""Noticing that the agent's microphone does not pick the agent up.

A muted headset, the wrong input chosen, or a microphone far quieter than the
one calibrated on all look the same from the features: the customer talks and
the agent never does. Nothing else would tell the agent that CalmLine has
stopped coaching them, so after ``NOT_HEARD_AFTER_S`` of customer speech with
no agent speech at all the monitor says so, and takes it back as soon as the
agent is heard.
"""
from __future__ import annotations

from typing import Literal

from models.frames import HOP_S, FeatureFrame

NOT_HEARD_AFTER_S = 30.0
"""Customer speech, in seconds, with no agent speech before the agent is told they are not heard.

Long enough that a customer explaining their problem while the agent listens
in silence rarely reaches it (agents say "mm-hmm" now and then, and that counts).
"""

NOT_HEARD_TEXT = ("Not hearing you: is your microphone muted, or not the one in Settings? "
                  "After a headset change, calibrate your voice again.")
"""The status line for it; the part before the colon is the thin strip's headline."""

MicChange = Literal["not_heard", "heard"]


class AgentHeardCheck:
    """Counts customer speech since the agent was last heard, one hop at a time.

    Parameters
    ----------
    not_heard_after_s : float
        Customer speech, in seconds, without agent speech that makes the agent "not heard".
    hop_s : float
        Frame hop in seconds.
    """

    def __init__(self, not_heard_after_s: float = NOT_HEARD_AFTER_S, hop_s: float = HOP_S) -> None:
        self._limit_hops = max(1, round(not_heard_after_s / hop_s))
        self._customer_hops = 0
        self._not_heard = False

    def push(self, frame: FeatureFrame) -> MicChange | None:
        """Take one hop; return ``"not_heard"`` or ``"heard"`` when that changes, else None.

        Frames without the customer's side (mic-only mode) never make the
        agent "not heard": there is nothing to compare with.
        """
        if frame.agent.speech:
            self._customer_hops = 0
            if self._not_heard:
                self._not_heard = False
                return "heard"
        elif frame.customer is not None and frame.customer.speech:
            self._customer_hops += 1
            if not self._not_heard and self._customer_hops >= self._limit_hops:
                self._not_heard = True
                return "not_heard"
        return None
