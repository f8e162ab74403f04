"""Engine output as JSON lines: one object per event or status change, as it happens."""
from __future__ import annotations

import json
import threading
from typing import IO

from models.baseline import Baseline
from models.frames import FeatureFrame
from models.report import event_to_json
from monitor.engine import LiveEvent, StatusChange, iso_utc


class JsonLinesListener:
    """Writes events and status changes to a text stream, one JSON object per line.

    Event lines carry ``kind``, ``phase`` (``open`` when the rule's condition
    is confirmed, ``close`` with the final values), ``start_s``, ``end_s``,
    ``value``, ``threshold``, ``severity``, ``call_id`` and ``emitted_at``
    (UTC wall-clock time). Status lines carry ``kind`` (``call_started``,
    ``microphone_lost``, ...), ``t_s``, ``detail``, ``call_id`` and ``emitted_at``.
    Each line is flushed at once, so a consumer sees it within the tick.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        """Frames are for meters; the log leaves them out."""

    def on_event(self, event: LiveEvent) -> None:
        """Write one event update."""
        record = event_to_json(event.update.event)
        record["phase"] = event.update.phase.value
        record["call_id"] = event.call_id
        record["emitted_at"] = iso_utc(event.wall_time_s)
        self._write(record)

    def on_status(self, status: StatusChange) -> None:
        """Write one status change."""
        self._write({"kind": status.kind, "t_s": round(status.t_s, 2), "detail": status.detail,
                     "call_id": status.call_id, "emitted_at": iso_utc(status.wall_time_s)})

    def _write(self, record: dict) -> None:
        with self._lock:
            self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._stream.flush()
