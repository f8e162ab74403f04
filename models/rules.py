"""Coaching rules for a call: feature frames in, event updates out, one hop at a time.

The same code runs live (10 frames per second) and offline. The per-rule
state machines live in :mod:`models.episodes` (where their life cycle is
described) and the breathing-prompt policy in :mod:`models.breathing`; this
module wires them to the baseline and the call.

Event values and thresholds
---------------------------
raised_voice
    value: peak momentary loudness of the episode's speech in LU over the
    baseline; threshold: ``raised_voice_lu``. Severity by the peak: LOW from
    ``raised_voice_lu``, MEDIUM from ``loud_lu``, HIGH from ``shouting_lu``.
fast_speech
    value: peak speech rate in syllables/s; threshold: the effective
    threshold ``max(fast_speech_floor_sps, fast_speech_ratio * baseline)`` in
    syllables/s at the episode's start. Severity LOW. A new episode needs the
    pace to have dropped under the release level since the last one.
interruption
    value: seconds both talked at once; threshold:
    ``interruption_min_overlap_s``. Severity LOW.
monologue
    value: seconds from the agent's first to last speech without a customer
    turn; threshold: ``monologue_min_s``. Severity LOW.
breathing_prompt
    Instantaneous (``start_s == end_s``), stamped with the ``end_s`` of the
    raised_voice or interruption event that triggered it. value: number of
    trigger events (1 for a raised-voice episode, the cluster size for
    interruptions); threshold: 0; severity: the highest among the triggers.

Before the baseline is calibrated the raised-voice rule cannot fire, and
until the agent's rate baseline is known fast speech is judged against the
absolute floor ``fast_speech_floor_sps`` alone. In mic-only mode the
customer-dependent rules (interruption, overtalk, monologue) are off.
"""
from __future__ import annotations

import bisect

from models.baseline import Baseline, BaselineTracker, LevelShift, LevelWatch
from models.breathing import BreathingPolicy
from models.episodes import (FastSpeechDetector, InterruptionDetector, MonologueDetector,
                             RaisedVoiceDetector, TurnTracker)
from models.events import Event, EventKind, EventPhase, EventUpdate
from models.frames import HOP_S, FeatureFrame
from models.settings import RuleSettings


