"""The review window end to end: open, analyse, navigate, play, cancel, export."""
from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, QRectF, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDropEvent, QFont, QFontMetrics, QWheelEvent
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QPushButton, QTextBrowser, QWidget

import ui.review_window
from models.events import EventKind
from models.settings import RuleSettings
from models.store import CallMode, CallStore
from models.summary import CallSummary, PartySummary
from tests.audio_fixtures import have, hold_music, telephone_band
from ui.playback import PlaybackUnavailable
from ui.report_export import build_pdf_document, event_detail, what_went_well
from monitor.audio_file import ChannelChoice
from ui.channel_dialog import ChannelDialog
from ui.review_window import LoggedCallDialog, ReviewWindow, run_review
from ui.summary_text import clock
from ui.timeline import TimelineWidget, WaveEnvelope, _Colours, _label_above, _legend_items

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the demo call")

ANALYSIS_TIMEOUT_MS = 120_000


class FakeStream:
    """An output stream that plays nothing; the test pulls audio through the callback."""

    def __init__(self, sr_hz: int, channels: int, callback) -> None:
        self.sr_hz = sr_hz
        self.channels = channels
        self.callback = callback
        self.started = False
        self.closed = False
        self.active = False  # as sounddevice's: False once stopped, or when the device went away

    def start(self) -> None:
        self.started = self.active = True

    def stop(self) -> None:
        self.started = self.active = False

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int) -> np.ndarray:
        out = np.full((frames, self.channels), np.nan, dtype=np.float32)
        self.callback(out, frames, None, None)
        return out


class FakeOutput:
    """Stream factory that remembers the streams it made."""

    def __init__(self) -> None:
        self.streams: list[FakeStream] = []

    def __call__(self, sr_hz: int, channels: int, callback) -> FakeStream:
        stream = FakeStream(sr_hz, channels, callback)
        self.streams.append(stream)
        return stream


@pytest.fixture(scope="session")
def demo_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ui.demo_call import write_demo_call

    return write_demo_call(tmp_path_factory.mktemp("review") / "demo_call.wav")


