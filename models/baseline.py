"""The agent's baseline: their normal loudness and pace.

Raised voice and fast speech are judged against the agent's own normal level,
not against a fixed number, because microphones, headsets and voices differ by
far more than the 6 LU a raised voice adds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Literal

from models.frames import HOP_S, PartyFrame
from models.settings import RuleSettings

BaselineSource = Literal["calibrated", "profile"]


@dataclass(frozen=True, slots=True)
class Baseline:
    """The agent's normal speaking level.

    Attributes
    ----------
    loudness_lufs : float
        Median momentary loudness of the agent's speech, in LUFS; NaN until
        the agent has spoken (so a report can always carry a baseline).
    rate_sps : float or None
        Median speech rate in syllables per second; None until enough speech
        with a rate estimate has been heard.
    calibrated : bool
        Whether the loudness has been learnt from the full calibration period
        (or comes from a profile). While False, ``loudness_lufs`` is the
        median of the speech heard so far, for display only.
    source : {'calibrated', 'profile'}
        ``'calibrated'`` if measured on this call's speech, ``'profile'`` if
        loaded from a saved profile (and possibly adapted since).
    """

    loudness_lufs: float
    rate_sps: float | None
    calibrated: bool
    source: BaselineSource


class BaselineTracker:
    """Learns and slowly adapts the agent's baseline, one hop at a time.

    Without a profile, the loudness baseline is the median momentary loudness
    of the first ``baseline_calibration_s`` of agent speech hops, and the rate
    baseline the median rate of the first ``baseline_calibration_s`` of speech
    hops that carry a rate (the rate estimate appears later than loudness, so
    the two finish calibrating at different times).

    Afterwards, every ``baseline_adapt_block_s`` of speech, the baseline moves
    ``baseline_adapt_fraction`` of the way to the block's median, by at most
    ``baseline_max_step_lu`` / ``baseline_max_step_sps``. Hops the rules flag
    as part of a raised-voice episode are ignored altogether; the clamp bounds
    what slips through (the build-up to an episode, say).

    Parameters
    ----------
    settings : RuleSettings
        Calibration and adaptation settings.
    profile : Baseline, optional
        A saved baseline to start from. Its loudness is used at once; if its
        ``rate_sps`` is None the rate is calibrated from this call.

    Raises
    ------
    ValueError
        If ``profile`` is not calibrated or its loudness is not finite.
    """

    def __init__(self, settings: RuleSettings, profile: Baseline | None = None) -> None:
        if profile is not None and not (profile.calibrated
                                        and math.isfinite(profile.loudness_lufs)):
            raise ValueError("a baseline profile must be calibrated, with a finite loudness")
        self._settings = settings
        self._calibration_hops = _hops(settings.baseline_calibration_s)
        self._block_hops = _hops(settings.baseline_adapt_block_s)
        self._loudness_samples: list[float] = []
        self._rate_samples: list[float] = []
        self._loudness_lufs = math.nan
        self._rate_sps = math.nan
        self._calibrated = False
        self._source: BaselineSource = "calibrated"
        self._rate_calibrated = False
        if profile is not None:
            self._loudness_lufs = profile.loudness_lufs
            self._calibrated = True
            if profile.rate_sps is not None:
                self._rate_sps, self._rate_calibrated = profile.rate_sps, True
            self._source = "profile"

    @property
    def baseline(self) -> Baseline:
        """The current baseline; uncalibrated with NaN loudness before any agent speech."""
        return Baseline(self._loudness_lufs, self._rate_sps if self._rate_calibrated else None,
                        self._calibrated, self._source)

    def push(self, agent: PartyFrame, raised: bool) -> None:
        """Learn from one hop of the agent's features.

        Parameters
        ----------
        agent : PartyFrame
            The agent's features for the hop.
        raised : bool
            Whether the rules count this hop as part of a raised-voice episode;
            such hops are ignored.
        """
        if raised or not agent.speech:
            return
        if agent.momentary_lufs is not None:
            self._push_loudness(agent.momentary_lufs)
        if agent.rate_sps is not None:
            self._push_rate(agent.rate_sps)

    def _push_loudness(self, lufs: float) -> None:
        self._loudness_samples.append(lufs)
        if not self._calibrated:
            self._loudness_lufs = median(self._loudness_samples)
            if len(self._loudness_samples) >= self._calibration_hops:
                self._calibrated = True
                self._loudness_samples.clear()
        elif len(self._loudness_samples) >= self._block_hops:
            self._loudness_lufs = self._step(self._loudness_lufs, median(self._loudness_samples),
                                             self._settings.baseline_max_step_lu)
            self._loudness_samples.clear()

    def _push_rate(self, rate_sps: float) -> None:
        self._rate_samples.append(rate_sps)
        if not self._rate_calibrated:
            if len(self._rate_samples) >= self._calibration_hops:
                self._rate_sps = median(self._rate_samples)
                self._rate_calibrated = True
                self._rate_samples.clear()
        elif len(self._rate_samples) >= self._block_hops:
            self._rate_sps = self._step(self._rate_sps, median(self._rate_samples),
                                        self._settings.baseline_max_step_sps)
            self._rate_samples.clear()

    def _step(self, current: float, recent: float, max_step: float) -> float:
        step = self._settings.baseline_adapt_fraction * (recent - current)
        return current + max(-max_step, min(max_step, step))


def _hops(duration_s: float) -> int:
    return max(1, round(duration_s / HOP_S))

