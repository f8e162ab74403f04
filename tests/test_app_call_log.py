"""What the desktop app keeps in the call log: the agent's real calls, for as long as they chose."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.store import CallMode, CallStore
from models.summary import CallSummary, PartySummary
from monitor.engine import StatusChange
from tests.app_fakes import record_settings_dialogs
from tests.audio_fixtures import have
from ui.cli import main

SUMMARY = CallSummary(60.0, PartySummary(30.0, 0.5, 4.0), PartySummary(25.0, 0.4, 4.2), 1.0, 0,
                      0.0, 0.0, 0, 0)


@pytest.fixture(scope="module")
def short_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.scripted_calls import write_interruptions_call

    return write_interruptions_call(tmp_path_factory.mktemp("call_log"))["call"]


def make_app(qtbot, tmp_path: Path, replay: Path | None = None, **kwargs):
    from ui.app import CalmLineApp

    app = CalmLineApp(replay, fast=True, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      chime=lambda: None, **kwargs)
    qtbot.addWidget(app.window)
    return app


def logged_calls(store: Path) -> int:
    if not store.exists():
        return 0
    with CallStore(store, read_only=True) as reader:
        return len(reader.calls())


def log_calls_aged(store: Path, *days: int) -> None:
    """Log calls that started this many days ago, in the order given (oldest first, as logged)."""
    now = datetime.now(timezone.utc)
    with CallStore(store) as writer:
        for age in days:
            started = now - timedelta(days=age)
            call_id = writer.begin_call(started, 0.0, CallMode.TWO_PARTY)
            writer.end_call(call_id, started + timedelta(minutes=1), 60.0, SUMMARY)


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
@pytest.mark.parametrize("log_replays", [False, True])
def test_a_replayed_call_is_logged_only_when_asked(qtbot, short_call: Path, tmp_path: Path,
                                                   log_replays: bool) -> None:
    app = make_app(qtbot, tmp_path, short_call, log_replays=log_replays)
    try:
        app.start()
        qtbot.waitUntil(lambda: "replay has finished" in app.window.status_text, timeout=60000)
    finally:
        app.shutdown()
    assert logged_calls(tmp_path / "calls.db") == (1 if log_replays else 0)


def test_the_demo_calls_breathing_exercises_stay_out_of_the_log(qtbot, tmp_path: Path) -> None:
    app = make_app(qtbot, tmp_path, input_available=lambda: False)
    assert app.feed.demo
    app.breathe_now()
    pacer = app._extra_windows["pacer"]
    qtbot.addWidget(pacer)
    assert pacer.running
    pacer.close()
    with CallStore(tmp_path / "calls.db", read_only=True) as reader:
        assert reader.prompts(None) == []


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
def test_monitor_replays_are_logged_only_in_a_log_named_for_them(short_call: Path,
                                                                 tmp_path: Path) -> None:
    from models.store import default_store_path

    assert main(["monitor", "--headless", "--replay", str(short_call), "--fast"]) == 0
    assert logged_calls(default_store_path()) == 0
    named = tmp_path / "training.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(short_call), "--fast",
                 "--store", str(named)]) == 0
    assert logged_calls(named) == 1


def test_a_settings_file_that_cannot_be_used_deletes_no_calls(qtbot, tmp_path: Path) -> None:
    log_calls_aged(tmp_path / "calls.db", 400, 100, 1)
    # The user keeps everything; one unknown key makes the whole file unusable.
    (tmp_path / "settings.toml").write_text("[general]\nretention_days = 0\ncue_sounds = true\n")
    app = make_app(qtbot, tmp_path, input_available=lambda: True)
    assert "cue_sounds" in app._settings_problem
    app._apply_retention()
    app.bridge.statusReceived.emit(StatusChange("call_ended", 60.0, 0.0, ""))
    assert logged_calls(tmp_path / "calls.db") == 3


def test_retention_applies_when_shortened_and_as_calls_age(qtbot, tmp_path: Path,
                                                           monkeypatch) -> None:
    log_calls_aged(tmp_path / "calls.db", 200, 100, 60, 1)
    (tmp_path / "settings.toml").write_text("[general]\nretention_days = 365\n")
    app = make_app(qtbot, tmp_path, input_available=lambda: True)
    monkeypatch.setattr(app.runner, "start", lambda feed: None)
    record_settings_dialogs(monkeypatch, accept_with=replace(app.runner.settings,
                                                             retention_days=90))
    app.open_settings()
    assert logged_calls(tmp_path / "calls.db") == 2  # at once, not at the next start
    # The app can run for days: each call's end applies the retention again, as if
    # the 60-day-old call had aged past it since.
    app.runner.settings = replace(app.runner.settings, retention_days=30)
    app.bridge.statusReceived.emit(StatusChange("call_ended", 60.0, 0.0, ""))
    assert logged_calls(tmp_path / "calls.db") == 1


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
@pytest.mark.parametrize("store, record, recorded", [
    (None, False, False),  # the settings record only calls that are logged
    (None, True, True),  # asked for on the command line: recorded, log or not
    ("calls.db", False, True),
])
def test_recording_on_in_the_settings_records_only_logged_calls(
        short_call: Path, tmp_path: Path, store: str | None, record: bool,
        recorded: bool) -> None:
    from models.app_settings import AppSettings
    from monitor.engine_setup import SourceRequest, build_engine_setup

    setup = build_engine_setup(SourceRequest(replay=short_call),
                               AppSettings(recording_enabled=True),
                               None if store is None else tmp_path / store, record=record)
    setup.agent.stop()
    assert (setup.options.recording_dir is not None) == recorded