class CallRules:
    """All coaching rules for one call, fed one feature frame per hop.

    Parameters
    ----------
    settings : RuleSettings
        Thresholds and switches; validated here.
    baseline : Baseline, optional
        A saved profile to start from. Without one the baseline is calibrated
        from the agent's first ``baseline_calibration_s`` of speech, and until
        then raised voice cannot fire.
    customer_present : bool
        False in mic-only mode: interruption, overtalk and monologue are off
        and the frames' ``customer`` is ignored.
    level_watch : LevelWatch, optional
        The watch for a change of microphone level, shared with earlier calls
        (see :class:`models.baseline.LevelWatch`); a fresh one otherwise.

    Raises
    ------
    SettingsError
        If ``settings`` are invalid.

    Notes
    -----
    A disabled cue produces no events and therefore triggers no breathing
    prompt; the raised-voice detector still runs so that raised episodes
    stay out of the baseline.
    """

    def __init__(self, settings: RuleSettings, baseline: Baseline | None = None,
                 customer_present: bool = True, level_watch: LevelWatch | None = None) -> None:
        self._s = settings.validate()
        self._customer_present = customer_present
        self._tracker = BaselineTracker(settings, baseline, level_watch)
        self._raised = RaisedVoiceDetector(settings)
        self._fast = FastSpeechDetector(settings)
        self._agent_turn = TurnTracker(settings.turn_pause_s)
        self._customer_turn = TurnTracker(settings.turn_pause_s)
        self._interruption = InterruptionDetector(settings)
        self._monologue = MonologueDetector(settings)
        self._breathing = BreathingPolicy(settings)
        self._enabled = {
            EventKind.RAISED_VOICE: settings.raised_voice_enabled,
            EventKind.FAST_SPEECH: settings.fast_speech_enabled,
            EventKind.INTERRUPTION: settings.interruption_enabled,
            EventKind.MONOLOGUE: settings.monologue_enabled,
            EventKind.BREATHING_PROMPT: settings.breathing_prompt_enabled,
        }
        self._overtalk_hops = 0
        self._level_shifts: list[LevelShift] = []
        self._events: list[Event] = []
        self._finished = False

    @property
    def baseline(self) -> Baseline:
        """The agent's current baseline (see :class:`models.baseline.Baseline`)."""
        return self._tracker.baseline

    @property
    def events(self) -> list[Event]:
        """Closed events so far, ordered by start time."""
        return list(self._events)

    @property
    def level_shifts(self) -> list[LevelShift]:
        """Changes of the agent's microphone level noticed so far, in order."""
        return list(self._level_shifts)

    @property
    def overtalk_s(self) -> float:
        """Seconds both parties spoke at once so far; 0 in mic-only mode."""
        return self._overtalk_hops * HOP_S

    def push(self, frame: FeatureFrame) -> list[EventUpdate]:
        """Judge one hop.

        Parameters
        ----------
        frame : FeatureFrame
            The next hop's features, in stream order.

        Returns
        -------
        list of EventUpdate
            Events opened or closed on this hop.

        Raises
        ------
        ValueError
            If a customer is expected but the frame has no customer features.
        RuntimeError
            If called after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("push() after finish()")
        if self._customer_present and frame.customer is None:
            raise ValueError(f"frame {frame.index} has no customer features "
                             "but the rules expect a customer")
        baseline = self._tracker.baseline
        loudness_lufs = baseline.loudness_lufs if baseline.calibrated else None

        updates = self._raised.push(frame.t_s, frame.agent, loudness_lufs)
        # The detector runs first so the tracker knows whether this very hop is in an episode.
        shift_lu = self._tracker.push(frame.agent, raised=self._raised.active)
        if shift_lu is not None:
            self._level_shifts.append(
                LevelShift(frame.t_s, shift_lu, self._tracker.baseline.loudness_lufs))
        updates += self._fast.push(frame.t_s, frame.agent, baseline.rate_sps)
        if self._customer_present and frame.customer is not None:
            both = frame.agent.speech and frame.customer.speech
            if both:
                self._overtalk_hops += 1
            self._customer_turn.push(frame.t_s, frame.customer.speech)
            self._agent_turn.push(frame.t_s, frame.agent.speech)
            updates += self._interruption.push(frame.t_s, self._agent_turn,
                                               self._customer_turn, both)
            updates += self._monologue.push(frame.t_s, frame.agent.speech, self._customer_turn)
        return self._record(updates)

    def finish(self) -> list[EventUpdate]:
        """Close the episodes still open at the end of the stream.

        Returns
        -------
        list of EventUpdate
            CLOSE updates for confirmed episodes, and any breathing prompt
            they trigger (useful between calls); unconfirmed episodes are
            dropped. Empty when called again.
        """
        if self._finished:
            return []
        self._finished = True
        updates = self._raised.finish() + self._fast.finish()
        if self._customer_present:
            updates += self._interruption.finish() + self._monologue.finish()
        return self._record(updates)

    def _record(self, updates: list[EventUpdate]) -> list[EventUpdate]:
        emitted: list[EventUpdate] = []
        for update in updates:
            if not self._enabled[update.event.kind]:
                continue
            emitted.append(update)
            if update.phase is not EventPhase.CLOSE:
                continue
            self._store(update.event)
            if self._enabled[EventKind.BREATHING_PROMPT]:
                for prompt in self._breathing.on_closed(update.event):
                    emitted.append(prompt)
                    self._store(prompt.event)
        return emitted

    def _store(self, event: Event) -> None:
        bisect.insort(self._events, event, key=lambda e: e.start_s)
