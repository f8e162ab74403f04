"""Cue wording and timing: what the live window says when a rule fires.

A cue is one short phrase the agent can take in at a glance mid-sentence
("Softer", "Let them finish"), plus a longer explanation for the tooltip and
screen readers. The wording follows common coaching advice for difficult
calls: keep an even tone because an upset caller tends to mirror it, let the
customer finish because people only listen once they feel heard, slow down
because a calm pace sounds confident, and check in with a question rather than
talking on.

:class:`CueHold` decides how long a cue stays up. A nudge that blinks away
after a tenth of a second is missed, and one replaced every few hundred
milliseconds is noise, so every cue is held for a few seconds, a repeat of the
same cue only extends it, and a different cue waits until the current one has
been readable for a moment unless it matters more.

Nothing here imports Qt: the rules are plain functions of events and times.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.events import Event, EventKind, EventPhase, EventUpdate, Severity

HOLD_S = 4.0
"""How long a cue stays up after its latest trigger, s."""

MIN_SHOW_S = 1.5
"""How long a cue stays up at least before a cue that matters no more replaces it, s."""

PRIORITY: dict[EventKind, int] = {
    EventKind.MONOLOGUE: 0,
    EventKind.FAST_SPEECH: 1,
    EventKind.INTERRUPTION: 2,
    EventKind.RAISED_VOICE: 3,
    EventKind.BREATHING_PROMPT: 4,
}
"""Which cue wins when two compete: a stress sign outranks a habit."""

SHORT_LABELS: dict[EventKind, str] = {
    EventKind.RAISED_VOICE: "Voice",
    EventKind.FAST_SPEECH: "Pace",
    EventKind.INTERRUPTION: "Overtalk",
    EventKind.MONOLOGUE: "Monologue",
    EventKind.BREATHING_PROMPT: "Breath",
}
"""One word per kind, for the call's counts."""

_PHRASES: dict[EventKind, dict[Severity, str]] = {
    EventKind.RAISED_VOICE: {Severity.LOW: "Softer", Severity.MEDIUM: "Lower your voice",
                             Severity.HIGH: "Pause, then softer"},
    EventKind.FAST_SPEECH: {Severity.LOW: "Slow down", Severity.MEDIUM: "Slow down",
                            Severity.HIGH: "Slow right down"},
    EventKind.INTERRUPTION: {Severity.LOW: "Let them finish", Severity.MEDIUM: "Let them finish",
                             Severity.HIGH: "Stop and listen"},
    EventKind.MONOLOGUE: {Severity.LOW: "Pause and ask", Severity.MEDIUM: "Pause and ask",
                          Severity.HIGH: "Pause and ask"},
    EventKind.BREATHING_PROMPT: {Severity.LOW: "Take a breath", Severity.MEDIUM: "Take a breath",
                                 Severity.HIGH: "Take a slow breath"},
}

_SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


@dataclass(frozen=True, slots=True)
class Cue:
    """A nudge for the agent.

    Attributes
    ----------
    kind : EventKind
        The rule that fired.
    severity : Severity
        How strong the event was; it picks the wording.
    phrase : str
        One word or a short phrase, readable at a glance.
    explanation : str
        One or two sentences: what was measured and why the nudge helps.
    start_s : float
        Stream time the event started, s; identifies the event.
    """

    kind: EventKind
    severity: Severity
    phrase: str
    explanation: str
    start_s: float


def cue_phrase(kind: EventKind, severity: Severity) -> str:
    """The short phrase for an event kind at a severity."""
    return _PHRASES[kind][severity]


def explain(event: Event) -> str:
    """The longer explanation of an event, with its measured value.

    Parameters
    ----------
    event : Event
        An event as the rules report it (see :mod:`models.rules` for units).
    """
    if event.kind is EventKind.RAISED_VOICE:
        return (f"Your voice is {event.value:.0f} dB louder than usual (the nudge comes at "
                f"{event.threshold:.0f} dB). An even, unhurried tone keeps the call calm: an "
                "upset caller tends to follow your tone.")
    if event.kind is EventKind.FAST_SPEECH:
        return (f"You are speaking at about {event.value:.1f} syllables a second (your nudge "
                f"point is {event.threshold:.1f}). A slower pace sounds more sure of itself "
                "and gives the customer time to follow.")
    if event.kind is EventKind.INTERRUPTION:
        return (f"You and the customer talked at once for {event.value:.1f} s. Let them finish: "
                "people listen better once they feel heard.")
    if event.kind is EventKind.MONOLOGUE:
        return (f"You have talked for {event.value:.0f} s without the customer taking a turn. "
                "Pause and check in: ask a question, or sum up what they told you.")
    return ("The call has been tense. Breathe out slowly before you answer; it is the "
            "situation, not you. Choose Breathe for a one-minute guided exercise.")