@pytest.fixture(scope="session")
def long_call(demo_call: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 9.5 minutes: the demo call six times over, written block by block."""
    path = tmp_path_factory.mktemp("review-long") / "long_call.wav"
    x, sr = sf.read(demo_call, dtype="int16")
    with sf.SoundFile(path, "w", sr, x.shape[1], subtype="PCM_16") as out:
        for _ in range(6):
            out.write(x)
    return path


@pytest.fixture
def output() -> FakeOutput:
    return FakeOutput()


@pytest.fixture
def window(qtbot, output: FakeOutput, tmp_path: Path) -> ReviewWindow:
    w = ReviewWindow(stream_factory=output, store_path=tmp_path / "store" / "calls.sqlite3")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    return w


def open_and_wait(qtbot, window: ReviewWindow, path: Path) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(path)
    assert blocker.args == [True], window.message


@pytest.fixture
def opened(qtbot, window: ReviewWindow, demo_call: Path) -> ReviewWindow:
    open_and_wait(qtbot, window, demo_call)
    return window


def widget_places(window: ReviewWindow, widgets: list[QWidget]) -> list[QRect]:
    """Where each widget sits in ``window`` once its layout has settled."""
    window.centralWidget().layout().activate()
    QApplication.processEvents()
    return [QRect(w.mapTo(window, QPoint(0, 0)), w.size()) for w in widgets]


def test_opening_the_demo_call_lists_its_events(opened: ReviewWindow) -> None:
    report = opened.report
    assert report is not None
    kinds = [e.kind for e in report.events]
    assert kinds.count(EventKind.INTERRUPTION) == 2 and EventKind.RAISED_VOICE in kinds
    assert opened.event_list.count() == len(report.events)
    texts = [opened.event_list.item(i).text() for i in range(opened.event_list.count())]
    assert any("interruption" in t for t in texts) and any("raised voice" in t for t in texts)
    assert "CalmLine" in opened.windowTitle() and "demo_call.wav" in opened.windowTitle()
    assert not opened.analysing
    assert opened.timeline.report is report


def test_hold_music_is_marked_on_the_timeline_and_in_the_notes(qtbot, window: ReviewWindow,
                                                              tmp_path: Path) -> None:
    music = telephone_band(hold_music(12.0, 16000, "pad"), 16000)
    path = tmp_path / "on_hold.wav"
    sf.write(path, np.stack([np.zeros_like(music), music], axis=1), 16000)
    open_and_wait(qtbot, window, path)
    report = window.timeline.report
    assert report is not None
    # All but the first 0.7 s, which music holding its notes needs to be recognised (6 pairs of hops).
    assert report.frames.customer_line_sound_s == pytest.approx(12.0 - 0.7, abs=0.15)
    assert any("music or ringing" in note for note in report.notes)
    assert ("music or ringing on the line", "line_sound") in _legend_items(has_customer=True)
    assert not window.timeline.render_image(800).isNull()


def test_clicking_or_entering_an_event_moves_the_cursor(qtbot, opened: ReviewWindow) -> None:
    events = opened.report.events
    view = opened.event_list
    rect = view.visualItemRect(view.item(2))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.timeline.cursor_s == pytest.approx(events[2].start_s)
    view.setFocus()
    view.setCurrentRow(1)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert opened.timeline.cursor_s == pytest.approx(events[1].start_s)


def test_the_speaking_lane_shows_speech_up_to_the_end_of_the_call(opened: ReviewWindow) -> None:
    timeline = opened.timeline
    image = timeline.render_image(1200)
    fm = QFontMetrics(QFont(timeline.font()))
    geometry = timeline._geometry(QRectF(0, 0, 1200, image.height()), fm)
    lane = geometry.lanes["speech"].rect
    hop_s = timeline.report.frames.hop_s
    view = (0.0, timeline.report.duration_s)
    for row, party in enumerate(("agent", "customer")):
        runs = timeline._speech_runs[party]
        y = round(lane.top() + lane.height() * (row + 0.5) / 2)
        first, last = (round(timeline._x(geometry.plot, (a + b) / 2 * hop_s, view))
                       for a, b in runs[[0, -1]])
        assert last > geometry.plot.right() - 60  # the call ends with this party talking
        # The last run is drawn like the first: no label is painted over it.
        assert image.pixelColor(last, y) == image.pixelColor(first, y), party


def test_clicking_the_timeline_moves_the_cursor(qtbot, opened: ReviewWindow) -> None:
    timeline = opened.timeline
    y = timeline.height() // 2
    qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(timeline.width() - 20, y))
    far = timeline.cursor_s
    qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(timeline.width() // 2, y))
    assert 0 < timeline.cursor_s < far


def test_n_p_and_arrow_keys_navigate(qtbot, opened: ReviewWindow) -> None:
    events = opened.report.events
    opened.timeline.setFocus()
    qtbot.keyClick(opened.timeline, Qt.Key.Key_N)
    assert opened.timeline.cursor_s == pytest.approx(events[0].start_s)
    qtbot.keyClick(opened.timeline, Qt.Key.Key_N)
    assert opened.timeline.cursor_s == pytest.approx(events[1].start_s)
    assert opened.event_list.currentRow() == 1
    qtbot.keyClick(opened.timeline, Qt.Key.Key_P)
    assert opened.timeline.cursor_s == pytest.approx(events[0].start_s)
    qtbot.keyClick(opened.timeline, Qt.Key.Key_Right)
    assert opened.timeline.cursor_s == pytest.approx(events[0].start_s + 5.0)
    qtbot.keyClick(opened.timeline, Qt.Key.Key_Left)
    qtbot.keyClick(opened.timeline, Qt.Key.Key_Left)
    assert opened.timeline.cursor_s == pytest.approx(events[0].start_s - 5.0)


def played_without_an_output_device(qtbot, demo_call: Path) -> ReviewWindow:
    """The demo call opened where there is no sound output, after Space asked to play it."""
    def no_device(sr_hz: int, channels: int, callback) -> FakeStream:
        raise PlaybackUnavailable("no sound output device")

    window = ReviewWindow(stream_factory=no_device)
    qtbot.addWidget(window)
    window.show()
    open_and_wait(qtbot, window, demo_call)
    window.timeline.setFocus()
    qtbot.keyClick(window.timeline, Qt.Key.Key_Space)
    return window


def test_a_navigation_notice_goes_when_the_cursor_moves_but_a_problem_stays(
        qtbot, demo_call: Path) -> None:
    window = played_without_an_output_device(qtbot, demo_call)
    assert "no sound output device" in window.message
    window.seek(window.report.events[-1].start_s)
    qtbot.keyClick(window.timeline, Qt.Key.Key_N)
    assert window.notice == "No more events after this point."
    assert "no sound output device" in window.message  # the problem stays in view
    qtbot.keyClick(window.timeline, Qt.Key.Key_Left)
    assert window.notice == "" and "no sound output device" in window.message
    window.seek(0.0)
    qtbot.keyClick(window.timeline, Qt.Key.Key_P)
    assert window.notice == "No events before this point."
    qtbot.keyClick(window.timeline, Qt.Key.Key_N)  # the next navigation that succeeds
    assert window.timeline.cursor_s == pytest.approx(window.report.events[0].start_s)
    assert window.notice == "" and "no sound output device" in window.message


def test_a_navigation_notice_goes_when_playing_on(qtbot, opened: ReviewWindow) -> None:
    opened.seek(opened.report.events[-1].start_s)
    opened.next_event()
    assert opened.notice == "No more events after this point."
    opened.playback.play()
    assert opened.playback.playing and opened.notice == ""
    opened.playback.pause()


def test_tab_follows_the_screen_from_play_to_timeline_to_events_to_summary(
        qtbot, opened: ReviewWindow) -> None:
    play = next(b for b in opened.findChildren(QPushButton) if b.text() == "&Play")
    summary = opened.findChild(QTextBrowser)
    play.setFocus()
    order = [QApplication.focusWidget()]
    for _ in range(3):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        order.append(QApplication.focusWidget())
    assert order == [play, opened.timeline, opened.event_list, summary]


def _wheel(widget, angle: QPoint, modifiers=Qt.KeyboardModifier.NoModifier,
           pixels: QPoint = QPoint()) -> None:
    at = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(at, widget.mapToGlobal(at), pixels, angle, Qt.MouseButton.NoButton,
                        modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_pans_a_zoomed_timeline_and_ctrl_wheel_zooms(opened: ReviewWindow) -> None:
    timeline = opened.timeline
    duration = opened.report.duration_s
    _wheel(timeline, QPoint(0, -120))
    assert timeline.view == (0.0, pytest.approx(duration))  # the whole call: nothing to pan
    _wheel(timeline, QPoint(0, 120), Qt.KeyboardModifier.ControlModifier)
    start, end = timeline.view
    span = end - start
    assert span < duration
    _wheel(timeline, QPoint(0, -120))  # wheel back (down): later in the call
    assert timeline.view[0] > start and timeline.view[1] - timeline.view[0] == pytest.approx(span)
    later = timeline.view[0]
    _wheel(timeline, QPoint(-120, 0))  # horizontal wheel, towards the right
    assert timeline.view[0] > later
    later = timeline.view[0]
    _wheel(timeline, QPoint(120, 0), pixels=QPoint(40, 0))  # a trackpad swipe back, pixel for pixel
    assert later - span / 4 < timeline.view[0] < later
    for _ in range(100):
        _wheel(timeline, QPoint(0, -120))
    assert timeline.view == (pytest.approx(duration - span), pytest.approx(duration))
    for _ in range(100):
        _wheel(timeline, QPoint(0, 120))
    assert timeline.view == (0.0, pytest.approx(span))
    assert timeline.cursor_s == 0.0  # panning looks around; it does not move the cursor


def test_space_plays_and_pauses_with_the_cursor_following(qtbot, opened: ReviewWindow,
                                                          output: FakeOutput) -> None:
    opened.seek(10.0)
    opened.event_list.setFocus()
    qtbot.keyClick(opened.event_list, Qt.Key.Key_Space)
    assert opened.playback.playing
    stream = output.streams[-1]
    assert stream.started and stream.sr_hz == 16000 and stream.channels == 2

    pulled: list[np.ndarray] = []

    def advanced() -> bool:
        pulled.append(stream.pull(1600))
        return opened.timeline.cursor_s > 10.5

    qtbot.waitUntil(advanced, timeout=20_000)
    audio = np.concatenate(pulled)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    qtbot.keyClick(opened.event_list, Qt.Key.Key_Space)
    assert not opened.playback.playing and stream.closed
    paused_at = opened.timeline.cursor_s
    assert paused_at > 10.5
    qtbot.keyClick(opened.event_list, Qt.Key.Key_Right)
    assert opened.timeline.cursor_s == pytest.approx(paused_at + 5.0)


@pytest.mark.skipif(not have("ffmpeg") or not have("ffprobe"), reason="needs ffmpeg")
def test_a_recording_read_through_ffmpeg_opens_and_plays_from_the_cursor(
        qtbot, window: ReviewWindow, output: FakeOutput, demo_call: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    mka = tmp_path / "call.mka"  # lossless, so the samples played can be checked exactly
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(demo_call), "-c:a", "flac", str(mka)], check=True)
    open_and_wait(qtbot, window, mka)
    assert window.event_list.count() == 5
    import monitor.ffmpeg_audio

    probes: list[Path] = []
    real_probe = monitor.ffmpeg_audio._probe
    monkeypatch.setattr(monitor.ffmpeg_audio, "_probe", lambda *a: probes.append(a[0]) or real_probe(*a))
    window.seek(10.0)
    window.playback.play()
    stream = output.streams[-1]
    pulled: list[np.ndarray] = []

    def played() -> np.ndarray:
        audio = np.concatenate(pulled) if pulled else np.zeros((0, 2), np.float32)
        # Until ffmpeg's first block arrives, the callback plays silence without moving on.
        return audio[np.argmax(audio.any(axis=1)):] if audio.any() else audio[:0]

    def enough() -> bool:
        pulled.append(stream.pull(1600))
        return len(played()) >= 8000

    qtbot.waitUntil(enough, timeout=20_000)
    window.playback.pause()
    expected, _ = sf.read(demo_call, dtype="float32", start=160_000, frames=8000)
    np.testing.assert_array_equal(played()[:8000], expected)
    assert probes == []  # playing opened the file again without another ffprobe run


def test_without_an_output_device_playback_explains_and_the_cursor_still_moves(
        qtbot, demo_call: Path) -> None:
    window = played_without_an_output_device(qtbot, demo_call)
    assert not window.playback.playing
    assert "no sound output device" in window.message
    qtbot.keyClick(window.timeline, Qt.Key.Key_Right)
    assert window.timeline.cursor_s == pytest.approx(5.0)


def test_playback_holds_portaudio_re_initialisation_while_its_stream_is_open(
        qtbot, output: FakeOutput, demo_call: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In the app, live capture may re-initialise PortAudio to find a replugged headset;
    # that would free the review's output stream under its callback.
    from monitor.capture import PortAudioHost

    host = PortAudioHost()
    monkeypatch.setattr(host, "_reinitialise_portaudio", lambda: None)
    device_gone = False

    def factory(sr_hz: int, channels: int, callback) -> FakeStream:
        if device_gone:
            raise PlaybackUnavailable("no sound output device")
        return output(sr_hz, channels, callback)

    window = ReviewWindow(stream_factory=factory, audio_host=host)
    qtbot.addWidget(window)
    open_and_wait(qtbot, window, demo_call)
    window.playback.play()
    assert window.playback.playing and not host.refresh_device_list()
    window.playback.pause()
    assert host.refresh_device_list()

    window.seek(window.playback.duration_s - 0.2)  # played to the end, the stream closes itself
    window.playback.play()
    stream = output.streams[-1]
    qtbot.waitUntil(lambda: stream.pull(1600) is not None and not window.playback.playing,
                    timeout=20_000)
    assert stream.closed and host.refresh_device_list()

    device_gone = True
    window.playback.play()
    assert not window.playback.playing and host.refresh_device_list()


def test_an_output_device_lost_mid_play_pauses_with_a_message(qtbot, opened: ReviewWindow,
                                                              output: FakeOutput) -> None:
    opened.seek(10.0)
    opened.playback.play()
    stream = output.streams[-1]
    qtbot.waitUntil(lambda: stream.pull(1600) is not None and opened.playback.position_s > 10.0)
    with qtbot.waitSignal(opened.playback.playing_changed, timeout=10_000) as blocker:
        stream.active = False  # PortAudio stops a stream whose device or sound server went away
    assert blocker.args == [False] and not opened.playback.playing
    assert "sound output stopped" in opened.message
    assert opened.timeline.cursor_s == opened.playback.position_s > 10.0  # where the sound stopped
    assert stream.closed


def test_moving_the_cursor_repaints_only_the_cursor(qtbot, opened: ReviewWindow,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # While playing the cursor moves 20 times a second; painting every lane that often
    # held the GIL so long that the audio callback starved and the sound stuttered.
    timeline = opened.timeline
    timeline.repaint()
    lanes_painted = []
    paint = type(timeline)._paint

    def counted(*args, **kwargs) -> None:
        lanes_painted.append(1)
        paint(timeline, *args, **kwargs)

    monkeypatch.setattr(timeline, "_paint", counted)
    before = timeline.grab().toImage()
    for t_s in (20.0, 40.0, 60.0):
        opened.seek(t_s)
        timeline.repaint()
    assert not lanes_painted
    assert timeline.grab().toImage() != before  # the cursor did move on screen
    timeline.zoom(2.0)
    timeline.repaint()
    assert lanes_painted


def test_an_analysis_can_be_cancelled(qtbot, window: ReviewWindow, long_call: Path) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(long_call)
        qtbot.waitUntil(lambda: window.progress_bar.value() > 0, timeout=ANALYSIS_TIMEOUT_MS)
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert blocker.args == [False]
    assert "cancelled" in window.message
    assert window.report is None and not window.analysing and window.event_list.count() == 0


def test_the_timeline_says_the_call_is_being_analysed(qtbot, window: ReviewWindow,
                                                      long_call: Path) -> None:
    # While a long call is analysed, the empty timeline must not invite the
    # trainee to open a recording: one is being opened.
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        window.open_file(long_call)
        assert window.timeline.placeholder == "Analysing long_call.wav\N{HORIZONTAL ELLIPSIS}"
        assert window.timeline.accessibleDescription() == window.timeline.placeholder
        window.cancel_analysis()
    assert window.timeline.placeholder.startswith("Open a call recording")


def test_the_event_loop_keeps_turning_during_analysis(qtbot, window: ReviewWindow,
                                                      long_call: Path) -> None:
    ticks = []
    progress: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: (ticks.append(1), progress.append(window.progress_bar.value())))
    timer.start()
    open_and_wait(qtbot, window, long_call)
    timer.stop()
    # The GUI thread kept handling timers and saw the progress bar move in steps.
    assert len(ticks) >= 5
    assert len({p for p in progress if 0 < p < 1000}) >= 2
    assert window.report is not None and window.report.duration_s > 500


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 100])
def test_a_bad_file_gives_a_one_line_message(qtbot, window: ReviewWindow, tmp_path: Path,
                                             content: bytes) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(content)
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(bad)
    assert blocker.args == [False]
    assert "broken.wav" in window.message and "\n" not in window.message
    assert "Traceback" not in window.message
    assert window.report is None and "CalmLine" in window.windowTitle()


def test_a_missing_file_gives_a_message(qtbot, window: ReviewWindow, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        window.open_file(tmp_path / "nowhere.wav")
    assert "no such file" in window.message


def _drop(window: ReviewWindow, *paths: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    window.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def test_dropping_a_file_opens_it(qtbot, window: ReviewWindow, demo_call: Path) -> None:
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        _drop(window, demo_call)
    assert window.report is not None


def _swap_and_wait(qtbot, window: ReviewWindow) -> QAction:
    """Trigger Channels > Swap (enabled and unchecked before) and wait for the new analysis."""
    swap = next(a for a in window.findChildren(QAction) if a.text() == "&Swap you and the customer")
    assert swap.isEnabled() and not swap.isChecked()
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        swap.trigger()
    assert blocker.args == [True], window.message
    return swap


def _split_call(demo_call: Path, folder: Path) -> tuple[np.ndarray, int, Path, Path]:
    """The demo call kept as two recordings, as some recorders do: yours, then the customer's."""
    call, sr_hz = sf.read(demo_call, dtype="float32")
    mine, theirs = folder / "call-out.wav", folder / "call-in.wav"
    sf.write(mine, call[:, 0], sr_hz, subtype="FLOAT")
    sf.write(theirs, call[:, 1], sr_hz, subtype="FLOAT")
    return call, sr_hz, mine, theirs


def test_dropping_two_recordings_opens_them_as_one_call(qtbot, window: ReviewWindow,
                                                        demo_call: Path, tmp_path: Path) -> None:
    call, sr_hz, mine, theirs = _split_call(demo_call, tmp_path)
    open_and_wait(qtbot, window, demo_call)
    expected = _events(window)
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        _drop(window, theirs, mine)  # the wrong way round
    assert blocker.args == [True], window.message
    assert "call-in.wav + call-out.wav" in window.windowTitle()
    assert "call-in.wav is taken as yours" in window.message and "Swap" in window.message
    swap = _swap_and_wait(qtbot, window)
    assert _events(window) == expected and swap.isChecked()
    assert "call-out.wav + call-in.wav" in window.windowTitle()
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        swap.trigger()  # and back
    assert "call-in.wav + call-out.wav" in window.windowTitle() and not swap.isChecked()

    _drop(window, mine, theirs, demo_call)
    assert "3 files dropped" in window.message


def _pull_played(qtbot, window: ReviewWindow, output: FakeOutput, frames: int) -> np.ndarray:
    """Play from the cursor until ``frames`` frames of the file have come out; pause."""
    window.playback.play()
    stream = output.streams[-1]
    pulled: list[np.ndarray] = []

    def played() -> np.ndarray:
        audio = np.concatenate(pulled) if pulled else np.zeros((0, stream.channels), np.float32)
        return audio[np.argmax(audio.any(axis=1)):] if audio.any() else audio[:0]

    def enough() -> bool:
        pulled.append(stream.pull(1600))
        return len(played()) >= frames

    qtbot.waitUntil(enough, timeout=20_000)
    window.playback.pause()
    return played()[:frames]


def _events(window: ReviewWindow) -> list[tuple[str, float]]:
    return [(e.kind.value, round(e.start_s, 1)) for e in window.report.events]


def test_a_recording_with_six_channels_asks_which_is_whose(qtbot, window: ReviewWindow,
                                                          output: FakeOutput, demo_call: Path,
                                                          tmp_path: Path) -> None:
    from monitor.audio_file import ChannelChoice
    from ui.channel_dialog import ChannelDialog

    call, sr_hz = sf.read(demo_call, dtype="float32")
    six = np.zeros((len(call), 6), np.float32)
    six[:, 2], six[:, 4] = call[:, 0], call[:, 1]  # you on channel 3, the customer on 5
    path = tmp_path / "bridge.wav"
    sf.write(path, six, sr_hz, subtype="FLOAT")
    open_and_wait(qtbot, window, demo_call)
    expected = _events(window)

    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(path)
    assert blocker.args == [False]
    assert "6 channels" in window.message and "\n" not in window.message
    dialog = window.findChild(ChannelDialog)
    assert dialog is not None and dialog.isVisible()
    # The silent channels say so, and the two that carry speech are offered first.
    assert [dialog.agent.itemText(i).endswith("silent") for i in range(6)] == [True, True, False,
                                                                               True, False, True]
    assert (dialog.agent.currentData(), dialog.customer.currentData()) == (2, 4)
    dialog.customer.setCurrentIndex(dialog.customer.findData(2))
    assert not dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    dialog.customer.setCurrentIndex(dialog.customer.findData(4))
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        dialog.accept()
    assert blocker.args == [True], window.message
    assert window.channel_choice == ChannelChoice(agent_channel=2, customer_channel=4)
    assert _events(window) == expected
    # Asked again from the menu, it still shows the levels, and the choice in effect.
    again = window.choose_channels()
    assert again is not None
    assert [again.agent.itemText(i).endswith("silent") for i in range(6)] == [True, True, False,
                                                                              True, False, True]
    assert (again.agent.currentData(), again.customer.currentData()) == (2, 4)
    again.reject()
    window.seek(10.0)
    np.testing.assert_array_equal(_pull_played(qtbot, window, output, 4000), call[160_000:164_000])


def test_swapping_you_and_the_customer_analyses_the_call_again(qtbot, window: ReviewWindow,
                                                               output: FakeOutput, demo_call: Path,
                                                               tmp_path: Path) -> None:
    call, sr_hz = sf.read(demo_call, dtype="float32")
    path = tmp_path / "agent_right.wav"
    sf.write(path, call[:, ::-1], sr_hz, subtype="FLOAT")
    open_and_wait(qtbot, window, demo_call)
    expected = _events(window)
    open_and_wait(qtbot, window, path)
    assert _events(window) != expected
    window.seek(42.0)
    swap = _swap_and_wait(qtbot, window)
    assert _events(window) == expected and swap.isChecked()
    assert window.timeline.cursor_s == pytest.approx(42.0)  # the same call: the trainee stays put
    dialog = window.choose_channels()  # a stereo file's channels are labelled with their levels
    assert dialog is not None and "loudest" in dialog.agent.itemText(0)
    assert (dialog.agent.currentData(), dialog.customer.currentData()) == (1, 0)
    dialog.reject()
    window.seek(10.0)  # played as you left, the customer right, like the timeline's rows
    np.testing.assert_array_equal(_pull_played(qtbot, window, output, 4000), call[160_000:164_000])


def test_swapping_while_playing_plays_on_from_the_same_place(qtbot, opened: ReviewWindow,
                                                             output: FakeOutput,
                                                             demo_call: Path) -> None:
    call, sr_hz = sf.read(demo_call, dtype="float32")
    opened.seek(10.0)
    opened.playback.play()
    stream = output.streams[-1]

    def advanced() -> bool:
        stream.pull(1600)
        return opened.playback.position_s > 10.5

    qtbot.waitUntil(advanced, timeout=20_000)
    at_s = opened.playback.position_s
    _swap_and_wait(qtbot, opened)
    assert opened.playback.playing and output.streams[-1] is not stream
    assert opened.timeline.cursor_s == pytest.approx(at_s)
    expected = call[round(at_s * sr_hz):, ::-1]  # the same place, with the customer now on the left
    expected = expected[np.argmax(expected.any(axis=1)):]  # as _pull_played skips silence
    np.testing.assert_array_equal(_pull_played(qtbot, opened, output, 4000), expected[:4000])

    opened.seek(20.0)  # paused, it stays paused where it was, and zoomed in as it was
    opened.timeline.zoom(4.0)
    view = opened.timeline.view
    assert view[1] - view[0] < opened.report.duration_s / 3
    swap = next(a for a in opened.findChildren(QAction) if a.text() == "&Swap you and the customer")
    with qtbot.waitSignal(opened.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        swap.trigger()
    assert not opened.playback.playing and opened.timeline.cursor_s == pytest.approx(20.0)
    assert opened.timeline.view == pytest.approx(view)


def test_choosing_channels_while_playing_plays_on(qtbot, opened: ReviewWindow,
                                                  output: FakeOutput) -> None:
    opened.seek(30.0)
    opened.playback.play()
    dialog = opened.choose_channels()
    assert dialog is not None
    dialog.customer.setCurrentIndex(dialog.customer.findData(-1))  # you only
    with qtbot.waitSignal(opened.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS):
        dialog.accept()
    assert opened.report.summary.customer is None
    assert opened.playback.playing and opened.timeline.cursor_s == pytest.approx(30.0)
    assert output.streams[-1].channels == 1


def test_a_call_kept_in_two_recordings_is_reviewed_and_played_as_one(
        qtbot, window: ReviewWindow, output: FakeOutput, demo_call: Path, tmp_path: Path) -> None:
    import json

    from tests.audio_fixtures import resample
    from ui.cli import main

    call, sr_hz, mine, theirs = _split_call(demo_call, tmp_path)
    open_and_wait(qtbot, window, demo_call)
    expected = _events(window)
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(mine, customer_path=theirs)
    assert blocker.args == [True], window.message
    assert _events(window) == expected
    assert "call-out.wav + call-in.wav" in window.windowTitle()
    actions = {a.text(): a for a in window.findChildren(QAction)}
    assert not actions["&Choose channels…"].isEnabled()
    window.seek(10.0)
    np.testing.assert_array_equal(_pull_played(qtbot, window, output, 4000), call[160_000:164_000])

    # The customer's side at the telephone rate: the events are analyze's, and it plays in step.
    sf.write(theirs, resample(call[:, 1], sr_hz, 8000), 8000, subtype="FLOAT")
    report = tmp_path / "report.json"
    assert main(["analyze", str(mine), "--customer", str(theirs), "--json", str(report)]) == 0
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        window.open_file(mine, customer_path=theirs)
    assert blocker.args == [True], window.message
    assert _events(window) == [(e["kind"], round(e["start_s"], 1))
                               for e in json.loads(report.read_text())["events"]]
    window.seek(10.0)
    played = _pull_played(qtbot, window, output, 8000)
    assert output.streams[-1].sr_hz == sr_hz and played.shape == (8000, 2)
    np.testing.assert_array_equal(played[:, 0], call[160_000:168_000, 0])
    # The customer's side is played in step: it matches the 8 kHz file brought back to 16 kHz.
    heard = resample(resample(call[:, 1], sr_hz, 8000), 8000, sr_hz)[160_000:168_000]
    lag = int(np.argmax(np.correlate(played[:, 1], heard, "full"))) - 7999
    assert lag == 0
    assert np.corrcoef(played[:, 1], heard)[0, 1] > 0.99


@pytest.mark.parametrize("channels, choice, shown", [
    (2, {}, (0, 1)), (2, {"swap": True}, (1, 0)), (2, {"mono": True}, (0, None)),
    (6, {"agent_channel": 2, "customer_channel": 4}, (2, 4)), (6, {"agent_channel": 3}, (3, None)),
    (1, {}, (0, None))])
def test_the_channel_dialog_starts_from_what_the_analysis_reads(qtbot, channels: int, choice: dict,
                                                                 shown: tuple) -> None:
    from monitor.audio_file import ChannelChoice
    from ui.channel_dialog import ChannelDialog

    dialog = ChannelDialog("call.wav", channels, ChannelChoice(**choice))
    qtbot.addWidget(dialog)
    agent, customer = shown
    assert dialog.choice() == ChannelChoice(agent, customer, mono=customer is None)


def test_a_mono_file_offers_no_channel_choice(qtbot, window: ReviewWindow, demo_call: Path,
                                             tmp_path: Path) -> None:
    call, sr_hz = sf.read(demo_call, dtype="float32")
    path = tmp_path / "agent_only.wav"
    sf.write(path, call[:, 0], sr_hz)
    open_and_wait(qtbot, window, path)
    actions = {a.text(): a for a in window.findChildren(QAction)}
    assert not actions["&Choose channels…"].isEnabled()
    assert window.choose_channels() is None


def test_html_and_pdf_reports(opened: ReviewWindow, tmp_path: Path) -> None:
    html_path = tmp_path / "review.html"
    pdf_path = tmp_path / "review.pdf"
    opened.export_html(html_path)
    opened.export_pdf(pdf_path)
    for path in (html_path, pdf_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = html_path.read_text(encoding="utf-8")
    assert "data:image/png;base64,iVBOR" in text  # the PNG signature, base64-encoded
    assert "What went well" in text and "interruption" in text and "raised voice" in text
    for event in opened.report.events:
        assert clock(event.start_s) in text
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" in pdf
    document = build_pdf_document(opened.report, opened.timeline_png())
    plain = document.toPlainText()
    assert "interruption" in plain and "What went well" in plain


def test_the_pdf_timeline_fits_the_page_and_event_rows_stay_whole(opened: ReviewWindow) -> None:
    page_width_pt = 510.0  # A4 less 15 mm margins
    document = build_pdf_document(opened.report, opened.timeline_png(), page_width_pt=page_width_pt)
    layout = document.documentLayout()
    # Wider than the page, the picture's right end (the end of the call) would be cut off.
    assert layout.frameBoundingRect(document.rootFrame()).width() <= page_width_pt
    details = {event_detail(e) for e in opened.report.events}
    block = document.begin()
    while block.isValid():
        text = block.text().replace("\N{NO-BREAK SPACE}", " ")  # how Qt keeps a line from wrapping
        if text in details:  # a wrapped row is split across two pages by Qt
            assert block.layout().lineCount() == 1, text
            details.discard(text)
        block = block.next()
    assert not details


def test_the_pdf_timeline_heading_is_on_the_page_of_its_picture(opened: ReviewWindow) -> None:
    from PySide6.QtCore import QSizeF

    # A4 less 15 mm margins, as export_pdf lays it out.
    page_width_pt, page_height_pt = (180 / 25.4 * 72, 267 / 25.4 * 72)
    document = build_pdf_document(opened.report, opened.timeline_png(), page_width_pt=page_width_pt)
    document.setPageSize(QSizeF(page_width_pt, page_height_pt))
    layout = document.documentLayout()
    pages = {}
    block = document.begin()
    while block.isValid():
        rect = layout.blockBoundingRect(block)
        if block.text() == "Timeline":
            pages["heading"] = int(rect.top() // page_height_pt)
        elif block.text() == "\N{OBJECT REPLACEMENT CHARACTER}":  # the picture
            pages["picture"] = int(rect.bottom() // page_height_pt)
        block = block.next()
    assert document.pageCount() > 1 and pages["heading"] == pages["picture"], pages


def test_a_report_is_never_written_over_the_recording(opened: ReviewWindow) -> None:
    recording = Path(opened.report.source)
    original = recording.read_bytes()
    for write in (opened.export_html, opened.export_pdf):
        opened._export(write, recording)  # what the Save dialog does with the chosen name
        assert "is the recording under review" in opened.message
    assert recording.read_bytes() == original


class _SaveDialog:
    """QFileDialog's save question, answered with the names in ``answers`` in turn."""

    def __init__(self) -> None:
        self.answers: list[Path] = []
        self.asked: list[tuple[str, str, str]] = []

    def getSaveFileName(self, parent, caption: str, suggested: str, name_filter: str):  # noqa: N802
        self.asked.append((caption, suggested, name_filter))
        return str(self.answers.pop(0)), name_filter


def test_a_report_goes_under_its_own_formats_name(opened: ReviewWindow, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    dialog = _SaveDialog()
    monkeypatch.setattr(ui.review_window, "QFileDialog", dialog)
    questions: list[str] = []
    answers = [False, True]
    monkeypatch.setattr(ui.review_window, "_confirm",
                        lambda parent, question: questions.append(question) or answers.pop(0),
                        raising=False)
    pdf = tmp_path / "call.pdf"
    opened.export_pdf(pdf)
    kept = pdf.read_bytes()
    # HTML chosen, and an existing PDF's name typed: the dialog asked to replace the PDF.
    dialog.answers = [pdf]
    opened._choose_html()
    assert pdf.read_bytes() == kept
    html_path = tmp_path / "call.html"
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert f"Report saved to {html_path}" in opened.message and not questions
    assert dialog.asked[-1][2] == "HTML (*.html *.htm)"
    # Again: now call.html exists, and nobody was asked about it.
    html_path.write_text("my notes", encoding="utf-8")
    dialog.answers = [pdf]
    opened._choose_html()
    assert questions == [f"call.html already exists in {tmp_path}. Replace it with this report?"]
    assert html_path.read_text(encoding="utf-8") == "my notes"
    assert "not saved" in opened.message and "call.html was kept" in opened.message
    dialog.answers = [pdf]
    opened._choose_html()
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert pdf.read_bytes() == kept
    # The other way round, and a name of no report format: the ending is put right or added.
    dialog.answers = [tmp_path / "other.HTM", tmp_path / "call.v2"]
    opened._choose_pdf()
    opened._choose_html()
    assert (tmp_path / "other.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "call.v2.html").exists() and not (tmp_path / "call.v2").exists()
    assert len(questions) == 2 and not (tmp_path / "other.HTM").exists()


def test_a_report_under_another_formats_name_is_refused(opened: ReviewWindow,
                                                        tmp_path: Path) -> None:
    for write, name, rule in ((opened.export_html, "call.pdf", "HTML reports are saved under names "
                               "ending in .html or .htm"),
                              (opened.export_pdf, "call.html", "PDF reports are saved under names "
                               "ending in .pdf")):
        opened._export(write, tmp_path / name)
        assert opened.message == f"{tmp_path / name}: {rule}"
        assert not (tmp_path / name).exists()


def test_what_went_well_is_derived_from_the_call(opened: ReviewWindow) -> None:
    good = what_went_well(opened.report)
    assert good
    joined = " ".join(good)
    assert "customer the floor" in joined  # the customer spoke for about a third of the call
    assert "no interruptions" not in joined  # there were two


def test_a_recording_without_your_speech_is_not_called_calm(qtbot, window: ReviewWindow,
                                                            demo_call: Path, tmp_path: Path) -> None:
    x, sr = sf.read(demo_call, dtype="float32")
    x[:, 0] = 0.0  # the customer only: the wrong channel taken as yours
    path = tmp_path / "customer_only.wav"
    sf.write(path, x, sr)
    open_and_wait(qtbot, window, path)
    assert window.event_list.count() == 1
    assert window.event_list.item(0).text() == ("No events: too little of your speech to judge "
                                                "how calm the call was.")
    summary = window.findChild(QTextBrowser).toPlainText()
    assert "Too little of your speech in this recording to coach" in summary
    assert "stayed calm" not in summary and "the floor" not in summary


def test_logged_calls_without_a_recording_are_not_offered(qtbot, tmp_path: Path,
                                                          demo_call: Path) -> None:
    store_path = tmp_path / "store" / "calls.sqlite3"
    start = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    summary = CallSummary(95.0, PartySummary(40.0, 0.42, 4.5), PartySummary(30.0, 0.32, 4.3),
                          6.0, 2, 4.8, 6.4, 0, 1)
    with CallStore(store_path) as store:
        with_audio = store.begin_call(start, 0.0, CallMode.TWO_PARTY)
        store.end_call(with_audio, start + timedelta(seconds=95), 95.0, summary, demo_call)
        without = store.begin_call(start + timedelta(hours=1), 100.0, CallMode.TWO_PARTY)
        store.end_call(without, start + timedelta(hours=1, seconds=60), 160.0, summary)
    with CallStore(store_path, read_only=True) as store:
        dialog = LoggedCallDialog(store.calls(), None)
    qtbot.addWidget(dialog)
    assert dialog.list.count() == 1
    assert dialog.selected_path() == demo_call


def test_logged_calls_show_the_length_history_shows(qtbot, tmp_path: Path, demo_call: Path) -> None:
    store_path = tmp_path / "store" / "calls.sqlite3"
    start = datetime(2026, 11, 23, 4, 27, tzinfo=timezone.utc)
    party = PartySummary(30.0, 0.4, 4.5)
    with CallStore(store_path) as store:
        for hour, interruptions in ((0, 1), (1, 2)):
            # Detected from 10 s to 73.1 s of the stream, the call as analysed and recorded is 73.1 s.
            call = store.begin_call(start + timedelta(hours=hour), 10.0, CallMode.TWO_PARTY)
            summary = CallSummary(73.1, party, party, 2.0, interruptions, 4.8, 0.0, 0, 0)
            store.end_call(call, start + timedelta(hours=hour, seconds=73), 73.1, summary, demo_call)
    with CallStore(store_path, read_only=True) as store:
        dialog = LoggedCallDialog(store.calls(), None)
    qtbot.addWidget(dialog)
    texts = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert "(1:13.1, 2 interruptions, 5 s raised voice)" in texts[0]
    assert "(1:13.1, 1 interruption, 5 s raised voice)" in texts[1]


@pytest.fixture
def run_review_windows(qtbot, qapp, output: FakeOutput,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ReviewWindow]]:
    """The windows :func:`run_review` opens, with the event loop left to the test."""
    windows: list[ReviewWindow] = []

    class RecordedWindow(ReviewWindow):
        def __init__(self, **options: object) -> None:
            super().__init__(stream_factory=output, **options)
            qtbot.addWidget(self)
            windows.append(self)

    monkeypatch.setattr(ui.review_window, "ReviewWindow", RecordedWindow)
    monkeypatch.setattr(QApplication, "exec", lambda *args: 0)
    name = qapp.applicationName()
    yield windows
    qapp.setApplicationName(name)


def test_run_review_analyses_with_the_settings_it_is_given(qtbot, run_review_windows: list[ReviewWindow],
                                                          demo_call: Path, tmp_path: Path) -> None:
    settings = RuleSettings(raised_voice_lu=3.0, raised_voice_release_lu=2.0)
    assert run_review(demo_call, settings=settings, store_path=tmp_path / "calls.sqlite3") == 0
    [window] = run_review_windows
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        pass  # the analysis reports back through the event loop, which turns only now
    assert blocker.args == [True], window.message
    raised = [e for e in window.report.events if e.kind is EventKind.RAISED_VOICE]
    assert raised and all(e.threshold == 3.0 for e in raised)


def test_run_review_of_many_channels_asks_which_is_whose(qtbot, run_review_windows: list[ReviewWindow],
                                                        demo_call: Path, tmp_path: Path) -> None:
    call, sr_hz = sf.read(demo_call, dtype="float32", frames=16000 * 20)
    quad = np.zeros((len(call), 4), np.float32)
    quad[:, 1], quad[:, 3] = call[:, 0], call[:, 1]
    path = tmp_path / "quad.wav"
    sf.write(path, quad, sr_hz, subtype="FLOAT")
    assert run_review(path, ChannelChoice(), store_path=tmp_path / "calls.sqlite3") == 0
    [window] = run_review_windows
    with qtbot.waitSignal(window.analysis_finished, timeout=ANALYSIS_TIMEOUT_MS) as blocker:
        pass
    assert blocker.args == [False]
    assert "4 channels" in window.message
    dialog = window.findChild(ChannelDialog)
    assert dialog is not None and dialog.isVisible()
    assert (dialog.agent.currentData(), dialog.customer.currentData()) == (1, 3)


def test_the_envelope_built_block_by_block_matches_the_whole_signal() -> None:
    rng = np.random.default_rng(1)
    sr = 8000
    x = rng.standard_normal(sr * 7).astype(np.float32)
    envelope = WaveEnvelope(7.0, sr, None)
    for start in range(0, len(x), 3001):  # block edges that do not line up with bins
        envelope.add(x[start:start + 3001], None)
    low, high = envelope.agent.finite()
    edges = np.arange(len(x)) * envelope.bins // len(x)
    assert np.allclose(low, [x[edges == b].min() for b in range(envelope.bins)])
    assert np.allclose(high, [x[edges == b].max() for b in range(envelope.bins)])


def test_ctrl_c_in_the_terminal_closes_calmline_review(tmp_path: Path) -> None:
    import signal
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "-v", "review"], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            if "review window open" in line:
                break
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("code, words", [(-9993, "no sound output can be opened"),
                                         (-9997, "cannot play this file")])
def test_a_sound_output_that_will_not_open_is_blamed_rightly(monkeypatch, code: int,
                                                              words: str) -> None:
    import sounddevice as sd

    from ui.playback import PlaybackUnavailable, sounddevice_stream

    def refuse(**_: object) -> None:
        raise sd.PortAudioError("Error opening OutputStream", code)

    monkeypatch.setattr(sd, "OutputStream", refuse)
    with pytest.raises(PlaybackUnavailable, match=words):
        sounddevice_stream(16000, 2, lambda *_: None)


class _RecordingPainter:
    """Stands in for a QPainter, keeping what was written."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def fillRect(self, *args: object) -> None:  # noqa: N802 (Qt API)
        pass

    def setPen(self, *args: object) -> None:  # noqa: N802 (Qt API)
        pass

    def drawText(self, rect: QRectF, flags: object, text: str) -> None:  # noqa: N802 (Qt API)
        self.texts.append(text)


def test_a_reference_line_label_is_left_out_where_it_would_not_fit(qtbot) -> None:
    timeline = TimelineWidget()
    qtbot.addWidget(timeline)
    fm = timeline.fontMetrics()
    colours = _Colours.from_palette(timeline.palette())
    text = "fast above 5.5 syllables/s"
    lane = QRectF(0, 100, 600, fm.height() * 3)
    written = _RecordingPainter()
    _label_above(written, fm, lane, lane.bottom() - 2, text, colours)
    assert written.texts == [text]
    for y, narrow in ((lane.top() + fm.height() / 2, False), (lane.bottom() - 2, True)):
        skipped = _RecordingPainter()
        squeezed = QRectF(lane.left(), lane.top(), fm.horizontalAdvance(text) / 2 if narrow
                          else lane.width(), lane.height())
        _label_above(skipped, fm, squeezed, y, text, colours)
        assert skipped.texts == []
