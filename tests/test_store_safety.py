"""The call log under adverse conditions: read-only users, a busy log, a wrong clock,
several engines, a full disk."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from types import SimpleNamespace

import pytest

import models.store
from models.engine_presence import engines_folder
from models.events import Event, EventKind, Severity
from models.store import (SCHEMA_VERSION, CallMode, CallStatus, CallStore, PromptOutcome,
                          NoCallLogYet, StoreError, sqlite_uri)
from models.summary import CallSummary, PartySummary
from tests.store_fixtures import write_version_1_log

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SUMMARY = CallSummary(
    duration_s=60.0, agent=PartySummary(30.0, 0.5, 4.5), customer=None, overtalk_s=0.0,
    interruptions=0, raised_voice_s=0.0, fast_speech_s=0.0, monologues=0, breathing_prompts=0)
RAISED = Event(EventKind.RAISED_VOICE, 10.0, 14.5, 8.2, 6.0, Severity.LOW)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def store_error(path: Path, **options: bool) -> str:
    with pytest.raises(StoreError) as info:
        CallStore(path, **options)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def log_with_a_call(path: Path) -> int:
    with CallStore(path) as store:
        call_id = store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        store.add_event(call_id, RAISED, NOW)
        store.end_call(call_id, NOW + timedelta(minutes=1), 60.0, SUMMARY)
    return call_id


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, for a full or read-only disk; only root can mount one."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small disk needs root and mount(8)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small disk: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def remount(mount_point: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(mount_point)], check=True)


# --- A: read-only opening changes nothing


def test_reading_a_shared_log_keeps_its_permissions_and_content(tmp_path: Path) -> None:
    path = tmp_path / "team.sqlite3"
    call_id = log_with_a_call(path)
    os.chmod(path, 0o644)  # a team's log, readable by the team
    before = path.read_bytes()
    with CallStore(path, read_only=True) as store:
        assert [call.id for call in store.calls()] == [call_id]
        store.export_json(tmp_path / "out.json")
    assert mode_of(path) == 0o644
    assert path.read_bytes() == before


def test_reading_a_missing_or_empty_file_refuses_without_creating_anything(
        tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "calmline.sqlite3"
    assert "no call log here yet" in store_error(missing, read_only=True)
    assert not missing.parent.exists()
    empty = tmp_path / "empty.sqlite3"
    empty.touch()  # as a first writer leaves it before the schema is in
    for nothing_yet in (missing, empty):
        with pytest.raises(NoCallLogYet, match="no call log here yet"):
            CallStore(nothing_yet, read_only=True)
    assert empty.stat().st_size == 0
    notes = tmp_path / "notes.sqlite3"
    notes.write_bytes(b"my notes, not a database\n" * 40)
    assert "not a CalmLine call log" in store_error(notes, read_only=True)
    assert "is a folder" in store_error(tmp_path, read_only=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite3", "notes.sqlite3"]


def test_an_older_log_is_read_as_it_is_and_upgraded_only_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    write_version_1_log(path, "interrupted")
    before = path.read_bytes()
    with CallStore(path, read_only=True) as store:
        assert store.schema_version == 1
        assert [call.status for call in store.calls()] == [CallStatus.INTERRUPTED]
        assert [p.outcome for p in store.prompts(1)] == [PromptOutcome.COMPLETED]
    assert path.read_bytes() == before
    with CallStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("path, uri", [
    (PureWindowsPath(r"C:\Users\Agent\calls.db"), "file:///C:/Users/Agent/calls.db"),
    (PureWindowsPath(r"\\fileserver\home\calls.db"), "file:////fileserver/home/calls.db"),
    (PureWindowsPath(r"\\?\UNC\fileserver\home\calls.db"), "file:////fileserver/home/calls.db"),
    (PureWindowsPath(r"\\?\C:\long\calls.db"), "file:///C:/long/calls.db"),
    (PurePosixPath("/no/such/my calls?#%.db"), "file:///no/such/my%20calls%3F%23%25.db"),
])
def test_read_only_uris_are_ones_sqlite_takes(path: PurePath, uri: str) -> None:
    assert sqlite_uri(path) == uri
    # A network share's server in the URI's authority is refused outright; here
    # the files are only missing.
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        sqlite3.connect(f"{uri}?mode=ro", uri=True)


def test_a_log_whose_name_needs_escaping_in_a_uri_can_be_read(tmp_path: Path) -> None:
    path = tmp_path / "my calls?#%.sqlite3"
    call_id = log_with_a_call(path)
    with CallStore(path, read_only=True) as store:
        assert [call.id for call in store.calls()] == [call_id]


def test_a_log_on_a_read_only_disk_can_be_read(small_disk: Path, tmp_path: Path) -> None:
    path = small_disk / "calmline.sqlite3"
    call_id = log_with_a_call(path)
    os.chmod(path, 0o644)  # not even 0600: nothing may try to change it
    remount(small_disk, "ro")
    with CallStore(path, read_only=True) as store:
        assert [call.id for call in store.calls()] == [call_id]
        assert [r.event for r in store.events(call_id)] == [RAISED]
        assert store.export_json(tmp_path / "out.json") == 1


def test_readers_follow_an_engine_writing_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    engine = _start_engine(path)
    try:
        call_id = int(_read_line(engine))
        with CallStore(path, read_only=True) as reader:
            assert [call.status for call in reader.calls()] == [CallStatus.OPEN]
            _send(engine, "end")
            assert _read_line(engine) == "ended"
            assert [call.status for call in reader.calls()] == [CallStatus.ENDED]
            assert reader.call(call_id) is not None
    finally:
        _finish(engine)


# --- B: deleting while the log is busy


def test_a_delete_that_fails_keeps_the_recording(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.store, "_BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "calmline.sqlite3"
    call_id = log_with_a_call(path)
    recording = tmp_path / "call.flac"
    recording.write_bytes(b"fLaC")
    with CallStore(path) as store:
        store.set_recording(call_id, recording)
    with closing(sqlite3.connect(path, isolation_level=None)) as busy:
        busy.execute("BEGIN IMMEDIATE")  # another writer in the middle of a write
        with CallStore(path) as store, pytest.raises(StoreError, match="cannot delete the call"):
            store.delete_call(call_id)
        busy.execute("ROLLBACK")
    assert recording.exists()
    with CallStore(path) as store:
        assert store.call(call_id) is not None
        assert store.delete_call(call_id)
        assert store.call(call_id) is None
    assert not recording.exists()


def test_a_recording_that_cannot_be_deleted_does_not_fail_the_delete(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "calmline.sqlite3"
    call_id = log_with_a_call(path)
    stuck = tmp_path / "stuck.flac"
    stuck.mkdir()  # unlink() refuses it, even for root
    (stuck / "inside").touch()
    with CallStore(path) as store, caplog.at_level(logging.WARNING, logger="models.store"):
        store.set_recording(call_id, stuck)
        assert store.delete_call(call_id)
        assert store.calls() == []
    assert any("cannot delete the recording" in r.getMessage() and str(stuck) in r.getMessage()
               for r in caplog.records)


# --- C: retention and a wrong clock


def _ended_call(store: CallStore, started_at: datetime, recording: Path | None = None) -> int:
    call_id = store.begin_call(started_at, 0.0, CallMode.TWO_PARTY)
    store.end_call(call_id, started_at + timedelta(minutes=1), 60.0, SUMMARY, recording)
    return call_id


def test_a_clock_behind_now_only_keeps_calls_longer(tmp_path: Path) -> None:
    with CallStore(tmp_path / "calmline.sqlite3") as store:
        ancient = _ended_call(store, NOW - timedelta(days=1000))
        recent = _ended_call(store, NOW - timedelta(days=60))
        newest = _ended_call(store, NOW)
        # 100 days behind: the 60-day-old call looks fresh; the ancient one is old either way.
        assert store.apply_retention(30, NOW - timedelta(days=100)) == 1
        assert store.call(ancient) is None
        assert {call.id for call in store.calls()} == {recent, newest}


def test_a_call_stamped_in_the_future_does_not_keep_later_calls(tmp_path: Path) -> None:
    with CallStore(tmp_path / "calmline.sqlite3") as store:
        old = _ended_call(store, NOW - timedelta(days=400))
        ahead = _ended_call(store, NOW + timedelta(days=365))  # the clock was a year ahead
        later = _ended_call(store, NOW - timedelta(days=40))  # and was put right since
        store.record_prompt(None, NOW + timedelta(days=365), "manual")
        store.record_prompt(None, NOW - timedelta(days=40), "manual")
        # A call begun a moment after the caller read the clock is rightly stamped.
        just_begun = _ended_call(store, NOW + timedelta(minutes=1))
        assert store.apply_retention(30, NOW) == 2
        assert store.call(old) is None and store.call(later) is None
        assert {call.id for call in store.calls()} == {ahead, just_begun}
        assert [p.at for p in store.prompts(None)] == [NOW + timedelta(days=365)]


def test_retention_keeps_calls_logged_after_a_kept_call(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for name in ("old", "misdated"):
        (recordings / f"{name}.flac").write_bytes(b"fLaC")
    with CallStore(tmp_path / "calmline.sqlite3") as store:
        old = _ended_call(store, NOW - timedelta(days=100), recordings / "old.flac")
        store.record_prompt(None, NOW - timedelta(days=100), "manual")
        kept = _ended_call(store, NOW - timedelta(days=5))
        store.record_prompt(None, NOW - timedelta(days=5), "manual")
        # The clock went back a year for a while: these calls are stamped in the past.
        misdated = _ended_call(store, NOW - timedelta(days=370), recordings / "misdated.flac")
        store.record_prompt(None, NOW - timedelta(days=370), "manual")
        assert store.apply_retention(30, NOW) == 1
        assert {call.id for call in store.calls()} == {kept, misdated}
        assert store.call(old) is None
        assert sorted(p.at for p in store.prompts(None)) == \
            [NOW - timedelta(days=370), NOW - timedelta(days=5)]
    assert not (recordings / "old.flac").exists()
    assert (recordings / "misdated.flac").exists()


# --- D: several engines on one log

_ENGINE = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from models.store import CallMode, CallStore
from models.summary import CallSummary, PartySummary

store = CallStore(Path(sys.argv[1]), recover=True)
call_id = store.begin_call(datetime.now(timezone.utc), 0.0, CallMode.TWO_PARTY)
print(call_id, flush=True)
if sys.stdin.readline().strip() == "end":
    summary = CallSummary(60.0, PartySummary(30.0, 0.5, 4.5), None, 0.0, 0, 0.0, 0.0, 0, 0)
    store.end_call(call_id, datetime.now(timezone.utc), 60.0, summary)
    print("ended", flush=True)
    sys.stdin.readline()
store.close()
"""


