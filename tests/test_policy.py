"""The IT policy: where it lives, precedence, locks, and broken entries that do not stop the rest."""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from models.app_settings import AppSettings, read_settings_tables
from models.call_segmentation import SegmentationSettings
from models.policy import (Policy, apply_policy, default_policy_path, load_effective_settings,
                           load_policy, save_user_settings)
from models.settings import RuleSettings, SettingsError
from tests.app_fakes import record_settings_dialogs
from ui.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "packaging" / "policy.example.toml"

POLICY = """\
locked = ["general.recording_enabled", "rules.raised_voice_lu", "segmentation"]

[general]
recording_enabled = false
retention_days = 30
cue_sound = true

[rules]
raised_voice_lu = 8.0
monologue_min_s = 60

[segmentation]
end_silence_s = 6.0
"""


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)  # as installed by an administrator, whatever the umask
    return path


@pytest.mark.parametrize("platform, environ, expected", [
    ("linux", {}, PurePosixPath("/etc/calmline/policy.toml")),
    ("darwin", {}, PurePosixPath("/Library/Application Support/CalmLine/policy.toml")),
    ("win32", {"ProgramData": r"D:\ProgramData"},
     PureWindowsPath(r"D:\ProgramData\CalmLine\policy.toml")),
    ("win32", {}, PureWindowsPath(r"C:\ProgramData\CalmLine\policy.toml")),
    ("linux", {"CALMLINE_POLICY": "/tmp/trial.toml"}, PurePosixPath("/tmp/trial.toml")),
])
def test_default_policy_path_per_platform(platform: str, environ: dict[str, str],
                                          expected: PurePosixPath | PureWindowsPath) -> None:
    assert default_policy_path(platform, environ) == expected


def test_the_environment_cannot_replace_the_machine_policy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.policy

    # Any user can set $CALMLINE_POLICY to an empty file; IT's locks must still hold.
    machine = _policy(tmp_path, 'locked = ["general.recording_enabled"]\n')
    trial = tmp_path / "trial.toml"
    trial.write_text("")
    monkeypatch.setattr(models.policy, "machine_policy_path", lambda *_: machine)
    environ = {"CALMLINE_POLICY": str(trial)}
    assert default_policy_path(environ=environ) == machine
    monkeypatch.setenv("CALMLINE_POLICY", str(trial))
    assert load_policy().is_locked("general", "recording_enabled")
    # Without a machine policy, the trial file is used.
    machine.unlink()
    assert default_policy_path(environ=environ) == trial


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root to give a file away")
def test_a_machine_policy_owned_by_a_user_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.policy

    folder = tmp_path / "calmline"
    folder.mkdir()
    machine = _policy(folder, 'locked = ["general.recording_enabled"]\n')
    machine.chmod(0o644)
    monkeypatch.setattr(models.policy, "machine_policy_path", lambda *_: machine)
    assert load_policy(machine).problems == ()
    os.chown(machine, 65534, 65534)
    [problem] = load_policy(machine).problems
    assert "the file is owned by user id 65534, not root" in problem
    assert load_policy(machine).is_locked("general", "recording_enabled")  # still applied


