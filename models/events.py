"""Coaching events: what the rules report about a call."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class EventKind(str, Enum):
    """The kinds of coaching event."""

    RAISED_VOICE = "raised_voice"
    FAST_SPEECH = "fast_speech"
    INTERRUPTION = "interruption"
    MONOLOGUE = "monologue"
    BREATHING_PROMPT = "breathing_prompt"


class Severity(str, Enum):
    """How strong an event is, on one scale for every kind.

    For ``raised_voice`` the grades follow the vocal-effort steps of ANSI S3.5:
    LOW is raised (+6 dB), MEDIUM is loud (+12 dB), HIGH is shouting (+20 dB).
    """

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Event:
    """A coaching event.

    Attributes
    ----------
    kind : EventKind
        What happened.
    start_s, end_s : float
        When, in seconds from the start of the stream.
    value : float
        The measured quantity that triggered the rule, in the rule's unit
        (LU over baseline, syllables/s, seconds of overlap, seconds of talk...).
    threshold : float
        The threshold the value was compared with, in the same unit.
    severity : Severity
        How strong the event is.
    """

    kind: EventKind
    start_s: float
    end_s: float
    value: float
    threshold: float
    severity: Severity


class EventPhase(str, Enum):
    """Whether an update opens an event (its condition has just been met) or closes it."""

    OPEN = "open"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class EventUpdate:
    """A change in an event's life, emitted as soon as it is known.

    An OPEN update carries the event with ``end_s`` set to the time the
    condition was confirmed; the CLOSE update carries the final event.
    Events that are instantaneous (such as a breathing prompt) are emitted
    as a single CLOSE update.
    """

    phase: EventPhase
    event: Event
