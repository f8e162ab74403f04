"""Rule settings: documented defaults, validation messages, dictionary round trip."""
from __future__ import annotations

import dataclasses
import json
import math

import pytest

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
