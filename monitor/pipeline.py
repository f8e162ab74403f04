"""The call pipeline: audio blocks in, feature frames and coaching events out.

Live monitoring and offline analysis both drive this one class, block by
block, so a recording replayed through the live path yields exactly the
events that ``calmline analyze`` reports for it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.baseline import Baseline
from models.events import EventUpdate
from models.frames import HOP_S, FeatureFrame
from models.report import FrameTable
from models.rules import CallRules
from models.settings import RuleSettings
from models.summary import CallSummary, SummaryAccumulator
from monitor.features import CallFeatureExtractor


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
    """Features, rules and the running summary of one call.

    Parameters
    ----------
    agent_sr_hz : int
        Sample rate of the agent's audio in Hz.
    customer_sr_hz : int or None
        Sample rate of the customer's audio in Hz; None for mic-only mode.
    settings : RuleSettings
        Thresholds of the coaching rules.
    profile : Baseline, optional
        A saved baseline; without one the agent is calibrated from the call itself.
    record_frames : bool
        Keep every frame in :attr:`frames` (for reports); live monitoring turns it off.
    """

    def __init__(self, agent_sr_hz: int, customer_sr_hz: int | None,
                 settings: RuleSettings | None = None, profile: Baseline | None = None,
                 record_frames: bool = True) -> None:
        settings = settings or RuleSettings()
        has_customer = customer_sr_hz is not None
        self.extractor = CallFeatureExtractor(agent_sr_hz, customer_sr_hz, HOP_S)
        self.rules = CallRules(settings, profile, customer_present=has_customer)
        self.summary = SummaryAccumulator(HOP_S, has_customer)
        self.frames = FrameTable(HOP_S, has_customer) if record_frames else None

    @property
    def has_customer(self) -> bool:
        """Whether the customer's side is analysed."""
        return self.extractor.has_customer

    def process(self, agent: np.ndarray, customer: np.ndarray | None = None) -> PipelineStep:
        """Feed one block of each party (same span of time); see :meth:`CallFeatureExtractor.process`."""
        return self._consume(self.extractor.process(agent, customer), final=False)

    def finish(self) -> PipelineStep:
        """End the call: flush the signal path and close open episodes."""
        return self._consume(self.extractor.flush(), final=True)

    def result(self) -> CallSummary:
        """The call summary so far."""
        return self.summary.result(self.rules.events)

    def _consume(self, frames: list[FeatureFrame], final: bool) -> PipelineStep:
        updates: list[EventUpdate] = []
        for frame in frames:
            updates.extend(self.rules.push(frame))
            self.summary.push(frame)
            if self.frames is not None:
                self.frames.append(frame)
        if final:
            updates.extend(self.rules.finish())
        return PipelineStep(frames, updates)
