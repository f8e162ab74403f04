"""The call log: calls, their coaching events and breathing prompts, in SQLite.

One file, by default in the user data folder (:func:`default_store_path`).
No audio is stored here; when recording is on, the recorder writes each call
to its own file and the store keeps that file's path, deleting the file with
the call.

Durability
----------
The database runs in WAL mode with ``synchronous=NORMAL`` and every write is
its own small transaction, so a killed process (``kill -9``) loses nothing
that was committed and at most the write in flight, and the file is never
left corrupt. (A power cut may lose the last few commits but still leaves a
consistent file.) Calls that were still open when the process died are closed
as ``interrupted`` the next time a monitoring engine opens the file
(``recover=True``) while no other engine has it open (see
:mod:`models.engine_presence`): another engine's open call is in progress.
Then, too, breathing prompts that an earlier process left on screen or under
way are closed: a ``shown`` offer as ``dismissed``, a ``started`` exercise as
``stopped``, keeping the time of their last recorded outcome; but not while
another live process has a breathing prompt log open on the file
(``prompt_log=True``), whose exercises may be on screen there.

Threads
-------
A :class:`CallStore` holds one connection and must be used only from the
thread that opened it; sqlite3's ``check_same_thread`` is left on so that a
mistake fails at once instead of corrupting state. The engine thread opens
the writing store; the UI opens its own with ``read_only=True``. WAL lets the
reader see every committed call and event while the writer goes on writing.
A read-only store never changes the file: it is not created, its permissions
and schema are left as they are, and a log on a read-only disk can be read.
Other writers (the UI logging a breathing prompt, deleting a call) may open the
file while the engine is monitoring; only an engine recovers open calls,
because only engines begin calls.

Privacy
-------
The store's folder is made user-only (0700), so give the store a folder of its
own; the database file is created user-only (0600), and SQLite gives its
``-wal`` and ``-shm`` files the database file's permissions. Exports, and the
engines' claims in ``<log>.engines/``, are user-only too.

Times
-----
Wall-clock times are given as timezone-aware datetimes or ISO 8601 text with
a UTC offset (:data:`WallTime`), stored as UTC ISO 8601 text with
microseconds (so that they sort as text), and read back as UTC datetimes. A
time without a zone is refused: it would be ambiguous. Stream times (``*_s``) are
seconds from the start of the monitored stream, like the frames' ``t_s``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path, PurePath, PureWindowsPath
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

from platformdirs import user_data_path

from models.engine_presence import EngineClaim, OtherClaims
from models.errors import UserError
from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
from models.private_files import (USER_ONLY, make_private_folder, same_file, write_private_text,
                                  write_private_texts)
from models.summary import CallSummary, PartySummary

logger = logging.getLogger(__name__)

APPLICATION_ID = 0x436C6D4C
"""SQLite ``application_id`` of a CalmLine store ("ClmL")."""

EXPORT_SCHEMA = "calmline.calls/1"
"""The ``schema`` of the JSON export."""

_BUSY_TIMEOUT_S = 5.0

_FULL_DISK_BYTES = 1 << 20
"""Below this much free space SQLite's full-disk and I/O errors are put down to a full disk:
it needs more than that for its shared-memory and write-ahead files."""

_PROCESS_STARTED_AT = datetime.now(timezone.utc)
"""About when this process started (when it loaded the store): a breathing prompt last
updated before then was left by an earlier process, while a later one may still be on
screen in this one, whose engine restarts when monitoring is paused or reconfigured."""

_CLOCK_SLACK = timedelta(minutes=5)
"""How far after the ``now`` given to retention a call may start and still count as rightly
stamped: an engine may begin a call just after the caller read the clock."""

_STARTED_AT_BEFORE_V3 = (
    "CASE WHEN outcome = 'started' THEN updated_at "
    "WHEN \"trigger\" = 'manual' AND outcome IN ('completed', 'stopped') THEN at END")
"""A prompt's exercise start as far as a log before v3 tells it: a prompt still ``started``
changed to that last, and one started by hand (``manual``) was logged as it started. Any
other start time was overwritten by the outcome that followed, and stays unknown (NULL)."""

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: the first schema.
    (
        f"PRAGMA application_id = {APPLICATION_ID}",
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            start_s REAL NOT NULL,
            end_s REAL,
            mode TEXT NOT NULL CHECK (mode IN ('two_party', 'mic_only')),
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'ended', 'interrupted')),
            duration_s REAL,
            agent_talk_s REAL,
            agent_talk_share REAL,
            agent_rate_sps REAL,
            customer_talk_s REAL,
            customer_talk_share REAL,
            customer_rate_sps REAL,
            overtalk_s REAL,
            interruptions INTEGER,
            raised_voice_s REAL,
            fast_speech_s REAL,
            monologues INTEGER,
            breathing_prompts INTEGER,
            recording_path TEXT
        )""",
        "CREATE INDEX calls_by_start ON calls (started_at)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            start_s REAL NOT NULL,
            end_s REAL NOT NULL,
            value REAL NOT NULL,
            threshold REAL NOT NULL,
            severity TEXT NOT NULL,
            final INTEGER NOT NULL DEFAULT 1 CHECK (final IN (0, 1)),
            emitted_at TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_call ON events (call_id, start_s)",
        """CREATE TABLE breathing_prompts (
            id INTEGER PRIMARY KEY,
            call_id INTEGER REFERENCES calls (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            "trigger" TEXT NOT NULL,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('shown', 'started', 'completed', 'dismissed')),
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX prompts_by_call ON breathing_prompts (call_id, at)",
    ),
    # v2: a started exercise ended early is 'stopped', no longer 'dismissed' like an
    # offer turned down. SQLite cannot change a CHECK constraint, so the table is rebuilt.
    (
        """CREATE TABLE breathing_prompts_v2 (
            id INTEGER PRIMARY KEY,
            call_id INTEGER REFERENCES calls (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            "trigger" TEXT NOT NULL,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('shown', 'started', 'completed', 'stopped', 'dismissed')),
            updated_at TEXT NOT NULL
        )""",
        'INSERT INTO breathing_prompts_v2 (id, call_id, at, "trigger", outcome, updated_at) '
        'SELECT id, call_id, at, "trigger", outcome, updated_at FROM breathing_prompts',
        "DROP TABLE breathing_prompts",
        "ALTER TABLE breathing_prompts_v2 RENAME TO breathing_prompts",
        "CREATE INDEX prompts_by_call ON breathing_prompts (call_id, at)",
    ),
    # v3: ids are never reused (AUTOINCREMENT): exports and log lines name calls and prompts
    # by id, and without it the next call took the id of the newest one deleted. A prompt
    # also keeps when its exercise started (started_at), lost once it completed. Both tables
    # are rebuilt, with foreign keys off (see CallStore._migrate): dropping calls with them on
    # would delete every event and prompt.
    (
        """CREATE TABLE calls_v3 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            start_s REAL NOT NULL,
            end_s REAL,
            mode TEXT NOT NULL CHECK (mode IN ('two_party', 'mic_only')),
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'ended', 'interrupted')),
            duration_s REAL,
            agent_talk_s REAL,
            agent_talk_share REAL,
            agent_rate_sps REAL,
            customer_talk_s REAL,
            customer_talk_share REAL,
            customer_rate_sps REAL,
            overtalk_s REAL,
            interruptions INTEGER,
            raised_voice_s REAL,
            fast_speech_s REAL,
            monologues INTEGER,
            breathing_prompts INTEGER,
            recording_path TEXT
        )""",
        "INSERT INTO calls_v3 SELECT id, started_at, ended_at, start_s, end_s, mode, status, "
        "duration_s, agent_talk_s, agent_talk_share, agent_rate_sps, customer_talk_s, "
        "customer_talk_share, customer_rate_sps, overtalk_s, interruptions, raised_voice_s, "
        "fast_speech_s, monologues, breathing_prompts, recording_path FROM calls",
        "DROP TABLE calls",
        "ALTER TABLE calls_v3 RENAME TO calls",
        "CREATE INDEX calls_by_start ON calls (started_at)",
        """CREATE TABLE breathing_prompts_v3 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            call_id INTEGER REFERENCES calls (id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            "trigger" TEXT NOT NULL,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('shown', 'started', 'completed', 'stopped', 'dismissed')),
            updated_at TEXT NOT NULL,
            started_at TEXT
        )""",
        'INSERT INTO breathing_prompts_v3 (id, call_id, at, "trigger", outcome, updated_at, '
        'started_at) SELECT id, call_id, at, "trigger", outcome, updated_at, '
        f"{_STARTED_AT_BEFORE_V3} FROM breathing_prompts",
        "DROP TABLE breathing_prompts",
        "ALTER TABLE breathing_prompts_v3 RENAME TO breathing_prompts",
        "CREATE INDEX prompts_by_call ON breathing_prompts (call_id, at)",
    ),
)
"""Schema migrations in order: entry ``n`` upgrades version ``n`` to ``n + 1``.

