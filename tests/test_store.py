"""The call log: schema, round trips, privacy, retention, export and crash safety."""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
from models.store import (EXPORT_SCHEMA, SCHEMA_VERSION, CallMode, CallStatus, CallStore,
                          PromptOutcome, StoreError, default_store_path)
from models.summary import CallSummary, PartySummary
from tests.store_fixtures import write_version_1_log

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SUMMARY = CallSummary(
    duration_s=120.0, agent=PartySummary(60.0, 0.5, 4.5),
    customer=PartySummary(50.0, 0.42, None), overtalk_s=3.5, interruptions=2,
    raised_voice_s=4.0, fast_speech_s=0.0, monologues=1, breathing_prompts=1)
RAISED = Event(EventKind.RAISED_VOICE, 10.0, 14.5, 8.2, 6.0, Severity.LOW)
CUT_IN = Event(EventKind.INTERRUPTION, 30.0, 31.5, 1.5, 1.0, Severity.MEDIUM)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line_error(path: Path) -> str:
    with pytest.raises(StoreError) as info:
        CallStore(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallStore]:
    with CallStore(tmp_path / "log" / "calmline.sqlite3") as opened:
        yield opened


def test_new_store_is_user_only_wal_and_current(tmp_path: Path) -> None:
    path = tmp_path / "data" / "calmline" / "calmline.sqlite3"
    with CallStore(path) as store:
        store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        assert store.schema_version == SCHEMA_VERSION == 3
        for suffix in ("", "-wal", "-shm"):
            assert mode_of(Path(f"{path}{suffix}")) == 0o600, suffix
    assert mode_of(path.parent) == 0o700 and mode_of(path.parent.parent) == 0o700
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_existing_log_is_tightened_but_a_chosen_folder_keeps_its_mode(tmp_path: Path) -> None:
    folder = tmp_path / "shared"  # --store in a team folder, or in /tmp: not CalmLine's to change
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "calmline.sqlite3"
    path.touch()
    os.chmod(path, 0o644)
    # An empty file is a version 0 database: it is upgraded in place.
    with CallStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
    assert (mode_of(folder), mode_of(path)) == (0o755, 0o600)
    own = tmp_path / "calmline"
    own.mkdir(mode=0o755)
    os.chmod(own, 0o755)
    with CallStore(own / "calmline.sqlite3"):
        pass
    assert mode_of(own) == 0o700
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master "
                                                 "WHERE type = 'table'")}
    # sqlite_sequence is SQLite's own: it keeps the highest id used, so that none is reused.
    assert tables == {"calls", "events", "breathing_prompts", "sqlite_sequence"}


def test_call_round_trip_with_events_and_prompts(store: CallStore, tmp_path: Path) -> None:
    call_id = store.begin_call(NOW, 5.0, CallMode.TWO_PARTY)
    opened = Event(RAISED.kind, RAISED.start_s, 11.5, 7.0, 6.0, Severity.LOW)
    raised_id = store.record_update(call_id, EventUpdate(EventPhase.OPEN, opened),
                                    NOW + timedelta(seconds=7))
    assert [r.final for r in store.events(call_id)] == [False]
    assert store.record_update(call_id, EventUpdate(EventPhase.CLOSE, RAISED),
                               NOW + timedelta(seconds=10)) == raised_id
    store.add_event(call_id, CUT_IN, NOW + timedelta(seconds=27))
    prompt_id = store.record_prompt(call_id, NOW + timedelta(seconds=10), "raised_voice")
    store.update_prompt_outcome(prompt_id, PromptOutcome.STARTED, NOW + timedelta(seconds=12))
    store.update_prompt_outcome(prompt_id, PromptOutcome.COMPLETED, NOW + timedelta(seconds=70))
    recording = tmp_path / "call.flac"
    store.end_call(call_id, NOW + timedelta(seconds=120), 125.0, SUMMARY, recording)

    [call] = store.calls()
    assert call == store.call(call_id)
    assert (call.id, call.started_at, call.ended_at) == (call_id, NOW, NOW + timedelta(seconds=120))
    assert (call.start_s, call.end_s, call.mode, call.status) == \
        (5.0, 125.0, CallMode.TWO_PARTY, CallStatus.ENDED)
    assert call.summary == SUMMARY and call.recording_path == recording
    events = store.events(call_id)
    assert [r.event for r in events] == [RAISED, CUT_IN]
    assert [r.final for r in events] == [True, True]
    assert events[0].emitted_at == NOW + timedelta(seconds=10)
    [prompt] = store.prompts(call_id)
    assert (prompt.id, prompt.trigger, prompt.outcome) == \
        (prompt_id, "raised_voice", PromptOutcome.COMPLETED)
    assert (prompt.at, prompt.updated_at) == (NOW + timedelta(seconds=10),
                                              NOW + timedelta(seconds=70))


