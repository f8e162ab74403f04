"""The machine-wide policy IT sets: default settings, and settings the user cannot change.

The policy file is TOML, owned by IT and readable by everyone:

* Linux: ``/etc/calmline/policy.toml``
* Windows: ``%ProgramData%\\CalmLine\\policy.toml``
* macOS: ``/Library/Application Support/CalmLine/policy.toml``

``$CALMLINE_POLICY`` names another file (for tests and trials) on a machine
that has no policy file: any user can set an environment variable, so it
cannot replace the policy IT installed. Format::

    # Setting keys this policy locks: "<section>.<field>", or a whole section.
    # A locked setting takes the value below, or CalmLine's built-in default.
    locked = ["general.recording_enabled", "general.retention_days", "rules"]

    [general]                  # same tables and names as the user's settings.toml
    recording_enabled = false  # locked above: recording is not allowed
    retention_days = 30
    cue_sound = true           # not locked: a default the user may change

    [rules]
    raised_voice_lu = 8.0

    [segmentation]
    end_silence_s = 6.0

Precedence, for each setting: a locked policy value, then the user's own
value, then the policy's default, then CalmLine's built-in default.

A policy never stops CalmLine from starting. A file that is not valid TOML is
ignored as a whole (one logged error naming the file and line); an unknown
key, a value of the wrong type or out of range, or an unknown locked key is
ignored on its own (one logged error each) and the rest of the policy applies.
"""
from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from models.app_settings import (AppSettings, default_settings_path, read_settings_tables,
                                 save_settings_tables)
from models.call_segmentation import SegmentationSettings
from models.config_files import ConfigFileError, parse_toml, read_config_text
from models.settings import RuleSettings, SettingsError, check_field_types

logger = logging.getLogger(__name__)

POLICY_ENV = "CALMLINE_POLICY"
POLICY_FILE_NAME = "policy.toml"
LOCKED_KEY = "locked"

_SECTION_TYPES: dict[str, type] = {"rules": RuleSettings, "segmentation": SegmentationSettings}
SECTIONS = ("general", "rules", "segmentation")

Tables = dict[str, dict[str, Any]]
Problem = Callable[[str, str], None]
"""Reports one ignored policy entry: ``problem(entry, why)``."""


def _section_fields(section: str) -> list[str]:
    if section == "general":
        return [f.name for f in fields(AppSettings) if f.name not in _SECTION_TYPES]
    return [f.name for f in fields(_SECTION_TYPES[section])]


def default_policy_path(platform: str | None = None,
                        environ: Mapping[str, str] | None = None) -> PurePath:
    """Where the policy file is looked for.

    Parameters
    ----------
    platform : str, optional
        A ``sys.platform`` value; this system's by default (tests ask for others).
    environ : mapping, optional
        The environment; ``os.environ`` by default. ``$CALMLINE_POLICY`` wins
        when set, unless this system has a machine-wide policy file.

    Returns
    -------
    PurePath
        A concrete :class:`~pathlib.Path` for this system's own platform.
    """
    environ = os.environ if environ is None else environ
    machine = machine_policy_path(platform, environ)
    override = environ.get(POLICY_ENV)
    if not override:
        return machine
    # Any user can set an environment variable, but only IT can write the machine's file.
    if isinstance(machine, Path) and os.path.lexists(machine):
        logger.warning("$%s (%s) ignored: the machine-wide policy %s applies", POLICY_ENV,
                       override, machine)
        return machine
    return Path(override)


def machine_policy_path(platform: str | None = None,
                        environ: Mapping[str, str] | None = None) -> PurePath:
    """Where IT installs the machine-wide policy file, whatever ``$CALMLINE_POLICY`` says.

    Parameters
    ----------
    platform : str, optional
        A ``sys.platform`` value; this system's by default (tests ask for others).
    environ : mapping, optional
        The environment; ``os.environ`` by default. ``%ProgramData%`` places
        the Windows file.

    Returns
    -------
    PurePath
        A concrete :class:`~pathlib.Path` for this system's own platform.
    """
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if platform == "win32":
        path: PurePath = (PureWindowsPath(environ.get("ProgramData") or r"C:\ProgramData")
                          / "CalmLine" / POLICY_FILE_NAME)
    elif platform == "darwin":
        path = PurePosixPath("/Library/Application Support/CalmLine") / POLICY_FILE_NAME
    else:
        path = PurePosixPath("/etc/calmline") / POLICY_FILE_NAME
    return Path(path) if platform == sys.platform else path


@dataclass(frozen=True)
class Policy:
    """The policy in effect.

    Attributes
    ----------
    defaults : dict
        ``{section: {field: value}}``: every accepted value, locked or not.
    locked : frozenset of str
        Accepted setting keys (``"general.cue_sound"``) and whole sections (``"rules"``).
    source : Path or None
        The file the policy came from; None when there is no policy file.
    problems : tuple of str
        One line per ignored entry (or for the whole file), as logged.
    """

    defaults: Tables = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    source: Path | None = None
    problems: tuple[str, ...] = ()

    def is_locked(self, section: str, name: str) -> bool:
        """Whether the policy locks a setting, by its own key or its whole section."""
        return section in self.locked or f"{section}.{name}" in self.locked