A read-only store reads an older schema as it is, since it may not upgrade the
file: a migration must leave the read queries working on the versions before it
(v2 only widened a CHECK constraint; before v3 a prompt's ``started_at`` is read as
:data:`_STARTED_AT_BEFORE_V3`), or :meth:`CallStore._open` must refuse them."""

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes (``PRAGMA user_version``)."""

_CALL_COLUMNS = (
    "id", "started_at", "ended_at", "start_s", "end_s", "mode", "status",
    "duration_s", "agent_talk_s", "agent_talk_share", "agent_rate_sps",
    "customer_talk_s", "customer_talk_share", "customer_rate_sps",
    "overtalk_s", "interruptions", "raised_voice_s", "fast_speech_s", "monologues",
    "breathing_prompts", "recording_path",
)
_EVENT_COLUMNS = ("id", "call_id", "kind", "start_s", "end_s", "value", "threshold",
                  "severity", "final", "emitted_at")
# started_at comes last, so that readers of older exports find the columns where they were.
_PROMPT_COLUMNS = ("id", "call_id", "at", "trigger", "outcome", "updated_at", "started_at")
_PROMPT_SELECT = 'id, call_id, at, "trigger", outcome, updated_at, started_at'
_PROMPT_SELECT_BEFORE_V3 = ('id, call_id, at, "trigger", outcome, updated_at, '
                            f"{_STARTED_AT_BEFORE_V3} AS started_at")


WallTime = datetime | str
"""A wall-clock time: a timezone-aware datetime, or ISO 8601 text with a UTC offset."""


class StoreError(UserError):
    """The call log cannot be opened, read or written; the message is one line for the user."""


class NoCallLogYet(StoreError):
    """There is nothing to read: no call log, or one whose first writer has not set it up yet."""


class CallMode(str, Enum):
    """Which sides of the call were monitored."""

    TWO_PARTY = "two_party"
    MIC_ONLY = "mic_only"


class CallStatus(str, Enum):
    """Where a call's record stands."""

    OPEN = "open"
    """In progress."""
    ENDED = "ended"
    """Ended normally, with a summary."""
    INTERRUPTED = "interrupted"
    """Left open by a crash; closed at the last thing recorded, without a summary."""


class PromptOutcome(str, Enum):
    """What became of a breathing exercise offer.

    An offer is shown, and is either turned down (``dismissed``: "Not now",
    closed, or left until it expired) or started; a started exercise ends
    ``completed`` or, ended early, ``stopped``. The outcome only moves
    forward along that path.
    """

    SHOWN = "shown"
    STARTED = "started"
    COMPLETED = "completed"
    STOPPED = "stopped"
    DISMISSED = "dismissed"