def test_mic_only_call_and_listing(store: CallStore) -> None:
    mic_summary = CallSummary(60.0, PartySummary(30.0, 0.5, None), None, 0.0, 0, 0.0, 0.0, 0, 0)
    ids = []
    for day in range(3):
        call_id = store.begin_call(NOW + timedelta(days=day), 0.0, CallMode.MIC_ONLY)
        store.end_call(call_id, NOW + timedelta(days=day, minutes=1), 60.0, mic_summary)
        ids.append(call_id)
    assert [c.id for c in store.calls()] == ids[::-1]
    assert [c.id for c in store.calls(limit=1, offset=1)] == [ids[1]]
    assert [c.id for c in store.calls(since=NOW + timedelta(days=1))] == [ids[2], ids[1]]
    assert store.calls()[0].summary == mic_summary
    assert store.calls()[0].mode is CallMode.MIC_ONLY


def test_prompt_outside_a_call_and_outcome_order(store: CallStore) -> None:
    prompt_id = store.record_prompt(None, NOW, "manual")
    store.update_prompt_outcome(prompt_id, PromptOutcome.DISMISSED, NOW)
    store.update_prompt_outcome(prompt_id, PromptOutcome.DISMISSED, NOW)
    assert [p.outcome for p in store.prompts(None)] == [PromptOutcome.DISMISSED]
    with pytest.raises(StoreError, match="already dismissed; it cannot become started"):
        store.update_prompt_outcome(prompt_id, PromptOutcome.STARTED, NOW)
    with pytest.raises(StoreError, match="prompt 99 is not in the call log"):
        store.update_prompt_outcome(99, PromptOutcome.STARTED, NOW)


def test_prompts_by_call_leave_out_offers_outside_calls(store: CallStore) -> None:
    first = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
    second = store.begin_call(NOW + timedelta(minutes=5), 300.0, CallMode.TWO_PARTY)
    store.begin_call(NOW + timedelta(minutes=9), 540.0, CallMode.TWO_PARTY)
    for call_id, minutes in ((first, 1), (second, 8), (second, 6), (None, 2)):
        store.record_prompt(call_id, NOW + timedelta(minutes=minutes), "raised_voice")
    by_call = store.prompts_by_call()
    assert by_call == {first: store.prompts(first), second: store.prompts(second)}
    assert [p.at for p in by_call[second]] == [NOW + timedelta(minutes=6),
                                               NOW + timedelta(minutes=8)]


def test_a_started_exercise_ends_completed_or_stopped_never_dismissed(store: CallStore) -> None:
    # "Not now" and "took it, then stopped early" must stay apart in the log.
    stopped = store.record_prompt(None, NOW, "raised_voice")
    store.update_prompt_outcome(stopped, PromptOutcome.STARTED, NOW)
    store.update_prompt_outcome(stopped, PromptOutcome.STOPPED, NOW + timedelta(seconds=13))
    assert [p.outcome for p in store.prompts(None)] == [PromptOutcome.STOPPED]
    declined = store.record_prompt(None, NOW, "raised_voice")
    store.update_prompt_outcome(declined, PromptOutcome.DISMISSED, NOW)
    with pytest.raises(StoreError, match="already started; it cannot become dismissed"):
        store.update_prompt_outcome(store.record_prompt(None, NOW, "manual", PromptOutcome.STARTED),
                                    PromptOutcome.DISMISSED, NOW)


