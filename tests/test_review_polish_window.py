"""The review window keeps still, saves reports somewhere sensible, and stays at the end."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QPushButton

import ui.review_window
from tests.audio_fixtures import have
from tests.test_review import (FakeOutput, _swap_and_wait, demo_call, open_and_wait, opened,
                               output, widget_places, window)
from ui.review_window import ReviewWindow

__all__ = ["demo_call", "opened", "output", "window"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the demo call")


def test_a_navigation_notice_does_not_move_the_window(opened: ReviewWindow) -> None:
    play = next(b for b in opened.findChildren(QPushButton) if b.text() == "&Play")
    widgets = [play, opened.timeline, opened.event_list]
    before = widget_places(opened, widgets)
    opened.seek(0.0)
    opened.previous_event()
    assert widget_places(opened, widgets) == before
    notice = next(label for label in opened.findChildren(QLabel)
                  if label.text() == "No events before this point.")
    assert notice.isVisible() and notice.width() >= notice.sizeHint().width()
    assert opened.notice == notice.text()
    opened.seek(5.0)
    assert opened.notice == "" and widget_places(opened, widgets) == before


class _FileDialog:
    """QFileDialog's open and save questions, remembering where each was asked to start; always
    cancelled."""

    def __init__(self) -> None:
        self.started_at: list[str] = []

    def getSaveFileName(self, parent, caption: str, start: str, name_filter: str):  # noqa: N802
        self.started_at.append(start)
        return "", name_filter

    getOpenFileName = getSaveFileName  # noqa: N815


def test_export_dialogs_start_beside_the_recording_else_at_home(
        qtbot, window: ReviewWindow, demo_call: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "calls"
    folder.mkdir()
    recording = folder / "monday.wav"
    shutil.copy(demo_call, recording)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir("/")  # as when started from a desktop menu
    open_and_wait(qtbot, window, recording)
    dialog = _FileDialog()
    monkeypatch.setattr(ui.review_window, "QFileDialog", dialog)
    window._choose_html()
    window._choose_pdf()
    assert dialog.started_at == [str(folder / "monday-review.html"),
                                 str(folder / "monday-review.pdf")]

    folder.chmod(0o555)  # a recording on a share the trainee may only read
    if os.geteuid() == 0:  # modes do not stop root: refuse as the kernel would for others
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
            False if Path(path) == folder and mode & os.W_OK else real_access(path, mode, *args,
                                                                             **kwargs)))
    try:
        window._choose_pdf()
    finally:
        folder.chmod(0o755)
    assert dialog.started_at[-1] == str(home / "monday-review.pdf")
    assert "Report saved" not in window.message  # cancelled: nothing written


def test_open_dialogs_start_at_home_else_beside_the_call_under_review(
        qtbot, window: ReviewWindow, demo_call: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir("/")  # as when started from a desktop menu
    dialog = _FileDialog()
    monkeypatch.setattr(ui.review_window, "QFileDialog", dialog)
    window._choose_file()
    window._choose_pair()
    assert dialog.started_at == [str(home), str(home)]
    open_and_wait(qtbot, window, demo_call)
    window._choose_file()
    assert dialog.started_at[-1] == str(demo_call.parent)


def test_swapping_in_the_last_moment_of_playback_stays_at_the_end(
        qtbot, opened: ReviewWindow, output: FakeOutput) -> None:
    playback = opened.playback
    end_s = playback.duration_s
    opened.seek(end_s - 0.2)
    playback.play()
    stream = output.streams[-1]
    # No Qt events run in this loop, so playback cannot notice the end and pause by itself.
    for _ in range(1_000_000):
        if playback.position_s >= end_s:
            break
        stream.pull(160)
    assert playback.playing and playback.position_s == end_s
    _swap_and_wait(qtbot, opened)
    assert not playback.playing
    assert playback.position_s == end_s
    assert opened.timeline.cursor_s == pytest.approx(end_s, abs=0.05)
