"""Stand-ins for the app's dialogs, for tests of how the app wires them."""
from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QDialog

from models.app_settings import AppSettings


def record_settings_dialogs(monkeypatch: pytest.MonkeyPatch,
                            accept_with: AppSettings | None = None) -> list[dict[str, Any]]:
    """Replace the settings dialog with one that keeps its arguments.

    Parameters
    ----------
    monkeypatch : pytest.MonkeyPatch
        Undoes the replacement after the test.
    accept_with : AppSettings, optional
        The dialog is accepted with these settings; cancelled when None.

    Returns
    -------
    list of dict
        One entry per dialog made: its keyword arguments, plus ``locked``.
    """
    import ui.settings_dialog

    seen: list[dict[str, Any]] = []

    class RecordingDialog:
        def __init__(self, settings: AppSettings, locked: frozenset[str], parent: object,
                     **kwargs: object) -> None:
            seen.append(dict(kwargs, locked=locked))

        def exec(self) -> int:
            return (QDialog.DialogCode.Rejected if accept_with is None
                    else QDialog.DialogCode.Accepted)

        def result_settings(self) -> AppSettings:
            assert accept_with is not None
            return accept_with

    monkeypatch.setattr(ui.settings_dialog, "SettingsDialog", RecordingDialog)
    return seen