_NEXT_OUTCOMES = {
    PromptOutcome.SHOWN: {PromptOutcome.STARTED, PromptOutcome.COMPLETED,
                          PromptOutcome.DISMISSED},
    PromptOutcome.STARTED: {PromptOutcome.COMPLETED, PromptOutcome.STOPPED},
    PromptOutcome.COMPLETED: set(),
    PromptOutcome.STOPPED: set(),
    PromptOutcome.DISMISSED: set(),
}


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call in the log.

    Attributes
    ----------
    id : int
        The call's key; never reused, even after the call is deleted.
    started_at, ended_at : datetime
        Wall-clock start and end (UTC); ``ended_at`` is None while the call is open.
    start_s, end_s : float
        Start and end in seconds from the start of the monitored stream;
        ``end_s`` is None while the call is open.
    mode : CallMode
        Two-party or mic-only.
    status : CallStatus
        Open, ended, or interrupted by a crash.
    summary : CallSummary or None
        The call's totals; None unless the call ended normally.
    recording_path : Path or None
        The call's recording, if recording was on.
    """

    id: int
    started_at: datetime
    ended_at: datetime | None
    start_s: float
    end_s: float | None
    mode: CallMode
    status: CallStatus
    summary: CallSummary | None
    recording_path: Path | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One coaching event in the log.

    Attributes
    ----------
    id : int
        The event's key.
    call_id : int
        The call it belongs to.
    event : Event
        The event; while ``final`` is False its ``end_s`` is where it stood
        when last written.
    emitted_at : datetime
        Wall-clock time (UTC) of its last update.
    final : bool
        False for an event that was still open when last written (and, after
        a crash, never closed).
    """

    id: int
    call_id: int
    event: Event
    emitted_at: datetime
    final: bool


@dataclass(frozen=True, slots=True)
class PromptRecord:
    """One breathing exercise offer.

    Attributes
    ----------
    id : int
        The prompt's key; never reused, even after the prompt is deleted.
    call_id : int or None
        The call it was offered in; None outside a call.
    at : datetime
        Wall-clock time (UTC) of the offer.
    trigger : str
        What led to it, such as ``raised_voice`` or ``interruption``.
    outcome : PromptOutcome
        What became of it so far.
    updated_at : datetime
        Wall-clock time (UTC) of the latest outcome.
    started_at : datetime or None
        Wall-clock time (UTC) the exercise started: ``at`` for one started by
        hand. None if it never started, or if it ended before CalmLine kept
        this (schema version 3).
    """

    id: int
    call_id: int | None
    at: datetime
    trigger: str
    outcome: PromptOutcome
    updated_at: datetime
    started_at: datetime | None


def default_store_path() -> Path:
    """Where the call log lives unless the user says otherwise.

    Returns
    -------
    Path
        ``calmline.sqlite3`` in the user data folder for CalmLine (not created here).
    """
    return user_data_path("calmline", appauthor=False) / "calmline.sqlite3"