def test_a_version_1_log_is_upgraded_with_its_prompts(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_1_log(path)
    with CallStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        [kept] = store.prompts(1)
        assert (kept.trigger, kept.outcome) == ("raised_voice", PromptOutcome.COMPLETED)
        added = store.record_prompt(1, NOW, "manual", PromptOutcome.STARTED)
        store.update_prompt_outcome(added, PromptOutcome.STOPPED, NOW)
        store.delete_call(1)  # the rebuilt table still follows its call
        assert store.prompts(1) == []


def test_times_and_modes_may_be_given_as_text(store: CallStore) -> None:
    call_id = store.begin_call("2024-05-01T14:00:00+02:00", 0.0, "mic_only")
    store.add_event(call_id, RAISED, "2024-05-01T12:00:15.5Z")
    [call] = store.calls(since="2024-05-01T11:59:59+00:00")
    assert (call.started_at, call.mode) == (NOW, CallMode.MIC_ONLY)
    assert store.events(call_id)[0].emitted_at == NOW + timedelta(seconds=15.5)
    with pytest.raises(ValueError, match="time zone"):
        store.add_event(call_id, RAISED, "2024-05-01T12:00:00")


def test_misuse_is_refused(store: CallStore) -> None:
    with pytest.raises(StoreError, match="call 7 is not in the call log"):
        store.add_event(7, RAISED, NOW)
    with pytest.raises(StoreError, match="call 7 is not in the call log"):
        store.record_prompt(7, NOW, "raised_voice")
    call_id = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
    store.end_call(call_id, NOW, 1.0, SUMMARY)
    with pytest.raises(StoreError, match="has already ended"):
        store.end_call(call_id, NOW, 2.0, SUMMARY)
    with pytest.raises(ValueError, match="time zone"):
        store.begin_call(datetime(2024, 5, 1, 12), 0.0, CallMode.TWO_PARTY)
    with pytest.raises(ValueError):
        store.begin_call(NOW, 0.0, "stereo")
    with pytest.raises(ValueError, match="more than 0 days"):
        store.apply_retention(0, NOW)


def test_store_belongs_to_the_thread_that_opened_it(store: CallStore) -> None:
    errors: list[Exception] = []

    def use() -> None:
        try:
            store.calls()
        except StoreError as exc:
            errors.append(exc)

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    assert len(errors) == 1 and "thread" in str(errors[0])


def test_reader_sees_commits_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as writer, CallStore(path, read_only=True) as reader:
        call_id = writer.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        writer.add_event(call_id, RAISED, NOW)
        assert [c.status for c in reader.calls()] == [CallStatus.OPEN]
        assert [r.event for r in reader.events(call_id)] == [RAISED]
        with pytest.raises(StoreError, match="read-only"):
            reader.begin_call(NOW, 0.0, CallMode.TWO_PARTY)


def test_calls_left_open_are_closed_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        crashed = store.begin_call(NOW, 3.0, CallMode.TWO_PARTY)
        store.add_event(crashed, RAISED, NOW + timedelta(seconds=12))
        store.record_update(crashed, EventUpdate(EventPhase.OPEN, CUT_IN),
                            NOW + timedelta(seconds=32))
        silent = store.begin_call(NOW + timedelta(minutes=5), 400.0, CallMode.MIC_ONLY)
    # Neither a reader nor another writer may close calls: the engine may still be running.
    with CallStore(path, read_only=True) as reader:
        assert {c.status for c in reader.calls()} == {CallStatus.OPEN}
    with CallStore(path) as other_writer:
        assert {c.status for c in other_writer.calls()} == {CallStatus.OPEN}
    with CallStore(path, recover=True) as store:
        calls = {c.id: c for c in store.calls()}
        assert calls[crashed].status is CallStatus.INTERRUPTED
        assert calls[crashed].ended_at == NOW + timedelta(seconds=32)
        assert calls[crashed].end_s == CUT_IN.end_s and calls[crashed].summary is None
        assert [r.final for r in store.events(crashed)] == [True, False]
        assert calls[silent].status is CallStatus.INTERRUPTED
        assert (calls[silent].ended_at, calls[silent].end_s) == \
            (NOW + timedelta(minutes=5), 400.0)


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    CallStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    message = one_line_error(path)
    assert "newer CalmLine" in message and "99" in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [
    b"these are my notes, not a database\n" * 20,
    b"SQLite format 3\x00" + b"\xff" * 4000,
])
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path,
                                                           content: bytes) -> None:
    path = tmp_path / "calmline.sqlite3"
    path.write_bytes(content)
    assert "not a CalmLine call log" in one_line_error(path)
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


