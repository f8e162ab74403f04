"""The live strip, the wizard's subtitles, the channel dialog, history and review at a large font.

A 1366x768 laptop at 125 % scaling is 1092x614 device-independent pixels to a
window (see tests/test_hidpi_layouts.py, whose large-font fixture these use).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QLabel, QWizard

from models.events import EventKind, Severity
from models.settings import RuleSettings
from monitor.engine import StatusChange
from tests.test_hidpi_layouts import LAPTOP_WIDTH_PX, large_font, make_wizard  # noqa: F401
from ui.channel_dialog import ChannelDialog
from ui.cues import Cue, cue_phrase
from ui.history_window import HistoryWindow
from ui.live_window import LiveWindow
from ui.review_window import ReviewWindow
from ui.timeline import TimelineWidget

LAPTOP_HEIGHT_PX = 768 * 4 // 5
"""The same screen's height in device-independent pixels."""

FRAME_AND_PANEL_PX = 64
"""A title bar and a desktop panel or task bar at 125 %, which the screen's height also holds."""

PROBLEMS = [
    ("microphone_lost", "Microphone lost: check the headset is plugged in; retrying every 2 s."),
    ("customer_audio_lost", "Customer audio lost: customer cues are paused; retrying every 2 s."),
    ("call_log_failed", "The call log cannot be used (database or disk is full). Coaching goes "
                        "on without logging until monitoring starts again."),
    ("overflow", "Audio was lost 12 time(s): the computer was too busy to keep up. Close other "
                 "heavy programs if this repeats."),
]


def test_the_strip_fits_a_laptop_screen_with_every_problem_and_the_longest_cue(
        qtbot, large_font) -> None:  # noqa: F811
    window = LiveWindow(RuleSettings(), chime=lambda: None)
    qtbot.addWidget(window)
    window.show()
    window.set_strip_mode(True)
    thin_px = window.height()
    window.show_status(StatusChange("mic_only", 0.0, 0.0, "No customer audio."))
    window.show_status(StatusChange("call_started", 1.0, 0.0))
    for kind, detail in PROBLEMS:
        window.show_status(StatusChange(kind, 2.0, 0.0, detail))
    window.set_notice("The replay has finished. Pause and resume monitoring to replay it again.")
    phrase = max((cue_phrase(kind, severity) for kind in EventKind for severity in Severity),
                 key=window.cue_label.fontMetrics().horizontalAdvance)
    window._show_cue(Cue(EventKind.RAISED_VOICE, Severity.HIGH, phrase, "why", 1.0), chime=False)
    assert window.sizeHint().width() <= LAPTOP_WIDTH_PX
    assert window.minimumSizeHint().width() <= LAPTOP_WIDTH_PX
    assert window.width() <= LAPTOP_WIDTH_PX
    # The cue and each problem's headline are whole; the full text is in the tooltip.
    cue = window.cue_label
    assert cue.fontMetrics().horizontalAdvance(cue.text()) + 2 * cue.margin() <= cue.width()
    status = window.status_label
    lines = status.text().splitlines()
    for headline in ("Microphone lost", "Customer audio lost", "Audio was lost 12 time(s)",
                     "Mic-only"):
        assert any(line.endswith(headline) for line in lines), headline
    assert status.heightForWidth(status.width()) <= status.height()
    for _, detail in PROBLEMS:
        assert detail in status.toolTip()
    # And it is thin again once they clear.
    for kind in ("microphone_restored", "customer_audio_restored", "monitoring_stopped"):
        window.show_status(StatusChange(kind, 3.0, 0.0))
    window.set_notice("")
    assert window.height() == thin_px


def test_the_wizards_subtitles_are_whole_at_its_smallest_size_with_a_large_font(
        qtbot, large_font) -> None:  # noqa: F811
    wizard = make_wizard(qtbot)
    for step in range(4):
        if step:
            wizard.button(QWizard.WizardButton.NextButton).click()
        page = wizard.currentPage()
        size = wizard.minimumSize()
        wizard.resize(size)
        qtbot.waitUntil(lambda: wizard.size() == size)
        subtitle = next(label for label in wizard.findChildren(QLabel)
                        if label.isVisible() and label.text() == page.subTitle())
        assert subtitle.heightForWidth(subtitle.width()) <= subtitle.height(), page.title()
        assert subtitle.visibleRegion().boundingRect().height() >= \
            subtitle.heightForWidth(subtitle.width()), page.title()


