"""Reading the small text files CalmLine is configured by: settings, IT policy, profile.

They are read whole, so anything that is not a small regular file is refused
before it is opened: opening a FIFO waits for a writer forever, and
``/dev/zero`` never ends. Errors are one line without the path, for the
caller to put the path in front.
"""
from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 1_000_000
"""Largest configuration file read, in bytes (real ones are a few kilobytes)."""


class ConfigFileError(Exception):
    """A configuration file that cannot be read or parsed; one line, without the path."""


def read_config_text(path: Path) -> str | None:
    """The text of a configuration file, or None when there is no file.

    A UTF-8 byte-order mark, which some Windows editors write, is dropped.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    str or None
        The file's text; None when nothing exists at ``path``.

    Raises
    ------
    ConfigFileError
        When ``path`` is a folder, a device or a pipe, is too large, cannot be
        read, or is not UTF-8 text.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigFileError("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigFileError("is not a regular file (a device or a pipe?)")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigFileError(f"is {info.st_size} bytes, too large for a configuration file")
    try:
        with open(path, encoding="utf-8-sig") as stream:
            return stream.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigFileError("is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigFileError(f"cannot be read ({exc.strerror})") from None


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text.

    Raises
    ------
    ConfigFileError
        When the text is not valid TOML; the message gives the line and column.
    """
    return _parse(tomllib.loads, "TOML", text)


def parse_json(text: str) -> Any:
    """Parse JSON text.

    Raises
    ------
    ConfigFileError
        When the text is not valid JSON, is nested too deeply, or holds a
        number too long to convert.
    """
    return _parse(json.loads, "JSON", text)


def _parse(loads: Callable[[str], Any], language: str, text: str) -> Any:
    try:
        return loads(text)
    except RecursionError:
        raise ConfigFileError(f"not valid {language} (nested too deeply)") from None
    except ValueError as exc:  # decode errors, and integers of over 4300 digits
        raise ConfigFileError(f"not valid {language} ({exc})") from None