class CallStore:
    """The call log in one SQLite file.

    Opening for writing creates the file and its folder (user-only) if needed
    and brings the schema up to date; opening read-only changes nothing. See
    the module notes for durability, threads and privacy.

    Parameters
    ----------
    path : Path
        The database file.
    read_only : bool
        Open for reading only (the UI's store, exports). The file must exist.
    recover : bool
        Open as a monitoring engine: the store claims the log as an engine's
        until it is closed, and closes calls (and breathing prompts) left open
        by a crash unless another live engine has the log open (prompts also
        unless another live process has a prompt log on it). Only the
        monitoring engine passes True, as it starts: any other store may be
        opened while a live call is open, and must not end it. Ignored with
        ``read_only``.
    prompt_log : bool
        Open as the app's breathing prompt log: the store claims the log
        until it is closed, so that an engine of another process does not
        take the exercises on screen here for ones a crash left. Ignored with
        ``read_only`` or ``recover``.

    Raises
    ------
    StoreError
        If the file is not a CalmLine database, is damaged, was written by a
        newer CalmLine, cannot be created, or (read-only) does not exist. The
        file is left as it was.
    """

    def __init__(self, path: Path, *, read_only: bool = False, recover: bool = False,
                 prompt_log: bool = False) -> None:
        self.path = Path(path)
        self._read_only = read_only
        self._presence: EngineClaim | None = None
        self._prompt_select = _PROMPT_SELECT
        if read_only:
            self._conn = _connect_read_only(self.path)
        else:
            _prepare_file(self.path)
            self._conn = _connect(self.path)
        try:
            self._open()
            if recover and not read_only:
                self._claim_as_engine()
            elif prompt_log and not read_only:
                self._claim_for_prompts()
        except BaseException:
            self.close()
            raise

    # --- life cycle

    def close(self) -> None:
        """Close the connection and drop any claim; the store cannot be used afterwards."""
        self._conn.close()
        if self._presence is not None:
            self._presence.release()
            self._presence = None

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The file's schema version (``PRAGMA user_version``)."""
        return int(self._query("read the schema version", "PRAGMA user_version")[0][0])

    def call_count(self) -> int:
        """How many calls the log holds."""
        return int(self._query("count the calls", "SELECT COUNT(*) FROM calls")[0][0])

    # --- calls

    def begin_call(self, started_at: WallTime, start_s: float, mode: CallMode | str) -> int:
        """Record that a call has started.

        Parameters
        ----------
        started_at : datetime or str
            Wall-clock start, timezone-aware.
        start_s : float
            Start in seconds from the start of the monitored stream.
        mode : CallMode or str
            Two-party or mic-only (``"two_party"``, ``"mic_only"``).

        Returns
        -------
        int
            The call's id.

        Raises
        ------
        ValueError
            If ``mode`` is unknown or ``started_at`` has no time zone.
        """
        row = (_iso(started_at), start_s, CallMode(mode).value)
        with self._write("record the call's start") as conn:
            cursor = conn.execute(
                "INSERT INTO calls (started_at, start_s, mode) VALUES (?, ?, ?)", row)
        return _row_id(cursor)

    def end_call(self, call_id: int, ended_at: WallTime, end_s: float, summary: CallSummary,
                 recording_path: Path | None = None) -> None:
        """Record that a call has ended, with its totals.

        Parameters
        ----------
        call_id : int
            The open call.
        ended_at : datetime or str
            Wall-clock end, timezone-aware.
        end_s : float
            End in seconds from the start of the monitored stream.
        summary : CallSummary
            The call's totals.
        recording_path : Path, optional
            The call's recording; None keeps any path set earlier.

        Raises
        ------
        StoreError
            If the call does not exist or is not open.
        """
        customer = summary.customer
        values = {
            "ended_at": _iso(ended_at), "end_s": end_s, "status": CallStatus.ENDED.value,
            "duration_s": summary.duration_s,
            "agent_talk_s": summary.agent.talk_s,
            "agent_talk_share": summary.agent.talk_share,
            "agent_rate_sps": summary.agent.rate_sps,
            "customer_talk_s": customer.talk_s if customer else None,
            "customer_talk_share": customer.talk_share if customer else None,
            "customer_rate_sps": customer.rate_sps if customer else None,
            "overtalk_s": summary.overtalk_s, "interruptions": summary.interruptions,
            "raised_voice_s": summary.raised_voice_s, "fast_speech_s": summary.fast_speech_s,
            "monologues": summary.monologues, "breathing_prompts": summary.breathing_prompts,
        }
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self._write("record the call's end") as conn:
            self._require_open_call(conn, call_id)
            conn.execute(f"UPDATE calls SET {assignments}, "
                         "recording_path = COALESCE(:recording_path, recording_path) "
                         "WHERE id = :id",
                         {**values, "id": call_id,
                          "recording_path": _path_text(recording_path)})

    def set_recording(self, call_id: int, path: Path) -> None:
        """Remember a call's recording, so that it is deleted with the call.

        Parameters
        ----------
        call_id : int
            The call.
        path : Path
            The recording file (made absolute).

        Raises
        ------
        StoreError
            If the call does not exist.
        """
        with self._write("remember the recording") as conn:
            cursor = conn.execute("UPDATE calls SET recording_path = ? WHERE id = ?",
                                  (_path_text(path), call_id))
            if cursor.rowcount == 0:
                raise StoreError(f"call {call_id} is not in the call log")

    def calls(self, limit: int = 100, offset: int = 0,
              since: WallTime | None = None) -> list[CallRecord]:
        """Calls, newest first.

        Parameters
        ----------
        limit : int
            At most this many.
        offset : int
            Skip this many of the newest first (for paging).
        since : datetime or str, optional
            Only calls started at or after this time (timezone-aware).

        Returns
        -------
        list of CallRecord
        """
        sql = f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE started_at >= ?"
            params.append(_iso(since))
        sql += " ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._query("read the calls", sql, (*params, limit, offset))
        return [_call_record(row) for row in rows]

    def call(self, call_id: int) -> CallRecord | None:
        """One call.

        Parameters
        ----------
        call_id : int
            The call's id.

        Returns
        -------
        CallRecord or None
            None if there is no such call.
        """
        rows = self._query("read the call",
                           f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls WHERE id = ?",
                           (call_id,))
        return _call_record(rows[0]) if rows else None

    def delete_call(self, call_id: int) -> bool:
        """Delete a call with its events, prompts and recording file.

        The recording is deleted only once the call's deletion is committed,
        so that a delete that fails (the log busy) keeps the call whole. A
        recording that cannot be deleted is named in a warning and does not
        fail the delete; if the process dies in between, the audio outlives
        its record.

        Parameters
        ----------
        call_id : int
            The call's id.

        Returns
        -------
        bool
            Whether there was such a call.
        """
        return self._delete_calls("delete the call", "id = ?", (call_id,)) > 0

    def apply_retention(self, days: float, now: WallTime) -> int:
        """Delete calls (with their events, prompts and recordings) older than ``days``.

        A call's age is counted from its start; open calls are kept. Prompts
        offered outside a call are deleted on the same terms.

        The computer's clock is not trusted blindly, since calls are stamped
        with it too. A call logged after a call that is kept (with a higher
        id: calls are logged in order) is kept too, whatever its stamp: it was
        stamped by a clock that was behind then. A kept call stamped in the
        future (by a clock that was ahead then) is no such evidence, or it would
        keep every later call until its date. The same goes for prompts outside
        calls, among themselves. A clock that is behind now only keeps calls
        longer.

        A clock that jumps far ahead cannot be told from time passing, and
        deletes calls as the real date would; nor can calls that were all
        stamped by a clock that was behind, with no call kept after them.

        Parameters
        ----------
        days : float
            How long calls are kept, in days; greater than 0.
        now : datetime or str
            The current time, timezone-aware.

        Returns
        -------
        int
            How many calls were deleted.

        Raises
        ------
        ValueError
            If ``days`` is not greater than 0.
        """
        if not days > 0:
            raise ValueError(f"retention must be more than 0 days, got {days!r}")
        moment = _aware(now)
        bounds = {"cutoff": _iso(moment - timedelta(days=days)),
                  "future": _iso(moment + _CLOCK_SLACK)}
        deleted = self._delete_calls(
            "apply the retention period",
            "started_at < :cutoff AND status != 'open' AND id < COALESCE("
            "(SELECT min(id) FROM calls WHERE started_at >= :cutoff AND started_at <= :future), "
            "id + 1)", bounds)
        with self._write("apply the retention period") as conn:
            conn.execute("DELETE FROM breathing_prompts WHERE call_id IS NULL AND at < :cutoff "
                         "AND id < COALESCE((SELECT min(id) FROM breathing_prompts "
                         "WHERE call_id IS NULL AND at >= :cutoff AND at <= :future), id + 1)",
                         bounds)
        if deleted:
            logger.info("deleted %d calls older than %g days", deleted, days)
        return deleted

    # --- events

    def add_event(self, call_id: int, event: Event, emitted_at: WallTime) -> int:
        """Record a closed coaching event, in its own transaction.

        Parameters
        ----------
        call_id : int
            The call it belongs to.
        event : Event
            The final event.
        emitted_at : datetime or str
            When it was emitted, timezone-aware.

        Returns
        -------
        int
            The event's id.

        Raises
        ------
        StoreError
            If the call does not exist.
        """
        with self._write("record the event") as conn:
            return self._insert_event(conn, call_id, event, emitted_at, final=True)

    def record_update(self, call_id: int, update: EventUpdate,
                      emitted_at: WallTime) -> int:
        """Record an event update as it happens, in its own transaction.

        An OPEN update is stored at once (not final), so a long event survives
        a crash; its CLOSE update completes that row, found by kind and
        ``start_s``, which do not change over an event's life. A CLOSE without
        an earlier OPEN (an instantaneous event) is stored as a new final event.

        Parameters
        ----------
        call_id : int
            The call it belongs to.
        update : EventUpdate
            The update.
        emitted_at : datetime or str
            When it was emitted, timezone-aware.

        Returns
        -------
        int
            The event's id.

        Raises
        ------
        StoreError
            If the call does not exist.
        """
        event = update.event
        with self._write("record the event") as conn:
            if update.phase is EventPhase.OPEN:
                return self._insert_event(conn, call_id, event, emitted_at, final=False)
            row = conn.execute("SELECT id FROM events WHERE call_id = ? AND kind = ? "
                               "AND start_s = ? AND final = 0 ORDER BY id DESC LIMIT 1",
                               (call_id, event.kind.value, event.start_s)).fetchone()
            if row is None:
                return self._insert_event(conn, call_id, event, emitted_at, final=True)
            conn.execute("UPDATE events SET end_s = ?, value = ?, threshold = ?, severity = ?, "
                         "final = 1, emitted_at = ? WHERE id = ?",
                         (event.end_s, event.value, event.threshold, event.severity.value,
                          _iso(emitted_at), row[0]))
            return int(row[0])

    def events(self, call_id: int) -> list[EventRecord]:
        """A call's events in order of start.

        Parameters
        ----------
        call_id : int
            The call's id.

        Returns
        -------
        list of EventRecord
        """
        rows = self._query("read the events",
                           f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE call_id = ? "
                           "ORDER BY start_s, id", (call_id,))
        return [_event_record(row) for row in rows]

    # --- breathing prompts

    def record_prompt(self, call_id: int | None, at: WallTime, trigger: str,
                      outcome: PromptOutcome = PromptOutcome.SHOWN) -> int:
        """Record a breathing exercise offer.

        Parameters
        ----------
        call_id : int or None
            The call it was offered in; None outside a call.
        at : datetime or str
            When it was offered, timezone-aware.
        trigger : str
            What led to it, such as ``raised_voice`` or ``interruption``.
        outcome : PromptOutcome
            What has become of it so far; ``started`` for an exercise started
            by hand, which then started at ``at``.

        Returns
        -------
        int
            The prompt's id, never one that an earlier (deleted) prompt had.

        Raises
        ------
        StoreError
            If the call does not exist.
        """
        stamp = _iso(at)
        first = PromptOutcome(outcome)
        started_at = stamp if first is PromptOutcome.STARTED else None
        with self._write("record the breathing prompt") as conn:
            if call_id is not None:
                self._require_call(conn, call_id)
            cursor = conn.execute(
                'INSERT INTO breathing_prompts (call_id, at, "trigger", outcome, updated_at, '
                "started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (call_id, stamp, trigger, first.value, stamp, started_at))
        return _row_id(cursor)

    def update_prompt_outcome(self, prompt_id: int, outcome: PromptOutcome,
                              updated_at: WallTime) -> None:
        """Record what has become of a breathing exercise offer.

        Parameters
        ----------
        prompt_id : int
            The prompt's id.
        outcome : PromptOutcome
            The new outcome; it must follow the current one (shown, then
            started, then completed or stopped; or dismissed instead of
            started). Repeating the current
            outcome changes nothing.
        updated_at : datetime or str
            When, timezone-aware; for ``started``, kept as the exercise's start.

        Raises
        ------
        StoreError
            If there is no such prompt or the outcome would move backwards.
        """
        new = PromptOutcome(outcome)
        with self._write("update the breathing prompt") as conn:
            row = conn.execute("SELECT outcome FROM breathing_prompts WHERE id = ?",
                               (prompt_id,)).fetchone()
            if row is None:
                raise StoreError(f"breathing prompt {prompt_id} is not in the call log")
            current = PromptOutcome(row[0])
            if new is current:
                return
            if new not in _NEXT_OUTCOMES[current]:
                raise StoreError(f"breathing prompt {prompt_id} is already {current.value}; "
                                 f"it cannot become {new.value}")
            stamp = _iso(updated_at)
            conn.execute("UPDATE breathing_prompts SET outcome = ?, updated_at = ?, "
                         "started_at = COALESCE(?, started_at) WHERE id = ?",
                         (new.value, stamp, stamp if new is PromptOutcome.STARTED else None,
                          prompt_id))

    def prompts(self, call_id: int | None) -> list[PromptRecord]:
        """Breathing exercise offers in order.

        Parameters
        ----------
        call_id : int or None
            The call; None for the offers made outside any call.

        Returns
        -------
        list of PromptRecord
        """
        sql = (f"SELECT {self._prompt_select} FROM breathing_prompts WHERE call_id IS ? "
               "ORDER BY at, id")
        return [_prompt_record(row) for row in self._query("read the breathing prompts", sql,
                                                            (call_id,))]

    def prompts_by_call(self) -> dict[int, list[PromptRecord]]:
        """Breathing exercises per call, offered or started by hand, in one query.

        Returns
        -------
        dict of int to list of PromptRecord
            Call id to the exercises offered or started in it, in order; calls
            without any are left out.
        """
        sql = (f"SELECT {self._prompt_select} FROM breathing_prompts "
               "WHERE call_id IS NOT NULL ORDER BY call_id, at, id")
        by_call: dict[int, list[PromptRecord]] = {}
        for row in self._query("read the breathing prompts", sql, ()):
            record = _prompt_record(row)
            assert record.call_id is not None
            by_call.setdefault(record.call_id, []).append(record)
        return by_call

    # --- export

    def export_json(self, dest: Path | IO[str], call_ids: Sequence[int] | None = None) -> int:
        """Write calls with their events and prompts as JSON.

        The document is ``{"schema": "calmline.calls/1", "calls": [...]}``;
        each call holds its columns (times as UTC ISO 8601 text, durations in
        seconds, shares 0 to 1, rates in syllables/s, missing values null)
        and its ``events`` and ``prompts``. Exporting everything adds
        ``prompts_outside_calls``.

        Parameters
        ----------
        dest : Path or text stream
            A file (written user-only, complete or not at all) or an open stream.
        call_ids : sequence of int, optional
            The calls to export, in that order (unknown ids are skipped); all
            of them, oldest first, by default.

        Returns
        -------
        int
            How many calls were exported.

        Raises
        ------
        StoreError
            If the file cannot be written.
        """
        with self._snapshot("export the calls"):
            calls = self._call_rows(call_ids)
            for call in calls:
                call["events"] = self._rows_as_dicts(
                    f"SELECT {', '.join(_EVENT_COLUMNS[2:])} FROM events WHERE call_id = ? "
                    "ORDER BY start_s, id", (call["id"],), _EVENT_COLUMNS[2:])
                for event in call["events"]:
                    event["final"] = bool(event["final"])
                call["prompts"] = self._prompt_dicts(call["id"])
            document: dict[str, Any] = {"schema": EXPORT_SCHEMA, "calls": calls}
            if call_ids is None:
                document["prompts_outside_calls"] = self._prompt_dicts(None)

        def write(stream: IO[str]) -> None:
            json.dump(document, stream, indent=2)
            stream.write("\n")

        if isinstance(dest, (str, os.PathLike)):
            self._check_export_paths(Path(dest))
            _write_private(Path(dest), write)
        else:
            write(dest)
        return len(calls)

    def export_csv(self, calls_path: Path, events_path: Path,
                   call_ids: Sequence[int] | None = None, prompts_path: Path | None = None) -> int:
        """Write calls and their events (and breathing prompts) as CSV files (user-only).

        The calls file has one row per call with the JSON export's call
        columns; the events file one row per event, keyed by ``call_id``; the
        prompts file one row per breathing exercise offer with its outcome,
        keyed by ``call_id`` (empty for one outside any call, exported only
        with all calls). Missing values are empty cells.

        Parameters
        ----------
        calls_path, events_path : Path
            The files to write, each complete or not at all.
        call_ids : sequence of int, optional
            The calls to export, in that order (unknown ids are skipped); all
            of them, oldest first, by default.
        prompts_path : Path, optional
            Where to write the prompts; they are not written without it.

        Returns
        -------
        int
            How many calls were exported.

        Raises
        ------
        StoreError
            If a file cannot be written.
        """
        with self._snapshot("export the calls"):
            calls = self._call_rows(call_ids)
            events = [event for call in calls for event in self._rows_as_dicts(
                f"SELECT {', '.join(_EVENT_COLUMNS[1:])} FROM events WHERE call_id = ? "
                "ORDER BY start_s, id", (call["id"],), _EVENT_COLUMNS[1:])]
            prompts = [prompt for call in calls for prompt in self._prompt_dicts(call["id"])]
            if call_ids is None:
                prompts += self._prompt_dicts(None)
        outputs = [(Path(calls_path), _CALL_COLUMNS, calls),
                   (Path(events_path), _EVENT_COLUMNS[1:], events)]
        if prompts_path is not None:
            outputs.append((Path(prompts_path), _PROMPT_COLUMNS, prompts))
        self._check_export_paths(*(path for path, _, _ in outputs))
        try:
            write_private_texts([(path, _csv_writer(columns, rows))
                                 for path, columns, rows in outputs])
        except OSError as exc:
            names = ", ".join(str(path) for path, _, _ in outputs)
            raise StoreError(f"cannot write the CSV export ({exc.strerror}): none of {names} "
                             "was changed") from None
        return len(calls)

    # --- internals

    def _check_export_paths(self, *paths: Path) -> None:
        """Refuse to export over the call log's own files, which would erase every call."""
        own = [self.path.with_name(self.path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
        for path in paths:
            if any(same_file(path, other) for other in own):
                raise StoreError(f"{path}: is the call log itself; choose another file name")

    def _open(self) -> None:
        try:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            application_id = int(self._conn.execute("PRAGMA application_id").fetchone()[0])
            tables = self._conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if _disk_is_full(exc, self.path):
                raise StoreError(f"{self.path}: cannot open: {_FULL_DISK}; free some space "
                                 "and try again") from None
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN:
                raise StoreError(f"{self.path}: cannot open the call log "
                                 f"({_one_line(exc)})") from None
            raise StoreError(f"{self.path}: not a CalmLine call log, or damaged "
                             f"({_one_line(exc)})") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer CalmLine (schema version "
                             f"{version}, this version reads up to {SCHEMA_VERSION}); "
                             "update CalmLine to open it")
        if (version > 0 and application_id != APPLICATION_ID) or (version == 0 and tables):
            raise StoreError(f"{self.path}: an SQLite database, but not a CalmLine call log")
        if self._read_only:
            if version == 0:
                # An empty file: a first writer has created it and not yet set it up,
                # or failed to (a full disk); either way no call is in it.
                raise NoCallLogYet(f"{self.path}: no call log here yet (an empty file)")
            if version < 3:
                self._prompt_select = _PROMPT_SELECT_BEFORE_V3
            return
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot set up the call log "
                             f"({_reason(exc, self.path)})") from None
        if mode != "wal":
            # Some network file systems cannot share memory for WAL; the log still works.
            logger.warning("%s: WAL journal unavailable (%s); a crash may lose more",
                           self.path, mode)
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        # A migration may rebuild a table that others reference (see "Making Other Kinds Of
        # Table Schema Changes" in SQLite's ALTER TABLE notes): with foreign keys on, dropping
        # the old calls table would delete every event and prompt. The pragma is ignored
        # inside a transaction, so it is set around it, and the keys are checked before
        # the commit instead.
        self._set_foreign_keys(False)
        try:
            with self._write("upgrade the call log") as conn:
                # Read again under the write lock: another store may have upgraded meanwhile.
                current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                for number, statements in enumerate(_MIGRATIONS[current:], start=current + 1):
                    for sql in statements:
                        conn.execute(sql)
                    conn.execute(f"PRAGMA user_version = {number}")
                    logger.info("%s: upgraded the call log to schema version %d",
                                self.path, number)
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(
                        f"{self.path}: cannot upgrade the call log: {len(broken)} rows refer to "
                        "calls that are not in it; the file was left as it was")
        finally:
            self._set_foreign_keys(True)

    def _set_foreign_keys(self, on: bool) -> None:
        try:
            self._conn.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot set up the call log "
                             f"({_reason(exc, self.path)})") from None

    def _claim_as_engine(self) -> None:
        with self._claiming(EngineClaim(self.path), "the monitoring engine") as others:
            if others.engines:
                logger.info("%s: another CalmLine engine has the call log open; calls left "
                            "open are closed when one starts alone", self.path)
                return
            if others.prompt_logs:
                logger.info("%s: another CalmLine has breathing exercises open on the call "
                            "log; those left open are closed when none is", self.path)
            self._close_what_a_crash_left_open(prompts=not others.prompt_logs)

    def _claim_for_prompts(self) -> None:
        # Registering is all: the claim only tells engines that this process is alive.
        with self._claiming(EngineClaim(self.path, prompts=True), "the breathing log"):
            pass

    @contextmanager
    def _claiming(self, claim: EngineClaim, what: str) -> Iterator[OtherClaims]:
        self._presence = claim
        try:
            with claim.registering() as others:
                yield others
        except TimeoutError:
            raise StoreError(f"{self.path}: another CalmLine is starting on this call log; "
                             "try again") from None
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot register {what} "
                             f"({exc.strerror or _one_line(exc)})") from None

    def _close_what_a_crash_left_open(self, prompts: bool) -> None:
        with self._write("close what a crash left open") as conn:
            cursor = conn.execute(
                "UPDATE calls SET status = 'interrupted', "
                "ended_at = COALESCE((SELECT max(emitted_at) FROM events "
                "                     WHERE events.call_id = calls.id), started_at), "
                "end_s = COALESCE((SELECT max(end_s) FROM events "
                "                  WHERE events.call_id = calls.id), start_s) "
                "WHERE status = 'open'")
            closed_prompts = 0
            if prompts:
                closed_prompts = conn.execute(
                    "UPDATE breathing_prompts SET outcome = CASE outcome WHEN 'shown' "
                    "THEN 'dismissed' ELSE 'stopped' END "
                    "WHERE outcome IN ('shown', 'started') AND updated_at < ?",
                    (_iso(_PROCESS_STARTED_AT),)).rowcount
        if cursor.rowcount:
            logger.warning("%s: closed %d calls left open by a crash as interrupted",
                           self.path, cursor.rowcount)
        if closed_prompts:
            logger.warning("%s: closed %d breathing prompts left open by a crash",
                           self.path, closed_prompts)

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        if self._read_only:
            raise StoreError(f"cannot {what}: the call log is open read-only")
        conn = self._conn
        try:
            # IMMEDIATE takes the write lock up front, so a busy database waits
            # here (busy timeout) rather than failing half-way through.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {_reason(exc, self.path)}") from None

    @contextmanager
    def _snapshot(self, what: str) -> Iterator[None]:
        # One read transaction, so a multi-query read sees one consistent state.
        try:
            self._conn.execute("BEGIN")
            try:
                yield
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {_reason(exc, self.path)}") from None

    def _query(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {_reason(exc, self.path)}") from None

    def _rows_as_dicts(self, sql: str, params: Sequence[Any],
                       columns: Sequence[str]) -> list[dict[str, Any]]:
        return [dict(zip(columns, row)) for row in self._conn.execute(sql, params)]

    def _call_rows(self, call_ids: Sequence[int] | None) -> list[dict[str, Any]]:
        select = f"SELECT {', '.join(_CALL_COLUMNS)} FROM calls"
        if call_ids is None:
            return self._rows_as_dicts(f"{select} ORDER BY started_at, id", (), _CALL_COLUMNS)
        return [row for call_id in call_ids
                for row in self._rows_as_dicts(f"{select} WHERE id = ?", (call_id,),
                                               _CALL_COLUMNS)]

    def _prompt_dicts(self, call_id: int | None) -> list[dict[str, Any]]:
        return self._rows_as_dicts(f"SELECT {self._prompt_select} FROM breathing_prompts "
                                   "WHERE call_id IS ? ORDER BY at, id", (call_id,),
                                   _PROMPT_COLUMNS)

    def _insert_event(self, conn: sqlite3.Connection, call_id: int, event: Event,
                      emitted_at: WallTime, final: bool) -> int:
        self._require_call(conn, call_id)
        cursor = conn.execute(
            "INSERT INTO events (call_id, kind, start_s, end_s, value, threshold, severity, "
            "final, emitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (call_id, event.kind.value, event.start_s, event.end_s, event.value,
             event.threshold, event.severity.value, int(final), _iso(emitted_at)))
        return _row_id(cursor)

    @staticmethod
    def _require_call(conn: sqlite3.Connection, call_id: int) -> None:
        # Checked explicitly so that the message names the call, not a foreign key.
        if conn.execute("SELECT 1 FROM calls WHERE id = ?", (call_id,)).fetchone() is None:
            raise StoreError(f"call {call_id} is not in the call log")

    @staticmethod
    def _require_open_call(conn: sqlite3.Connection, call_id: int) -> None:
        row = conn.execute("SELECT status FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            raise StoreError(f"call {call_id} is not in the call log")
        if row[0] != CallStatus.OPEN.value:
            raise StoreError(f"call {call_id} has already {row[0]}")

    def _delete_calls(self, what: str, where: str,
                      params: Sequence[Any] | dict[str, Any]) -> int:
        with self._write(what) as conn:
            rows = conn.execute(f"SELECT id, recording_path FROM calls WHERE {where}",
                                params).fetchall()
            conn.executemany("DELETE FROM calls WHERE id = ?", [(row[0],) for row in rows])
        # Only once committed: a delete that fails must leave the call with its audio.
        for _, recording in rows:
            if recording is not None:
                _remove_recording(Path(recording))
        return len(rows)


def _prepare_file(path: Path) -> None:
    # Folder and file are made user-only before SQLite opens the file, because
    # SQLite creates the -wal and -shm files with the database file's permissions.
    try:
        make_private_folder(path.parent)
        if path.is_dir():
            raise StoreError(f"{path}: is a folder; give a file name for the call log")
        # The file is never opened here once it exists: closing any descriptor of
        # a database file drops every POSIX lock this process holds on it, and
        # another process would then take this one's open log for unused and
        # delete its write-ahead log. SQLite itself refuses a file that is not a
        # database (see CallStore._open).
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, USER_ONLY)
        except FileExistsError:
            os.chmod(path, USER_ONLY)
        else:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the call log ({exc.strerror})") from None


