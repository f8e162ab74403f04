"""History's breathing exercises reach keyboard and screen-reader users, not only the mouse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit

from models.store import CallMode, CallStore, PromptOutcome
from tests.test_history_settings_wizard import make_history, show_active, summary
from ui.history_window import ROLE_CALL_ID, HistoryWindow, exercise_text

BASE = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


def _two_calls(path: Path) -> None:
    """An older call with two breathing exercises, and a newer one with none."""
    with CallStore(path) as store:
        older = store.begin_call(BASE, 0.0, CallMode.TWO_PARTY)
        offered = store.record_prompt(older, BASE + timedelta(seconds=20), "raised_voice")
        store.update_prompt_outcome(offered, PromptOutcome.STARTED, BASE + timedelta(seconds=31))
        store.update_prompt_outcome(offered, PromptOutcome.COMPLETED, BASE + timedelta(seconds=101))
        store.record_prompt(older, BASE + timedelta(minutes=3), "manual", PromptOutcome.STARTED)
        store.end_call(older, BASE + timedelta(minutes=4), 240.0, summary(1, 3.0))
        newer = store.begin_call(BASE + timedelta(hours=1), 1000.0, CallMode.TWO_PARTY)
        store.end_call(newer, BASE + timedelta(hours=1, minutes=2), 1120.0, summary(0, 0.0))


def _exercise_lines(window: HistoryWindow, row: int) -> list[str]:
    record = next(r for r in window.model.rows()
                  if r.record.id == window.model.index(row, 0).data(ROLE_CALL_ID))
    return [exercise_text(p) for p in record.prompts]


def test_the_prompts_tooltip_is_the_cells_accessible_description(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    _two_calls(path)
    window = make_history(qtbot, path)
    cell = window.model.index(1, 6)  # the older call, newest first
    assert cell.data() == "2"
    tip = cell.data(Qt.ItemDataRole.ToolTipRole)
    assert tip.splitlines() == _exercise_lines(window, 1)
    assert cell.data(Qt.ItemDataRole.AccessibleDescriptionRole) == tip


def test_the_selected_calls_exercises_are_shown_where_the_keyboard_reaches(
        qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    _two_calls(path)
    window = make_history(qtbot, path)
    show_active(qtbot, window)
    details = window.findChild(QPlainTextEdit)
    assert details is not None and details.accessibleName()
    assert details.toPlainText() == "None during this call."  # the newest, selected at first
    height = details.height()

    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Down)  # the older call
    assert details.toPlainText().splitlines() == _exercise_lines(window, 1)
    assert details.height() == height  # the table does not jump with the selection
    qtbot.keyClick(window.table, Qt.Key.Key_Tab)
    assert window.focusWidget() is details  # read line by line with the arrow keys
    qtbot.keyClick(details, Qt.Key.Key_Tab)
    assert window.focusWidget() is window.delete_button
