"""Call segmentation: when a call starts and ends in an all-day audio stream.

A call starts on sustained customer speech (agent speech in mic-only mode,
where there is no customer side) or on a manual start. It ends once both sides
have been silent for a while (hold music or ringing on the line is not
silence), or on a manual stop.

Times are stream offsets in seconds, like the frames' ``t_s``. A call's start
is the start of the speech that started it, not the moment that speech was
confirmed; its end is the end of the last speech heard, not the moment the
silence was long enough. Each :class:`SegmentEvent` also says when the change
became known (``decided_s``), so that the caller can tell how many of the
frames it has already seen belong to the call.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import Enum
from typing import Any

from models.episodes import reached
from models.frames import HOP_S, FeatureFrame
from models.settings import SettingsError, check_field_types, setting, settings_from_dict


@dataclass(frozen=True, slots=True)
class SegmentationSettings:
    """How much speech starts a call and how much silence ends it.

    Every field's ``metadata`` holds its ``unit`` and a one-sentence ``help``.

    Notes
    -----
    Why the defaults are what they are: 0.3 s of customer speech is a short
    "hello" but longer than a click or a burst of line noise, and pauses under
    0.5 s (the longest pause inside a turn, as in the rule settings) do not
    reset that count. 10 s of silence on both sides is longer than the pauses
    while an agent looks something up with the customer waiting, yet short
    enough that back-to-back calls are usually told apart. In mic-only mode
    the agent alone is heard, and the agent is silent whenever the customer
    talks, so the start needs a full second of speech (a colleague's brief
    remark or a cough should not start a call) and the end needs 30 s of
    silence (a customer's long explanation should not end it).
    """

    start_min_speech_s: float = setting(
        0.3, "s", "How much customer speech starts a call.")
    start_max_gap_s: float = setting(
        0.5, "s", "Pauses shorter than this do not reset the speech counted towards "
        "starting a call.")
    end_silence_s: float = setting(
        10.0, "s", "How long both sides must be silent for a call to end.")
    mic_only_start_min_speech_s: float = setting(
        1.0, "s", "Without the customer's side, how much of your speech starts a call.")
    mic_only_end_silence_s: float = setting(
        30.0, "s", "Without the customer's side, how long you must be silent for a "
        "call to end.")

    def validate(self) -> SegmentationSettings:
        """Check that every value makes sense.

        Returns
        -------
        SegmentationSettings
            ``self``, so a call can be chained.

        Raises
        ------
        SettingsError
            On the first nonsensical value, with a one-line message naming the field.
        """
        check_field_types(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if value <= 0:
                raise SettingsError(f"{f.name} ({value}) must be greater than 0")
        # A gap that long would let the speech bridge the silence that ends a call.
        for name in ("end_silence_s", "mic_only_end_silence_s"):
            value = getattr(self, name)
            if value <= self.start_max_gap_s:
                raise SettingsError(f"{name} ({value}) must be longer than start_max_gap_s "
                                    f"({self.start_max_gap_s})")
        return self

    def to_dict(self) -> dict[str, float]:
        """Every setting by field name, ready for JSON.

        Returns
        -------
        dict
            ``{field name: value}`` in seconds.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentationSettings:
        """Settings from a mapping such as a saved profile.

        Missing keys take their defaults.

        Parameters
        ----------
        data : dict
            ``{field name: value}`` in seconds.

        Returns
        -------
        SegmentationSettings
            Validated settings.

        Raises
        ------
        SettingsError
            If ``data`` holds unknown keys (all are named) or a value is invalid.
        """
        return settings_from_dict(cls, data)


class SegmentKind(str, Enum):
    """Whether a call has started or ended."""

    CALL_STARTED = "call_started"
    CALL_ENDED = "call_ended"


class SegmentReason(str, Enum):
    """What started or ended a call."""

    CUSTOMER_SPEECH = "customer_speech"
    AGENT_SPEECH = "agent_speech"
    SILENCE = "silence"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    """A call starting or ending.

    Attributes
    ----------
    kind : SegmentKind
        Started or ended.
    t_s : float
        When the call started or ended, in seconds from the start of the
        stream: the start of the speech that started it, the end of the last
        speech before the silence that ended it, or the manual time.
    reason : SegmentReason
        What started or ended it.
    decided_s : float
        When the change became known, in seconds from the start of the stream
        (the end of the hop that confirmed it, or the manual time); at least ``t_s``.
    """

    kind: SegmentKind
    t_s: float
    reason: SegmentReason
    decided_s: float


class CallSegmenter:
    """Finds calls in the stream of feature frames.

    Two-party mode: a call starts once the customer has spoken for
    ``start_min_speech_s`` (pauses under ``start_max_gap_s`` bridged; the
    agent's speech alone never starts a call, since agents talk to colleagues
    between calls) and ends once neither side has spoken for
    ``end_silence_s``. Mic-only mode: the agent's speech does both, with
    ``mic_only_start_min_speech_s`` and ``mic_only_end_silence_s``.

    Hysteresis keeps calls from flapping: starting takes sustained speech,
    ending takes a long silence, and any speech hop inside a call resets the
    silence. So does a tone or music on the customer's line (``line_sound``):
    an agent on hold with another company for minutes is still in the call.

    A manual start begins a call at once (unless one is in progress); from
    then on the call ends by silence like any other, counting the silence from
    the manual start if nobody has spoken since. A manual stop ends the call
    at once. Because the speech may go on after a manual stop (the agent may
    stop monitoring in mid-conversation), an automatic start is held off until
    the call would have ended by itself: both sides silent for the end silence.
    Otherwise the next customer sentence would start the call again. A manual
    start is always possible.

    Parameters
    ----------
    settings : SegmentationSettings
        Start and end durations; validated here.
    customer_present : bool
        False in mic-only mode; the frames' ``customer`` is then ignored.
    hop_s : float
        Hop of the frames in seconds.

    Raises
    ------
    SettingsError
        If ``settings`` are invalid.
    """

    def __init__(self, settings: SegmentationSettings, customer_present: bool,
                 hop_s: float = HOP_S) -> None:
        settings.validate()
        self._s = settings
        self._customer_present = customer_present
        self._hop_s = hop_s
        if customer_present:
            self._start_min_s = settings.start_min_speech_s
            self._end_silence_s = settings.end_silence_s
            self._start_reason = SegmentReason.CUSTOMER_SPEECH
        else:
            self._start_min_s = settings.mic_only_start_min_speech_s
            self._end_silence_s = settings.mic_only_end_silence_s
            self._start_reason = SegmentReason.AGENT_SPEECH
        self._in_call = False
        # Held off after a manual stop until the speech it cut short has died down.
        self._hold_off = False
        # End of the last speech hop (either side) or of the last manual action.
        self._last_activity_s: float | None = None
        # The run of starting speech being counted, outside a call.
        self._run_start_s: float | None = None
        self._run_speech_s = 0.0
        self._run_last_end_s = 0.0

    @property
    def in_call(self) -> bool:
        """Whether a call is in progress."""
        return self._in_call

    def push(self, frame: FeatureFrame) -> list[SegmentEvent]:
        """Consider one hop.

        Parameters
        ----------
        frame : FeatureFrame
            The next hop's features.

        Returns
        -------
        list of SegmentEvent
            The call starting or ending on this hop, or nothing.

        Raises
        ------
        ValueError
            If a customer is expected but the frame has no customer features.
        """
        if self._customer_present and frame.customer is None:
            raise ValueError(f"frame {frame.index} has no customer features "
                             "but the segmenter expects a customer")
        end_s = frame.t_s + self._hop_s
        customer_speech = self._customer_present and frame.customer is not None \
            and frame.customer.speech
        any_speech = frame.agent.speech or customer_speech
        starting_speech = customer_speech if self._customer_present else frame.agent.speech
        # Hold music or ringing on the line keeps a call going (the agent is on hold or
        # transferring) but never starts one.
        line_busy = self._in_call and frame.customer is not None and frame.customer.line_sound

        if any_speech or line_busy:
            self._note_activity(end_s)
        elif self._last_activity_s is not None and self._silent_long_enough(end_s):
            if self._in_call:
                return [self._end(self._last_activity_s, SegmentReason.SILENCE, end_s)]
            self._hold_off = False

        if self._in_call or self._hold_off:
            return []
        return self._count_towards_start(frame.t_s, end_s, starting_speech)

    def start_manual(self, t_s: float) -> list[SegmentEvent]:
        """Start a call now, on the user's request.

        Parameters
        ----------
        t_s : float
            Now, in seconds from the start of the stream.

        Returns
        -------
        list of SegmentEvent
            The call starting, or nothing if a call is already in progress.
        """
        if self._in_call:
            return []
        self._hold_off = False
        self._note_activity(t_s)
        return [self._start(t_s, SegmentReason.MANUAL, t_s)]

    def stop_manual(self, t_s: float) -> list[SegmentEvent]:
        """End the call now, on the user's request.

        Automatic starts are then held off until both sides have been silent
        for the end silence (see the class notes).

        Parameters
        ----------
        t_s : float
            Now, in seconds from the start of the stream.

        Returns
        -------
        list of SegmentEvent
            The call ending, or nothing if no call is in progress.
        """
        if not self._in_call:
            return []
        self._hold_off = True
        self._note_activity(t_s)
        return [self._end(t_s, SegmentReason.MANUAL, t_s)]

    def _note_activity(self, t_s: float) -> None:
        # The caller's clock may lag the frames; never move the silence clock back.
        if self._last_activity_s is None or t_s > self._last_activity_s:
            self._last_activity_s = t_s

    def _silent_long_enough(self, end_s: float) -> bool:
        assert self._last_activity_s is not None
        return reached(end_s - self._last_activity_s, self._end_silence_s)

    def _count_towards_start(self, t_s: float, end_s: float,
                             speech: bool) -> list[SegmentEvent]:
        if not speech:
            if self._run_start_s is not None \
                    and reached(end_s - self._run_last_end_s, self._s.start_max_gap_s):
                self._run_start_s = None
            return []
        if self._run_start_s is None:
            self._run_start_s, self._run_speech_s = t_s, 0.0
        self._run_speech_s += self._hop_s
        self._run_last_end_s = end_s
        if reached(self._run_speech_s, self._start_min_s):
            return [self._start(self._run_start_s, self._start_reason, end_s)]
        return []

    def _start(self, t_s: float, reason: SegmentReason, decided_s: float) -> SegmentEvent:
        self._in_call = True
        self._run_start_s = None
        return SegmentEvent(SegmentKind.CALL_STARTED, t_s, reason, decided_s)

    def _end(self, t_s: float, reason: SegmentReason, decided_s: float) -> SegmentEvent:
        self._in_call = False
        self._run_start_s = None
        return SegmentEvent(SegmentKind.CALL_ENDED, t_s, reason, decided_s)
