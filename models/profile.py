"""The agent's calibrated profile: normal loudness, pace and speech level.

The calibration wizard measures these once; every later session starts from
them instead of spending the first 15 s of speech of each call on calibrating.
Kept as a small JSON file in the user data folder, written atomically and
readable by the user only. A broken file is reported with a one-line
:class:`SettingsError`; it is never overwritten behind the user's back.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from platformdirs import user_data_path

from models.baseline import Baseline
from models.config_files import ConfigFileError, parse_json, read_config_text
from models.private_files import make_private_folder, write_private_text
from models.settings import SettingsError

PROFILE_FILE_NAME = "profile.json"
PROFILE_SCHEMA = "calmline.profile/1"

# Plausible ranges: anything outside is a damaged file, not a voice. Momentary
# loudness of speech above 0 LUFS is clipping; below -70 LUFS is below the
# VAD's own floor; no one talks faster than 12 syllables/s on average.
_LOUDNESS_RANGE_LUFS = (-70.0, 0.0)
_RATE_RANGE_SPS = (0.5, 12.0)
_LEVEL_RANGE_DBFS = (-100.0, 0.0)


def default_profile_path() -> Path:
    """Where the profile lives (``<user data dir>/calmline/profile.json``, not created here)."""
    return user_data_path("calmline", appauthor=False) / PROFILE_FILE_NAME


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """The agent's calibrated speaking level.

    Attributes
    ----------
    loudness_lufs : float
        Median momentary loudness of the agent's speech hops, in LUFS.
    rate_sps : float or None
        Median speech rate in syllables per second; None when the calibration
        heard too little speech for a rate estimate (the session then learns it).
    speech_level_dbfs : float or None
        The voice-activity gate's speech level in dBFS (80th percentile of the
        frame RMS of speech frames); None lets the gate learn it from each call.
    calibrated_at : datetime
        When the calibration ran, timezone-aware.
    """

    loudness_lufs: float
    rate_sps: float | None
    speech_level_dbfs: float | None
    calibrated_at: datetime

    def __post_init__(self) -> None:
        _check_range("loudness_lufs", self.loudness_lufs, _LOUDNESS_RANGE_LUFS, "LUFS")
        if self.rate_sps is not None:
            _check_range("rate_sps", self.rate_sps, _RATE_RANGE_SPS, "syllables/s")
        if self.speech_level_dbfs is not None:
            _check_range("speech_level_dbfs", self.speech_level_dbfs, _LEVEL_RANGE_DBFS, "dBFS")
        if self.calibrated_at.tzinfo is None or self.calibrated_at.utcoffset() is None:
            raise SettingsError("calibrated_at must carry a time zone")

    @property
    def baseline(self) -> Baseline:
        """The profile as the baseline a session starts from (calibrated, source 'profile')."""
        return Baseline(self.loudness_lufs, self.rate_sps, True, "profile")

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-ready values, with its ``schema``."""
        return {"schema": PROFILE_SCHEMA, "loudness_lufs": self.loudness_lufs,
                "rate_sps": self.rate_sps, "speech_level_dbfs": self.speech_level_dbfs,
                "calibrated_at": self.calibrated_at.isoformat()}

    @classmethod
    def from_dict(cls, data: Any) -> AgentProfile:
        """A profile from parsed JSON.

        Raises
        ------
        SettingsError
            For a wrong schema, missing or unknown keys, or an implausible value.
        """
        if not isinstance(data, dict):
            raise SettingsError("not a CalmLine profile (expected a JSON object)")
        if data.get("schema") != PROFILE_SCHEMA:
            raise SettingsError(f"not a CalmLine profile (schema {data.get('schema')!r}, "
                                f"expected {PROFILE_SCHEMA!r})")
        expected = {"schema", "loudness_lufs", "rate_sps", "speech_level_dbfs", "calibrated_at"}
        missing, unknown = expected - set(data), set(data) - expected
        if missing:
            raise SettingsError(f"missing profile value(s): {', '.join(sorted(missing))}")
        if unknown:
            raise SettingsError(f"unknown profile value(s): {', '.join(sorted(unknown))}")
        try:
            calibrated_at = datetime.fromisoformat(data["calibrated_at"])
        except (TypeError, ValueError):
            raise SettingsError(f"calibrated_at ({data['calibrated_at']!r}) is not an "
                                "ISO 8601 time") from None
        return cls(loudness_lufs=_number("loudness_lufs", data["loudness_lufs"]),
                   rate_sps=_optional_number("rate_sps", data["rate_sps"]),
                   speech_level_dbfs=_optional_number("speech_level_dbfs",
                                                      data["speech_level_dbfs"]),
                   calibrated_at=calibrated_at)


def new_profile(loudness_lufs: float, rate_sps: float | None,
                speech_level_dbfs: float | None) -> AgentProfile:
    """A profile calibrated now (UTC).

    Parameters
    ----------
    loudness_lufs : float
        The agent's normal speaking loudness in LUFS.
    rate_sps : float or None
        The agent's normal pace in syllables per second, if measured.
    speech_level_dbfs : float or None
        The agent's speech level at the microphone in dBFS, for the voice-activity gate.

    Returns
    -------
    AgentProfile

    Raises
    ------
    SettingsError
        If a value is outside its plausible range.
    """
    return AgentProfile(loudness_lufs, rate_sps, speech_level_dbfs, datetime.now(timezone.utc))


def load_profile(path: Path | None = None) -> AgentProfile | None:
    """Read the agent's profile; None when there is none yet (the wizard has not run).

    Raises
    ------
    SettingsError
        One line naming the file, when it cannot be read or holds nonsense.
    """
    path = path or default_profile_path()
    try:
        text = read_config_text(path)
        if text is None:
            return None
        data = parse_json(text)
    except ConfigFileError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    try:
        return AgentProfile.from_dict(data)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def save_profile(profile: AgentProfile, path: Path | None = None) -> Path:
    """Write the profile atomically with permissions 0600; returns the path.

    Raises
    ------
    OSError
        When the folder cannot be written; no partial file is left behind.
    """
    path = path or default_profile_path()
    make_private_folder(path.parent)
    text = json.dumps(profile.to_dict(), indent=2) + "\n"
    write_private_text(path, lambda stream: stream.write(text))
    return path


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    low, high = bounds
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low <= value <= high):
        raise SettingsError(f"{name} ({value!r}) must be a number from {low:g} to {high:g} {unit}")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a number, got {value!r}")
    return float(value)


def _optional_number(name: str, value: Any) -> float | None:
    return None if value is None else _number(name, value)
