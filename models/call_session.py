"""One call's rules, running summary and (optionally) its frames.

The signal path runs continuously; a call session lives from a call's start
to its end. Offline analysis treats a whole recording as one session, live
monitoring opens one per call, and both feed it the same frames.
"""
from __future__ import annotations

from models.baseline import Baseline, LevelShift, LevelWatch
from models.events import Event, EventUpdate
from models.frames import HOP_S, FeatureFrame
from models.report import FrameTable
from models.rules import CallRules
from models.settings import RuleSettings
from models.summary import CallSummary, SummaryAccumulator


class CallSession:
    """Rules, summary and frame record of one call.

    Parameters
    ----------
    settings : RuleSettings
        Thresholds of the coaching rules.
    customer_present : bool
        Whether frames carry the customer's side.
    profile : Baseline, optional
        The agent's baseline from earlier calls or a saved profile.
    record_frames : bool
        Keep every frame in :attr:`frames` (reports and review need them; live
        monitoring of a whole shift does not).
    hop_s : float
        Frame hop in seconds.
    level_watch : LevelWatch, optional
        The watch for a change of the agent's microphone level, shared with
        earlier calls; a fresh one otherwise.
    """

    def __init__(self, settings: RuleSettings, customer_present: bool,
                 profile: Baseline | None = None, record_frames: bool = True,
                 hop_s: float = HOP_S, level_watch: LevelWatch | None = None) -> None:
        self.rules = CallRules(settings, profile, customer_present=customer_present,
                               level_watch=level_watch)
        self.summary = SummaryAccumulator(hop_s, customer_present)
        self.frames = FrameTable(hop_s, customer_present) if record_frames else None
        self.calibrated_at_s: float | None = None
        """Stream time of the first hop judged against a calibrated baseline, in seconds;
        None while the agent's voice is still being learnt."""
        self._finished = False

    @property
    def events(self) -> list[Event]:
        """Closed events so far, in start order."""
        return self.rules.events

    @property
    def baseline(self) -> Baseline:
        """The agent's baseline as it stands."""
        return self.rules.baseline

    @property
    def level_shifts(self) -> list[LevelShift]:
        """Changes of the agent's microphone level noticed so far, in order."""
        return self.rules.level_shifts

    def push(self, frame: FeatureFrame) -> list[EventUpdate]:
        """Feed the next frame; return the events it opened or closed."""
        updates = self.rules.push(frame)
        if self.calibrated_at_s is None and self.rules.baseline.calibrated:
            self.calibrated_at_s = frame.t_s
        self.summary.push(frame)
        if self.frames is not None:
            self.frames.append(frame)
        return updates

    def finish(self) -> list[EventUpdate]:
        """End the call: close open episodes (idempotent)."""
        if self._finished:
            return []
        self._finished = True
        return self.rules.finish()

    def result(self, duration_s: float | None = None) -> CallSummary:
        """The call summary so far.

        Parameters
        ----------
        duration_s : float, optional
            The call's length in seconds, if not the span of the frames pushed.
        """
        return self.summary.result(self.rules.events, duration_s)
