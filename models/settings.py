"""Rule settings: every threshold the coaching rules use, with its default.

Each field carries ``metadata`` with its ``unit`` and a one-sentence ``help``
text a user understands, so a settings screen and a saved profile can be
generated from the class instead of being kept in step by hand.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from models.errors import UserError


T = TypeVar("T")


class SettingsError(UserError, ValueError):
    """A setting has a value the rules cannot work with; the message names the field."""


def setting(default: float | int | bool, unit: str, help_text: str) -> Any:
    """A settings field with its default, ``unit`` and one-sentence ``help`` in its metadata."""
    return field(default=default, metadata={"unit": unit, "help": help_text})


MAX_DURATION_S = 86400.0
"""Longest duration any setting may have, in seconds: a day, far beyond any call."""


def check_field_types(settings: Any) -> None:
    """Check that every field of a settings dataclass holds a value of its declared type.

    Durations (unit "s") may be at most :data:`MAX_DURATION_S`, so that no
    setting can overflow the sample counts it is turned into.

    Raises
    ------
    SettingsError
        Naming the first field that holds a wrong type, a non-finite number or
        an impossibly long duration.
    """
    annotations = type(settings).__annotations__
    for f in fields(settings):
        value = getattr(settings, f.name)
        # Annotations are strings under ``from __future__ import annotations``.
        expected = annotations[f.name]
        if expected == "bool":
            if not isinstance(value, bool):
                raise SettingsError(f"{f.name} must be true or false, got {value!r}")
        elif expected == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError(f"{f.name} must be a whole number, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise SettingsError(f"{f.name} must be a finite number, got {value!r}")
        if f.metadata.get("unit") == "s" and value > MAX_DURATION_S:
            raise SettingsError(f"{f.name} must be at most {MAX_DURATION_S:.0f} s (a day), "
                                f"got {value!r}")


def settings_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Validated settings of dataclass ``cls`` from ``{field name: value}``.

    Missing keys take their defaults, so files saved by older versions still
    load; whole numbers are accepted for fractional fields (some tools write
    ``90.0`` as ``90``).

    Raises
    ------
    SettingsError
        If ``data`` holds unknown keys (all are named) or a value is invalid.
    """
    annotations = cls.__annotations__
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(unknown)}")
    values = {name: float(value) if annotations[name] == "float" and isinstance(value, int)
              and not isinstance(value, bool) else value for name, value in data.items()}
    return cls(**values).validate()


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Thresholds, durations and switches for the coaching rules.

    Every field has a documented default (its ``metadata`` holds ``unit`` and
    ``help``). Call :meth:`validate` before use; :class:`models.rules.CallRules`
    does so itself.

    Notes
    -----
    Why the defaults are what they are:

    * Raised voice: the ANSI S3.5 vocal-effort steps are about +6 dB (raised),
      +12 dB (loud) and +20 dB (shouting) over normal effort, so those are the
      trigger and the severity grades. Normal turn-to-turn variation is about
      +/-3 dB, which stays under the trigger. Releasing at +4 LU instead of +6
      is the hysteresis that stops a level hovering near the trigger from
      flickering, and 1.5 s excludes a single emphatic word.
    * Fast speech: a relaxed conversational pace is about 4-5 syllables/s, so the
      absolute floor of 5.5 syllables/s keeps a naturally brisk speaker from
      being flagged for their normal pace; 25 % over the agent's own baseline
      is "well over" their usual pace, and 4 s of speech is a sentence or two.
    * Turns: 0.5 s is about the longest pause inside a speaker's turn; a
      customer turn needs 1 s of speech, shorter ones ("okay", "mm-hmm") are
      backchannels. The agent must start at least 0.5 s into the customer's
      turn to be interrupting: starting within 0.5 s of each other is a
      turn-taking collision, not a cut-in.
    * Baseline: 15 s of speech gives a stable median; adaptation closes 5 % of
      the gap to the recent median per 10 s of speech, at most 0.5 LU, so the
      baseline follows a drifting level over minutes but a raised episode
      cannot pull it up.
    * Breathing prompt: at least 60 s apart (90 s by default) and at most 3 per
      call so the offer stays welcome rather than nagging.
    """

    # --- which cues are enabled
    raised_voice_enabled: bool = setting(
        True, "", "Nudge when you raise your voice.")
    fast_speech_enabled: bool = setting(
        True, "", "Nudge when you speak much faster than usual.")
    interruption_enabled: bool = setting(
        True, "", "Nudge when you start talking over the customer.")
    monologue_enabled: bool = setting(
        True, "", "Nudge when you talk for a long time without the customer speaking.")
    breathing_prompt_enabled: bool = setting(
        True, "", "Offer a short breathing exercise when stress builds.")

    # --- raised voice
    raised_voice_lu: float = setting(
        6.0, "LU", "How far above your normal loudness counts as a raised voice.")
    raised_voice_release_lu: float = setting(
        4.0, "LU", "A raised-voice episode ends only once you are back below this level "
        "above normal.")
    raised_voice_min_s: float = setting(
        1.5, "s", "How long your voice must stay raised before you are nudged.")
    raised_voice_gap_s: float = setting(
        0.5, "s", "Pauses or dips shorter than this do not end a raised-voice episode.")
    loud_lu: float = setting(
        12.0, "LU", "How far above your normal loudness counts as loud (medium severity).")
    shouting_lu: float = setting(
        20.0, "LU", "How far above your normal loudness counts as shouting (high severity).")

    # --- fast speech
    fast_speech_ratio: float = setting(
        1.25, "ratio", "How many times your usual pace counts as fast speech.")
    fast_speech_floor_sps: float = setting(
        5.5, "syllables/s", "Speech slower than this is never flagged as fast, "
        "whatever your usual pace.")
    fast_speech_hysteresis_sps: float = setting(
        0.3, "syllables/s", "A fast-speech episode ends only once your pace drops this "
        "far below the threshold.")
    fast_speech_min_speech_s: float = setting(
        4.0, "s", "How much fast speech is needed before you are nudged.")
    fast_speech_max_pause_s: float = setting(
        2.0, "s", "A pause longer than this ends a fast-speech episode.")

    # --- turns, interruptions, monologue
    turn_pause_s: float = setting(
        0.5, "s", "Silences shorter than this inside someone's speech do not end their turn.")
    customer_mid_turn_s: float = setting(
        0.5, "s", "The customer must have been speaking this long for your start to "
        "count as cutting in.")
    interruption_min_overlap_s: float = setting(
        1.0, "s", "How long you and the customer must talk at once for it to be an "
        "interruption.")
    customer_turn_min_s: float = setting(
        1.0, "s", "Customer speech shorter than this (okay, mm-hmm) is a backchannel, "
        "not a turn.")
    monologue_min_s: float = setting(
        45.0, "s", "How long you may talk without a customer turn before you are nudged.")
    monologue_max_pause_s: float = setting(
        5.0, "s", "A silence of yours longer than this (a hold, say) ends a monologue.")

    # --- baseline
    baseline_calibration_s: float = setting(
        15.0, "s", "How much of your speech is used to learn your normal loudness and pace.")
    baseline_adapt_block_s: float = setting(
        10.0, "s", "How much of your speech goes into each slow update of the baseline.")
    baseline_adapt_fraction: float = setting(
        0.05, "fraction", "How much of the way to your recent level each baseline update "
        "moves.")
    baseline_max_step_lu: float = setting(
        0.5, "LU", "The most one baseline update may move your normal loudness.")
    baseline_max_step_sps: float = setting(
        0.1, "syllables/s", "The most one baseline update may move your normal pace.")
    baseline_shift_lu: float = setting(
        6.0, "LU", "If nearly all your recent speech is this far from your normal "
        "loudness, the microphone level has changed (another headset, a moved mic) and "
        "your normal level is learnt again.")
    baseline_shift_window_s: float = setting(
        90.0, "s", "How much of your recent speech is used to notice that the microphone "
        "level has changed.")
    baseline_shift_share: float = setting(
        0.75, "fraction", "How much of that recent speech must be that far off before your "
        "normal level is learnt again (more than half: a raised voice comes in episodes).")

    # --- breathing prompt
    breathing_cooldown_s: float = setting(
        90.0, "s", "The shortest time between two breathing exercise offers "
        "(at least 60 s).")
    breathing_max_per_call: int = setting(
        3, "count", "The most breathing exercise offers in one call.")
    breathing_cluster_n: int = setting(
        3, "count", "This many interruptions close together lead to a breathing "
        "exercise offer.")
    breathing_cluster_window_s: float = setting(
        120.0, "s", "How close together interruptions must be to count as a cluster.")

    def validate(self) -> RuleSettings:
        """Check that every value makes sense.

        Returns
        -------
        RuleSettings
            ``self``, so a call can be chained.

        Raises
        ------
        SettingsError
            On the first nonsensical value, with a one-line message naming the field.
        """
        check_field_types(self)

        positive = ("raised_voice_lu", "raised_voice_min_s", "fast_speech_floor_sps",
                    "fast_speech_min_speech_s", "interruption_min_overlap_s",
                    "customer_turn_min_s", "monologue_min_s", "monologue_max_pause_s",
                    "baseline_calibration_s", "baseline_adapt_block_s",
                    "baseline_shift_lu", "baseline_shift_window_s",
                    "breathing_cluster_window_s")
        for name in positive:
            value = getattr(self, name)
            _require(name, value > 0, f"({value}) must be greater than 0")
        non_negative = ("raised_voice_release_lu", "raised_voice_gap_s",
                        "fast_speech_hysteresis_sps", "fast_speech_max_pause_s",
                        "turn_pause_s", "customer_mid_turn_s",
                        "baseline_max_step_lu", "baseline_max_step_sps")
        for name in non_negative:
            value = getattr(self, name)
            _require(name, value >= 0, f"({value}) must not be negative")

        _require("raised_voice_release_lu",
                 self.raised_voice_release_lu <= self.raised_voice_lu,
                 f"({self.raised_voice_release_lu}) must not exceed raised_voice_lu "
                 f"({self.raised_voice_lu})")
        _require("loud_lu", self.loud_lu >= self.raised_voice_lu,
                 f"({self.loud_lu}) must be at least raised_voice_lu ({self.raised_voice_lu})")
        _require("shouting_lu", self.shouting_lu >= self.loud_lu,
                 f"({self.shouting_lu}) must be at least loud_lu ({self.loud_lu})")
        _require("fast_speech_ratio", self.fast_speech_ratio >= 1.0,
                 f"({self.fast_speech_ratio}) must be at least 1.0")
        _require("fast_speech_hysteresis_sps",
                 self.fast_speech_hysteresis_sps < self.fast_speech_floor_sps,
                 f"({self.fast_speech_hysteresis_sps}) must be below fast_speech_floor_sps "
                 f"({self.fast_speech_floor_sps})")
        _require("baseline_adapt_fraction", 0.0 <= self.baseline_adapt_fraction <= 1.0,
                 f"({self.baseline_adapt_fraction}) must be between 0 and 1")
        _require("baseline_shift_share", 0.5 < self.baseline_shift_share <= 1.0,
                 f"({self.baseline_shift_share}) must be above 0.5 and at most 1")
        _require("breathing_cooldown_s", self.breathing_cooldown_s >= 60.0,
                 f"({self.breathing_cooldown_s}) must be at least 60 s")
        _require("breathing_max_per_call", self.breathing_max_per_call >= 1,
                 f"({self.breathing_max_per_call}) must be at least 1; "
                 "use breathing_prompt_enabled to turn prompts off")
        _require("breathing_cluster_n", self.breathing_cluster_n >= 2,
                 f"({self.breathing_cluster_n}) must be at least 2")
        return self

    def to_dict(self) -> dict[str, float | int | bool]:
        """Every setting by field name, ready for JSON.

        Returns
        -------
        dict
            ``{field name: value}`` for every field.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleSettings:
        """Settings from a mapping such as a saved profile.

        Missing keys take their defaults, so profiles saved by older versions
        still load. Whole numbers are accepted for fractional fields (JSON
        writes ``90.0`` as ``90`` in some tools).

        Parameters
        ----------
        data : dict
            ``{field name: value}``.

        Returns
        -------
        RuleSettings
            Validated settings.

        Raises
        ------
        SettingsError
            If ``data`` holds unknown keys (all are named) or a value is invalid.
        """
        return settings_from_dict(cls, data)


def _require(name: str, ok: bool, problem: str) -> None:
    if not ok:
        raise SettingsError(f"{name} {problem}")
