"""Episode detectors: one small state machine per coaching rule, fed hop by hop.

Times are hop ends unless stated: a hop's features are known once the hop
``[t_s, t_s + HOP_S)`` has been captured, so a condition is confirmed at the
end of the hop that completes it.

Every detector follows the same life cycle. An episode starts on the first
hop that meets the condition (the event's ``start_s``), is confirmed once it
has lasted the rule's minimum duration (one OPEN update whose ``end_s`` is the
confirmation time), and closes when the condition has lapsed for longer than
the rule's tolerance (one CLOSE update with the final event, ``end_s`` = end
of the last hop that met the condition). Episodes that lapse before
confirmation are dropped silently. That, the bridged gaps and the hysteresis
of the raised-voice and fast-speech rules keep cues from flickering.
"""
from __future__ import annotations

from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
from models.frames import HOP_S, PartyFrame
from models.settings import RuleSettings

_EPS_S = 1e-6
"""Tolerance for comparing accumulated hop times with thresholds, in seconds."""


def reached(duration_s: float, threshold_s: float) -> bool:
    """Whether a duration built from hops has reached a threshold.

    Parameters
    ----------
    duration_s, threshold_s : float
        Seconds.

    Returns
    -------
    bool
        ``duration_s >= threshold_s``, up to float rounding.
    """
    # Hop times are sums of 0.1 s steps, which binary floats cannot hold exactly.
    return duration_s >= threshold_s - _EPS_S


def _open(event: Event) -> list[EventUpdate]:
    return [EventUpdate(EventPhase.OPEN, event)]


def _close(event: Event) -> list[EventUpdate]:
    return [EventUpdate(EventPhase.CLOSE, event)]


