"""Coaching goes on when the call log or a recording fails: each failure is said once, in one line."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import monitor.engine
from models.store import APPLICATION_ID, SCHEMA_VERSION, CallStore, StoreError
from monitor.audio_file import CallRecording
from monitor.capture import CaptureCounters, FileReplaySource
from monitor.engine import EngineOptions, MonitorEngine, StatusChange

SR_HZ = 16000
STREAM_S = 8.0
TWO_CALLS = [(1.0, "start"), (3.0, "stop"), (4.0, "start"), (6.0, "stop")]


class Script:
    """A listener that starts and stops calls by hand at stream times and keeps what it is told.

    It runs on the engine thread, so each action lands on the engine's next tick.

    Parameters
    ----------
    actions : list of (float, str or callable)
        Stream time in seconds, and ``"start"``, ``"stop"`` or a function to call then.
    """

    def __init__(self, actions: list[tuple[float, str | Callable[[], None]]]) -> None:
        self._actions = sorted(actions, key=lambda a: a[0])
        self.engine: MonitorEngine | None = None
        self.statuses: list[StatusChange] = []
        self.on_kind: dict[str, Callable[[StatusChange], None]] = {}

    def on_frame(self, frame, baseline) -> None:
        assert self.engine is not None
        while self._actions and frame.t_s >= self._actions[0][0]:
            action = self._actions.pop(0)[1]
            if action == "start":
                self.engine.start_call()
            elif action == "stop":
                self.engine.stop_call()
            else:
                action()

    def on_event(self, event) -> None:
        pass

    def on_status(self, status: StatusChange) -> None:
        self.statuses.append(status)
        if status.kind in self.on_kind:
            self.on_kind[status.kind](status)

    def kinds(self) -> list[str]:
        return [s.kind for s in self.statuses]

    def of(self, kind: str) -> list[StatusChange]:
        return [s for s in self.statuses if s.kind == kind]


def run_engine(tmp_path: Path, script: Script, **options) -> MonitorEngine:
    """Replay a quiet two-party stream as fast as possible through the engine, to its end.

    The replay's ring holds 0.1 s, so the engine takes at most that much per tick
    and the script's actions land within about 0.1 s of their time.
    """
    audio = tmp_path / "quiet.wav"
    if not audio.exists():
        noise = np.random.default_rng(7).standard_normal((round(STREAM_S * SR_HZ), 2)) * 1e-3
        sf.write(audio, noise.astype(np.float32), SR_HZ)
    engine = MonitorEngine(FileReplaySource(CallRecording(audio), fast=True, ring_s=0.1), None, script,
                           EngineOptions(stereo_channels=(0, 1), **options))
    script.engine = engine
    engine.start()
    engine.join(60)
    engine.stop()
    return engine


def calls_in(store: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT id, status FROM calls ORDER BY id").fetchall()


def one_line_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The engine's warnings; none may carry a traceback at the default level."""
    records = [r for r in caplog.records if r.name == "monitor.engine" and r.levelno >= logging.WARNING]
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in records), records
    return [r.getMessage() for r in records]


@pytest.mark.parametrize("kind", ["damaged", "newer"])
def test_a_call_log_that_cannot_be_opened_leaves_coaching_on(tmp_path: Path, kind: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "calls.sqlite3"
    if kind == "damaged":
        store.write_bytes(np.random.default_rng(1).bytes(20000))
    else:
        with sqlite3.connect(store) as db:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
            db.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY)")
    kept = store.read_bytes()
    script = Script(TWO_CALLS)
    engine = run_engine(tmp_path, script, store_path=store)
    assert engine.error is None
    assert script.kinds() == ["monitoring_started", "call_log_failed", "call_started", "call_ended",
                              "call_started", "call_ended", "monitoring_stopped"]
    detail = script.of("call_log_failed")[0].detail
    assert str(store) in detail and "Coaching goes on" in detail and "\n" not in detail
    assert all(s.call_id is None for s in script.statuses)
    assert store.read_bytes() == kept
    assert len(one_line_warnings(caplog)) == 1


