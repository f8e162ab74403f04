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