def _read_line(child: subprocess.Popen[str]) -> str:
    line = child.stdout.readline()  # type: ignore[union-attr]
    assert line, child.stderr.read()  # type: ignore[union-attr]
    return line.strip()


def _send(child: subprocess.Popen[str], line: str) -> None:
    child.stdin.write(line + "\n")  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]


def _start_engine(path: Path) -> subprocess.Popen[str]:
    """A CalmLine engine's store in a process of its own, driven by lines on stdin."""
    return subprocess.Popen([sys.executable, "-c", _ENGINE, str(path)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(child: subprocess.Popen[str]) -> None:
    # Only a guard against a hung child, not a timing requirement.
    guard = threading.Timer(60.0, child.kill)
    guard.start()
    try:
        child.communicate("\n")
    finally:
        guard.cancel()


@pytest.mark.parametrize("reached_by", ["its path", "a symbolic link"])
def test_a_second_engine_leaves_the_running_engines_call_open(tmp_path: Path,
                                                              reached_by: str) -> None:
    path = tmp_path / "calmline.sqlite3"
    second_path = path
    if reached_by == "a symbolic link":
        second_path = tmp_path / "link.sqlite3"
        second_path.symlink_to(path)
    first = _start_engine(path)
    try:
        call_id = int(_read_line(first))
        # A second app, or `calmline monitor --replay`, starts while the call goes on.
        with CallStore(second_path, recover=True) as second:
            assert second.call(call_id).status is CallStatus.OPEN  # type: ignore[union-attr]
        _send(first, "end")
        assert _read_line(first) == "ended"
    finally:
        _finish(first)
    assert first.returncode == 0, first.stderr
    with CallStore(path, read_only=True) as store:
        assert store.call(call_id).status is CallStatus.ENDED  # type: ignore[union-attr]
    assert list(engines_folder(path).glob("*.engine")) == []


def test_an_engine_in_the_same_process_counts_as_running(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path, recover=True) as first:
        call_id = first.begin_call(NOW, 0.0, CallMode.TWO_PARTY)
        CallStore(path, recover=True).close()
        first.end_call(call_id, NOW + timedelta(minutes=1), 60.0, SUMMARY)
    with CallStore(path, read_only=True) as store:
        assert store.call(call_id).status is CallStatus.ENDED  # type: ignore[union-attr]


def test_the_call_of_an_engine_that_died_is_recovered_and_its_claim_removed(
        tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    dead = _start_engine(path)
    try:
        call_id = int(_read_line(dead))
        folder = engines_folder(path)
        [claim] = folder.glob("*.engine")
        assert (mode_of(folder), mode_of(claim)) == (0o700, 0o600)
        os.kill(dead.pid, signal.SIGKILL)
    finally:
        _finish(dead)
    with CallStore(path, recover=True) as engine:
        assert engine.call(call_id).status is CallStatus.INTERRUPTED  # type: ignore[union-attr]
        [own] = folder.glob("*.engine")
        assert own != claim and mode_of(own) == 0o600
    assert list(folder.glob("*.engine")) == []


# --- E: a full disk is not damage


class _FailingConnection(sqlite3.Connection):
    """Fails every statement as SQLite does when it cannot grow its shared-memory file."""

    def execute(self, *args: object, **kwargs: object) -> sqlite3.Cursor:
        error = sqlite3.OperationalError("disk I/O error")
        error.sqlite_errorcode = sqlite3.SQLITE_IOERR_SHMSIZE  # type: ignore[attr-defined]
        raise error


@pytest.mark.parametrize(("free", "words"), [(0, "the disk holding the call log is full"),
                                              (10 << 30, "not a CalmLine call log, or damaged")])
def test_an_io_error_at_open_is_put_down_to_a_full_disk_only_when_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, words: str) -> None:
    path = tmp_path / "calmline.sqlite3"
    log_with_a_call(path)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",
                        lambda *args, **kwargs: connect(*args, factory=_FailingConnection,
                                                        **kwargs))
    monkeypatch.setattr(shutil, "disk_usage", lambda _: SimpleNamespace(free=free))
    assert words in store_error(path)


def test_a_full_disk_at_open_says_so(small_disk: Path) -> None:
    path = small_disk / "calmline.sqlite3"
    log_with_a_call(path)
    with open(small_disk / "filler", "wb", buffering=0) as filler:
        with pytest.raises(OSError):
            while True:
                filler.write(b"\0" * 4096)
    for options in ({"recover": True}, {"read_only": True}):
        message = store_error(path, **options)
        assert "disk holding the call log is full" in message and "damaged" not in message
