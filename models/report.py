"""The analysis report: schema ``calmline.analysis/1`` and the events CSV.

The report is built from streaming parts (a frame table that grows hop by
hop, the closed events, the call summary) and turned into plain JSON-ready
dictionaries here, so that every front end writes the same thing.
"""
from __future__ import annotations

import csv
import math
from array import array
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from models.baseline import Baseline
from models.events import Event
from models.frames import FeatureFrame, PartyFrame
from models.settings import RuleSettings
from models.summary import CallSummary, PartySummary

SCHEMA = "calmline.analysis/1"
EVENT_CSV_FIELDS = ("kind", "start_s", "end_s", "value", "threshold", "severity")


def _num(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


class _PartyColumns:
    """One party's per-hop features, stored compactly (NaN stands for 'undefined')."""

    def __init__(self) -> None:
        self.momentary_lufs = array("d")
        self.short_term_lufs = array("d")
        self.speech = bytearray()
        self.rate_sps = array("d")
        self.line_sound = bytearray()  # not in the JSON frames: schema calmline.analysis/1 stays as it is

    def append(self, frame: PartyFrame) -> None:
        nan = math.nan
        self.momentary_lufs.append(nan if frame.momentary_lufs is None else frame.momentary_lufs)
        self.short_term_lufs.append(nan if frame.short_term_lufs is None else frame.short_term_lufs)
        self.speech.append(frame.speech)
        self.rate_sps.append(nan if frame.rate_sps is None else frame.rate_sps)
        self.line_sound.append(frame.line_sound)

    def to_json(self) -> dict[str, list[Any]]:
        return {
            "momentary_lufs": [_num(v, 2) for v in self.momentary_lufs],
            "short_term_lufs": [_num(v, 2) for v in self.short_term_lufs],
            "speech": [bool(v) for v in self.speech],
            "rate_sps": [_num(v, 2) for v in self.rate_sps],
        }


class FrameTable:
    """Feature frames of a whole call, column by column (about 50 bytes a hop).

    Parameters
    ----------
    hop_s : float
        Hop of the frames in seconds.
    has_customer : bool
        Whether the frames carry the customer's side.
    """

    def __init__(self, hop_s: float, has_customer: bool) -> None:
        self.hop_s = hop_s
        self.t_s = array("d")
        self.agent = _PartyColumns()
        self.customer = _PartyColumns() if has_customer else None

    def __len__(self) -> int:
        return len(self.t_s)

    @property
    def customer_line_sound_s(self) -> float:
        """Seconds in which the customer's line carried music or a tone, not a voice."""
        return 0.0 if self.customer is None else self.customer.line_sound.count(1) * self.hop_s

    def append(self, frame: FeatureFrame) -> None:
        """Add the next frame."""
        self.t_s.append(frame.t_s)
        self.agent.append(frame.agent)
        if self.customer is not None and frame.customer is not None:
            self.customer.append(frame.customer)

    def to_json(self) -> dict[str, Any]:
        """The ``frames`` object of the report."""
        return {
            "hop_s": self.hop_s,
            "t": [round(t, 3) for t in self.t_s],
            "agent": self.agent.to_json(),
            "customer": self.customer.to_json() if self.customer is not None else None,
        }


@dataclass
class AnalysisReport:
    """Everything ``calmline analyze`` found in one recording.

    Attributes
    ----------
    source : str
        The recording analysed.
    channels : dict
        Where each party came from (``{"agent": "call.wav:1", "customer": "call.wav:2"}``).
    duration_s : float
        Length of the recording in seconds.
    sample_rate : int
        Sample rate of the agent's audio in Hz.
    baseline : Baseline
        The agent's baseline at the end of the call.
    frames : FrameTable
        Per-hop features.
    events : list of Event
        Closed events, in start order.
    summary : CallSummary
        Per-call totals.
    notes : list of str
        Things the reader should know (mic-only mode, repaired samples, ...).
    rules : RuleSettings
        The thresholds and cues the call was judged by (not part of the JSON).
    calibrated_at_s : float or None
        When the agent's baseline was first calibrated, in seconds from the
        start; before then the raised-voice cue could not fire. None if it
        never was. Not part of the JSON.
    """

    source: str
    channels: dict[str, str | None]
    duration_s: float
    sample_rate: int
    baseline: Baseline
    frames: FrameTable
    events: list[Event]
    summary: CallSummary
    notes: list[str] = field(default_factory=list)
    rules: RuleSettings = field(default_factory=RuleSettings)
    calibrated_at_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dictionary in schema ``calmline.analysis/1``."""
        return {
            "schema": SCHEMA,
            "source": self.source,
            "channels": self.channels,
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "baseline": baseline_to_json(self.baseline),
            "frames": self.frames.to_json(),
            "events": [event_to_json(e) for e in self.events],
            "summary": summary_to_json(self.summary),
            "notes": list(self.notes),
        }


def baseline_to_json(baseline: Baseline) -> dict[str, Any]:
    """The ``baseline`` object of the report."""
    data = asdict(baseline)
    for key, value in data.items():
        if isinstance(value, float):
            data[key] = _num(value, 2)
    return data


def event_to_json(event: Event) -> dict[str, Any]:
    """One entry of the report's ``events`` list."""
    return {
        "kind": event.kind.value,
        "start_s": round(event.start_s, 2),
        "end_s": round(event.end_s, 2),
        "value": _num(event.value, 2),
        "threshold": _num(event.threshold, 2),
        "severity": event.severity.value,
    }


def _party_to_json(party: PartySummary | None) -> dict[str, Any] | None:
    if party is None:
        return None
    return {key: (_num(v, 3) if isinstance(v, float) else v) for key, v in asdict(party).items()}


def summary_to_json(summary: CallSummary) -> dict[str, Any]:
    """The ``summary`` object of the report."""
    data: dict[str, Any] = {}
    for key, value in asdict(summary).items():
        if key in ("agent", "customer"):
            data[key] = _party_to_json(getattr(summary, key))
        else:
            data[key] = _num(value, 2) if isinstance(value, float) else value
    return data


def write_events_csv(events: list[Event], stream: IO[str]) -> None:
    """Write events as CSV with the columns of :data:`EVENT_CSV_FIELDS`."""
    writer = csv.DictWriter(stream, fieldnames=EVENT_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        writer.writerow(event_to_json(event))
