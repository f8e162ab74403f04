"""The user's settings file: round trip, defaults, and one-line errors."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from models.app_settings import AppSettings, load_settings, save_settings
from models.settings import RuleSettings, SettingsError


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.toml") == AppSettings()


def test_round_trip_is_user_only(tmp_path: Path) -> None:
    settings = replace(AppSettings(), agent_device="pulse:headset", customer_device='pulse:"odd" name',
                       recording_enabled=True, retention_days=30,
                       rules=replace(RuleSettings(), raised_voice_lu=7.5))
    path = save_settings(settings, tmp_path / "cfg" / "settings.toml")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_settings(path) == settings


@pytest.mark.parametrize("text, fragment", [
    ("[general\n", "not valid TOML"),
    ("[general]\nretention_days = -3\n", "retention_days"),
    ("[general]\ncolour = 'blue'\n", "unknown setting(s): colour"),
    ("[rules]\nraised_voice_lu = 'loud'\n", "raised_voice_lu"),
    ("[extras]\n", "unknown settings section"),
])
def test_bad_files_give_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert path.read_text() == text  # never overwritten


def test_saving_keeps_a_hand_edited_files_comments_and_layout(tmp_path: Path) -> None:
    from models.policy import Policy, load_effective_settings, save_user_settings

    path = tmp_path / "settings.toml"
    path.write_text('# Agreed with my coach, March.\n[rules]\nraised_voice_lu = 8.0  # not 6\n\n'
                    '[general]\nagent_device = "pulse:a#b" # the headset\ncue_sound = true\n',
                    encoding="utf-8")
    current = load_effective_settings(path, Policy())
    # What the window's sound menu and the settings dialog save.
    save_user_settings(replace(current, cue_sound=False, retention_days=30,
                               rules=replace(current.rules, loud_lu=13.0)), Policy(), path)
    assert path.read_text(encoding="utf-8") == (
        '# Agreed with my coach, March.\n[rules]\nraised_voice_lu = 8.0  # not 6\nloud_lu = 13.0\n\n'
        '[general]\nagent_device = "pulse:a#b" # the headset\ncue_sound = false\n'
        'retention_days = 30\n\n[segmentation]\n')
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_layout_that_cannot_be_edited_in_place_is_written_afresh(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("# dotted keys\ngeneral.retention_days = 30\n", encoding="utf-8")
    settings = replace(AppSettings(), retention_days=45)
    save_settings(settings, path)
    assert load_settings(path) == settings
