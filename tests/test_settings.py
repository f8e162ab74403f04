"""Rule settings: documented defaults, validation messages, dictionary round trip; the files
settings, the policy and the profile are read from."""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest

from models.app_settings import load_settings
from models.policy import load_policy
from models.private_files import make_private_folder, write_private_bytes, write_private_text
from models.profile import load_profile
from models.settings import RuleSettings, SettingsError


def test_defaults_are_valid_and_documented() -> None:
    settings = RuleSettings()
    assert settings.validate() is settings
    for f in dataclasses.fields(RuleSettings):
        assert set(f.metadata) == {"unit", "help"}, f.name
        assert f.metadata["help"].endswith("."), f.name
    assert (settings.raised_voice_lu, settings.loud_lu, settings.shouting_lu) == (6.0, 12.0, 20.0)
    assert settings.breathing_cooldown_s >= 60.0


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"raised_voice_min_s": -1.0}, "raised_voice_min_s", "greater than 0"),
    ({"turn_pause_s": -0.5}, "turn_pause_s", "negative"),
    ({"breathing_cooldown_s": 30.0}, "breathing_cooldown_s", "at least 60"),
    ({"raised_voice_release_lu": 7.0}, "raised_voice_release_lu", "raised_voice_lu"),
    ({"loud_lu": 5.0}, "loud_lu", "raised_voice_lu"),
    ({"shouting_lu": 10.0}, "shouting_lu", "loud_lu"),
    ({"fast_speech_ratio": 0.8}, "fast_speech_ratio", "at least 1.0"),
    ({"fast_speech_hysteresis_sps": 6.0}, "fast_speech_hysteresis_sps", "fast_speech_floor_sps"),
    ({"baseline_adapt_fraction": 1.5}, "baseline_adapt_fraction", "between 0 and 1"),
    ({"breathing_max_per_call": 0}, "breathing_max_per_call", "breathing_prompt_enabled"),
    ({"breathing_cluster_n": 1}, "breathing_cluster_n", "at least 2"),
    ({"monologue_min_s": math.nan}, "monologue_min_s", "finite"),
    ({"raised_voice_lu": "6"}, "raised_voice_lu", "number"),
    ({"breathing_cluster_n": 3.0}, "breathing_cluster_n", "whole number"),
    ({"monologue_enabled": 1}, "monologue_enabled", "true or false"),
    # Turned into sample counts, such a duration overflowed ("internal error").
    ({"baseline_calibration_s": 1e308}, "baseline_calibration_s", "at most 86400 s"),
])
def test_validation_names_the_field(changes: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        RuleSettings(**changes).validate()  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(field + " ") and words in message and "\n" not in message


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_round_trip_through_json() -> None:
    settings = RuleSettings(raised_voice_lu=7.0, breathing_max_per_call=5, monologue_enabled=False)
    data = json.loads(json.dumps(settings.to_dict()))
    assert set(data) == {f.name for f in dataclasses.fields(RuleSettings)}
    assert RuleSettings.from_dict(data) == settings


def test_from_dict_names_every_unknown_key() -> None:
    with pytest.raises(SettingsError, match="unknown settings: colour, volume"):
        RuleSettings.from_dict({"volume": 3, "raised_voice_lu": 6.0, "colour": "red"})


def test_from_dict_fills_missing_keys_and_accepts_whole_numbers() -> None:
    settings = RuleSettings.from_dict({"breathing_cooldown_s": 120})
    assert settings == RuleSettings(breathing_cooldown_s=120.0)
    assert isinstance(settings.breathing_cooldown_s, float)


def test_from_dict_validates() -> None:
    with pytest.raises(SettingsError, match="^breathing_cooldown_s"):
        RuleSettings.from_dict({"breathing_cooldown_s": 10})


# --- the files settings come from ---------------------------------------------

@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    folder = tmp_path / "calmline"
    folder.mkdir()
    return folder / "settings.toml"


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: os.mkfifo(p), "not a regular file"),  # reading would wait for a writer forever
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),  # would never end
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_text("a = " + "[" * 5000), "nested too deeply"),
    (lambda p: p.write_bytes(b"\xff\xfe[rules]\n"), "not UTF-8"),
])
def test_an_unusable_settings_file_is_one_line_naming_it(settings_file: Path, make,
                                                         words: str) -> None:
    make(settings_file)
    with pytest.raises(SettingsError) as info:
        load_settings(settings_file)
    message = str(info.value)
    assert message.startswith(f"{settings_file}: ") and words in message, message
    assert "\n" not in message and message.count(str(settings_file)) == 1


def test_a_byte_order_mark_from_a_windows_editor_is_accepted(settings_file: Path) -> None:
    settings_file.write_text("\ufeff[general]\nretention_days = 30\n", encoding="utf-8")
    assert load_settings(settings_file).retention_days == 30


def test_retention_is_bounded(settings_file: Path) -> None:
    # timedelta(days=10**30) overflows when old calls are cleaned up.
    settings_file.write_text("[general]\nretention_days = 1000000000000000000000000000000\n")
    with pytest.raises(SettingsError, match="retention_days .* from 0 to 36500"):
        load_settings(settings_file)


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, '{"loudness_lufs": 1' + "0" * 5000 + "}"])
def test_a_profile_too_deep_or_with_a_huge_number_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_profile(path)


def test_a_policy_that_never_ends_is_ignored_not_waited_on(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    os.mkfifo(path)
    policy = load_policy(path)
    assert policy.problems and "not a regular file" in policy.problems[0]


def test_a_chosen_folder_keeps_its_mode_and_calmline_folders_are_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "team-calls"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp, or a team's shared folder
    make_private_folder(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    own = tmp_path / "data" / "calmline"
    own.mkdir(parents=True)
    own.chmod(0o755)  # made by an older version, or by hand
    make_private_folder(own)
    assert own.stat().st_mode & 0o777 == 0o700
    new = tmp_path / "new" / "folder"
    make_private_folder(new)
    assert new.stat().st_mode & 0o777 == new.parent.stat().st_mode & 0o777 == 0o700


def test_saving_over_a_symlink_writes_the_file_it_points_to(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "settings.toml"
    real.write_text("old = 1\n", encoding="utf-8")
    config = tmp_path / "config" / "calmline"
    config.mkdir(parents=True)
    link = config / "settings.toml"
    link.symlink_to(real)
    write_private_text(link, lambda stream: stream.write("new = 2\n"))
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == "new = 2\n"
    assert real.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in config.iterdir()) == ["settings.toml"]  # no temporary left


@pytest.mark.parametrize("length", [200, 246, 250, 255])
def test_a_file_name_as_long_as_the_file_system_allows_can_be_written(tmp_path: Path,
                                                                      length: int) -> None:
    path = tmp_path / ("r" * (length - len(".json")) + ".json")
    write_private_bytes(path, b"{}")
    assert path.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