@pytest.mark.parametrize("policy_text, user_text", [
    ('locked = ["rules.raised_voice_lu"]\n[rules]\nraised_voice_lu = 10.0\n', "loud_lu = 8.0\n"),
    ("[rules]\nraised_voice_lu = 10.0\n", "loud_lu = 8.0\n"),
    # Locked at the built-in 6 LU: the user's own 4 LU does not count.
    ('locked = ["rules.raised_voice_lu"]\n', "raised_voice_lu = 4.0\nloud_lu = 5.0\n"),
])
def test_a_clash_with_the_policy_names_the_policy(tmp_path: Path, policy_text: str,
                                                 user_text: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[rules]\n" + user_text)
    with pytest.raises(SettingsError) as info:
        load_effective_settings(path, load_policy(_policy(tmp_path, policy_text)))
    assert str(info.value).endswith("(raised_voice_lu: set by the IT policy)")


def test_no_policy_file_is_an_empty_policy(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "absent.toml")
    assert policy == Policy()
    assert apply_policy({}, policy) == AppSettings()


def test_the_example_file_loads_without_problems(tmp_path: Path) -> None:
    # Installed as IT would install it: a clone's modes follow the developer's umask.
    policy = load_policy(_policy(tmp_path, EXAMPLE.read_text(encoding="utf-8")))
    assert policy.problems == ()
    assert policy.is_locked("general", "recording_enabled")
    assert apply_policy({"general": {"recording_enabled": True}}, policy).recording_enabled is False


def test_precedence_locked_then_user_then_policy_default_then_built_in(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, POLICY))
    assert policy.problems == ()
    user = {"general": {"recording_enabled": True, "cue_sound": False, "retention_days": 7},
            "rules": {"raised_voice_lu": 7.0, "loud_lu": 14.0},
            "segmentation": {"end_silence_s": 9.0}}
    settings = apply_policy(user, policy)
    # Locked: the policy's value, whatever the user set.
    assert settings.recording_enabled is False
    assert settings.rules.raised_voice_lu == 8.0
    assert settings.segmentation.end_silence_s == 6.0
    # Not locked: the user's value beats the policy's default ...
    assert settings.cue_sound is False and settings.retention_days == 7
    assert settings.rules.loud_lu == 14.0
    # ... which beats the built-in default when the user set nothing.
    assert settings.rules.monologue_min_s == 60.0
    assert apply_policy({}, policy).cue_sound is True
    # Neither set: built-in.
    assert settings.agent_device == "default"
    assert settings.segmentation.start_min_speech_s == SegmentationSettings().start_min_speech_s


def test_a_locked_setting_the_policy_does_not_set_keeps_the_built_in_default(
        tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, 'locked = ["rules", "general.agent_device"]\n'))
    user = {"general": {"agent_device": "pulse:my-headset"},
            "rules": {"fast_speech_enabled": False}}
    settings = apply_policy(user, policy)
    assert settings.agent_device == "default"
    assert settings.rules == RuleSettings()


