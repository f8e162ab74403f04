"""Guided breathing patterns and where a session stands at a given moment.

Three patterns are offered, each run for one to two minutes:

* box breathing: in, hold, out, hold, four seconds each;
* slow (resonance) breathing: five seconds in, five seconds out, which is
  six breaths a minute;
* the physiological sigh: a full breath in, a short top-up breath in, then a
  long, slow breath out.

Everything here is pure arithmetic on seconds, so the painted guide in
:mod:`ui.breathing_pacer` can be driven by any clock, a fake one included.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

PhaseKind = Literal["in", "hold", "out", "in_top_up"]
"""What the agent does during a phase."""

MIN_SESSION_S = 60.0
"""The shortest session, in seconds: the exercise runs one to two minutes."""

MAX_SESSION_S = 120.0
"""The longest session, in seconds."""

TOP_UP_FROM = 0.8
"""How full the lungs are drawn before a top-up inhale, 0 to 1.

The first inhale of a sigh stops short of full so that the top-up visibly
adds the rest.
"""

_PHASE_KINDS: frozenset[str] = frozenset(get_args(PhaseKind))


@dataclass(frozen=True, slots=True)
class BreathPhase:
    """One step of a breathing cycle.

    Attributes
    ----------
    kind : {'in', 'hold', 'out', 'in_top_up'}
        Breathe in, hold, breathe out, or take a short extra breath in on top
        of a full one.
    duration_s : float
        How long the step lasts, in seconds (> 0).
    prompt : str
        What the guide says during the step, such as "Breathe in".
    """

    kind: PhaseKind
    duration_s: float
    prompt: str

    def __post_init__(self) -> None:
        if self.kind not in _PHASE_KINDS:
            raise ValueError(f"unknown breath phase kind {self.kind!r}; "
                             f"expected one of {sorted(_PHASE_KINDS)}")
        if not self.duration_s > 0.0 or not math.isfinite(self.duration_s):
            raise ValueError(f"a breath phase lasts more than 0 s, not {self.duration_s}")
        if not self.prompt.strip():
            raise ValueError("a breath phase needs a prompt")


@dataclass(frozen=True, slots=True)
class BreathingPattern:
    """A breathing exercise: a cycle of phases repeated for a session.

    Attributes
    ----------
    name : str
        Stable identifier, such as ``"box"``; used in settings and logs.
    label : str
        Short name shown to the agent.
    description : str
        One or two sentences on how to do it.
    phases : tuple of BreathPhase
        One cycle, in order; it starts with an inhale.
    total_s : float
        The intended session length in seconds, 60 to 120. The session
        actually run is a whole number of cycles (:func:`total_duration_s`).
    """

    name: str
    label: str
    description: str
    phases: tuple[BreathPhase, ...]
    total_s: float

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"pattern {self.name!r} has no phases")
        if self.phases[0].kind != "in":
            # The guide's shape starts empty, so the first step must fill it.
            raise ValueError(f"pattern {self.name!r} must start with an 'in' phase")
        if not MIN_SESSION_S <= self.total_s <= MAX_SESSION_S:
            raise ValueError(f"pattern {self.name!r}: a session lasts {MIN_SESSION_S:g} to "
                             f"{MAX_SESSION_S:g} s, not {self.total_s:g} s")

    @property
    def cycle_s(self) -> float:
        """Length of one cycle in seconds."""
        return sum(phase.duration_s for phase in self.phases)


class PhasePosition(NamedTuple):
    """Where a session stands.

    Attributes
    ----------
    phase : BreathPhase
        The current phase.
    progress : float
        How far through the phase, 0 (just begun) to 1 (ending).
    cycle_index : int
        Which cycle, counting from 0.
    """

    phase: BreathPhase
    progress: float
    cycle_index: int


BOX = BreathingPattern(
    name="box",
    label="Box breathing",
    description="In, hold, out, hold: four even counts each, like tracing the sides of a box.",
    phases=(
        BreathPhase("in", 4.0, "Breathe in"),
        BreathPhase("hold", 4.0, "Hold"),
        BreathPhase("out", 4.0, "Breathe out"),
        BreathPhase("hold", 4.0, "Hold"),
    ),
    total_s=80.0,
)

RESONANCE = BreathingPattern(
    name="resonance",
    label="Slow breathing",
    description="Five seconds in and five seconds out, about six breaths a minute. "
                "Let each breath be smooth and unhurried.",
    phases=(
        BreathPhase("in", 5.0, "Breathe in"),
        BreathPhase("out", 5.0, "Breathe out"),
    ),
    total_s=90.0,
)

PHYSIOLOGICAL_SIGH = BreathingPattern(
    name="physiological_sigh",
    label="Physiological sigh",
    description="A deep breath in through the nose, a short extra sip of air on top, "
                "then a long, slow breath out through the mouth.",
    phases=(
        BreathPhase("in", 3.0, "Breathe in"),
        BreathPhase("in_top_up", 1.0, "Breathe in more"),
        BreathPhase("out", 7.0, "Breathe out slowly"),
    ),
    total_s=66.0,
)

PATTERNS: tuple[BreathingPattern, ...] = (BOX, RESONANCE, PHYSIOLOGICAL_SIGH)
"""The patterns offered, in the order the picker lists them."""


def pattern_by_name(name: str) -> BreathingPattern:
    """Look up one of :data:`PATTERNS`.

    Parameters
    ----------
    name : str
        The pattern's ``name``.

    Returns
    -------
    BreathingPattern

    Raises
    ------
    KeyError
        If there is no such pattern; the message lists the known names.
    """
    for pattern in PATTERNS:
        if pattern.name == name:
            return pattern
    raise KeyError(f"no breathing pattern {name!r}; "
                   f"known: {', '.join(p.name for p in PATTERNS)}")


def cycle_count(pattern: BreathingPattern, target_s: float | None = None) -> int:
    """How many whole cycles a session runs.

    Sessions end after a whole cycle, so that the agent is never stopped
    half-way through a breath. The count is the one nearest ``target_s`` that
    keeps the session within 60 to 120 s, and at least one.

    Parameters
    ----------
    pattern : BreathingPattern
        The pattern.
    target_s : float, optional
        Wanted session length in seconds; the pattern's ``total_s`` by default.

    Returns
    -------
    int
        Number of cycles, at least 1.
    """
    target = pattern.total_s if target_s is None else target_s
    cycle = pattern.cycle_s
    count = round(target / cycle)
    count = max(count, math.ceil(MIN_SESSION_S / cycle))
    count = min(count, math.floor(MAX_SESSION_S / cycle))
    return max(count, 1)


def total_duration_s(pattern: BreathingPattern, target_s: float | None = None) -> float:
    """Length of a session in seconds: :func:`cycle_count` whole cycles.

    Parameters
    ----------
    pattern : BreathingPattern
        The pattern.
    target_s : float, optional
        Wanted session length in seconds; the pattern's ``total_s`` by default.

    Returns
    -------
    float
        Session length in seconds.
    """
    return cycle_count(pattern, target_s) * pattern.cycle_s


def phase_at(pattern: BreathingPattern, elapsed_s: float) -> PhasePosition:
    """Where a session of ``pattern`` stands after ``elapsed_s`` seconds.

    The cycle repeats without end; the caller decides when the session is over
    (:func:`total_duration_s`). A phase owns its start and not its end, so at
    exactly 4 s into box breathing the phase is the first hold, at progress 0.

    Parameters
    ----------
    pattern : BreathingPattern
        The pattern.
    elapsed_s : float
        Seconds of exercise so far (pauses excluded); negative counts as 0.

    Returns
    -------
    PhasePosition
        The phase, the progress through it (0 to 1) and the cycle index.
    """
    index, progress, cycle_index = _locate(pattern, elapsed_s)
    return PhasePosition(pattern.phases[index], progress, cycle_index)


def _locate(pattern: BreathingPattern, elapsed_s: float) -> tuple[int, float, int]:
    # By index rather than by phase: a pattern may repeat an equal phase (box
    # breathing has two identical holds) and they must stay apart.
    elapsed = max(0.0, elapsed_s)
    cycle_index = int(elapsed // pattern.cycle_s)
    into_cycle = elapsed - cycle_index * pattern.cycle_s
    start = 0.0
    for index, phase in enumerate(pattern.phases):
        end = start + phase.duration_s
        if into_cycle < end:
            progress = (into_cycle - start) / phase.duration_s
            return index, min(max(progress, 0.0), 1.0), cycle_index
        start = end
    # Rounding can leave into_cycle a hair past the summed durations: that is
    # the very end of the cycle's last phase.
    return len(pattern.phases) - 1, 1.0, cycle_index


def phase_count(position: PhasePosition) -> int:
    """The number to show for a phase: whole seconds counted up from 1.

    Parameters
    ----------
    position : PhasePosition
        Where the session stands.

    Returns
    -------
    int
        1 during the phase's first second, 2 during its second, and so on,
        never more than the phase's length rounded up.
    """
    phase = position.phase
    elapsed_in_phase = position.progress * phase.duration_s
    return min(int(elapsed_in_phase) + 1, math.ceil(phase.duration_s))


def fullness_at(pattern: BreathingPattern, elapsed_s: float) -> float:
    """How full the lungs should be, for sizing the animated shape.

    Inhales fill, exhales empty and holds keep the level; a top-up inhale
    goes from :data:`TOP_UP_FROM` to full, and the inhale before it stops at
    that level. Movement is eased (half a cosine) so that it starts and ends
    gently, like a breath.

    Parameters
    ----------
    pattern : BreathingPattern
        The pattern.
    elapsed_s : float
        Seconds of exercise so far (pauses excluded).

    Returns
    -------
    float
        0 (empty) to 1 (full).
    """
    current, progress, _ = _locate(pattern, elapsed_s)
    level = 0.0
    phases = pattern.phases
    for index, phase in enumerate(phases[:current + 1]):
        following = phases[(index + 1) % len(phases)]
        if phase.kind == "in":
            target = TOP_UP_FROM if following.kind == "in_top_up" else 1.0
        elif phase.kind == "in_top_up":
            target = 1.0
        elif phase.kind == "out":
            target = 0.0
        else:
            target = level
        if index == current:
            eased = (1.0 - math.cos(math.pi * progress)) / 2.0
            return level + (target - level) * eased
        level = target
    raise AssertionError("_locate returned an index outside the pattern")
