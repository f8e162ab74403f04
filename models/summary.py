"""Per-call totals: how much each party talked, how fast, and what the rules found."""
from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median

from models.events import Event, EventKind
from models.frames import FeatureFrame, PartyFrame


@dataclass(frozen=True, slots=True)
class PartySummary:
    """One party's talk over the call.

    Attributes
    ----------
    talk_s : float
        Seconds of speech.
    talk_share : float
        Fraction of the call's duration the party spoke, 0 to 1. The two
        parties' shares can add up to more than 1 when they overlap.
    rate_sps : float or None
        Median speech rate in syllables per second over the party's speech
        hops that carry a rate; None if none did.
    """

    talk_s: float
    talk_share: float
    rate_sps: float | None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """Totals for one call.

    Attributes
    ----------
    duration_s : float
        Length of the analysed stream in seconds.
    agent : PartySummary
        The agent's talk.
    customer : PartySummary or None
        The customer's talk; None in mic-only mode.
    overtalk_s : float
        Seconds both parties spoke at once (0 in mic-only mode).
    interruptions : int
        Number of interruption events (0 in mic-only mode).
    raised_voice_s : float
        Total duration of raised-voice events in seconds.
    fast_speech_s : float
        Total duration of fast-speech events in seconds.
    monologues : int
        Number of monologue events (0 in mic-only mode).
    breathing_prompts : int
        Number of breathing exercises offered.
    """

    duration_s: float
    agent: PartySummary
    customer: PartySummary | None
    overtalk_s: float
    interruptions: int
    raised_voice_s: float
    fast_speech_s: float
    monologues: int
    breathing_prompts: int


class _PartyTally:
    def __init__(self) -> None:
        self.speech_hops = 0
        self.rates_sps = array("d")

    def push(self, party: PartyFrame) -> None:
        if party.speech:
            self.speech_hops += 1
            if party.rate_sps is not None:
                self.rates_sps.append(party.rate_sps)

    def result(self, hop_s: float, duration_s: float) -> PartySummary:
        talk_s = self.speech_hops * hop_s
        return PartySummary(talk_s=talk_s,
                            talk_share=talk_s / duration_s if duration_s > 0 else 0.0,
                            rate_sps=median(self.rates_sps) if self.rates_sps else None)


class SummaryAccumulator:
    """Builds the call summary while the frames stream past.

    Keeps 8 bytes per speech hop that carries a rate (for the median), about
    290 kB per party for an hour of continuous speech.

    Parameters
    ----------
    hop_s : float
        Hop of the frames in seconds.
    customer_present : bool
        False in mic-only mode; the frames' ``customer`` is then ignored.
    """

    def __init__(self, hop_s: float, customer_present: bool) -> None:
        self._hop_s = hop_s
        self._hops = 0
        self._overtalk_hops = 0
        self._agent = _PartyTally()
        self._customer = _PartyTally() if customer_present else None

    def push(self, frame: FeatureFrame) -> None:
        """Count one hop.

        Parameters
        ----------
        frame : FeatureFrame
            The next hop's features.

        Raises
        ------
        ValueError
            If a customer is expected but the frame has no customer features.
        """
        self._hops += 1
        self._agent.push(frame.agent)
        if self._customer is None:
            return
        if frame.customer is None:
            raise ValueError(f"frame {frame.index} has no customer features "
                             "but the summary expects a customer")
        self._customer.push(frame.customer)
        if frame.agent.speech and frame.customer.speech:
            self._overtalk_hops += 1

    def result(self, events: Iterable[Event], duration_s: float | None = None) -> CallSummary:
        """The summary of the frames so far.

        Parameters
        ----------
        events : iterable of Event
            The call's closed events (``CallRules.events``).
        duration_s : float, optional
            The call's length in seconds, when it is not the span of the frames
            pushed: a live call's frames run on past its last speech until the
            silence that ends it is long enough. None takes the frames' span.

        Returns
        -------
        CallSummary
            Totals; event durations are ``end_s - start_s`` in seconds.
        """
        if duration_s is None:
            duration_s = self._hops * self._hop_s
        counts = {kind: 0 for kind in EventKind}
        seconds = {kind: 0.0 for kind in EventKind}
        for event in events:
            counts[event.kind] += 1
            seconds[event.kind] += event.end_s - event.start_s
        return CallSummary(
            duration_s=duration_s,
            agent=self._agent.result(self._hop_s, duration_s),
            customer=(self._customer.result(self._hop_s, duration_s)
                      if self._customer is not None else None),
            overtalk_s=self._overtalk_hops * self._hop_s,
            interruptions=counts[EventKind.INTERRUPTION],
            raised_voice_s=seconds[EventKind.RAISED_VOICE],
            fast_speech_s=seconds[EventKind.FAST_SPEECH],
            monologues=counts[EventKind.MONOLOGUE],
            breathing_prompts=counts[EventKind.BREATHING_PROMPT],
        )
