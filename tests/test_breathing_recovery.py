"""Breathing prompts that a crash left on screen or under way are closed, like its calls.

A process that dies with an offer shown or an exercise running never logs how
it ended; the next monitoring engine to open the log alone closes those rows,
but never the prompts of the process it runs in.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from models.engine_presence import engines_folder
from models.store import CallMode, CallStatus, CallStore, PromptOutcome

REPO = Path(__file__).resolve().parent.parent

BEFORE = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
"""A time before this test process started: what a crashed process wrote."""


def outcomes(store: CallStore, call_id: int | None) -> list[tuple[str, PromptOutcome]]:
    return [(p.trigger, p.outcome) for p in store.prompts(call_id)]


def test_prompts_a_crash_left_open_are_closed_by_the_next_engine(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as crashed:
        call_id = crashed.begin_call(BEFORE, 0.0, CallMode.TWO_PARTY)
        shown = crashed.record_prompt(call_id, BEFORE + timedelta(seconds=70), "raised_voice")
        started = crashed.record_prompt(call_id, BEFORE + timedelta(seconds=200),
                                        "interruption")
        crashed.update_prompt_outcome(started, PromptOutcome.STARTED,
                                      BEFORE + timedelta(seconds=205))
        done = crashed.record_prompt(None, BEFORE + timedelta(minutes=9), "manual",
                                     PromptOutcome.STARTED)
        crashed.update_prompt_outcome(done, PromptOutcome.COMPLETED,
                                      BEFORE + timedelta(minutes=10))
        manual = crashed.record_prompt(None, BEFORE + timedelta(minutes=30), "manual",
                                       PromptOutcome.STARTED)
    # Readers and other writers (the UI's prompt log) leave them: the process may be alive.
    with CallStore(path) as other_writer:
        assert outcomes(other_writer, call_id)[1] == ("interruption", PromptOutcome.STARTED)
    with CallStore(path, recover=True) as engine:
        assert engine.call(call_id).status is CallStatus.INTERRUPTED
        assert outcomes(engine, call_id) == [("raised_voice", PromptOutcome.DISMISSED),
                                             ("interruption", PromptOutcome.STOPPED)]
        assert outcomes(engine, None) == [("manual", PromptOutcome.COMPLETED),
                                          ("manual", PromptOutcome.STOPPED)]
        # Closed at the last thing known of them, not at the time of recovery.
        by_id = {p.id: p for p in engine.prompts(call_id) + engine.prompts(None)}
        assert by_id[shown].updated_at == BEFORE + timedelta(seconds=70)
        assert by_id[started].updated_at == BEFORE + timedelta(seconds=205)
        assert by_id[done].updated_at == BEFORE + timedelta(minutes=10)
        assert by_id[manual].updated_at == BEFORE + timedelta(minutes=30)


def test_an_engine_restarting_leaves_this_processs_exercise_alone(tmp_path: Path) -> None:
    # Pausing monitoring or changing settings restarts the engine while an exercise runs.
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as ui_log:
        running = ui_log.record_prompt(None, datetime.now(timezone.utc), "manual",
                                       PromptOutcome.STARTED)
        with CallStore(path, recover=True) as engine:
            assert outcomes(engine, None) == [("manual", PromptOutcome.STARTED)]
        ui_log.update_prompt_outcome(running, PromptOutcome.COMPLETED,
                                     datetime.now(timezone.utc))
        assert outcomes(ui_log, None) == [("manual", PromptOutcome.COMPLETED)]


_APP = """
import sys
from pathlib import Path
from models.store import PromptOutcome
from ui.breathing_pacer import LoggedPrompt, StorePromptLog
log = StorePromptLog(Path(sys.argv[1]))
prompt = LoggedPrompt(log, "raised_voice", None)
prompt.advance(PromptOutcome.STARTED)
print("started", flush=True)
sys.stdin.readline()
prompt.advance(PromptOutcome.COMPLETED)
log.close()
"""
"""An app's breathing log in a process of its own, with an exercise under way until a line
comes on stdin."""

_ENGINE = ("import sys; from models.store import CallStore; "
           "CallStore(sys.argv[1], recover=True).close()")
"""A monitoring engine starting and stopping in a process of its own (``monitor --headless``)."""


def _run(script: str, path: Path, stdin: int | None = None,
         stdout: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO, env=env,
                            text=True, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)


def _finish(child: subprocess.Popen[str], stdin: str | None = None) -> str:
    # Only a guard against a hung child, not a timing requirement.
    guard = threading.Timer(60.0, child.kill)
    guard.start()
    try:
        return child.communicate(stdin)[1]
    finally:
        guard.cancel()


def _start_app(path: Path) -> subprocess.Popen[str]:
    app = _run(_APP, path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert app.stdout is not None and app.stdout.readline() == "started\n"
    return app


def test_an_engine_in_another_process_leaves_a_live_apps_exercise_alone(tmp_path: Path) -> None:
    # The app's own engine is paused, so this engine is the only one: only the exercise's
    # prompt log tells that the app is alive.
    path = tmp_path / "calmline.sqlite3"
    app = _start_app(path)
    try:
        engine = _run(_ENGINE, path)
        assert engine.wait() == 0, _finish(engine)
        with CallStore(path, read_only=True) as store:
            assert outcomes(store, None) == [("raised_voice", PromptOutcome.STARTED)]
    finally:
        errors = _finish(app, "\n")
    assert app.returncode == 0 and "not logged" not in errors, errors
    with CallStore(path, read_only=True) as store:
        assert outcomes(store, None) == [("raised_voice", PromptOutcome.COMPLETED)]
    assert list(engines_folder(path).iterdir()) == [engines_folder(path) / "guard.lock"]


def test_the_exercise_of_an_app_that_died_is_closed_by_the_next_engine(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    app = _start_app(path)
    try:
        [claim] = engines_folder(path).glob("*.prompts")
        os.kill(app.pid, signal.SIGKILL)
    finally:
        _finish(app)
    engine = _run(_ENGINE, path)
    assert engine.wait() == 0, _finish(engine)
    with CallStore(path, read_only=True) as store:
        [stopped] = store.prompts(None)
    assert (stopped.outcome, stopped.started_at) == (PromptOutcome.STOPPED, stopped.updated_at)
    assert not claim.exists()