def test_a_call_log_that_fails_midway_is_given_up_once(tmp_path: Path, monkeypatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def disk_full(*args, **kwargs) -> None:
        raise StoreError("cannot record the call's end: database or disk is full")

    monkeypatch.setattr(CallStore, "end_call", disk_full)
    store, folder = tmp_path / "calls.sqlite3", tmp_path / "recordings"
    script = Script(TWO_CALLS)
    engine = run_engine(tmp_path, script, store_path=store, recording_dir=folder)
    assert engine.error is None
    assert script.kinds().count("call_started") == 2 and script.kinds().count("call_ended") == 2
    failed = script.of("call_log_failed")
    assert len(failed) == 1 and "database or disk is full" in failed[0].detail
    assert "without logging or recording" in failed[0].detail
    # Given up for the rest of the run: the second call is not begun in the log at all,
    # nor recorded, since no record would hold its recording.
    assert [s.call_id for s in script.of("call_started")] == [1, None]
    assert calls_in(store) == [(1, "open")]
    assert [p.name.endswith("-1.flac") for p in folder.iterdir()] == [True]
    assert len(one_line_warnings(caplog)) == 1


@pytest.mark.parametrize("change", ["interrupted", "deleted"])
def test_a_call_closed_by_another_calmline_leaves_monitoring_on(tmp_path: Path, change: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    store = tmp_path / "calls.sqlite3"
    script = Script(TWO_CALLS)

    def other_calmline(status: StatusChange) -> None:
        script.on_kind.clear()  # once: a deleted call's id is given again to the next one
        # Another process took the open call for one a crash left behind, or deleted it.
        with sqlite3.connect(store) as db:
            if change == "interrupted":
                db.execute("UPDATE calls SET status = 'interrupted', ended_at = started_at, "
                           "end_s = start_s WHERE id = 1")
            else:
                db.execute("DELETE FROM calls WHERE id = 1")
        db.close()

    script.on_kind["call_started"] = other_calmline
    engine = run_engine(tmp_path, script, store_path=store)
    assert engine.error is None
    not_logged = script.of("call_not_logged")
    assert len(not_logged) == 1 and not_logged[0].call_id == 1
    assert "call_log_failed" not in script.kinds()
    # The log itself is fine: the next call is logged in full.
    expected = ["interrupted", "ended"] if change == "interrupted" else ["ended"]
    assert [status for _, status in calls_in(store)] == expected
    assert len(one_line_warnings(caplog)) == 1


def test_a_recording_that_fails_midway_stops_for_that_call_only(tmp_path: Path, monkeypatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    broken = {"now": False}
    real_write = sf.SoundFile.write

    def flaky_write(self: sf.SoundFile, data: np.ndarray) -> None:
        if broken["now"]:
            raise sf.LibsndfileError(2)  # what libsndfile says when the disk is full
        real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", flaky_write)
    store, folder = tmp_path / "calls.sqlite3", tmp_path / "recordings"
    script = Script([*TWO_CALLS, (2.0, lambda: broken.update(now=True)),
                     (3.5, lambda: broken.update(now=False))])
    engine = run_engine(tmp_path, script, store_path=store, recording_dir=folder)
    assert engine.error is None
    failed = script.of("recording_failed")
    assert len(failed) == 1 and failed[0].call_id == 1 and "System error" in failed[0].detail
    assert script.kinds().count("call_ended") == 2 and "call_log_failed" not in script.kinds()
    with sqlite3.connect(store) as db:
        paths = [Path(p) for (p,) in db.execute("SELECT recording_path FROM calls ORDER BY id")]
    assert calls_in(store) == [(1, "ended"), (2, "ended")]
    first, second = (sf.read(p, dtype="float32")[0] for p in paths)
    # The first call's file is closed and readable up to the failure; the second is whole.
    assert 0.8 <= len(first) / SR_HZ <= 1.2
    assert 1.8 <= len(second) / SR_HZ <= 2.2
    assert len(one_line_warnings(caplog)) == 1


def test_calls_in_the_same_second_never_share_a_recording(tmp_path: Path, monkeypatch) -> None:
    class SameSecond(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> SameSecond:
            return cls(2025, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(monitor.engine, "datetime", SameSecond)
    folder = tmp_path / "recordings"
    folder.mkdir(mode=0o700)
    earlier = folder / "call-20250102-030405.flac"  # from another engine, in that same second
    earlier.write_bytes(b"an earlier recording")
    script = Script([(1.0, "start"), (2.0, "stop"), (2.5, "start"), (3.5, "stop"),
                     (4.0, "start"), (5.0, "stop")])
    engine = run_engine(tmp_path, script, recording_dir=folder)  # no call log, so no call ids
    assert engine.error is None
    assert earlier.read_bytes() == b"an earlier recording"
    assert sorted(p.name for p in folder.iterdir()) == [
        "call-20250102-030405-2.flac", "call-20250102-030405-3.flac",
        "call-20250102-030405-4.flac", "call-20250102-030405.flac"]
    for number in (2, 3, 4):
        path = folder / f"call-20250102-030405-{number}.flac"
        assert 0.8 <= sf.info(path).duration <= 1.2
        assert path.stat().st_mode & 0o777 == 0o600


def test_lost_audio_is_said_once_in_plain_words(tmp_path: Path, monkeypatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # The engine fell so far behind that its ring buffer overflowed twice: not the driver's
    # "input overflow", but audio lost all the same.
    monkeypatch.setattr(FileReplaySource, "counters",
                        property(lambda self: CaptureCounters(ring_overflows=2)))
    script = Script([])
    with caplog.at_level(logging.WARNING):
        run_engine(tmp_path, script)
    [status] = [s for s in script.statuses if s.kind == "overflow"]
    assert status.detail.startswith("Audio was lost 2 time(s): the computer was too busy")
    assert one_line_warnings(caplog) == [
        "audio lost: 0 input overflow(s), 2 time(s) the engine fell behind"]


class DroppingReplay(FileReplaySource):
    """A replay whose engine "fell behind" once: one read loses its last ``drop_s``, as a full
    ring does, and says how many frames it dropped."""

    def __init__(self, path: Path, drop_at_s: float, drop_s: float) -> None:
        super().__init__(CallRecording(path), fast=True, ring_s=0.1)
        self._drop_at = round(drop_at_s * SR_HZ)
        self._drop = round(drop_s * SR_HZ)
        self._taken = 0

    def read(self, max_frames: int | None = None):
        chunk = super().read(max_frames)
        self._taken += chunk.samples.shape[0]
        if self._drop and self._taken >= self._drop_at and chunk.samples.shape[0] > self._drop:
            kept = chunk.samples.shape[0] - self._drop
            chunk = replace(chunk, samples=chunk.samples[:kept], dropped_after=self._drop)
            self._drop = 0
        return chunk


def test_audio_dropped_by_a_full_ring_keeps_its_time_on_the_calls_clock(tmp_path: Path) -> None:
    audio = tmp_path / "quiet.wav"
    noise = np.random.default_rng(7).standard_normal((round(STREAM_S * SR_HZ), 2)) * 1e-3
    sf.write(audio, noise.astype(np.float32), SR_HZ)
    seen: list[float] = []
    script = Script([])
    script.on_frame = lambda frame, baseline: seen.append(frame.t_s)  # type: ignore[method-assign]
    source = DroppingReplay(audio, drop_at_s=3.0, drop_s=0.05)
    engine = MonitorEngine(source, None, script, EngineOptions(stereo_channels=(0, 1)))
    engine.start()
    engine.join(60)
    engine.stop()
    assert engine.error is None
    # 8 s of real time went by: the 50 ms the ring lost are silence, not skipped.
    assert seen[-1] == pytest.approx(STREAM_S - 0.1, abs=1e-6)