def test_another_apps_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    assert "not a CalmLine call log" in one_line_error(path)


def test_retention_deletes_old_calls_and_their_recordings(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    with CallStore(tmp_path / "calmline.sqlite3") as store:
        ids = {}
        for name, age_days in (("old", 100), ("recent", 10)):
            call_id = store.begin_call(NOW - timedelta(days=age_days), 0.0, CallMode.TWO_PARTY)
            store.add_event(call_id, RAISED, NOW - timedelta(days=age_days))
            store.record_prompt(call_id, NOW - timedelta(days=age_days), "raised_voice")
            recording = recordings / f"{name}.flac"
            recording.write_bytes(b"fLaC")
            store.set_recording(call_id, recording)
            store.end_call(call_id, NOW - timedelta(days=age_days), 60.0, SUMMARY)
            ids[name] = call_id
        still_open = store.begin_call(NOW - timedelta(days=200), 0.0, CallMode.TWO_PARTY)
        store.record_prompt(None, NOW - timedelta(days=100), "manual")
        store.record_prompt(None, NOW - timedelta(days=1), "manual")

        assert store.apply_retention(30, NOW) == 1
        assert {c.id for c in store.calls()} == {ids["recent"], still_open}
        assert not (recordings / "old.flac").exists()
        assert (recordings / "recent.flac").exists()
        assert store.events(ids["old"]) == [] and store.prompts(ids["old"]) == []
        assert len(store.prompts(None)) == 1
        assert store.apply_retention(30, NOW) == 0


def test_delete_call_removes_its_recording(store: CallStore, tmp_path: Path) -> None:
    recording = tmp_path / "call.flac"
    recording.write_bytes(b"fLaC")
    call_id = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
    store.add_event(call_id, RAISED, NOW)
    store.end_call(call_id, NOW, 60.0, SUMMARY, recording_path=recording)
    assert store.delete_call(call_id)
    assert not recording.exists() and store.calls() == [] and store.events(call_id) == []
    assert not store.delete_call(call_id)


def _two_calls(store: CallStore) -> tuple[int, int]:
    first = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
    store.add_event(first, RAISED, NOW + timedelta(seconds=15))
    store.add_event(first, CUT_IN, NOW + timedelta(seconds=32))
    store.record_prompt(first, NOW + timedelta(seconds=15), "raised_voice")
    store.end_call(first, NOW + timedelta(minutes=2), 120.0, SUMMARY)
    second = store.begin_call(NOW + timedelta(hours=1), 3600.0, CallMode.MIC_ONLY)
    return first, second


def test_export_json(store: CallStore, tmp_path: Path) -> None:
    first, second = _two_calls(store)
    store.record_prompt(None, NOW, "manual")
    path = tmp_path / "export.json"
    assert store.export_json(path) == 2
    assert mode_of(path) == 0o600
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == EXPORT_SCHEMA
    call = document["calls"][0]
    assert (call["id"], call["mode"], call["status"]) == (first, "two_party", "ended")
    assert call["started_at"] == "2024-05-01T12:00:00.000000+00:00"
    assert (call["agent_talk_share"], call["customer_rate_sps"]) == (0.5, None)
    assert (call["interruptions"], call["recording_path"]) == (2, None)
    assert [e["kind"] for e in call["events"]] == ["raised_voice", "interruption"]
    assert call["events"][1] == {"kind": "interruption", "start_s": 30.0, "end_s": 31.5,
                                 "value": 1.5, "threshold": 1.0, "severity": "medium",
                                 "final": True,
                                 "emitted_at": "2024-05-01T12:00:32.000000+00:00"}
    assert [p["trigger"] for p in call["prompts"]] == ["raised_voice"]
    assert document["calls"][1]["id"] == second and document["calls"][1]["ended_at"] is None
    assert [p["trigger"] for p in document["prompts_outside_calls"]] == ["manual"]

    stream = io.StringIO()
    assert store.export_json(stream, call_ids=[second]) == 1
    only = json.loads(stream.getvalue())
    assert [c["id"] for c in only["calls"]] == [second]
    assert "prompts_outside_calls" not in only


def test_export_csv(store: CallStore, tmp_path: Path) -> None:
    first, second = _two_calls(store)
    calls_path, events_path = tmp_path / "calls.csv", tmp_path / "events.csv"
    assert store.export_csv(calls_path, events_path) == 2
    assert mode_of(calls_path) == mode_of(events_path) == 0o600
    with calls_path.open(newline="", encoding="utf-8") as f:
        calls = list(csv.DictReader(f))
    assert [int(c["id"]) for c in calls] == [first, second]
    assert calls[0]["overtalk_s"] == "3.5" and calls[0]["customer_rate_sps"] == ""
    assert calls[1]["status"] == "open" and calls[1]["ended_at"] == ""
    with events_path.open(newline="", encoding="utf-8") as f:
        events = list(csv.DictReader(f))
    assert [(int(e["call_id"]), e["kind"], float(e["end_s"])) for e in events] == \
        [(first, "raised_voice", 14.5), (first, "interruption", 31.5)]


def test_export_csv_with_the_breathing_prompts(store: CallStore, tmp_path: Path) -> None:
    first, second = _two_calls(store)
    taken = store.record_prompt(first, NOW, "raised_voice")
    store.update_prompt_outcome(taken, PromptOutcome.STARTED, NOW)
    store.update_prompt_outcome(taken, PromptOutcome.STOPPED, NOW + timedelta(seconds=20))
    store.record_prompt(None, NOW, "manual", PromptOutcome.STARTED)
    paths = [tmp_path / f"{name}.csv" for name in ("calls", "events", "prompts")]
    assert store.export_csv(*paths[:2], prompts_path=paths[2]) == 2
    with paths[2].open(newline="", encoding="utf-8") as f:
        prompts = list(csv.DictReader(f))
    rows = [(p["call_id"], p["trigger"], p["outcome"]) for p in prompts]
    assert (str(first), "raised_voice", "stopped") in rows
    assert ("", "manual", "started") in rows  # all calls asked for: the ones outside calls too
    assert {call_id for call_id, _, _ in rows} == {str(first), ""}
    assert mode_of(paths[2]) == 0o600
    store.export_csv(*paths[:2], call_ids=[second], prompts_path=paths[2])
    assert paths[2].read_text().splitlines() == [
        "id,call_id,at,trigger,outcome,updated_at,started_at"]


def test_export_never_writes_over_the_call_log(store: CallStore, tmp_path: Path) -> None:
    _two_calls(store)
    link = tmp_path / "link.sqlite3"
    link.symlink_to(store.path)
    for write in (lambda: store.export_json(store.path), lambda: store.export_json(link),
                  lambda: store.export_csv(tmp_path / "calls.csv", store.path)):
        with pytest.raises(StoreError, match="is the call log itself"):
            write()
    assert not (tmp_path / "calls.csv").exists()  # refused before either file was written
    assert len(store.calls()) == 2


def test_default_store_path_is_in_the_user_data_folder() -> None:
    path = default_store_path()
    assert path.name == "calmline.sqlite3" and path.parent.name == "calmline"


_CHILD = """
import sys, time
from datetime import datetime, timezone
from pathlib import Path
from models.events import Event, EventKind, Severity
from models.store import CallMode, CallStore

store = CallStore(Path(sys.argv[1]))
call_id = store.begin_call(datetime.now(timezone.utc), 0.0, CallMode.TWO_PARTY)
n = 0
while True:
    event = Event(EventKind.INTERRUPTION, n * 0.05, n * 0.05 + 0.04, 1.0, 1.0, Severity.LOW)
    event_id = store.add_event(call_id, event, datetime.now(timezone.utc))
    sys.stdout.write(f"{event_id}\\n")
    sys.stdout.flush()
    n += 1
    time.sleep(0.05)
"""


def test_kill_9_mid_call_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Only a guard against a hung child, not a timing requirement.
    guard = threading.Timer(60.0, child.kill)
    guard.start()
    try:
        committed: list[int] = []
        while len(committed) < 40:  # about 2 s of events
            line = child.stdout.readline()  # type: ignore[union-attr]
            assert line, child.stderr.read()  # type: ignore[union-attr]
            committed.append(int(line))
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        committed += [int(line) for line in rest.split()]
    finally:
        guard.cancel()
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with CallStore(path, recover=True) as store:
        [call] = store.calls()
        assert call.status is CallStatus.INTERRUPTED
        stored = {r.id for r in store.events(call.id)}
    assert set(committed) <= stored
    # At most the event in flight at the kill got in without being reported.
    assert len(stored - set(committed)) <= 1


def test_a_second_store_in_the_process_and_another_process_leave_the_open_log_alone(
        tmp_path: Path) -> None:
    # The app keeps the engine's store open while its history window (or prompt log,
    # or retention) opens and closes stores of its own, and a separate `calmline review`
    # reads the log too. None of that may make the other process think the log unused,
    # or it deletes the write-ahead log under the engine.
    path = tmp_path / "calmline.sqlite3"
    engine = CallStore(path, recover=True)
    try:
        call_id = engine.begin_call(datetime.now(timezone.utc), 0.0, CallMode.TWO_PARTY)
        CallStore(path, read_only=True).close()
        reader = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; from models.store import "
             "CallStore; CallStore(Path(sys.argv[1]), read_only=True).close()", str(path)],
            cwd=REPO, capture_output=True, text=True, timeout=60)
        assert reader.returncode == 0, reader.stderr
        assert Path(f"{path}-wal").exists()
        engine.add_event(call_id, Event(EventKind.INTERRUPTION, 1.0, 2.0, 1.0, 1.0, Severity.LOW),
                         datetime.now(timezone.utc))
        assert [call.id for call in engine.calls()] == [call_id]
    finally:
        engine.close()
    with CallStore(path, read_only=True) as store:
        assert [call.id for call in store.calls()] == [call_id]
        assert len(store.events(call_id)) == 1


def test_a_csv_export_that_fails_part_way_changes_no_file(store: CallStore, tmp_path: Path) -> None:
    store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
    calls_csv = tmp_path / "out-calls.csv"
    calls_csv.write_text("an earlier export the user kept\n")
    # The events file cannot be written (here: its folder is missing; a full disk alike).
    with pytest.raises(StoreError, match="none of .* was changed"):
        store.export_csv(calls_csv, tmp_path / "missing" / "out-events.csv")
    assert calls_csv.read_text() == "an earlier export the user kept\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".calmline-")) == []