def test_a_long_file_name_does_not_widen_the_channel_dialog(qtbot, large_font) -> None:  # noqa: F811
    name = ("2024-05-06_0915_conference-bridge_recording_agent-4711_customer-ACME-Corporation-"
            "escalation-ticket-123456789_final_v2.wav")
    dialog = ChannelDialog(name, 4, levels_dbfs=[-20.0, None, -30.0, -25.0])
    qtbot.addWidget(dialog)
    assert dialog.sizeHint().width() <= LAPTOP_WIDTH_PX
    assert dialog.minimumSizeHint().width() <= LAPTOP_WIDTH_PX
    question = next(label for label in dialog.findChildren(QLabel)
                    if "Which one is which?" in label.text())
    assert question.toolTip() == name
    # The start and the extension stay, so that recordings can still be told apart.
    assert question.text().startswith("2024-05-06")
    assert ".wav has 4 channels" in question.text()


def _history_and_review(qtbot, tmp_path: Path) -> tuple[HistoryWindow, ReviewWindow]:
    history = HistoryWindow(tmp_path / "calls.sqlite3")
    qtbot.addWidget(history)
    review = ReviewWindow(stream_factory=lambda *args, **kwargs: None)
    qtbot.addWidget(review)
    return history, review


def test_history_and_review_fit_a_laptop_screen_at_their_least_height(
        qtbot, large_font, tmp_path: Path) -> None:  # noqa: F811
    for window in _history_and_review(qtbot, tmp_path):
        least = window.minimumSizeHint()
        assert least.height() <= LAPTOP_HEIGHT_PX - FRAME_AND_PANEL_PX, type(window).__name__
        assert least.width() <= LAPTOP_WIDTH_PX, type(window).__name__


def test_history_and_review_open_no_larger_than_the_screen(
        qtbot, large_font, tmp_path: Path) -> None:  # noqa: F811
    for window in _history_and_review(qtbot, tmp_path):
        available = window.screen().availableGeometry()
        assert window.width() <= available.width(), type(window).__name__
        assert window.height() <= available.height(), type(window).__name__


@pytest.mark.parametrize("lines", [14, 16, 20])
def test_a_squeezed_timeline_keeps_a_text_line_for_each_lane_label(
        qtbot, large_font, lines: int) -> None:  # noqa: F811
    # The review window on a laptop screen at 16 pt leaves the timeline about 14 lines.
    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    fm = timeline.fontMetrics()
    geometry = timeline._geometry(QRectF(0, 0, LAPTOP_WIDTH_PX, fm.height() * lines), fm)
    for key, lane in geometry.lanes.items():
        labels = 2 if key == "speech" else 1  # "Speaking you" over "customer"
        assert lane.rect.height() >= labels * fm.height() - 1e-6, key
    bottom = max(lane.rect.bottom() for lane in geometry.lanes.values())
    assert bottom <= geometry.axis.top() + 1e-6


@pytest.mark.parametrize("font", ["default", "large"])
def test_a_timeline_at_its_least_size_gives_up_legend_lines_before_lane_labels(
        qtbot, request: pytest.FixtureRequest, font: str) -> None:
    if font == "large":
        request.getfixturevalue("large_font")
    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    fm = timeline.fontMetrics()
    least = timeline.minimumSizeHint()
    rect = QRectF(0, 0, least.width(), least.height())
    geometry = timeline._geometry(rect, fm)
    for key, lane in geometry.lanes.items():
        labels = 2 if key == "speech" else 1
        assert lane.rect.height() >= labels * fm.height() - 1e-6, key
    # What is left of the legend fits below the axis, and the first line (the events) stays.
    assert 1 <= len(geometry.legend_lines) < len(timeline._legend_lines(fm, rect.width()))
    assert geometry.legend.bottom() <= rect.bottom() + 1e-6
    # Roomy enough, it keeps the whole legend.
    roomy = timeline._geometry(QRectF(0, 0, least.width(), fm.height() * 40), fm)
    assert roomy.legend_lines == timeline._legend_lines(fm, least.width() - fm.height())

