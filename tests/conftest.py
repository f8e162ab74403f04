"""Test-wide set-up.

Qt runs offscreen unless a test session chose a display itself, and the
user's own CalmLine folders (settings, call log, logs, cache) are replaced
by a throwaway tree, so running the tests never touches a real user's data.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_HOME = tempfile.mkdtemp(prefix="calmline-tests-")
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
    os.environ[_name] = os.path.join(_HOME, _name.lower())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``slow`` unless ``CALMLINE_SLOW=1`` asks for them."""
    if os.environ.get("CALMLINE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with CALMLINE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def private_qt_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give each test its own Qt settings, so that where one test left the live
    window (which the app remembers at quit) does not place the next test's."""
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qt-settings"))
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, folder)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say when a machine-wide CalmLine policy is installed: it wins over the policies the
    tests name with ``$CALMLINE_POLICY`` (as it must for users), so some tests would fail."""
    from models.policy import machine_policy_path

    path = machine_policy_path()
    if os.path.lexists(path):
        return (f"calmline: a machine-wide policy is installed at {path}; tests that name their "
                "own policy will follow it instead")
    return None


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Take back the log handlers a test added (``calmline`` main adds a log file)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def announcements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """What :func:`ui.announce.announce` asks screen readers to say: (message, politeness).

    Qt hands announcement events to the platform's accessibility bridge, which
    the offscreen platform has none of, so the hand-over itself is recorded.
    """
    from PySide6.QtGui import QAccessible

    import ui.announce

    said: list[tuple[str, str]] = []

    class RecordingAccessible:
        AnnouncementPoliteness = QAccessible.AnnouncementPoliteness

        @staticmethod
        def updateAccessibility(event: object) -> None:  # noqa: N802 (Qt's name)
            said.append((event.message(), event.politeness().name))

    monkeypatch.setattr(ui.announce, "QAccessible", RecordingAccessible)
    return said