class RaisedVoiceDetector:
    """Agent loudness well above baseline, sustained.

    An episode starts on an agent speech hop whose momentary loudness is at
    least ``raised_voice_lu`` over the baseline and is confirmed after
    ``raised_voice_min_s``. Until confirmed it needs hops at that level; once
    confirmed, hops at ``raised_voice_release_lu`` keep it going. Pauses and
    dips shorter than ``raised_voice_gap_s`` are bridged.

    Value: the peak momentary loudness (a 400 ms average) in LU over baseline;
    severity graded by that peak against ``raised_voice_lu``, ``loud_lu`` and
    ``shouting_lu``.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._s = settings
        self._start_s: float | None = None
        self._last_loud_end_s = 0.0
        self._peak_lu = 0.0
        self._confirmed = False

    @property
    def active(self) -> bool:
        """Whether an episode, confirmed or not, is under way."""
        return self._start_s is not None

    def push(self, t_s: float, agent: PartyFrame, baseline_lufs: float | None) -> list[EventUpdate]:
        """Judge one hop.

        Parameters
        ----------
        t_s : float
            Start of the hop in seconds.
        agent : PartyFrame
            The agent's features for the hop.
        baseline_lufs : float or None
            The agent's calibrated baseline loudness in LUFS; None disables the rule.

        Returns
        -------
        list of EventUpdate
            An OPEN or CLOSE update, or nothing.
        """
        end_s = t_s + HOP_S
        level_lu = self._s.raised_voice_release_lu if self._confirmed else self._s.raised_voice_lu
        if baseline_lufs is not None and agent.speech and agent.momentary_lufs is not None \
                and agent.momentary_lufs - baseline_lufs >= level_lu:
            excess_lu = agent.momentary_lufs - baseline_lufs
            if self._start_s is None:
                self._start_s, self._peak_lu = t_s, excess_lu
            self._peak_lu = max(self._peak_lu, excess_lu)
            self._last_loud_end_s = end_s
            if not self._confirmed and reached(end_s - self._start_s, self._s.raised_voice_min_s):
                self._confirmed = True
                return _open(self._event(end_s))
            return []
        if self._start_s is not None and reached(end_s - self._last_loud_end_s,
                                                 self._s.raised_voice_gap_s):
            return self.finish()
        return []

    def finish(self) -> list[EventUpdate]:
        """End the current episode: a CLOSE update if it was confirmed, else nothing."""
        updates = _close(self._event(self._last_loud_end_s)) if self._confirmed else []
        self._start_s, self._confirmed = None, False
        return updates

    def _event(self, end_s: float) -> Event:
        assert self._start_s is not None
        if self._peak_lu >= self._s.shouting_lu:
            severity = Severity.HIGH
        elif self._peak_lu >= self._s.loud_lu:
            severity = Severity.MEDIUM
        else:
            severity = Severity.LOW
        return Event(EventKind.RAISED_VOICE, self._start_s, end_s, self._peak_lu,
                     self._s.raised_voice_lu, severity)


class FastSpeechDetector:
    """Agent pace well over baseline and over an absolute floor, for long enough.

    Only speech hops that carry a rate are judged. The effective threshold is
    ``max(fast_speech_floor_sps, fast_speech_ratio * baseline)``, or the floor
    alone while the rate baseline is unknown, fixed for an episode when it
    starts. An episode is confirmed after ``fast_speech_min_speech_s`` of
    judged speech and ends on a judged hop under the threshold (less
    ``fast_speech_hysteresis_sps`` once confirmed) or after a pause of
    ``fast_speech_max_pause_s``. The rate is already a several-second average,
    so one slow hop is a real slowdown and needs no gap tolerance.

    After a confirmed episode, a new one can start only once a judged hop has come
    back under the release level (threshold less ``fast_speech_hysteresis_sps``):
    the rate averages recent speech, so after a pause it still reflects the
    fast speech before it, and an ordinary sentence would otherwise open a
    second episode.

    Value: peak rate in syllables/s; threshold: the effective threshold.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._s = settings
        self._start_s: float | None = None
        self._threshold_sps = 0.0
        self._speech_hops = 0
        self._last_fast_end_s = 0.0
        self._peak_sps = 0.0
        self._confirmed = False
        self._armed = True

    def push(self, t_s: float, agent: PartyFrame, baseline_sps: float | None) -> list[EventUpdate]:
        """Judge one hop.

        Parameters
        ----------
        t_s : float
            Start of the hop in seconds.
        agent : PartyFrame
            The agent's features for the hop.
        baseline_sps : float or None
            The agent's baseline rate in syllables/s; None while unknown.

        Returns
        -------
        list of EventUpdate
            An OPEN or CLOSE update, or nothing.
        """
        end_s = t_s + HOP_S
        if not (agent.speech and agent.rate_sps is not None):
            if self._start_s is not None and reached(end_s - self._last_fast_end_s,
                                                     self._s.fast_speech_max_pause_s):
                return self.finish()
            return []
        if self._start_s is None:
            threshold_sps = self._s.fast_speech_floor_sps
            if baseline_sps is not None:
                threshold_sps = max(threshold_sps, self._s.fast_speech_ratio * baseline_sps)
            if not self._armed:
                self._armed = agent.rate_sps < threshold_sps - self._s.fast_speech_hysteresis_sps
                return []
            if agent.rate_sps < threshold_sps:
                return []
            self._start_s, self._threshold_sps = t_s, threshold_sps
            self._speech_hops, self._peak_sps = 0, agent.rate_sps
        release_sps = self._s.fast_speech_hysteresis_sps if self._confirmed else 0.0
        if agent.rate_sps < self._threshold_sps - release_sps:
            return self.finish()
        self._speech_hops += 1
        self._peak_sps = max(self._peak_sps, agent.rate_sps)
        self._last_fast_end_s = end_s
        if not self._confirmed and reached(self._speech_hops * HOP_S,
                                           self._s.fast_speech_min_speech_s):
            self._confirmed = True
            return _open(self._event(end_s))
        return []

    def finish(self) -> list[EventUpdate]:
        """End the current episode: a CLOSE update if it was confirmed, else nothing."""
        updates = _close(self._event(self._last_fast_end_s)) if self._confirmed else []
        # Only a confirmed episode must wait for the pace to come down: a candidate that
        # lapsed was never reported, and the fast speech after it is still to be reported.
        self._armed = not self._confirmed
        self._start_s, self._confirmed = None, False
        return updates

    def _event(self, end_s: float) -> Event:
        assert self._start_s is not None
        return Event(EventKind.FAST_SPEECH, self._start_s, end_s, self._peak_sps,
                     self._threshold_sps, Severity.LOW)


class TurnTracker:
    """One party's turns: runs of speech with pauses shorter than ``pause_s`` bridged.

    Parameters
    ----------
    pause_s : float
        A silence this long, in seconds, ends the turn.
    """

    def __init__(self, pause_s: float) -> None:
        self._pause_s = pause_s
        self.start_s: float | None = None
        """Start of the current turn in seconds; None between turns."""
        self.last_speech_end_s = 0.0
        """End of the party's most recent speech hop in seconds."""
        self.started_now = False
        """Whether the current turn started on the latest hop."""

    @property
    def in_turn(self) -> bool:
        """Whether the party holds a turn (possibly pausing inside it)."""
        return self.start_s is not None

    @property
    def length_s(self) -> float:
        """Seconds from the start of the current turn to its latest speech; 0 between turns."""
        return 0.0 if self.start_s is None else self.last_speech_end_s - self.start_s

    def push(self, t_s: float, speech: bool) -> None:
        """Follow one hop.

        Parameters
        ----------
        t_s : float
            Start of the hop in seconds of stream time.
        speech : bool
            Whether the party speaks in this hop.
        """
        end_s = t_s + HOP_S
        self.started_now = speech and self.start_s is None
        if speech:
            if self.start_s is None:
                self.start_s = t_s
            self.last_speech_end_s = end_s
        elif self.start_s is not None and reached(end_s - self.last_speech_end_s, self._pause_s):
            self.start_s = None