def _connect(path: Path, uri: str | None = None) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path if uri is None else uri, timeout=_BUSY_TIMEOUT_S,
                               isolation_level=None, uri=uri is not None)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the call log ({_reason(exc, path)})") from None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    try:
        if path.is_dir():
            raise StoreError(f"{path}: is a folder; give a file name for the call log")
        if not path.exists():
            raise NoCallLogYet(f"{path}: no call log here yet")
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the call log ({exc.strerror})") from None
    uri = sqlite_uri(path.absolute())
    conn = _connect(path, f"{uri}?mode=ro")
    try:
        conn.execute("PRAGMA user_version")
    except sqlite3.Error as exc:
        if not _unreadable_wal_index(exc, path):
            # Anything else is judged, with the right message, by CallStore._open.
            return conn
        conn.close()
        # Nothing can write this log (its folder is read-only) and it has no write-ahead
        # log to read, so the file alone holds every call.
        return _connect(path, f"{uri}?mode=ro&immutable=1")
    return conn


def sqlite_uri(path: PurePath) -> str:
    """A ``file:`` URI that SQLite opens as ``path``, network shares on Windows included.

    pathlib's ``as_uri`` puts a Windows share's server in the URI's authority
    (``file://server/share/...``), which SQLite refuses; SQLite takes an empty
    authority and the share's path as written (``file:////server/share/...``).

    Parameters
    ----------
    path : PurePath
        An absolute path.

    Returns
    -------
    str
        The URI, without query parameters.
    """
    text = str(path)
    if isinstance(path, PureWindowsPath):
        # The long-path prefixes: \\?\UNC\server\share and \\?\C:\ are the same files.
        if text.startswith("\\\\?\\UNC\\"):
            text = "\\\\" + text[len("\\\\?\\UNC\\"):]
        elif text.startswith("\\\\?\\"):
            text = text[len("\\\\?\\"):]
        text = text.replace("\\", "/")
        if not text.startswith("//"):
            text = "/" + text  # C:/... becomes /C:/...
    return "file://" + quote(text, safe="/:")


