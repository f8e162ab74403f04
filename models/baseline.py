"""The agent's baseline: their normal loudness and pace.

Raised voice and fast speech are judged against the agent's own normal level,
not against a fixed number, because microphones, headsets and voices differ by
far more than the 6 LU a raised voice adds.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from statistics import median
from typing import Literal

from models.frames import HOP_S, PartyFrame
from models.settings import RuleSettings

BaselineSource = Literal["calibrated", "profile"]

_SHIFT_CHECK_S = 5.0
"""How often, in seconds of agent speech, a change of microphone level is looked for."""


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
        ``'calibrated'`` if measured on this call's speech (including when it
        was learnt again after a change of microphone level), ``'profile'`` if
        loaded from a saved profile (and possibly adapted since).
    """

    loudness_lufs: float
    rate_sps: float | None
    calibrated: bool
    source: BaselineSource


@dataclass(frozen=True, slots=True)
class LevelShift:
    """A change of the agent's microphone level, and the baseline learnt again after it.

    Attributes
    ----------
    t_s : float
        Stream time of the hop that revealed it, in seconds.
    shift_lu : float
        How far the agent's typical loudness moved, in LU (positive: louder).
    baseline_lufs : float
        The loudness baseline learnt again, in LUFS.
    """

    t_s: float
    shift_lu: float
    baseline_lufs: float


class LevelWatch:
    """The agent's recent speech loudness, watched for a change of microphone level.

    It outlives a call: live monitoring hands the same watch to every call, so
    that calls shorter than the window still add up to it.

    Parameters
    ----------
    settings : RuleSettings
        ``baseline_shift_lu``, ``baseline_shift_window_s`` and ``baseline_shift_share``.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._settings = settings
        self._recent_lufs: deque[float] = deque(maxlen=_hops(settings.baseline_shift_window_s))
        self._check_every = _hops(_SHIFT_CHECK_S)
        self._speech_hops = 0

    def push(self, lufs: float, baseline_lufs: float | None) -> float | None:
        """Add one speech hop's momentary loudness and compare the window with the baseline.

        Parameters
        ----------
        lufs : float
            The hop's momentary loudness in LUFS (raised hops included).
        baseline_lufs : float or None
            The calibrated loudness baseline in LUFS; None while calibrating.

        Returns
        -------
        float or None
            The window's median loudness in LUFS when the level has shifted
            (the window then starts afresh); otherwise None.
        """
        recent = self._recent_lufs
        recent.append(lufs)
        self._speech_hops += 1
        # Looking every few seconds of speech is plenty for a change that takes
        # over a minute to show, and costs next to nothing.
        if (baseline_lufs is None or len(recent) < recent.maxlen
                or self._speech_hops % self._check_every):
            return None
        off = self._settings.baseline_shift_lu
        needed = self._settings.baseline_shift_share * len(recent)
        if (sum(v >= baseline_lufs + off for v in recent) < needed
                and sum(v <= baseline_lufs - off for v in recent) < needed):
            return None
        typical_lufs = median(recent)
        recent.clear()
        return typical_lufs


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

    Neither mechanism follows a change of the microphone's level (another
    headset, a boom moved closer, the system's input volume): after +8 dB of
    gain every hop reads as raised, so adaptation ignores all of them and the
    agent is told to lower their voice for the rest of the shift. So the last
    ``baseline_shift_window_s`` of speech, raised hops included, is watched:
    when a share of at least ``baseline_shift_share`` of its hops sits
    ``baseline_shift_lu`` or more above the baseline (or as far below it), the
    level has shifted, and the baseline is learnt again as the window's
    median. A raised voice comes in episodes: by default it would have to fill
    over a minute of the last 90 s of the agent's speech to look like a level
    change.

    Parameters
    ----------
    settings : RuleSettings
        Calibration and adaptation settings.
    profile : Baseline, optional
        A saved baseline to start from. Its loudness is used at once; if its
        ``rate_sps`` is None the rate is calibrated from this call.
    level_watch : LevelWatch, optional
        The watch for a change of microphone level, when it is shared with
        earlier calls; a fresh one otherwise.

    Raises
    ------
    ValueError
        If ``profile`` is not calibrated or its loudness is not finite.
    """

    def __init__(self, settings: RuleSettings, profile: Baseline | None = None,
                 level_watch: LevelWatch | None = None) -> None:
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
        self._level_watch = level_watch or LevelWatch(settings)
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

    def push(self, agent: PartyFrame, raised: bool) -> float | None:
        """Learn from one hop of the agent's features.

        Parameters
        ----------
        agent : PartyFrame
            The agent's features for the hop.
        raised : bool
            Whether the rules count this hop as part of a raised-voice episode;
            such hops only count towards noticing a change of microphone level.

        Returns
        -------
        float or None
            The change of microphone level in LU when this hop revealed one
            (the loudness baseline has just been learnt again); otherwise None.
        """
        if not agent.speech:
            return None
        shift_lu = None
        if agent.momentary_lufs is not None:
            shift_lu = self._watch_level(agent.momentary_lufs)
        if raised or shift_lu is not None:
            return shift_lu
        if agent.momentary_lufs is not None:
            self._push_loudness(agent.momentary_lufs)
        if agent.rate_sps is not None:
            self._push_rate(agent.rate_sps)
        return None

    def _watch_level(self, lufs: float) -> float | None:
        typical_lufs = self._level_watch.push(lufs, self._loudness_lufs if self._calibrated else None)
        if typical_lufs is None:
            return None
        shift_lu = typical_lufs - self._loudness_lufs
        self._loudness_lufs = typical_lufs
        self._source = "calibrated"
        self._loudness_samples.clear()
        return shift_lu

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


def level_shift_text(shift_lu: float) -> str:
    """What to tell the agent after a change of microphone level.

    Parameters
    ----------
    shift_lu : float
        The change in LU (positive: louder).

    Returns
    -------
    str
        One or two sentences for the status line or a report.
    """
    direction = "louder" if shift_lu > 0 else "quieter"
    return (f"Your microphone is {abs(shift_lu):.0f} dB {direction} than before: your normal "
            "level was learnt again. New headset? Calibrate your voice again.")


def _hops(duration_s: float) -> int:
    return max(1, round(duration_s / HOP_S))