def load_policy(path: PurePath | None = None) -> Policy:
    """Read the policy file; never raises for what the file says.

    Parameters
    ----------
    path : PurePath, optional
        The policy file; :func:`default_policy_path` by default.

    Returns
    -------
    Policy
        An empty policy when the file does not exist; every problem is logged
        as an error and kept in :attr:`Policy.problems`.
    """
    path = Path(path if path is not None else default_policy_path())
    try:
        text = read_config_text(path)
        if text is None:
            return Policy()
        data = parse_toml(text)  # a syntax error names "(at line N, column M)"
    except ConfigFileError as exc:
        return _ignored_whole(path, str(exc))

    problems: list[str] = []
    loose = _writable_by_others(path) or _owned_by_a_user(path)
    if loose:
        # Still applied: ignoring it would not help, since whoever can write it can empty it.
        message = (f"{path}: {loose}; make it owned by an administrator and not group- or "
                   "world-writable (chmod 644)")
        logger.error("%s", message)
        problems.append(message)

    def problem(entry: str, why: str) -> None:
        message = f"{path}: policy entry {entry} ignored: {why}"
        logger.error("%s", message)
        problems.append(message)

    locked_raw = data.pop(LOCKED_KEY, [])
    defaults: Tables = {}
    for section, values in data.items():
        if section not in SECTIONS:
            problem(section, f"unknown; use '{LOCKED_KEY}' and the tables "
                    f"{', '.join(f'[{s}]' for s in SECTIONS)}")
        elif not isinstance(values, dict):
            problem(section, f"must be a [{section}] table")
        else:
            accepted = _accepted_values(section, values, problem)
            if accepted:
                defaults[section] = accepted
    return Policy(defaults, _accepted_locks(locked_raw, problem), path, tuple(problems))


def _writable_by_others(path: Path) -> str:
    """Why users other than the owner can change ``path``, or "" (POSIX modes only)."""
    if os.name != "posix":
        return ""  # Windows protects Program Files/ProgramData with ACLs, not mode bits
    loose = stat.S_IWGRP | stat.S_IWOTH
    try:
        mode = path.stat().st_mode
        folder = path.parent.stat().st_mode
    except OSError:
        return ""
    if mode & loose:
        return (f"the file is group- or world-writable (mode {stat.S_IMODE(mode):04o}), so any "
                "user can change the policy")
    if folder & loose and not folder & stat.S_ISVTX:
        return (f"its folder is group- or world-writable (mode {stat.S_IMODE(folder):04o}), so the "
                "file can be replaced and any user can change the policy")
    return ""


def _owned_by_a_user(path: Path) -> str:
    """Why the machine-wide policy at ``path`` is a user's to change, or "" (POSIX only).

    Only the machine-wide file is checked: a trial policy named by
    ``$CALMLINE_POLICY`` belongs to whoever tries it.
    """
    if os.name != "posix" or path != machine_policy_path():
        return ""
    for what, place in (("the file", path), ("its folder", path.parent)):
        try:
            owner = place.stat().st_uid
        except OSError:
            return ""
        if owner != 0:
            return f"{what} is owned by user id {owner}, not root, so that user can change the policy"
    return ""


def _ignored_whole(path: Path, why: str) -> Policy:
    message = f"{path}: {why}; the whole policy is ignored"
    logger.error("%s", message)
    return Policy(source=path, problems=(message,))


def _accepted_locks(raw: object, problem: Problem) -> frozenset[str]:
    if not isinstance(raw, list):
        problem(LOCKED_KEY, 'must be a list of setting keys, e.g. ["general.recording_enabled"]')
        return frozenset()
    accepted = set()
    for key in raw:
        section, _, name = key.partition(".") if isinstance(key, str) else ("", "", "")
        if key in SECTIONS or (section in SECTIONS and name in _section_fields(section)):
            accepted.add(key)
        else:
            problem(f"{LOCKED_KEY} {key!r}", "not a setting key (\"<section>.<field>\" or a "
                    f"section: {', '.join(SECTIONS)})")
    return frozenset(accepted)


def _accepted_values(section: str, values: dict[str, Any],
                     problem: Problem) -> dict[str, Any]:
    """The entries of one table that make valid settings together with the built-in defaults."""
    known = _section_fields(section)
    accepted: dict[str, Any] = {}
    for name, value in values.items():
        entry = f"[{section}] {name}"
        if name not in known:
            problem(entry, "unknown setting")
            continue
        try:
            accepted[name] = _checked_alone(section, name, value)
        except SettingsError as exc:
            problem(entry, str(exc))
    if section == "general":
        return accepted
    # Rules and segmentation have limits between fields (loud_lu >= raised_voice_lu):
    # drop the entry each failure names until the remaining entries fit together.
    while accepted:
        try:
            _SECTION_TYPES[section](**accepted).validate()
        except SettingsError as exc:
            culprit = _named_entry(str(exc), accepted)
            problem(f"[{section}] {culprit}", str(exc))
            del accepted[culprit]
        else:
            break
    return accepted