def cue_for(update: EventUpdate) -> Cue | None:
    """The cue an event update calls for, if any.

    An episode is cued once, when it opens; its closing update adds nothing
    the agent needs mid-call. Instantaneous events (breathing prompts) only
    ever arrive as a closing update, so those are cued on close.

    Parameters
    ----------
    update : EventUpdate
        An update from the engine.

    Returns
    -------
    Cue or None
    """
    event = update.event
    instantaneous = event.kind is EventKind.BREATHING_PROMPT
    if (update.phase is EventPhase.OPEN) == instantaneous:
        return None
    return Cue(event.kind, event.severity, cue_phrase(event.kind, event.severity),
               explain(event), event.start_s)


class CueHold:
    """Keeps one cue on screen long enough to be read, without flicker.

    * A cue is shown for ``hold_s`` after it arrives.
    * The same kind again extends the hold; the wording changes only if the
      new one is stronger.
    * A different kind replaces the current cue at once if it matters more
      (see :data:`PRIORITY`); otherwise it waits, as the one pending cue,
      until the current cue has been up for ``min_show_s``. A pending cue
      older than ``hold_s`` is dropped: late advice is no advice.

    Parameters
    ----------
    hold_s : float
        How long a cue stays up after its latest trigger, s.
    min_show_s : float
        How long a cue stays up at least before a cue of equal or lower
        priority replaces it, s.
    """

    def __init__(self, hold_s: float = HOLD_S, min_show_s: float = MIN_SHOW_S) -> None:
        if not 0 < min_show_s <= hold_s:
            raise ValueError(f"need 0 < min_show_s ({min_show_s}) <= hold_s ({hold_s})")
        self._hold_s = hold_s
        self._min_show_s = min_show_s
        self._current: Cue | None = None
        self._shown_at_s = 0.0
        self._until_s = 0.0
        self._pending: Cue | None = None
        self._pending_at_s = 0.0

    def offer(self, cue: Cue, now_s: float) -> bool:
        """Consider a new cue.

        Parameters
        ----------
        cue : Cue
            The cue.
        now_s : float
            Monotonic time, s.

        Returns
        -------
        bool
            Whether the cue on screen changed.
        """
        before = self.current(now_s)
        if before is None:
            self._show(cue, now_s)
        elif before.kind is cue.kind:
            self._until_s = now_s + self._hold_s
            if _SEVERITY_RANK[cue.severity] > _SEVERITY_RANK[before.severity]:
                self._current = cue
        elif PRIORITY[cue.kind] > PRIORITY[before.kind]:
            self._show(cue, now_s)
        elif self._pending is None or PRIORITY[cue.kind] >= PRIORITY[self._pending.kind]:
            self._pending, self._pending_at_s = cue, now_s
        return self.current(now_s) != before

    def current(self, now_s: float) -> Cue | None:
        """The cue to show at ``now_s`` (call regularly: pending cues move up here)."""
        if self._pending is not None and now_s - self._pending_at_s > self._hold_s:
            self._pending = None
        if self._current is not None and now_s >= self._until_s:
            self._current = None
        if self._pending is not None and (
                self._current is None or now_s - self._shown_at_s >= self._min_show_s):
            pending, self._pending = self._pending, None
            self._show(pending, now_s)
        return self._current

    def clear(self) -> None:
        """Drop every cue (the call ended, monitoring paused)."""
        self._current = self._pending = None

    def _show(self, cue: Cue, now_s: float) -> None:
        self._current = cue
        self._shown_at_s = now_s
        self._until_s = now_s + self._hold_s