def test_broken_toml_is_logged_with_file_and_line_and_built_ins_apply(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _policy(tmp_path, 'locked = ["rules"]\n[general]\nretention_days = = 3\n')
    with caplog.at_level(logging.ERROR, logger="models.policy"):
        policy = load_policy(path)
    assert policy.source == path and policy.locked == frozenset()
    assert apply_policy({}, policy) == AppSettings()
    [record] = caplog.records
    assert str(path) in record.getMessage() and "line 3" in record.getMessage()
    assert "whole policy is ignored" in record.getMessage()
    assert policy.problems == (record.getMessage(),)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_policy_that_users_can_change_is_reported_but_applied(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    path = _policy(folder, 'locked = ["general.recording_enabled"]\n')
    assert load_policy(path).problems == ()
    path.chmod(0o666)
    policy = load_policy(path)
    [problem] = policy.problems
    assert "world-writable (mode 0666)" in problem and "any user can change the policy" in problem
    assert policy.is_locked("general", "recording_enabled")
    path.chmod(0o644)
    folder.chmod(0o777)
    [problem] = load_policy(path).problems
    assert "its folder" in problem and "replaced" in problem
    folder.chmod(0o1777)  # sticky, like /tmp: others cannot replace the file
    assert load_policy(path).problems == ()


def test_unknown_and_bad_entries_are_logged_and_the_rest_applies(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = """\
locked = ["general.retention_days", "general.colour", "sound", "rules.", 7]

[general]
retention_days = 14
colour = "blue"
cue_sound = "loud"
agent_device = "pulse:headset"

[rules]
raised_voice_lu = 14.0
monologue_min_s = -5
fast_speech_ratio = 1.5

[extras]
x = 1
"""
    with caplog.at_level(logging.ERROR, logger="models.policy"):
        policy = load_policy(_policy(tmp_path, text))
    messages = [record.getMessage() for record in caplog.records]
    assert all(record.levelno == logging.ERROR for record in caplog.records)
    for fragment in ("[general] colour ignored: unknown setting",
                     "[general] cue_sound ignored: cue_sound must be true or false",
                     "[rules] monologue_min_s ignored",
                     # Over the built-in loud_lu of 12 without raising loud_lu too.
                     "[rules] raised_voice_lu ignored: loud_lu (12.0) must be at least "
                     "raised_voice_lu (14.0)",
                     "policy entry extras ignored: unknown",
                     "locked 'general.colour' ignored", "locked 'sound' ignored",
                     "locked 'rules.' ignored", "locked 7 ignored"):
        assert sum(fragment in message for message in messages) == 1, fragment
    assert len(messages) == 9 and list(policy.problems) == messages
    assert policy.locked == frozenset({"general.retention_days"})
    settings = apply_policy({"general": {"retention_days": 90}}, policy)
    assert settings.retention_days == 14 and settings.agent_device == "pulse:headset"
    assert settings.cue_sound is False
    assert settings.rules.fast_speech_ratio == 1.5
    assert settings.rules.raised_voice_lu == RuleSettings().raised_voice_lu


def test_related_thresholds_set_together_are_accepted(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, "[rules]\nraised_voice_lu = 14\nloud_lu = 16\n"
                                           "shouting_lu = 22\n"))
    assert policy.problems == ()
    rules = apply_policy({}, policy).rules
    assert (rules.raised_voice_lu, rules.loud_lu, rules.shouting_lu) == (14.0, 16.0, 22.0)


def test_user_values_that_clash_with_the_policy_are_one_line_naming_the_file(
        tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, POLICY))
    settings_path = tmp_path / "settings.toml"
    settings_path.write_text("[rules]\nraised_voice_release_lu = 9.0\n")
    with pytest.raises(SettingsError) as info:
        load_effective_settings(settings_path, policy)
    message = str(info.value)
    assert message.startswith(str(settings_path)) and "raised_voice_release_lu" in message
    assert "\n" not in message


def test_saving_never_writes_locked_values_and_leaves_untouched_ones_to_the_policy(
        tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path, POLICY))
    path = tmp_path / "cfg" / "settings.toml"
    # Saved before IT locked recording: kept in the file, not in effect.
    path.parent.mkdir()
    path.write_text("[general]\nrecording_enabled = true\n")
    current = load_effective_settings(path, policy)
    assert current.recording_enabled is False

    edited = replace(current, retention_days=45, rules=replace(current.rules, loud_lu=15.0))
    effective = save_user_settings(edited, policy, path)

    assert effective == edited
    assert path.stat().st_mode & 0o777 == 0o600
    saved = read_settings_tables(path)
    assert saved["general"] == {"recording_enabled": True, "retention_days": 45}
    assert saved["rules"] == {"loud_lu": 15.0}
    assert saved["segmentation"] == {}
    # An untouched setting follows a later change of the policy's default.
    changed = load_policy(_policy(tmp_path, POLICY.replace("cue_sound = true",
                                                           "cue_sound = false")))
    assert load_effective_settings(path, changed).cue_sound is False
    # Unlocked by IT: the user's own earlier choice returns.
    assert load_effective_settings(path, Policy()).recording_enabled is True


@pytest.mark.parametrize("text", [
    "[general]\nretention_days = 30\nnew_in_a_later_version = 1\n",
    "[rules]\nloud_lu = 3.0\n",
    "[general]\nretention_days = 30\n[future]\nx = 1\n",
])
def test_saving_leaves_a_file_calmline_cannot_use_as_it_is(tmp_path: Path, text: str) -> None:
    # The app runs on the policy and built-in defaults meanwhile; saving what it runs on
    # (the wizard's devices, say) must not drop or replace what the user wrote.
    path = tmp_path / "settings.toml"
    path.write_text(text)
    settings = replace(apply_policy({}, Policy()), agent_device="pulse:headset")
    with pytest.raises(SettingsError) as info:
        save_user_settings(settings, Policy(), path)
    message = str(info.value)
    assert message.startswith(str(path)) and "fix or remove it" in message and "\n" not in message
    assert path.read_text() == text


