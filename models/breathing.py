"""When to offer the agent a breathing exercise.

A prompt follows stress the rules have already seen: a raised-voice episode,
or a cluster of interruptions. It is offered once the trigger has closed
(not mid-sentence) and is rate-limited so that it stays welcome.
"""
from __future__ import annotations

import logging
from collections import deque

from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
from models.settings import RuleSettings

logger = logging.getLogger(__name__)

_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


class BreathingPolicy:
    """Offers a breathing exercise after a raised-voice episode or an interruption cluster.

    A cluster is ``breathing_cluster_n`` interruptions that start within
    ``breathing_cluster_window_s`` before the latest one ends; once a cluster
    has led to a prompt its interruptions count towards no other. Prompts are
    at least ``breathing_cooldown_s`` apart and at most
    ``breathing_max_per_call`` per call; a trigger inside the cooldown or past
    the cap is dropped, not deferred.

    The prompt is an instantaneous event stamped with its trigger's ``end_s``
    (``start_s == end_s``), so it is attributable: it follows the raised_voice
    or interruption event ending at that time. Its value is the number of
    trigger events (1 for a raised-voice episode, the cluster size for
    interruptions), its threshold 0 and its severity the highest among the
    triggers.

    Parameters
    ----------
    settings : RuleSettings
        Cooldown, cap and cluster settings.
    """

    def __init__(self, settings: RuleSettings) -> None:
        self._s = settings
        self._offered = 0
        self._last_offer_s: float | None = None
        self._interruptions: deque[Event] = deque()

    def on_closed(self, event: Event) -> list[EventUpdate]:
        """Consider an event that has just closed.

        Parameters
        ----------
        event : Event
            A closed event of any kind.

        Returns
        -------
        list of EventUpdate
            One CLOSE update carrying a breathing_prompt event, or nothing.
        """
        if event.kind is EventKind.RAISED_VOICE:
            return self._offer(event.end_s, [event])
        if event.kind is not EventKind.INTERRUPTION:
            return []
        self._interruptions.append(event)
        window_start_s = event.end_s - self._s.breathing_cluster_window_s
        # The newest interruption always counts, even when it alone outlasts the window.
        while len(self._interruptions) > 1 and self._interruptions[0].start_s < window_start_s:
            self._interruptions.popleft()
        if len(self._interruptions) < self._s.breathing_cluster_n:
            return []
        updates = self._offer(event.end_s, list(self._interruptions))
        if updates:
            self._interruptions.clear()
        return updates

    def _offer(self, at_s: float, triggers: list[Event]) -> list[EventUpdate]:
        if self._offered >= self._s.breathing_max_per_call:
            logger.debug("breathing prompt at %.1f s skipped: %d already offered this call",
                         at_s, self._offered)
            return []
        if self._last_offer_s is not None \
                and at_s - self._last_offer_s < self._s.breathing_cooldown_s:
            logger.debug("breathing prompt at %.1f s skipped: cooldown since %.1f s",
                         at_s, self._last_offer_s)
            return []
        self._offered += 1
        self._last_offer_s = at_s
        severity = max((e.severity for e in triggers), key=_SEVERITY_RANK.__getitem__)
        prompt = Event(EventKind.BREATHING_PROMPT, at_s, at_s, float(len(triggers)), 0.0, severity)
        return [EventUpdate(EventPhase.CLOSE, prompt)]
