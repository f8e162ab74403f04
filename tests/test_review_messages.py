"""The review window: folders refused up front, still and spoken messages, the baseline in words."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QPushButton, QTextBrowser

import ui.review_window
from tests.audio_fixtures import have
from tests.test_review import _SaveDialog, demo_call, opened, output, widget_places, window
from ui.report_export import summary_rows
from ui.review_window import ReviewWindow

__all__ = ["demo_call", "opened", "output", "window"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the demo call")


def _message_label(window: ReviewWindow) -> QLabel:
    return next(label for label in window.findChildren(QLabel) if label.accessibleName() == "Message")


@pytest.mark.parametrize("kind, typed", [("pdf", "reports"), ("html", "reports.pdf")])
def test_a_folder_under_the_reports_name_is_refused_before_any_replace_question(
        opened: ReviewWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        kind: str, typed: str) -> None:
    folder = tmp_path / f"reports.{kind}"
    folder.mkdir()
    (folder / "monday.pdf").write_bytes(b"%PDF the trainee's own")
    dialog = _SaveDialog()
    dialog.answers = [tmp_path / typed]
    monkeypatch.setattr(ui.review_window, "QFileDialog", dialog)
    questions: list[str] = []
    monkeypatch.setattr(ui.review_window, "_confirm",
                        lambda parent, question: questions.append(question) or True)
    {"pdf": opened._choose_pdf, "html": opened._choose_html}[kind]()
    assert questions == []  # no offer to replace what cannot be replaced
    assert opened.message == f"{folder}: is a folder; give a file name"
    assert [p.name for p in folder.iterdir()] == ["monday.pdf"]
    assert (folder / "monday.pdf").read_bytes() == b"%PDF the trainee's own"


def test_a_lasting_message_does_not_move_the_window(opened: ReviewWindow, tmp_path: Path) -> None:
    play = next(b for b in opened.findChildren(QPushButton) if b.text() == "&Play")
    widgets = [play, opened.timeline, opened.event_list]
    before = widget_places(opened, widgets)
    assert opened.message == ""
    long_folder = tmp_path / ("a folder with a long name for the reports of the trainees " * 2).strip()
    long_folder.mkdir()
    saved = long_folder / "monday-review.html"
    opened._export(opened.export_html, saved)
    assert opened.message == f"Report saved to {saved}"
    assert widget_places(opened, widgets) == before
    label = _message_label(opened)
    assert label.isVisible() and label.height() >= label.heightForWidth(label.width())  # all of it
    opened._export(opened.export_pdf, tmp_path / "missing" / "call.pdf")
    assert "no such folder" in opened.message and widget_places(opened, widgets) == before
    opened._show_message("")  # as opening another call does
    assert widget_places(opened, widgets) == before


def test_the_notice_and_messages_are_spoken_to_screen_readers(opened: ReviewWindow, tmp_path: Path,
                                                              announcements) -> None:
    opened.seek(0.0)
    opened.previous_event()
    assert announcements == [("No events before this point.", "Polite")]
    notice = next(label for label in opened.findChildren(QLabel) if label.accessibleName() == "Notice")
    assert notice.accessibleDescription() == "No events before this point."
    opened.seek(5.0)  # the notice goes, with nothing to say
    assert announcements == [("No events before this point.", "Polite")]
    assert notice.accessibleDescription() == ""
    saved = tmp_path / "call.html"
    opened._export(opened.export_html, saved)
    assert announcements[-1] == (f"Report saved to {saved}", "Polite")
    assert _message_label(opened).accessibleDescription() == f"Report saved to {saved}"


def test_the_baseline_loudness_is_explained_in_plain_words(opened: ReviewWindow) -> None:
    report = opened.report
    baseline = dict(summary_rows(report))["Your baseline loudness"]
    level = f"{report.baseline.loudness_lufs:.0f} LUFS"
    assert baseline == ("your normal speaking level, learnt from your speech; your voice counts as "
                        f"raised from 6 dB above it (measured {level}, a level that depends on the "
                        "microphone)")
    shown = opened.findChild(QTextBrowser).toPlainText()
    assert "your voice counts as raised from 6 dB above it" in shown  # the window shows the same
    stricter = dataclasses.replace(report, rules=dataclasses.replace(report.rules, raised_voice_lu=4.5))
    assert "raised from 4.5 dB above it" in dict(summary_rows(stricter))["Your baseline loudness"]
    off = dataclasses.replace(report, rules=dataclasses.replace(report.rules,
                                                                raised_voice_enabled=False))
    assert dict(summary_rows(off))["Your baseline loudness"] == (
        f"your normal speaking level, learnt from your speech (measured {level}, a level that "
        "depends on the microphone)")