def test_settings_dialog_shows_policy_locks(qtbot, tmp_path: Path) -> None:
    from ui.settings_dialog import LOCKED_TOOLTIP, SettingsDialog, is_locked

    policy = load_policy(_policy(tmp_path, POLICY))
    dialog = SettingsDialog(apply_policy({}, policy), policy.locked, device_lister=lambda: [])
    qtbot.addWidget(dialog)
    assert is_locked(policy.locked, "segmentation", "end_silence_s")
    assert not dialog.recording_check.isEnabled()
    assert dialog.recording_check.toolTip() == LOCKED_TOOLTIP
    assert not dialog.rule_form.editors["raised_voice_lu"].isEnabled()
    assert all(not editor.isEnabled() for editor in dialog.segmentation_form.editors.values())
    assert dialog.rule_form.editors["monologue_min_s"].isEnabled()
    assert dialog.rule_form.editors["monologue_min_s"].value() == 60.0
    assert dialog.retention_spin.isEnabled()


def test_the_app_passes_the_policy_locks_to_the_settings_dialog(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.app import CalmLineApp

    policy = load_policy(_policy(tmp_path, 'locked = ["general.cue_sound"]\n'
                                           "[general]\ncue_sound = true\n"))
    seen = record_settings_dialogs(monkeypatch)
    app = CalmLineApp(None, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      input_available=lambda: True, chime=lambda: None, policy=policy)
    qtbot.addWidget(app.window)
    app.open_settings()
    assert [dialog["locked"] for dialog in seen] == [policy.locked]
    assert app.runner.settings.cue_sound is True
    assert not app.window.sound_action.isEnabled()


def test_the_settings_device_list_is_fresh_and_shares_the_apps_portaudio_host(
        qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A headset plugged in since start-up shows only after PortAudio is re-initialised,
    # which briefly reopens running streams: allowed between calls, not during one.
    from ui.app import CalmLineApp

    seen = record_settings_dialogs(monkeypatch)
    app = CalmLineApp(None, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      input_available=lambda: True, chime=lambda: None, policy=Policy())
    qtbot.addWidget(app.window)
    asked: list[bool] = []
    monkeypatch.setattr(app.audio_host, "input_devices", lambda interrupt_running=False:
                        asked.append(interrupt_running) or [])
    app.open_settings()
    list_devices = seen[0]["device_lister"]
    list_devices()
    monkeypatch.setattr(type(app.window), "in_call", property(lambda self: True))
    list_devices()
    assert asked == [True, False]


def test_monitor_refuses_options_the_policy_locks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("CALMLINE_POLICY", str(_policy(tmp_path, POLICY)))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "settings.toml").write_text("")  # the user has chosen nothing
    code = main(["monitor", "--headless", "--replay", str(tmp_path / "call.wav"), "--record",
                 "--no-store", "--settings", str(tmp_path / "settings.toml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--record: not allowed by your IT department's policy" in err


def test_analyze_uses_the_policy_and_refuses_to_override_a_lock(tmp_path, monkeypatch) -> None:
    import subprocess
    import sys

    import numpy as np
    import soundfile as sf

    policy = tmp_path / "policy.toml"
    policy.write_text('locked = ["rules.raised_voice_lu"]\n[rules]\nraised_voice_lu = 8.0\n'
                      'loud_lu = 12.0\n')
    call = tmp_path / "quiet.wav"
    sf.write(call, np.zeros((16000, 2), np.float32), 16000)
    env = dict(__import__("os").environ, CALMLINE_POLICY=str(policy))
    result = subprocess.run([sys.executable, "-m", "ui.cli", "analyze", str(call),
                             "--set", "raised_voice_lu=5"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 2 and "locked" in result.stderr
    from models.policy import load_effective_settings, load_policy

    monkeypatch.setenv("CALMLINE_POLICY", str(policy))
    assert load_effective_settings(tmp_path / "none.toml", load_policy()).rules.raised_voice_lu == 8.0
