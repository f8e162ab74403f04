"""``calmline --diagnostics``: what a helpdesk needs to know, as plain text.

Version, Python, the OS, Qt, PortAudio and the inputs it sees, the paths in
use, the settings in effect and where each comes from, and the IT policy with
its source and problems. Each part that fails (no PortAudio, no Qt, a broken
settings file) becomes a line in the report, never a crash. Nothing here
touches the network, and nothing is written.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from platformdirs import user_cache_path

from models.app_settings import AppSettings, default_settings_path, read_settings_tables
from models.policy import POLICY_ENV, Policy, apply_policy, default_policy_path, load_policy
from models.profile import default_profile_path
from models.settings import SettingsError
from models.store import CallStore, StoreError, default_store_path
from ui.logging_setup import LOG_FILE_NAME, default_log_dir

_INDENT = "  "


def calmline_version() -> str:
    """The installed CalmLine version, or "unknown" when run from a bare source tree."""
    try:
        return metadata.version("calmline")
    except metadata.PackageNotFoundError:
        return "unknown"


def _qt_line() -> str:
    try:
        import PySide6
        from PySide6 import QtCore
    except (ImportError, OSError) as exc:
        return f"not available ({type(exc).__name__}: {exc})"
    return f"PySide6 {PySide6.__version__}, Qt {QtCore.qVersion()}"


def _audio_lines(device_lister: Callable[[], list[Any]] | None) -> list[str]:
    try:
        import sounddevice as sd

        from monitor.devices import list_input_devices
        from monitor.ffmpeg_audio import ffmpeg_tools
    except (ImportError, OSError) as exc:
        # sounddevice raises OSError when the PortAudio library is missing.
        return [f"PortAudio: not available ({exc})"]
    tools = ffmpeg_tools()
    lines = [f"PortAudio: {sd.get_portaudio_version()[1]}",
             f"ffmpeg (reads M4A, WMA, AMR and WebM recordings): "
             f"{tools[0] if tools else 'not found; such recordings are refused'}"]
    try:
        devices = (device_lister or list_input_devices)()
    except Exception as exc:  # a broken audio stack is exactly what this report is for
        return [*lines, f"Input devices: cannot be listed ({type(exc).__name__}: {exc})"]
    lines.append(f"Input devices ({len(devices)}):")
    lines += [f"{_INDENT}{d.name}  [{d.kind}]  {d.label}{'  (default)' if d.default else ''}"
              for d in devices]
    return lines


def _path_line(name: str, path: Path) -> str:
    state = "exists" if path.exists() else "not created yet"
    return f"{name}: {path} ({state})"


def _call_log_line(path: Path) -> str:
    if not path.exists():
        return _path_line("call log", path)
    try:
        # Read-only: the report never creates, migrates or recovers the log.
        with CallStore(path, read_only=True) as store:
            count = store.call_count()
            state = f"{count} call{'' if count == 1 else 's'}, schema version {store.schema_version}"
    except StoreError as exc:
        state = f"cannot be read: {exc}"
    return f"call log: {path} ({state})"


def _paths_lines(settings_path: Path, log_dir: Path) -> list[str]:
    try:
        # Imported here: the engine set-up pulls in SciPy.
        from monitor.engine_setup import default_recordings_dir
        recordings = _path_line("recordings", default_recordings_dir())
    except (ImportError, OSError) as exc:
        recordings = f"recordings: unknown ({exc})"
    return [_path_line("settings", settings_path),
            _call_log_line(default_store_path()),
            recordings,
            _path_line("profile", default_profile_path()),
            _path_line("logs", log_dir / LOG_FILE_NAME),
            _path_line("cache", user_cache_path("calmline"))]


def _settings_lines(settings_path: Path, policy: Policy) -> list[str]:
    try:
        user = read_settings_tables(settings_path)
        effective = apply_policy(user, policy)
    except SettingsError as exc:
        return [f"problem: {exc} (CalmLine uses the policy and built-in defaults)"]
    built_in = AppSettings().to_toml_dict()
    lines = []
    for section, values in effective.to_toml_dict().items():
        for name, value in values.items():
            locked = policy.is_locked(section, name)
            if value == built_in[section][name] and not locked:
                continue
            if locked:
                origin = "policy, locked"
            elif name in user.get(section, {}):
                origin = "user"
            else:
                origin = "policy default"
            lines.append(f"{section}.{name} = {json.dumps(value)}  ({origin})")
    return lines or ["all built-in defaults"]


def _policy_lines(policy: Policy, looked_at: Path) -> list[str]:
    # Said either way: a policy from the environment is a trial, not what IT installed.
    override = os.environ.get(POLICY_ENV)
    if override and Path(override) == looked_at:
        origin = [f"chosen by ${POLICY_ENV}, not the machine-wide policy"]
    elif override:
        origin = [f"${POLICY_ENV} ({override}) ignored: the machine-wide policy applies"]
    else:
        origin = []
    if policy.source is None:
        return [f"source: none (no file at {looked_at})", *origin]
    lines = [f"source: {policy.source}", *origin]
    lines += [f"problem: {problem}" for problem in policy.problems]
    lines.append(f"locked: {', '.join(sorted(policy.locked)) or 'nothing'}")
    values = [f"{section}.{name} = {json.dumps(value)}"
              for section, table in policy.defaults.items() for name, value in table.items()]
    lines.append(f"values: {'; '.join(values) or 'none'}")
    return lines


def diagnostics_report(policy: Policy | None = None, *, settings_path: Path | None = None,
                       log_dir: Path | None = None,
                       device_lister: Callable[[], list[Any]] | None = None) -> str:
    """The diagnostics report.

    Parameters
    ----------
    policy : Policy, optional
        The policy in effect; read from :func:`models.policy.default_policy_path` by default.
    settings_path : Path, optional
        The user's settings file; the default one when None.
    log_dir : Path, optional
        The log folder; the user log folder when None.
    device_lister : callable, optional
        Lists the inputs; :func:`monitor.devices.list_input_devices` by default.

    Returns
    -------
    str
        Several lines, sections headed by their name, ending with a newline.
    """
    looked_at = Path(default_policy_path())
    policy = load_policy(looked_at) if policy is None else policy
    settings_path = settings_path or default_settings_path()
    sections: list[tuple[str, list[str]]] = [
        ("CalmLine", [f"version: {calmline_version()}",
                      f"Python: {platform.python_version()} ({sys.executable})",
                      f"OS: {platform.platform()}",
                      f"Qt: {_qt_line()}"]),
        ("Audio", _audio_lines(device_lister)),
        ("Paths", _paths_lines(settings_path, log_dir or default_log_dir())),
        ("Settings in effect (where they differ from the built-in defaults)",
         _settings_lines(settings_path, policy)),
        ("IT policy", _policy_lines(policy, looked_at)),
    ]
    return "".join(f"{title}\n" + "".join(f"{_INDENT}{line}\n" for line in lines)
                   for title, lines in sections)
