"""Schema version 3: ids are never reused, and an exercise keeps when it started.

Exports, reports and log lines name calls and prompts by id, so the id of a
deleted call must never come back for another one. The upgrade from version 2
rebuilds the tables that events and prompts refer to, and must keep every row.
"""
from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import models.store
from models.store import SCHEMA_VERSION, CallMode, CallStatus, CallStore, PromptOutcome, StoreError
from tests.store_fixtures import write_version_2_log
from ui.breathing_pacer import LoggedPrompt, StorePromptLog

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
TABLES = ("calls", "events", "breathing_prompts")


def table_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_id_of_a_deleted_call_or_prompt_is_never_given_again(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        first = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        deleted = store.begin_call(NOW + timedelta(hours=1), 3600.0, CallMode.TWO_PARTY)
        kept_prompt = store.record_prompt(first, NOW, "raised_voice")
        deleted_prompt = store.record_prompt(deleted, NOW + timedelta(hours=1), "raised_voice")
        assert store.delete_call(deleted)
        later = store.begin_call(NOW + timedelta(hours=2), 7200.0, CallMode.TWO_PARTY)
        later_prompt = store.record_prompt(later, NOW + timedelta(hours=2), "manual",
                                           PromptOutcome.STARTED)
        assert later > deleted > first and later_prompt > deleted_prompt > kept_prompt
        assert store.delete_call(later)
    # Nor by the next process.
    with CallStore(path) as store:
        assert store.begin_call(NOW + timedelta(hours=3), 0.0, CallMode.MIC_ONLY) > later
        assert store.record_prompt(None, NOW, "manual") > later_prompt


def test_a_version_2_log_is_upgraded_keeping_every_row(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_2_log(path)
    before = {table: table_rows(path, table) for table in TABLES}
    with CallStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 3
    after = {table: table_rows(path, table) for table in TABLES}
    assert after["calls"] == before["calls"] and len(after["calls"]) == 3
    assert after["events"] == before["events"] and len(after["events"]) == 3
    # Each prompt gains the start time the old log still tells: that of an exercise
    # under way (its latest outcome), and of one started by hand (when it was logged).
    known_starts = [None, None, "2024-05-01T13:00:30.000000+00:00",
                    "2024-05-01T14:00:12.000000+00:00", "2024-05-01T11:00:00.000000+00:00", None]
    assert after["breathing_prompts"] == [(*row, start) for row, start
                                          in zip(before["breathing_prompts"], known_starts)]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE "
                                               "type = 'index' AND sql IS NOT NULL")} == \
            {"calls_by_start", "events_by_call", "prompts_by_call"}

    with CallStore(path) as store:
        [call] = [c for c in store.calls() if c.id == 1]
        assert call.summary is not None and call.summary.interruptions == 2
        assert call.recording_path == Path("/recordings/call-1.flac")
        # The rebuilt tables still follow their calls, both ways.
        store.delete_call(1)
        assert store.events(1) == [] and store.prompts(1) == []
        assert [r.final for r in store.events(2)] == [False]
        # Ids go on from the highest the log holds, and no deleted one comes back.
        newest = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        prompt = store.record_prompt(newest, NOW, "manual")
        assert (newest, prompt) == (4, 7)
        store.delete_call(newest)
        assert store.begin_call(NOW, 0.0, CallMode.TWO_PARTY) == 5
        assert store.record_prompt(None, NOW, "manual") == 8
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            conn.execute('INSERT INTO breathing_prompts (call_id, at, "trigger", outcome, '
                         "updated_at) VALUES (99, 'x', 'manual', 'shown', 'x')")
    # The exercise left under way is closed by the next engine, and keeps its start.
    with CallStore(path, recover=True) as engine:
        assert engine.call(3).status is CallStatus.INTERRUPTED
        assert [(p.outcome, p.started_at) for p in engine.prompts(3)] == \
            [(PromptOutcome.STOPPED, utc("2024-05-01T14:00:12+00:00"))]


def test_an_older_calmline_refuses_the_upgraded_log(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_2_log(path)
    with CallStore(path):
        pass
    before = {table: table_rows(path, table) for table in TABLES}
    monkeypatch.setattr(models.store, "SCHEMA_VERSION", 2)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="written by a newer CalmLine .schema version 3"):
            CallStore(path, read_only=read_only)
    assert {table: table_rows(path, table) for table in TABLES} == before