def _unreadable_wal_index(exc: sqlite3.Error, path: Path) -> bool:
    """Whether SQLite cannot read a WAL-mode log because its folder is read-only.

    It then needs the ``-shm`` file, which is gone once the last writer closed
    cleanly and cannot be made again on a read-only disk.
    """
    return (getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN
            and not os.access(path.parent, os.W_OK)
            and not path.with_name(path.name + "-wal").exists())


_FULL_DISK = "the disk holding the call log is full"


def _disk_is_full(exc: sqlite3.Error, path: Path) -> bool:
    """Whether an SQLite error comes from a full disk rather than a damaged file."""
    code = getattr(exc, "sqlite_errorcode", None)
    # Extended codes keep the primary code in the low byte (SQLITE_IOERR_SHMSIZE, ...).
    if code is None or code & 0xFF not in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return False
    try:
        return shutil.disk_usage(path.parent).free < _FULL_DISK_BYTES
    except OSError:
        return False


def _reason(exc: sqlite3.Error, path: Path) -> str:
    return _FULL_DISK if _disk_is_full(exc, path) else _one_line(exc)


def _write_private(path: Path, write: Callable[[IO[str]], None]) -> None:
    try:
        write_private_text(path, write)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write ({exc.strerror})") from None


def _csv_writer(columns: Sequence[str],
                rows: list[dict[str, Any]]) -> Callable[[IO[str]], None]:
    def write(stream: IO[str]) -> None:
        writer = csv.DictWriter(stream, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return write


def _remove_recording(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        # The record goes anyway so that one stuck file cannot block retention;
        # the warning names the file so that the user can remove it.
        logger.warning("%s: cannot delete the recording (%s)", path, exc.strerror)


def _aware(moment: WallTime) -> datetime:
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; wall-clock times must be aware")
    return parsed


def _iso(moment: WallTime) -> str:
    # One zone and one precision, so that the stored text sorts in time order.
    return _aware(moment).astimezone(timezone.utc).isoformat(timespec="microseconds")


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).absolute())


