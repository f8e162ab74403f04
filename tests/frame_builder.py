"""Synthetic feature-frame sequences for the rule tests: no audio, just frames."""
from __future__ import annotations

from collections.abc import Sequence

from models.baseline import Baseline
from models.events import Event, EventKind, EventPhase, EventUpdate
from models.frames import HOP_S, FeatureFrame, PartyFrame
from models.rules import CallRules

BASE_LUFS = -30.0
"""The agent's normal loudness in the synthetic calls."""
BASE_RATE_SPS = 4.0
"""The agent's normal pace in the synthetic calls."""
PROFILE = Baseline(BASE_LUFS, BASE_RATE_SPS, calibrated=True, source="profile")
"""A saved baseline, so that tests need not calibrate first."""

_QUIET_LUFS = -60.0
_CUSTOMER_SPEECH = PartyFrame(-28.0, -28.0, True, 4.0)
_CUSTOMER_SILENT = PartyFrame(_QUIET_LUFS, _QUIET_LUFS, False, None)
_LINE_SOUND = PartyFrame(-30.0, -30.0, False, None, line_sound=True)


class CallBuilder:
    """Appends stretches of hops; each stretch holds one agent and one customer state.

    Parameters
    ----------
    customer : bool
        False builds mic-only frames (``customer=None``).
    """

    def __init__(self, customer: bool = True) -> None:
        self.customer = customer
        self.frames: list[FeatureFrame] = []

    @property
    def t_s(self) -> float:
        """End of the frames built so far, in seconds."""
        return len(self.frames) * HOP_S

    def add(self, seconds: float, agent_lu: float | Sequence[float | None] | None = None,
            rate_sps: float | None = None, customer: bool = False,
            line_sound: bool = False) -> CallBuilder:
        """Append ``seconds`` of hops.

        Parameters
        ----------
        seconds : float
            Length of the stretch.
        agent_lu : float, sequence or None
            Agent loudness in LU over :data:`BASE_LUFS` while speaking; None for
            silence. A sequence is cycled hop by hop (None items are pauses).
        rate_sps : float or None
            The agent's reported speech rate on speech hops.
        customer : bool
            Whether the customer speaks throughout the stretch.
        line_sound : bool
            Whether the customer's line carries music or a tone instead (when
            the customer does not speak).
        """
        levels = agent_lu if isinstance(agent_lu, Sequence) else [agent_lu]
        for i in range(round(seconds / HOP_S)):
            lu = levels[i % len(levels)]
            agent = (PartyFrame(_QUIET_LUFS, _QUIET_LUFS, False, None) if lu is None
                     else PartyFrame(BASE_LUFS + lu, BASE_LUFS + lu, True, rate_sps))
            other = None
            if self.customer:
                other = (_CUSTOMER_SPEECH if customer
                         else _LINE_SOUND if line_sound else _CUSTOMER_SILENT)
            index = len(self.frames)
            self.frames.append(FeatureFrame(index, index * HOP_S, agent, other))
        return self


def run(rules: CallRules, frames: Sequence[FeatureFrame]) -> list[tuple[int | None, EventUpdate]]:
    """Feed every frame, then finish; each update with the frame index that produced it.

    Returns
    -------
    list of (int or None, EventUpdate)
        The index is None for updates from :meth:`CallRules.finish`.
    """
    out: list[tuple[int | None, EventUpdate]] = []
    for frame in frames:
        out.extend((frame.index, u) for u in rules.push(frame))
    out.extend((None, u) for u in rules.finish())
    return out


def closed(updates: Sequence[tuple[int | None, EventUpdate]], kind: EventKind) -> list[Event]:
    """The final events of one kind among ``updates``."""
    return [u.event for _, u in updates if u.phase is EventPhase.CLOSE and u.event.kind is kind]


def opened(updates: Sequence[tuple[int | None, EventUpdate]],
           kind: EventKind) -> list[tuple[int | None, EventUpdate]]:
    """The OPEN updates of one kind, with their frame index."""
    return [(i, u) for i, u in updates if u.phase is EventPhase.OPEN and u.event.kind is kind]
