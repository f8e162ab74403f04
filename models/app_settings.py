"""The user's settings: devices, recording, retention, and the rule thresholds.

Kept as a small TOML file in the user's config folder, written atomically
and readable by the user only. A broken or nonsensical file is reported with
a one-line :class:`SettingsError`; it is never overwritten behind the user's back.
"""
from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from platformdirs import user_config_path

from models.call_segmentation import SegmentationSettings
from models.config_files import ConfigFileError, parse_toml, read_config_text
from models.private_files import make_private_folder, write_private_text
from models.settings import RuleSettings, SettingsError

logger = logging.getLogger(__name__)

SETTINGS_FILE_NAME = "settings.toml"
MAX_RETENTION_DAYS = 36500
"""Longest retention that may be set, in days (a century: keep everything, practically)."""


def default_settings_path() -> Path:
    """Where the user's settings live (``<user config dir>/calmline/settings.toml``)."""
    return user_config_path("calmline") / SETTINGS_FILE_NAME


@dataclass(frozen=True)
class AppSettings:
    """Everything the user can set.

    Attributes
    ----------
    agent_device : str
        Device spec of the agent's microphone (see ``calmline devices``).
    customer_device : str
        Device spec of the customer's side, or "" for mic-only mode.
    recording_enabled : bool
        Write each call to a FLAC file next to its record (off unless the user opts in).
    retention_days : int
        Delete calls (and their recordings) older than this many days; 0 keeps them all.
    cue_sound : bool
        Play a soft sound with each cue (off by default: a cue is meant to be quiet).
    start_at_login : bool
        Start CalmLine when the user logs in.
    rules : RuleSettings
        Coaching thresholds.
    segmentation : SegmentationSettings
        When calls start and end.
    """

    agent_device: str = "default"
    customer_device: str = ""
    recording_enabled: bool = False
    retention_days: int = 90
    cue_sound: bool = False
    start_at_login: bool = False
    rules: RuleSettings = field(default_factory=RuleSettings)
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)

    def validate(self) -> AppSettings:
        """Check every value; raises :class:`SettingsError` naming the field."""
        if not isinstance(self.agent_device, str) or not self.agent_device.strip():
            raise SettingsError("agent_device must name a device (see 'calmline devices')")
        if not isinstance(self.customer_device, str):
            raise SettingsError("customer_device must be a device name, or empty for mic-only mode")
        for name in ("recording_enabled", "cue_sound", "start_at_login"):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be true or false")
        if isinstance(self.retention_days, bool) or not isinstance(self.retention_days, int) \
                or not 0 <= self.retention_days <= MAX_RETENTION_DAYS:
            raise SettingsError(f"retention_days ({self.retention_days!r}) must be a whole number "
                                f"of days from 0 to {MAX_RETENTION_DAYS}")
        self.rules.validate()
        self.segmentation.validate()
        return self

    def to_toml_dict(self) -> dict[str, Any]:
        """The settings as TOML tables: ``[general]``, ``[rules]``, ``[segmentation]``."""
        general = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name not in ("rules", "segmentation")}
        return {"general": general, "rules": self.rules.to_dict(),
                "segmentation": self.segmentation.to_dict()}

    @classmethod
    def from_toml_dict(cls, data: dict[str, Any]) -> AppSettings:
        """Settings from parsed TOML; missing values take their defaults."""
        unknown = set(data) - {"general", "rules", "segmentation"}
        if unknown:
            raise SettingsError(f"unknown settings section(s): {', '.join(sorted(unknown))}")
        general = dict(data.get("general", {}))
        known = {f.name for f in fields(cls)} - {"rules", "segmentation"}
        extra = set(general) - known
        if extra:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(extra))}")
        settings = replace(cls(), **general,
                           rules=RuleSettings.from_dict(data.get("rules", {})),
                           segmentation=SegmentationSettings.from_dict(data.get("segmentation", {})))
        return settings.validate()


def read_settings_tables(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The user's settings file as TOML tables, without combining or checking values.

    This is what :mod:`models.policy` needs to tell which settings the user set
    (a policy default applies only to those the user has not).

    Returns
    -------
    dict
        ``{section: {field: value}}``; empty when the file does not exist yet.

    Raises
    ------
    SettingsError
        When the file cannot be read, is not valid TOML, or a section is not a table.
    """
    path = path or default_settings_path()
    try:
        text = read_config_text(path)
        if text is None:
            return {}
        data = parse_toml(text)
    except ConfigFileError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    for section, values in data.items():
        if not isinstance(values, dict):
            raise SettingsError(f"{path}: '{section}' must be a [{section}] table")
    return data


def load_settings(path: Path | None = None) -> AppSettings:
    """Read the user's settings; defaults when the file does not exist yet.

    Raises
    ------
    SettingsError
        When the file is not valid TOML or holds a value CalmLine cannot use.
    """
    path = path or default_settings_path()
    data = read_settings_tables(path)
    try:
        return AppSettings.from_toml_dict(data)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # TOML basic strings use JSON's escapes.
    return json.dumps(str(value), ensure_ascii=False)


def save_settings(settings: AppSettings, path: Path | None = None) -> Path:
    """Write the settings atomically with permissions 0600; returns the path."""
    settings.validate()
    return save_settings_tables(settings.to_toml_dict(), path)


def save_settings_tables(tables: dict[str, dict[str, Any]], path: Path | None = None) -> Path:
    """Write settings given as TOML tables (some fields may be left out); returns the path.

    The caller checks the values: :func:`save_settings` for complete settings,
    :func:`models.policy.save_user_settings` for the ones the user chose.
    Written atomically with permissions 0600. A file the user edited by hand
    keeps its comments, blank lines and order: only the values change, and new
    settings are added at the end of their table.
    """
    path = path or default_settings_path()
    try:
        old = read_config_text(path)
    except ConfigFileError:
        old = None  # nothing to keep; writing will say what is wrong with the place
    text = _edited_toml_text(old, tables) if old else None
    if text is None:
        if old:
            logger.warning("%s: its layout is not one CalmLine can edit in place; "
                           "written afresh, without its comments", path)
        lines: list[str] = ["# CalmLine settings. Edit in the app, or here while it is closed."]
        for table, values in tables.items():
            lines.append(f"\n[{table}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        text = "\n".join(lines) + "\n"
    make_private_folder(path.parent)
    write_private_text(path, lambda stream: stream.write(text))
    return path


def _edited_toml_text(old: str, tables: dict[str, dict[str, Any]]) -> str | None:
    """``old`` (a settings file's text) holding the values of ``tables`` and nothing else.

    Comments, blank lines and the order of what stays are kept; a value keeps
    its own comment. Keys and tables not in ``tables`` are removed, new ones added
    at the end of their table or of the file.

    Returns
    -------
    str or None
        The new text; None when ``old`` is not TOML or lays a settings table out
        in a way that cannot be edited in place (a dotted key or an inline table),
        which is checked by reading the result back.
    """
    # Imported here: it is needed only to save, and costs start-up 27 ms otherwise.
    import tomlkit
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import Table

    try:
        document = tomlkit.parse(old)
    except TOMLKitError:
        return None
    for name in [name for name in document if name not in tables]:
        del document[name]
    for name, values in tables.items():
        if name not in document:
            document.add(name, tomlkit.table())
        table = document[name]
        if not isinstance(table, Table):
            return None
        for key in [key for key in table if key not in values]:
            del table[key]
        for key, value in values.items():
            table[key] = value
    text = tomlkit.dumps(document)
    try:
        written = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    return text if written == tables else None