def _checked_alone(section: str, name: str, value: Any) -> Any:
    if section == "general":
        replace(AppSettings(), **{name: value}).validate()
        return value
    cls = _SECTION_TYPES[section]
    kind = cls.__annotations__[name]
    # As in the user's file, a whole number is fine for a fractional setting.
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    check_field_types(cls(**{name: value}))
    return value


def _named_entry(message: str, accepted: dict[str, Any]) -> str:
    # A validation message starts with the field it is about, and may name the
    # field it conflicts with; the policy entry is whichever of them it set.
    names = re.findall(r"[a-z_]+", message)
    return next((name for name in names if name in accepted), next(iter(accepted)))


def apply_policy(user: Mapping[str, Mapping[str, Any]], policy: Policy) -> AppSettings:
    """The settings in effect: the user's own values combined with the policy.

    Parameters
    ----------
    user : mapping
        The user's file as tables (:func:`models.app_settings.read_settings_tables`):
        only the settings the user set.
    policy : Policy
        The policy in effect.

    Returns
    -------
    AppSettings
        Validated settings.

    Raises
    ------
    SettingsError
        When the user's values are unusable (unknown, wrong type, or out of
        range given the policy's values).
    """
    tables: Tables = {}
    # Unknown sections of the user's file go through too, to be reported by from_toml_dict.
    for section in [*SECTIONS, *(name for name in user if name not in SECTIONS)]:
        values = dict(policy.defaults.get(section, {}))
        values.update({name: value for name, value in user.get(section, {}).items()
                       if not policy.is_locked(section, name)})
        tables[section] = values
    try:
        return AppSettings.from_toml_dict(tables)
    except SettingsError as exc:
        # "loud_lu (8.0) must be at least raised_voice_lu (10.0)" leaves the user looking
        # for a raised_voice_lu they never wrote: say which of the names IT set.
        named = set(re.findall(r"\w+", str(exc)))
        from_policy = sorted({name for section in SECTIONS for name in _section_fields(section)
                              if name in named and (policy.is_locked(section, name) or (
                                  name in policy.defaults.get(section, {})
                                  and name not in user.get(section, {})))})
        if not from_policy:
            raise
        raise SettingsError(f"{exc} ({', '.join(from_policy)}: set by the IT policy)") from None


def load_effective_settings(path: Path | None, policy: Policy) -> AppSettings:
    """Read the user's settings file and apply the policy.

    Parameters
    ----------
    path : Path or None
        The user's settings file; the default one when None.
    policy : Policy
        The policy in effect.

    Raises
    ------
    SettingsError
        One line naming the file, when the user's file is unusable.
    """
    path = path or default_settings_path()
    user = read_settings_tables(path)
    try:
        return apply_policy(user, policy)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def save_user_settings(settings: AppSettings, policy: Policy,
                       path: Path | None = None) -> AppSettings:
    """Save what the user chose, leaving what the policy decides to the policy.

    A locked setting is never written (a value the user saved before it was
    locked is kept, and returns if IT unlocks it). Otherwise a setting is
    written when the user's file already had it or it differs from what the
    policy and the built-in defaults give, so an untouched setting keeps
    following the policy's default.

    Parameters
    ----------
    settings : AppSettings
        The settings as edited (locked ones unchanged).
    policy : Policy
        The policy in effect.
    path : Path, optional
        The user's settings file; the default one when None.

    Returns
    -------
    AppSettings
        The settings in effect after saving.

    Raises
    ------
    SettingsError
        When the settings are invalid, or the user's file cannot be read or
        holds values CalmLine cannot use (it is then left as it is).
    OSError
        When the file cannot be written.
    """
    settings.validate()
    path = path or default_settings_path()
    before = read_settings_tables(path)
    try:
        apply_policy(before, policy)
    except SettingsError as exc:
        # Writing now would drop what CalmLine does not understand (a newer version's
        # keys, a typo) and replace values it cannot use: the file is the user's to fix.
        raise SettingsError(f"{path}: {exc}; fix or remove it before saving") from None
    baseline = apply_policy({}, policy).to_toml_dict()
    tables: Tables = {}
    for section, values in settings.to_toml_dict().items():
        previous = before.get(section, {})
        kept: dict[str, Any] = {}
        for name, value in values.items():
            if policy.is_locked(section, name):
                if name in previous:
                    kept[name] = previous[name]
            elif name in previous or value != baseline[section][name]:
                kept[name] = value
        tables[section] = kept
    effective = apply_policy(tables, policy)
    save_settings_tables(tables, path)
    return effective