def _row_id(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _call_record(row: Sequence[Any]) -> CallRecord:
    c = dict(zip(_CALL_COLUMNS, row))
    summary = None
    if c["status"] == CallStatus.ENDED.value:
        customer = None
        if c["customer_talk_s"] is not None:
            customer = PartySummary(c["customer_talk_s"], c["customer_talk_share"],
                                    c["customer_rate_sps"])
        summary = CallSummary(
            duration_s=c["duration_s"],
            agent=PartySummary(c["agent_talk_s"], c["agent_talk_share"], c["agent_rate_sps"]),
            customer=customer, overtalk_s=c["overtalk_s"], interruptions=c["interruptions"],
            raised_voice_s=c["raised_voice_s"], fast_speech_s=c["fast_speech_s"],
            monologues=c["monologues"], breathing_prompts=c["breathing_prompts"])
    return CallRecord(
        id=c["id"], started_at=_from_iso(c["started_at"]),
        ended_at=None if c["ended_at"] is None else _from_iso(c["ended_at"]),
        start_s=c["start_s"], end_s=c["end_s"], mode=CallMode(c["mode"]),
        status=CallStatus(c["status"]), summary=summary,
        recording_path=None if c["recording_path"] is None else Path(c["recording_path"]))


def _event_record(row: Sequence[Any]) -> EventRecord:
    e = dict(zip(_EVENT_COLUMNS, row))
    return EventRecord(
        id=e["id"], call_id=e["call_id"],
        event=Event(EventKind(e["kind"]), e["start_s"], e["end_s"], e["value"], e["threshold"],
                    Severity(e["severity"])),
        emitted_at=_from_iso(e["emitted_at"]), final=bool(e["final"]))


def _prompt_record(row: Sequence[Any]) -> PromptRecord:
    p = dict(zip(_PROMPT_COLUMNS, row))
    return PromptRecord(id=p["id"], call_id=p["call_id"], at=_from_iso(p["at"]),
                        trigger=p["trigger"], outcome=PromptOutcome(p["outcome"]),
                        updated_at=_from_iso(p["updated_at"]),
                        started_at=None if p["started_at"] is None
                        else _from_iso(p["started_at"]))
