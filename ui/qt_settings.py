"""Where Qt keeps its own settings: in a user-only file under CalmLine's config folder.

Qt's file dialogs remember the folders a user opened and saved in (keys
``history`` and ``lastVisited`` of ``QtProject.conf``). By default they write
them to the desktop-wide Qt settings file with the umask's permissions, which
others on the machine can usually read, and those folders say where call
recordings and reports are kept. So this process's Qt user settings go to a
folder of CalmLine's own instead, 0700, with the file created 0600 before Qt
first writes it (Qt keeps an existing file's permissions when it saves).

On Windows and macOS Qt keeps these settings in the user's registry hive or
preferences, which other users cannot read; the redirection applies to Qt's
INI files and changes nothing there.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from platformdirs import user_config_path
from PySide6.QtCore import QSettings

from models.private_files import USER_ONLY, make_private_folder, restrict_to_user

logger = logging.getLogger(__name__)

QT_SETTINGS_FILE_NAME = "QtProject.conf"
"""The file Qt's own widgets keep their settings in (organisation "QtProject")."""


def default_qt_settings_dir() -> Path:
    """The folder for Qt's settings (``~/.config/calmline/qt`` on Linux)."""
    return user_config_path("calmline") / "qt"


def keep_qt_settings_private(folder: Path | None = None) -> None:
    """Send Qt's user-scope settings files to a user-only folder.

    Call before the first ``QSettings`` or file dialog is created; it affects
    the whole process. A folder that cannot be made is logged and Qt's default
    is kept, since the app works either way.

    Parameters
    ----------
    folder : Path, optional
        Where Qt's settings files go; :func:`default_qt_settings_dir` by default.
    """
    folder = folder or default_qt_settings_dir()
    try:
        make_private_folder(folder)
        fd = os.open(folder / QT_SETTINGS_FILE_NAME, os.O_WRONLY | os.O_CREAT, USER_ONLY)
        try:
            restrict_to_user(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("Qt's settings stay in Qt's default place: %s", exc)
        return
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(folder))


def make_settings_file_private(settings: QSettings) -> None:
    """Create ``settings``' file user-only (0600) before Qt first writes it.

    Qt creates a settings file with the umask's permissions and keeps an
    existing file's when it saves. Settings kept in the registry or in macOS
    preferences have no file of their own here and are left alone. A file that
    cannot be made is logged; the settings still work.

    Parameters
    ----------
    settings : QSettings
        Settings about to be written.
    """
    if sys.platform in ("win32", "darwin") and settings.format() is QSettings.Format.NativeFormat:
        return  # the registry, or preferences that macOS itself keeps
    path = Path(settings.fileName())
    try:
        make_private_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, USER_ONLY)
        try:
            restrict_to_user(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("%s: could not be made private: %s", path, exc)