class InterruptionDetector:
    """The agent starts talking while the customer is mid-turn, and both carry on.

    A candidate starts when the agent's turn starts at least
    ``customer_mid_turn_s`` into a customer turn (starting closer together is
    a turn-taking collision). It is confirmed once both have spoken at once
    for ``interruption_min_overlap_s`` in total and ends when either turn
    ends, so a backchannel ("okay") ends it before confirmation.

    Value: seconds both spoke at once; threshold: ``interruption_min_overlap_s``.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._s = settings
        self._start_s: float | None = None
        self._overlap_hops = 0
        self._last_overlap_end_s = 0.0
        self._confirmed = False

    def push(self, t_s: float, agent: TurnTracker, customer: TurnTracker,
             both_speaking: bool) -> list[EventUpdate]:
        """Judge one hop, after both turn trackers have followed it.

        Parameters
        ----------
        t_s : float
            Start of the hop in seconds.
        agent, customer : TurnTracker
            The parties' turns, up to and including this hop.
        both_speaking : bool
            Whether both parties speak during the hop.

        Returns
        -------
        list of EventUpdate
            An OPEN or CLOSE update, or nothing.
        """
        if self._start_s is None:
            if not (agent.started_now and customer.start_s is not None
                    and reached(t_s - customer.start_s, self._s.customer_mid_turn_s)):
                return []
            self._start_s, self._overlap_hops = t_s, 0
        if not (agent.in_turn and customer.in_turn):
            return self.finish()
        if both_speaking:
            self._overlap_hops += 1
            self._last_overlap_end_s = t_s + HOP_S
            if not self._confirmed and reached(self._overlap_hops * HOP_S,
                                               self._s.interruption_min_overlap_s):
                self._confirmed = True
                return _open(self._event())
        return []

    def finish(self) -> list[EventUpdate]:
        """End the current candidate: a CLOSE update if it was confirmed, else nothing."""
        updates = _close(self._event()) if self._confirmed else []
        self._start_s, self._confirmed = None, False
        return updates

    def _event(self) -> Event:
        assert self._start_s is not None
        return Event(EventKind.INTERRUPTION, self._start_s, self._last_overlap_end_s,
                     self._overlap_hops * HOP_S, self._s.interruption_min_overlap_s,
                     Severity.LOW)


class MonologueDetector:
    """The agent holds the floor for ``monologue_min_s`` without a customer turn.

    The agent's stretch starts at their first speech hop while the customer
    holds no turn of ``customer_turn_min_s`` (shorter customer speech is a
    backchannel and leaves the stretch alone). It ends when the customer's
    turn reaches that length or after an agent silence of
    ``monologue_max_pause_s`` (a hold, say).

    Value: seconds from the stretch's first to its last agent speech hop;
    threshold: ``monologue_min_s``.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._s = settings
        self._start_s: float | None = None
        self._last_speech_end_s = 0.0
        self._confirmed = False

    def push(self, t_s: float, agent_speech: bool, customer: TurnTracker) -> list[EventUpdate]:
        """Judge one hop, after the customer's turn tracker has followed it.

        Parameters
        ----------
        t_s : float
            Start of the hop in seconds.
        agent_speech : bool
            Whether the agent speaks during the hop.
        customer : TurnTracker
            The customer's turns, up to and including this hop.

        Returns
        -------
        list of EventUpdate
            An OPEN or CLOSE update, or nothing.
        """
        end_s = t_s + HOP_S
        if customer.in_turn and reached(customer.length_s, self._s.customer_turn_min_s):
            return self.finish()
        if agent_speech:
            if self._start_s is None:
                self._start_s = t_s
            self._last_speech_end_s = end_s
            if not self._confirmed and reached(end_s - self._start_s, self._s.monologue_min_s):
                self._confirmed = True
                return _open(self._event())
        elif self._start_s is not None and reached(end_s - self._last_speech_end_s,
                                                   self._s.monologue_max_pause_s):
            return self.finish()
        return []

    def finish(self) -> list[EventUpdate]:
        """End the current stretch: a CLOSE update if it was long enough, else nothing."""
        updates = _close(self._event()) if self._confirmed else []
        self._start_s, self._confirmed = None, False
        return updates

    def _event(self) -> Event:
        assert self._start_s is not None
        return Event(EventKind.MONOLOGUE, self._start_s, self._last_speech_end_s,
                     self._last_speech_end_s - self._start_s, self._s.monologue_min_s,
                     Severity.LOW)