def test_an_upgrade_that_would_break_a_link_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_2_log(path)
    with closing(sqlite3.connect(path)) as conn:
        # Foreign keys are off by default in SQLite: another tool may have done this.
        conn.execute("UPDATE events SET call_id = 99 WHERE id = 1")
        conn.commit()
    before = {table: table_rows(path, table) for table in TABLES}
    with pytest.raises(StoreError) as info:
        CallStore(path)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot upgrade the call log") and "\n" not in message
    assert user_version(path) == 2
    assert {table: table_rows(path, table) for table in TABLES} == before


def test_a_version_2_log_read_only_gives_the_start_times_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_2_log(path)
    before = path.read_bytes()
    with CallStore(path, read_only=True) as store:
        assert store.schema_version == 2
        assert [p.started_at for p in store.prompts(1)] == [None, None]
        assert [p.started_at for p in store.prompts(3)] == [utc("2024-05-01T14:00:12+00:00")]
        document = json.loads(_json_export(store, tmp_path))
    assert [p["started_at"] for p in document["prompts_outside_calls"]] == \
        ["2024-05-01T11:00:00.000000+00:00", None]
    assert path.read_bytes() == before


def test_an_exercise_keeps_when_it_started(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        call_id = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        offered = store.record_prompt(call_id, NOW + timedelta(seconds=20), "raised_voice")
        store.update_prompt_outcome(offered, PromptOutcome.STARTED, NOW + timedelta(seconds=25))
        store.update_prompt_outcome(offered, PromptOutcome.COMPLETED,
                                    NOW + timedelta(seconds=95))
        declined = store.record_prompt(call_id, NOW + timedelta(minutes=3), "interruption")
        store.update_prompt_outcome(declined, PromptOutcome.DISMISSED,
                                    NOW + timedelta(minutes=3, seconds=4))
        by_hand = store.record_prompt(None, NOW + timedelta(minutes=10), "manual",
                                      PromptOutcome.STARTED)
        store.update_prompt_outcome(by_hand, PromptOutcome.STOPPED, NOW + timedelta(minutes=11))
        assert [(p.at, p.started_at, p.updated_at) for p in store.prompts(call_id)] == [
            (NOW + timedelta(seconds=20), NOW + timedelta(seconds=25),
             NOW + timedelta(seconds=95)),
            (NOW + timedelta(minutes=3), None, NOW + timedelta(minutes=3, seconds=4))]
        [manual] = store.prompts(None)
        assert (manual.started_at, manual.updated_at) == \
            (NOW + timedelta(minutes=10), NOW + timedelta(minutes=11))

        document = json.loads(_json_export(store, tmp_path))
        assert [p["started_at"] for p in document["calls"][0]["prompts"]] == \
            ["2024-05-01T12:00:25.000000+00:00", None]
        assert [p["started_at"] for p in document["prompts_outside_calls"]] == \
            ["2024-05-01T12:10:00.000000+00:00"]
        paths = [tmp_path / f"{name}.csv" for name in ("calls", "events", "prompts")]
        store.export_csv(*paths[:2], prompts_path=paths[2])
    with paths[2].open(newline="", encoding="utf-8") as stream:
        assert [(row["id"], row["started_at"]) for row in csv.DictReader(stream)] == [
            (str(offered), "2024-05-01T12:00:25.000000+00:00"), (str(declined), ""),
            (str(by_hand), "2024-05-01T12:10:00.000000+00:00")]


def test_the_pacers_log_keeps_when_an_offered_exercise_started(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    clock = [NOW]
    log = StorePromptLog(path, now=lambda: clock[0])
    try:
        prompt = LoggedPrompt(log, "raised_voice", None)
        clock[0] = NOW + timedelta(seconds=12)
        prompt.advance(PromptOutcome.STARTED)
        clock[0] = NOW + timedelta(seconds=80)
        prompt.advance(PromptOutcome.COMPLETED)
    finally:
        log.close()
    with CallStore(path, read_only=True) as store:
        [logged] = store.prompts(None)
    assert (logged.outcome, logged.at, logged.started_at, logged.updated_at) == \
        (PromptOutcome.COMPLETED, NOW, NOW + timedelta(seconds=12), NOW + timedelta(seconds=80))


def _json_export(store: CallStore, folder: Path) -> str:
    path = folder / "export.json"
    store.export_json(path)
    return path.read_text(encoding="utf-8")
