"""The call pipeline: audio blocks in, feature frames and coaching events out.

Offline analysis drives this class block by block over a whole recording;
live monitoring drives the same feature extractor and call sessions from
its engine thread. Either way a recording yields the same events.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.baseline import Baseline
from models.call_session import CallSession
from models.events import EventUpdate
from models.frames import HOP_S, FeatureFrame
from models.settings import RuleSettings
from monitor.features import CallFeatureExtractor, FilteredBlocks


@dataclass(frozen=True)
class PipelineStep:
    """What one block produced.

    Attributes
    ----------
    frames : list of FeatureFrame
        Frames completed by the block.
    updates : list of EventUpdate
        Events opened or closed by those frames.
    """

    frames: list[FeatureFrame]
    updates: list[EventUpdate]


class CallPipeline:
    """Features and one call session over a whole stream.

    Parameters
    ----------
    agent_sr_hz : int
        Sample rate of the agent's audio in Hz.
    customer_sr_hz : int or None
        Sample rate of the customer's audio in Hz; None for mic-only mode.
    settings : RuleSettings, optional
        Thresholds of the coaching rules.
    profile : Baseline, optional
        A saved baseline; without one the agent is calibrated from the call itself.
    record_frames : bool
        Keep every frame (for reports).
    """

    def __init__(self, agent_sr_hz: int, customer_sr_hz: int | None,
                 settings: RuleSettings | None = None, profile: Baseline | None = None,
                 record_frames: bool = True) -> None:
        self.extractor = CallFeatureExtractor(agent_sr_hz, customer_sr_hz, HOP_S)
        self.session = CallSession(settings or RuleSettings(), customer_sr_hz is not None,
                                   profile, record_frames)

    @property
    def has_customer(self) -> bool:
        """Whether the customer's side is analysed."""
        return self.extractor.has_customer

    def process(self, agent: np.ndarray, customer: np.ndarray | None = None) -> PipelineStep:
        """Feed one block of each party; see :meth:`CallFeatureExtractor.process`.

        Parameters
        ----------
        agent : np.ndarray, shape (n,), float32
            The agent's samples, of any length, at the agent's rate.
        customer : np.ndarray or None
            The customer's samples over the same span of time, at the customer's
            rate; None in mic-only mode.

        Returns
        -------
        PipelineStep
            The frames completed by this block and the event updates they caused.
        """
        return self._consume(self.extractor.process(agent, customer), final=False)

    def accept(self, filtered: FilteredBlocks) -> PipelineStep:
        """Go on from the signal path's first stage; see :meth:`CallFeatureExtractor.accept`.

        With :meth:`CallFeatureExtractor.filter` run on the next block in
        another thread meanwhile, this gives what :meth:`process` gives.

        Parameters
        ----------
        filtered : FilteredBlocks
            The next block from ``extractor.filter`` or ``extractor.filter_end``.

        Returns
        -------
        PipelineStep
            The frames completed by this block and the event updates they caused.
        """
        return self._consume(self.extractor.accept(filtered), final=False)

    def finish(self) -> PipelineStep:
        """End the stream: flush the signal path and close open episodes."""
        return self._consume(self.extractor.flush(), final=True)

    def _consume(self, frames: list[FeatureFrame], final: bool) -> PipelineStep:
        updates = [update for frame in frames for update in self.session.push(frame)]
        if final:
            updates.extend(self.session.finish())
        return PipelineStep(frames, updates)
