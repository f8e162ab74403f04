"""``--diagnostics``, the log file, and the privacy promise: no network, user-only files."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.policy import load_policy
from models.private_files import write_private_text
from models.profile import new_profile, save_profile
from ui.cli import main
from ui.diagnostics import diagnostics_report
from ui.logging_setup import LOG_FILE_NAME, configure_logging

REPO = Path(__file__).resolve().parents[1]

POLICY = """\
locked = ["general.recording_enabled", "general.no_such_setting"]

[general]
recording_enabled = false
retention_days = 30
"""

# Runs the CLI with every Python-level socket operation refused and recorded.
# An audit hook sees what monkeypatching socket.socket would miss (_socket used
# directly, DNS lookups); AF_UNIX is refused too, since nothing here needs it.
GUARD = """\
import json, os, sys
attempts = []

def _no_network(event, args):
    if event.startswith("socket."):
        attempts.append(event)
        raise OSError(f"network access blocked by the privacy test ({event})")

sys.addaudithook(_no_network)
os.umask(0o022)

def _report():
    with open(os.environ["GUARD_LOG"], "w") as stream:
        json.dump(attempts, stream)

import atexit
atexit.register(_report)
"""
RUN_CLI = GUARD + "from ui.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _user_dirs(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_CACHE_HOME": str(tmp_path / "cache")}


@pytest.fixture
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every user folder, and the policy file, inside ``tmp_path``."""
    env = _user_dirs(tmp_path) | {"CALMLINE_POLICY": str(tmp_path / "policy.toml")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


# --- diagnostics -----------------------------------------------------------------

def test_diagnostics_prints_every_section_and_the_policy_source(
        user_env: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    policy_path = Path(user_env["CALMLINE_POLICY"])
    policy_path.write_text(POLICY)
    assert main(["--diagnostics"]) == 0
    out = capsys.readouterr().out
    for heading in ("CalmLine\n", "Audio\n", "Paths\n", "Settings in effect", "IT policy\n"):
        assert heading in out
    for line in ("  version: ", "  Python: ", "  OS: ", "  Qt: ", "  PortAudio: ",
                 "  ffmpeg (reads M4A, WMA, AMR and WebM recordings): ",
                 f"  source: {policy_path}\n",
                 "  locked: general.recording_enabled\n",
                 "general.retention_days = 30  (policy default)",
                 "general.recording_enabled = false  (policy, locked)",
                 f"  settings: {user_env['XDG_CONFIG_HOME']}/calmline/settings.toml",
                 f"  call log: {user_env['XDG_DATA_HOME']}/calmline/",
                 f"  logs: {user_env['XDG_STATE_HOME']}/calmline/log/{LOG_FILE_NAME}",
                 f"  cache: {user_env['XDG_CACHE_HOME']}/calmline"):
        assert line in out, line
    assert "problem: " in out and "general.no_such_setting" in out


def test_diagnostics_check_the_call_log_without_changing_it(user_env: dict[str, str]) -> None:
    from models.store import CallStore, default_store_path

    log = default_store_path()
    log.parent.mkdir(parents=True)
    log.write_bytes(b"not a database at all" * 100)
    report = diagnostics_report(load_policy(), device_lister=lambda: [])
    assert f"call log: {log} (cannot be read: " in report
    assert log.read_bytes() == b"not a database at all" * 100
    log.unlink()
    with CallStore(log) as store:
        store.begin_call("2026-11-23T08:00:00+00:00", 0.0, "two_party")
    before = log.read_bytes()
    report = diagnostics_report(load_policy(), device_lister=lambda: [])
    assert f"call log: {log} (1 call, schema version " in report
    assert log.read_bytes() == before


def test_diagnostics_without_a_policy_says_where_it_looked(user_env: dict[str, str]) -> None:
    report = diagnostics_report(load_policy(), device_lister=lambda: [])
    assert f"source: none (no file at {user_env['CALMLINE_POLICY']})" in report
    # The helpdesk sees that the place was chosen by the environment, not installed by IT.
    assert "chosen by $CALMLINE_POLICY, not the machine-wide policy" in report
    assert "all built-in defaults" in report


def test_diagnostics_reports_a_failing_device_list_as_a_line(user_env: dict[str, str]) -> None:
    def broken() -> list[object]:
        raise RuntimeError("PortAudio is not initialised")

    report = diagnostics_report(device_lister=broken)
    assert "Input devices: cannot be listed (RuntimeError: PortAudio is not initialised)" in report


def test_diagnostics_reports_a_broken_settings_file(user_env: dict[str, str]) -> None:
    settings = Path(user_env["XDG_CONFIG_HOME"]) / "calmline" / "settings.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text("[general\n")
    report = diagnostics_report(device_lister=lambda: [])
    assert f"problem: {settings}: not valid TOML" in report


def test_diagnostics_takes_no_command(user_env: dict[str, str],
                                      capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--diagnostics", "devices"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- logging ---------------------------------------------------------------------

def test_log_file_is_user_only_in_the_user_log_folder(user_env: dict[str, str]) -> None:
    Path(user_env["CALMLINE_POLICY"]).write_text(POLICY)
    assert main(["--diagnostics"]) == 0
    log_dir = Path(user_env["XDG_STATE_HOME"]) / "calmline" / "log"
    log_file = log_dir / LOG_FILE_NAME
    assert log_file.stat().st_mode & 0o777 == 0o600
    assert log_dir.stat().st_mode & 0o777 == 0o700
    assert log_dir.parent.stat().st_mode & 0o777 == 0o700
    # Policy problems reach the helpdesk's log, not only stderr.
    logging.shutdown()
    assert "general.no_such_setting" in log_file.read_text()


def test_log_files_stay_user_only_after_rotation(tmp_path: Path) -> None:
    path = configure_logging(log_dir=tmp_path / "log")
    assert path is not None
    handler = next(h for h in logging.getLogger().handlers
                   if getattr(h, "baseFilename", None) == str(path))
    logging.getLogger("calmline.test").warning("before rotation")
    handler.doRollover()
    logging.getLogger("calmline.test").warning("after rotation")
    for each in (path, path.with_name(LOG_FILE_NAME + ".1")):
        assert each.stat().st_mode & 0o777 == 0o600


def test_a_verbose_log_keeps_calmlines_details_not_every_lock_attempt(tmp_path: Path) -> None:
    from models.store import CallStore

    path = configure_logging(verbose=True, log_dir=tmp_path / "log")
    assert path is not None
    logging.getLogger("calmline.test").debug("a detail of our own")
    with CallStore(tmp_path / "calls.sqlite3", recover=True):  # an engine's claim: file locks
        pass
    text = path.read_text()
    assert "a detail of our own" in text and "filelock" not in text


def test_an_unwritable_log_folder_is_a_warning_not_a_crash(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert configure_logging(log_dir=blocker / "log") is None
    assert "no log file" in capsys.readouterr().err


# --- privacy -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ui.demo_call import DemoUnavailable, write_demo_call

    try:
        return write_demo_call(tmp_path_factory.mktemp("call") / "demo_call.wav")
    except DemoUnavailable as exc:
        pytest.skip(str(exc))


def _guarded(script: str, args: list[str], tmp_path: Path, name: str,
             ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    guard_log = tmp_path / f"guard-{name}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("CALMLINE_POLICY",)}
    env |= _user_dirs(tmp_path) | {"GUARD_LOG": str(guard_log),
                                   "CALMLINE_POLICY": str(tmp_path / "no-policy.toml"),
                                   "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    return result, json.loads(guard_log.read_text())


def test_the_guard_catches_a_connection(tmp_path: Path) -> None:
    script = GUARD + ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9))\n"
                      "except OSError:\n    pass\n")
    result, attempts = _guarded(script, [], tmp_path, "self-test")
    assert result.returncode == 0 and attempts


def test_analyze_monitor_and_export_open_no_network_and_write_user_only_files(
        demo_call: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # An events log left by an earlier run, created with the usual umask, is appended to.
    (out / "live.jsonl").touch()
    (out / "live.jsonl").chmod(0o644)
    runs = {
        "analyze": ["analyze", str(demo_call), "--json", str(out / "analysis.json"),
                    "--csv", str(out / "events.csv")],
        # A replay is logged only in a call log named for it: the default one, here.
        "monitor": ["monitor", "--headless", "--replay", str(demo_call), "--fast", "--record",
                    "--store", str(tmp_path / "data" / "calmline" / "calmline.sqlite3"),
                    "--events-jsonl", str(out / "live.jsonl")],
        "export": ["export", "--json", str(out / "calls.json"), "--csv", str(out / "calls")],
        "diagnostics": ["--diagnostics"],
        "demo": ["demo"],
    }
    for name, args in runs.items():
        result, attempts = _guarded(RUN_CLI, args, tmp_path, name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert attempts == [], f"{name} tried the network: {attempts}"

    data = tmp_path / "data" / "calmline"
    assert (data / "calmline.sqlite3").is_file()
    assert list((data / "recordings").glob("*.flac")), "the replayed call was not recorded"
    save_profile(new_profile(-23.0, 4.5, -30.0), data / "profile.json")
    exports = sorted(out.iterdir())
    assert [p.name for p in exports] == ["analysis.json", "calls-calls.csv", "calls-events.csv",
                                         "calls-prompts.csv", "calls.json", "events.csv",
                                         "live.jsonl"]
    created = [*exports]
    for root in ("config", "data", "state", "cache"):
        folder = tmp_path / root / "calmline"
        if folder.exists():
            created += [folder, *folder.rglob("*")]
    assert (tmp_path / "state" / "calmline" / "log" / LOG_FILE_NAME) in created
    assert list((tmp_path / "cache" / "calmline").glob("demo_call_*.wav"))
    for path in created:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path


FILE_DIALOG = GUARD + """\
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog
from ui.app import make_application

app = make_application()
QTimer.singleShot(200, lambda: [w.reject() for w in app.topLevelWidgets()
                                if isinstance(w, QFileDialog)])
QFileDialog.getOpenFileName(None, "Open a call recording", sys.argv[1], "*.wav")
"""


def test_file_dialogs_remember_folders_in_a_user_only_file(tmp_path: Path) -> None:
    # Qt's file dialogs save the folders visited; by default to ~/.config/QtProject.conf, 0644.
    calls = tmp_path / "home" / "calls"
    calls.mkdir(parents=True)
    result, attempts = _guarded(FILE_DIALOG, [str(calls)], tmp_path, "file-dialog")
    assert result.returncode == 0, result.stderr
    assert attempts == []
    config = tmp_path / "config"
    assert not (config / "QtProject.conf").exists()
    qt_settings = config / "calmline" / "qt" / "QtProject.conf"
    assert str(calls) in qt_settings.read_text(), "the dialog saved nothing: the test is void"
    assert qt_settings.stat().st_mode & 0o777 == 0o600
    assert qt_settings.parent.stat().st_mode & 0o777 == 0o700


def test_private_files_are_written_where_python_has_no_fchmod(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python before 3.13 on Windows: the profile folder's ACLs keep the files private there.
    monkeypatch.delattr(os, "fchmod")
    path = tmp_path / "settings.toml"
    write_private_text(path, lambda stream: stream.write("[general]\n"))
    assert path.read_text() == "[general]\n"
