"""The review window: a trainee replays a recorded call and sees what the coach saw.

The recording is analysed on a worker thread (``analyze_recording`` with a
progress callback that also checks a cancel flag), and the waveform envelope
is folded in during the same single pass over the file, so the window stays
responsive and memory flat even for an hour-long call. Every problem with
the input ends as one line in the window, never as a traceback.

Keys: Space plays or pauses, N and P jump to the next and previous event,
Left and Right move the cursor by 5 s, Escape cancels an analysis; Ctrl+O
opens a file, Ctrl+L a logged call. All of them are in the menus too.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence,
                           QPixmap)
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget)

from models.report import AnalysisReport
from models.settings import RuleSettings
from models.store import CallRecord, CallStore, StoreError, default_store_path
from monitor.analysis import AnalysisCancelled, analyze_recording
from monitor.audio_file import (AudioInputError, CallRecording, ChannelChoice, ChannelChoiceNeeded,
                                PartyLayout, channel_levels_dbfs)
from ui.announce import announce
from ui.channel_dialog import ChannelDialog
from ui.output_files import OutputError, check_output_target
from ui.playback import Playback, PlaybackUnavailable, StreamFactory
from ui.qt_settings import keep_qt_settings_private
from ui.quit_signals import quit_on_signals
from ui.report_export import (REPORT_SUFFIXES, ExportError, event_detail, export_html, export_pdf,
                              report_path, summary_html)
from ui.screen_fit import opening_size
from ui.summary_text import EVENT_LABELS, calm_verdict, clock
from ui.timeline import TimelineWidget, WaveEnvelope, event_icon_image
from ui.window_titles import window_title

if TYPE_CHECKING:
    from monitor.capture import PortAudioHost

logger = logging.getLogger(__name__)

SEEK_STEP_S = 5.0
"""How far the arrow keys move the cursor, in seconds."""
PREVIOUS_EVENT_SLACK_S = 0.5
"""P goes to the event before the one the cursor has just passed by less than this, in seconds."""
PROGRESS_STEPS = 1000
"""Resolution of the progress bar; progress is reported only when it moves a step."""
REPORT_IMAGE_WIDTH_PX = 1600
"""Width of the timeline picture in exported reports, in pixels (sharp in print)."""
REPORT_IMAGE_SHOWN_PX = 680
"""Width the report shows the picture at, in CSS pixels; it is drawn to read at that size."""
MESSAGE_LINES = 2
"""Lines of text the message line has room for, shown or not."""
AUDIO_FILTER = ("Audio files (*.wav *.flac *.ogg *.opus *.mp3 *.aiff *.aif "
                "*.m4a *.mp4 *.wma *.amr *.webm *.mka);;All files (*)")


@dataclass(frozen=True)
class ReviewData:
    """What the worker hands back: the analysis and the waveform envelope."""

    path: Path
    report: AnalysisReport
    envelope: WaveEnvelope
    channels: int
    """Channel count of the recording."""
    layout: PartyLayout
    """Which channel was analysed as which party."""
    customer_path: Path | None = None
    """The customer's side, when it is a recording of its own."""
    channel_levels_dbfs: list[float | None] | None = None
    """Per channel of a recording with several, its level for the channel dialog
    (see :func:`monitor.audio_file.channel_levels_dbfs`); None when not measured."""


class _EnvelopeRecording(CallRecording):
    """A recording that folds every block it reads into a waveform envelope.

    The analysis reads the file once; teeing its blocks gives the timeline
    its waveform without a second pass or holding the audio.
    """

    def __init__(self, path: Path, choice: ChannelChoice, customer_path: Path | None) -> None:
        super().__init__(path, choice, customer_path)
        self.envelope = WaveEnvelope(self.duration_s, self.agent_sr_hz, self.customer_sr_hz)

    def blocks(self, block_s: float = 1.0) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for agent, customer in super().blocks(block_s):
            self.envelope.add(agent, customer)
            yield agent, customer


class AnalysisThread(QThread):
    """Analyses one recording off the GUI thread.

    Parameters
    ----------
    path : Path
        The recording.
    settings : RuleSettings
        Rule thresholds.
    choice : ChannelChoice
        Which channels carry which party.
    customer_path : Path or None
        The customer's side in a recording of its own.
    parent : QObject, optional
        Owner.
    """

    progressed = Signal(float)
    """Fraction done, 0 to 1."""
    succeeded = Signal(object)
    """The :class:`ReviewData`."""
    failed = Signal(str)
    """One line for the user."""
    channels_needed = Signal(object)
    """The recording has over two channels and the choice must be made: the level of
    each channel in dBFS, None where it is silent."""
    cancelled = Signal()

    def __init__(self, path: Path, settings: RuleSettings, choice: ChannelChoice,
                 customer_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.customer_path = customer_path
        self._settings = settings
        self._choice = choice
        self._cancel = threading.Event()
        self._last_step = -1

    def cancel(self) -> None:
        """Ask the analysis to stop after the block in hand (thread-safe)."""
        self._cancel.set()

    def _progress(self, fraction: float) -> bool:
        step = int(fraction * PROGRESS_STEPS)
        if step != self._last_step:
            self._last_step = step
            self.progressed.emit(fraction)
        return not self._cancel.is_set()

    def _channel_levels(self, recording: CallRecording) -> list[float | None] | None:
        """The levels the channel dialog shows, when it can be asked for: one more short read."""
        if recording.channels < 2 or self.customer_path is not None:
            return None
        try:
            return channel_levels_dbfs(self.path)
        except AudioInputError:  # read once already; the dialog then goes without levels
            return None

    def run(self) -> None:  # noqa: D102 (QThread API)
        try:
            with _EnvelopeRecording(self.path, self._choice, self.customer_path) as recording:
                report = analyze_recording(recording, self._settings, progress=self._progress)
                data = ReviewData(self.path, report, recording.envelope, recording.channels,
                                  recording.layout, self.customer_path, self._channel_levels(recording))
        except AnalysisCancelled:
            self.cancelled.emit()
            return
        except ChannelChoiceNeeded as exc:
            if self.customer_path is not None:  # the dialog would offer the customer a channel
                self.failed.emit(str(exc))
                return
            try:
                levels = channel_levels_dbfs(self.path)
            except AudioInputError as exc:
                self.failed.emit(str(exc))
            else:
                self.channels_needed.emit(levels)
            return
        except AudioInputError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # the last line of defence: a message, never a traceback
            logger.exception("analysis of %s failed", self.path)
            self.failed.emit(f"{self.path.name}: could not be analysed ({type(exc).__name__}: {exc})")
            return
        self.succeeded.emit(data)


def _call_details(call: CallRecord) -> str:
    """A logged call's length and totals, as the list of logged calls shows them."""
    if call.summary is None:
        return clock(call.end_s - call.start_s) if call.end_s is not None else "open"
    # The summary's length is what was analysed and recorded, and what History
    # shows; the log's start and end positions are the call detection's
    # estimates and can be seconds off it.
    count = call.summary.interruptions
    return (f"{clock(call.summary.duration_s)}, {count} interruption{'' if count == 1 else 's'}, "
            f"{call.summary.raised_voice_s:.0f} s raised voice")


class LoggedCallDialog(QDialog):
    """Pick a logged call that has a recording.

    Parameters
    ----------
    calls : list of CallRecord
        Calls to offer (only those with a recording on disk are listed).
    parent : QWidget, optional
        Owner.
    """

    def __init__(self, calls: list[CallRecord], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(window_title("Open a logged call"))
        self.list = QListWidget(self)
        self.list.setAccessibleName("Logged calls with a recording")
        for call in calls:
            if call.recording_path is None or not call.recording_path.exists():
                continue
            started = call.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
            item = QListWidgetItem(f"{started}  ({_call_details(call)})  {call.recording_path.name}")
            item.setData(Qt.ItemDataRole.UserRole, str(call.recording_path))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.itemActivated.connect(lambda _item: self.accept())
        layout = QVBoxLayout(self)
        label = QLabel("&Calls with a recording, newest first:", self)
        label.setBuddy(self.list)
        layout.addWidget(label)
        layout.addWidget(self.list)
        layout.addWidget(buttons)

    def selected_path(self) -> Path | None:
        """The chosen recording, or None."""
        item = self.list.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None


class ReviewWindow(QMainWindow):
    """Review a recorded call: timeline, events, summary, playback, report export.

    Parameters
    ----------
    parent : QWidget, optional
        Owner.
    settings : RuleSettings, optional
        Rule thresholds for the analysis (defaults when omitted).
    stream_factory : StreamFactory, optional
        Output stream maker for playback; tests pass a fake.
    store_path : Path, optional
        The call log to list logged calls from (default: the user's).
    audio_host : PortAudioHost, optional
        The app's PortAudio host, when live capture runs in the same process.
    """

    analysis_finished = Signal(bool)
    """An analysis ended: True with a report, False when it failed or was cancelled."""

    def __init__(self, parent: QWidget | None = None, *, settings: RuleSettings | None = None,
                 stream_factory: StreamFactory | None = None,
                 store_path: Path | None = None,
                 audio_host: PortAudioHost | None = None) -> None:
        super().__init__(parent)
        self._settings = settings or RuleSettings()
        self._store_path = store_path
        self._thread: AnalysisThread | None = None
        self._data: ReviewData | None = None
        self._path: Path | None = None  # the recording shown or being analysed
        self._customer_path: Path | None = None  # the customer's side, when a file of its own
        self._pair_swapped = False  # the two recordings were opened the other way round
        self._open_at_s = 0.0  # where the cursor goes once the call being analysed is shown
        self._open_playing = False  # play on from there once it is shown (a swap while playing)
        self._open_view: tuple[float, float] | None = None  # and the timeline's zoom to show it with
        self._choice = ChannelChoice()
        self._file_channels = 0  # known once an analysis has opened the file
        self._file_levels: list[float | None] | None = None  # per channel, for the channel dialog
        self._playback = Playback(self, stream_factory, audio_host)
        self._playback.position_changed.connect(self._on_position)
        self._playback.playing_changed.connect(self._on_playing)
        self._playback.problem.connect(self._show_message)
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_actions()
        self._set_title(None)
        self._update_enabled()

    # --- public API

    @property
    def rules(self) -> RuleSettings:
        """The thresholds this window analyses and reports with."""
        return self._settings

    @property
    def report(self) -> AnalysisReport | None:
        """The report of the open call, or None."""
        return self._data.report if self._data is not None else None

    @property
    def timeline(self) -> TimelineWidget:
        """The timeline widget."""
        return self._timeline

    @property
    def event_list(self) -> QListWidget:
        """The list of events."""
        return self._events

    @property
    def message(self) -> str:
        """The one-line message shown in the window (empty when none)."""
        return self._message.text()

    @property
    def notice(self) -> str:
        """The navigation notice beside the play position (empty when none)."""
        return self._notice.text()

    @property
    def progress_bar(self) -> QProgressBar:
        """The analysis progress bar (0 to :data:`PROGRESS_STEPS`)."""
        return self._progress

    @property
    def playback(self) -> Playback:
        """The playback controller."""
        return self._playback

    @property
    def analysing(self) -> bool:
        """Whether an analysis is running."""
        return self._thread is not None and self._thread.isRunning()

    @property
    def channel_choice(self) -> ChannelChoice:
        """Which channels the open recording is analysed with."""
        return self._choice

    def open_file(self, path: Path, channels: ChannelChoice | None = None,
                  customer_path: Path | None = None, at_s: float = 0.0,
                  play: bool = False, view: tuple[float, float] | None = None) -> None:
        """Open and analyse a recording in the background (cancels one in progress).

        Parameters
        ----------
        path : Path
            The recording.
        channels : ChannelChoice, optional
            Which channels carry which party; the usual layout (you left,
            the customer right) by default.
        customer_path : Path, optional
            The customer's side of the call in a recording of its own (as
            some recorders keep the two directions); ``path`` is then yours.
        at_s : float
            Where to put the cursor once the call is analysed, in seconds: the
            same call analysed again (a swap, a channel choice) stays where it was.
        play : bool
            Play from ``at_s`` once the call is analysed: the same call analysed
            again while it was playing goes on playing.
        view : tuple of float, optional
            The span of the call the timeline shows once it is analysed,
            ``(start, end)`` in seconds; the whole call by default.
        """
        path = Path(path).expanduser()
        self._open_at_s = at_s
        self._open_playing = play
        self._open_view = view
        self._customer_path = Path(customer_path).expanduser() if customer_path is not None else None
        self._pair_swapped = False
        self._stop_analysis()
        if path != self._path:
            self._file_levels = None
        self._path = path
        self._choice = channels or ChannelChoice()
        self._file_channels = 0
        self._playback.unload()
        self._data = None
        # Not the invitation to open a call: one is being opened, which can take
        # a while for a long call.
        self._timeline.clear(f"Analysing {path.name}\N{HORIZONTAL ELLIPSIS}")
        self._events.clear()
        self._summary.setHtml("")
        self._show_message("")
        self._set_title(path, analysing=True)
        self._progress.setValue(0)
        self._progress_row.setVisible(True)
        thread = AnalysisThread(path, self._settings, self._choice, self._customer_path, self)
        thread.progressed.connect(self._on_progress)
        thread.succeeded.connect(self._on_succeeded)
        thread.failed.connect(self._on_failed)
        thread.channels_needed.connect(self._on_channels_needed)
        thread.cancelled.connect(self._on_cancelled)
        self._thread = thread
        thread.start()
        self._update_enabled()

    def choose_channels(self) -> ChannelDialog | None:
        """Ask which channels are whose (window-modal, not blocking); None when not possible.

        The recording is analysed again with the channels chosen.
        """
        path, channels = self._path, self._file_channels
        if path is None or channels < 2 or self._customer_path is not None:
            return None
        levels = self._file_levels
        # Asked because the recording could not be analysed without a choice, and none made yet.
        asked = self._data is None and levels is not None and self._choice == ChannelChoice()
        dialog = ChannelDialog(path.name, channels, None if asked else self._choice, levels, self)
        dialog.accepted.connect(lambda: self._analyse_again(path, dialog.choice()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def set_swapped(self, swapped: bool) -> None:
        """Analyse the call again with the parties the other way round.

        For a stereo recording, True puts you on the right channel; for a call
        kept in two recordings, True takes the second recording as yours.
        """
        if self._path is None or swapped == self._swapped():
            return
        if self._customer_path is not None:
            self._analyse_again(self._customer_path, customer_path=self._path)
            self._pair_swapped = swapped
            self._update_enabled()
        elif self._file_channels == 2:
            self._analyse_again(self._path, ChannelChoice(swap=swapped))

    def _analyse_again(self, path: Path, channels: ChannelChoice | None = None,
                       customer_path: Path | None = None) -> None:
        """Open the call shown with other parties, keeping the place, the zoom and whether it plays."""
        playing = self._playback.playing
        # Playing, the timeline's cursor trails the sound by up to one position update.
        at_s = self._playback.position_s if playing else self._timeline.cursor_s
        self.open_file(path, channels, customer_path, at_s=at_s, play=playing,
                       view=self._timeline.view if self._data is not None else None)

    def _swapped(self) -> bool:
        if self._customer_path is not None:
            return self._pair_swapped
        layout = self._data.layout if self._data is not None else None
        return layout is not None and layout.agent_channel == 1 and layout.customer_channel in (0, None)

    def cancel_analysis(self) -> None:
        """Stop the running analysis, if any."""
        if self._thread is not None:
            self._thread.cancel()

    def export_html(self, path: Path) -> None:
        """Write the report of the open call as HTML (raises ExportError).

        The name must end in .html or .htm (see :func:`ui.report_export.report_path`).
        """
        self._check_export_target(path, "html")
        export_html(self.report, Path(path), self.timeline_png(), self._settings)

    def export_pdf(self, path: Path) -> None:
        """Write the report of the open call as PDF (raises ExportError).

        The name must end in .pdf (see :func:`ui.report_export.report_path`).
        """
        self._check_export_target(path, "pdf")
        export_pdf(self.report, Path(path), self.timeline_png(), self._settings)

    def _check_export_target(self, path: Path, kind: str) -> None:
        if self.report is None:
            raise ExportError("no analysed call to export")
        try:
            inputs = {Path(self.report.source): "the recording under review"}
            if self._data is not None and self._data.customer_path is not None:
                inputs[self._data.customer_path] = "the customer's recording"
            check_output_target(path, inputs)
        except OutputError as exc:
            raise ExportError(str(exc)) from None
        if report_path(Path(path), kind) != Path(path):
            # Written anyway, it would be a broken file of the kind its name says.
            raise ExportError(f"{path}: {kind.upper()} reports are saved under names ending in "
                              f"{' or '.join(REPORT_SUFFIXES[kind])}")

    def timeline_png(self) -> bytes:
        """The whole call's timeline as PNG bytes (print colours)."""
        image = self._timeline.render_image(REPORT_IMAGE_WIDTH_PX,
                                            scale=REPORT_IMAGE_WIDTH_PX / REPORT_IMAGE_SHOWN_PX)
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        return bytes(data.data())

    def seek(self, t_s: float) -> None:
        """Move the cursor (and the play position) to ``t_s`` seconds."""
        if self.report is None:
            return
        t_s = min(max(0.0, t_s), self.report.duration_s)
        self._playback.seek(t_s)
        self._on_position(t_s)
        # A notice such as "No more events after this point" was about the old position.
        self._show_notice("")

    def next_event(self) -> None:
        """Jump to the first event that starts after the cursor."""
        if self.report is None:
            return
        now = self._timeline.cursor_s
        for i, event in enumerate(self.report.events):
            if event.start_s > now + 1e-3:
                self.jump_to_event(i)
                return
        self._show_notice("No more events after this point.")

    def previous_event(self) -> None:
        """Jump to the last event that starts before the cursor."""
        if self.report is None:
            return
        now = self._timeline.cursor_s
        for i in range(len(self.report.events) - 1, -1, -1):
            if self.report.events[i].start_s < now - PREVIOUS_EVENT_SLACK_S:
                self.jump_to_event(i)
                return
        self._show_notice("No events before this point.")

    def jump_to_event(self, index: int) -> None:
        """Move the cursor to the start of event ``index`` and select it in the list."""
        if self.report is None or not 0 <= index < len(self.report.events):
            return
        self._events.setCurrentRow(index)
        self.seek(self.report.events[index].start_s)

    # --- building

    def _build_widgets(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self._message = QLabel(central)
        self._message.setWordWrap(True)
        self._message.setAccessibleName("Message")
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Its room is kept with or without a message, so that one coming or going does not move
        # the window under the mouse; two lines take any message at a usual window width.
        self._message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._message.setMinimumHeight(self._message.fontMetrics().lineSpacing() * MESSAGE_LINES)
        layout.addWidget(self._message)

        self._progress_row = QWidget(central)
        row = QHBoxLayout(self._progress_row)
        row.setContentsMargins(0, 0, 0, 0)
        self._progress = QProgressBar(self._progress_row)
        self._progress.setRange(0, PROGRESS_STEPS)
        self._progress.setFormat("Analysing: %p%")
        self._progress.setAccessibleName("Analysis progress")
        self._cancel = QPushButton("&Cancel analysis", self._progress_row)
        self._cancel.setToolTip("Stop the analysis (Esc)")
        self._cancel.clicked.connect(self.cancel_analysis)
        row.addWidget(self._progress, 1)
        row.addWidget(self._cancel)
        self._progress_row.setVisible(False)
        layout.addWidget(self._progress_row)

        self._timeline = TimelineWidget(central, self._settings)
        self._timeline.seek_requested.connect(self.seek)
        self._timeline.event_activated.connect(self.jump_to_event)

        transport = QHBoxLayout()
        self._play = QPushButton("&Play", central)
        self._play.setToolTip("Play or pause (Space)")
        self._play.clicked.connect(self._toggle_play)
        self._position = QLabel(central)
        self._position.setAccessibleName("Play position")
        self._notice = QLabel(central)
        self._notice.setAccessibleName("Notice")
        transport.addWidget(self._play)
        transport.addWidget(self._position)
        transport.addSpacing(self.fontMetrics().averageCharWidth() * 4)
        transport.addWidget(self._notice, 1)

        self._events = QListWidget(central)
        self._events.setAccessibleName("Events")
        self._events.setAccessibleDescription("Coaching events in time order; Enter or click jumps to one.")
        self._events.itemClicked.connect(self._on_event_item)
        self._events.itemActivated.connect(self._on_event_item)
        events_label = QLabel("&Events", central)
        events_label.setBuddy(self._events)
        events_box = QWidget(central)
        events_layout = QVBoxLayout(events_box)
        events_layout.setContentsMargins(0, 0, 0, 0)
        events_layout.addWidget(events_label)
        events_layout.addWidget(self._events)

        self._summary = QTextBrowser(central)
        self._summary.setAccessibleName("Call summary")
        self._summary.setOpenLinks(False)

        bottom = QSplitter(Qt.Orientation.Horizontal, central)
        bottom.addWidget(events_box)
        bottom.addWidget(self._summary)
        bottom.setChildrenCollapsible(False)
        main = QSplitter(Qt.Orientation.Vertical, central)
        main.addWidget(self._timeline)
        main.addWidget(bottom)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        main.setChildrenCollapsible(False)
        layout.addLayout(transport)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)
        # The timeline is built before the Play button that sits above it; Tab must
        # follow the screen, top to bottom and left to right, not the order of building.
        for before, after in pairwise((self._cancel, self._play, self._timeline, self._events,
                                       self._summary)):
            QWidget.setTabOrder(before, after)
        self._on_position(0.0)
        fm = self.fontMetrics()
        self.resize(opening_size(self, QSize(fm.averageCharWidth() * 140, fm.height() * 48)))

    def _action(self, text: str, shortcut: QKeySequence | str | None, slot: object,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._open_action = self._action("&Open recording…", QKeySequence.StandardKey.Open,
                                         self._choose_file)
        self._open_pair_action = self._action(
            "Open call in &two recordings…", "Ctrl+Shift+O", self._choose_pair,
            "Yours and the customer's, for recorders that keep the two sides apart")
        self._open_logged_action = self._action("Open &logged call…", "Ctrl+L", self._choose_logged)
        self._export_html_action = self._action("Export report as &HTML…", "Ctrl+E",
                                                self._choose_html)
        self._export_pdf_action = self._action("Export report as P&DF…", "Ctrl+Shift+E",
                                               self._choose_pdf)
        self._cancel_action = self._action("&Cancel analysis", "Esc", self.cancel_analysis)
        quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        for action in (self._open_action, self._open_pair_action, self._open_logged_action, None, self._export_html_action,
                       self._export_pdf_action, None, self._cancel_action, None, quit_action):
            if action is None:
                file_menu.addSeparator()
            else:
                file_menu.addAction(action)
        play_menu = self.menuBar().addMenu("&Playback")
        self._play_action = self._action("&Play or pause", "Space", self._toggle_play)
        self._next_action = self._action("&Next event", "N", self.next_event)
        self._previous_action = self._action("P&revious event", "P", self.previous_event)
        self._back_action = self._action(f"&Back {SEEK_STEP_S:g} s", "Left",
                                         lambda: self.seek(self._timeline.cursor_s - SEEK_STEP_S))
        self._forward_action = self._action(f"&Forward {SEEK_STEP_S:g} s", "Right",
                                            lambda: self.seek(self._timeline.cursor_s + SEEK_STEP_S))
        for action in (self._play_action, self._next_action, self._previous_action,
                       self._back_action, self._forward_action):
            play_menu.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        self._zoom_in_action = self._action("Zoom &in", QKeySequence.StandardKey.ZoomIn,
                                            lambda: self._timeline.zoom(2.0))
        self._zoom_out_action = self._action("Zoom &out", QKeySequence.StandardKey.ZoomOut,
                                             lambda: self._timeline.zoom(0.5))
        self._fit_action = self._action("&Whole call", "Ctrl+0", self._timeline.zoom_to_fit)
        for action in (self._zoom_in_action, self._zoom_out_action, self._fit_action):
            view_menu.addAction(action)
        channels_menu = self.menuBar().addMenu("&Channels")
        self._swap_action = self._action(
            "&Swap you and the customer", None, lambda: self.set_swapped(self._swap_action.isChecked()),
            "Analyse the call again with you and the customer the other way round")
        self._swap_action.setCheckable(True)
        self._channels_action = self._action("&Choose channels…", None, self.choose_channels,
                                             "Say which channel is you and which the customer")
        channels_menu.addAction(self._swap_action)
        channels_menu.addAction(self._channels_action)

    def _update_enabled(self) -> None:
        loaded = self._data is not None
        for action in (self._export_html_action, self._export_pdf_action, self._play_action,
                       self._next_action, self._previous_action, self._back_action,
                       self._forward_action, self._zoom_in_action, self._zoom_out_action,
                       self._fit_action):
            action.setEnabled(loaded)
        self._play.setEnabled(loaded)
        self._cancel_action.setEnabled(self.analysing)
        own_file = self._customer_path is None  # the customer is a channel of the recording
        self._swap_action.setEnabled(self._file_channels == 2 if own_file else loaded)
        self._swap_action.setChecked(self._swapped())
        self._channels_action.setEnabled(self._file_channels >= 2 and own_file)

    def _set_title(self, path: Path | None, analysing: bool = False) -> None:
        if path is None:
            self.setWindowTitle(window_title("Review"))
        else:
            names = path.name + (f" + {self._customer_path.name}" if self._customer_path else "")
            self.setWindowTitle(window_title(f"{names}{' (analysing)' if analysing else ''}"))

    # --- analysis

    def _stop_analysis(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.cancel()
            # The worker stops after its current block (milliseconds), so this wait is short.
            thread.wait()
            thread.deleteLater()
        self._progress_row.setVisible(False)

    def _current(self) -> bool:
        return self.sender() is self._thread and self._thread is not None

    @Slot(float)
    def _on_progress(self, fraction: float) -> None:
        if self._current():
            self._progress.setValue(int(fraction * PROGRESS_STEPS))

    @Slot(object)
    def _on_succeeded(self, data: ReviewData) -> None:
        if not self._current():
            return
        self._finish_thread()
        self._data = data
        self._file_channels = data.channels
        self._file_levels = data.channel_levels_dbfs
        report = data.report
        self._timeline.set_report(report, data.envelope)
        self._fill_events(report)
        self._summary.setHtml(summary_html(report, self._settings))
        self._set_title(data.path)
        try:
            layout = data.layout
            self._playback.load(data.path, [layout.agent_channel] + (
                [layout.customer_channel] if layout.customer_channel is not None else []),
                data.customer_path)
        except PlaybackUnavailable as exc:
            self._show_message(str(exc))
        else:
            if not self._playback.available:
                self._show_message(self._playback.message)
        self._on_position(0.0)
        if self._open_view is not None:
            self._timeline.set_view(*self._open_view)
        if self._open_at_s > 0:
            self.seek(self._open_at_s)
        # At the very end play() would start the call over: a swap there stays put, paused.
        if self._open_playing and self._playback.position_s < self._playback.duration_s:
            self._playback.play()
        self._update_enabled()
        self._timeline.setFocus()
        self.analysis_finished.emit(True)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        if not self._current():
            return
        self._finish_thread()
        self._set_title(None)
        self._show_message(text)
        self._update_enabled()
        self.analysis_finished.emit(False)

    @Slot(object)
    def _on_channels_needed(self, levels: list[float | None]) -> None:
        if not self._current():
            return
        self._finish_thread()
        self._file_channels = channels = len(levels)
        self._file_levels = levels
        name = self._path.name if self._path is not None else "The recording"
        self._set_title(self._path)
        self._show_message(f"{name} has {channels} channels: choose which one is you and which "
                           "is the customer (Channels menu).")
        self._update_enabled()
        self.analysis_finished.emit(False)
        self.choose_channels()

    @Slot()
    def _on_cancelled(self) -> None:
        if not self._current():
            return
        path = self._thread.path if self._thread is not None else None
        self._finish_thread()
        self._set_title(None)
        self._show_message(f"Analysis of {path.name if path else 'the call'} cancelled.")
        self._update_enabled()
        self.analysis_finished.emit(False)

    def _finish_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        self._progress_row.setVisible(False)
        self._timeline.clear()  # no longer "Analysing…"; a report, if any, is set next

    def _fill_events(self, report: AnalysisReport) -> None:
        self._events.clear()
        size = self.fontMetrics().height()
        colour = self.palette().color(self.foregroundRole())
        icons = {}
        for i, event in enumerate(report.events):
            if event.kind not in icons:
                icons[event.kind] = QIcon(QPixmap.fromImage(event_icon_image(event.kind, size * 2, colour)))
            text = (f"{clock(event.start_s)}  {EVENT_LABELS[event.kind]}: {event_detail(event)}")
            item = QListWidgetItem(icons[event.kind], text)
            item.setData(Qt.ItemDataRole.UserRole, i)
            self._events.addItem(item)
        if not report.events:
            item = QListWidgetItem(f"No events: {calm_verdict(report)}.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self._events.addItem(item)

    # --- playback and cursor

    def _toggle_play(self) -> None:
        if self._data is not None:
            self._playback.toggle()

    @Slot(float)
    def _on_position(self, t_s: float) -> None:
        self._timeline.set_cursor(t_s)
        duration = self.report.duration_s if self.report is not None else 0.0
        self._position.setText(f"{clock(t_s)} / {clock(duration)}")

    @Slot(bool)
    def _on_playing(self, playing: bool) -> None:
        self._play.setText("&Pause" if playing else "&Play")
        if playing:  # the cursor leaves the point the notice was about
            self._show_notice("")

    def _on_event_item(self, item: QListWidgetItem) -> None:
        index = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(index, int):
            self.jump_to_event(index)

    def _show_message(self, text: str) -> None:
        """Show a message that stays until the next one (a problem, a result); empty clears it.

        The message line keeps its room when empty, so the window does not
        jump when a message comes or goes.
        """
        _show_label_text(self._notice, "")
        _show_label_text(self._message, text)
        if text:
            logger.info("%s", text)

    def _show_notice(self, text: str) -> None:
        """Show a navigation notice until the cursor moves; empty clears it.

        It sits in the transport row, which is as tall with it as without, so
        the window does not jump when N or P finds nothing; and a problem in
        the message line (playback unavailable, say) stays in view.
        """
        _show_label_text(self._notice, text)

    # --- dialogs

    def _open_folder(self) -> str:
        """Where the open dialogs start: the folder of the call under review, else home.

        The process's own folder, where a dialog would start otherwise, is often
        ``/`` or the install folder for an app started from a menu.
        """
        if self.report is not None and (folder := Path(self.report.source).absolute().parent).is_dir():
            return str(folder)
        return str(Path.home())

    def _choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a call recording", self._open_folder(),
                                              AUDIO_FILTER)
        if name:
            self.open_file(Path(name))

    def _choose_pair(self) -> None:
        mine, _ = QFileDialog.getOpenFileName(self, "Open a call: your recording", self._open_folder(),
                                              AUDIO_FILTER)
        if not mine:
            return
        theirs, _ = QFileDialog.getOpenFileName(self, "Open a call: the customer's recording",
                                                str(Path(mine).parent), AUDIO_FILTER)
        if theirs:
            self.open_file(Path(mine), customer_path=Path(theirs))

    def _choose_logged(self) -> None:
        path = self._store_path or default_store_path()
        if not path.exists():
            self._show_message("No call log yet: there are no logged calls to open.")
            return
        try:
            with CallStore(path, read_only=True) as store:
                calls = [c for c in store.calls(limit=1000) if c.recording_path is not None]
        except StoreError as exc:
            self._show_message(str(exc))
            return
        dialog = LoggedCallDialog(calls, self)
        if dialog.list.count() == 0:
            self._show_message("No logged call has a recording (turn recording on to review calls).")
            return
        if dialog.exec() == QDialog.DialogCode.Accepted and (chosen := dialog.selected_path()):
            self.open_file(chosen)

    def _suggested_path(self, suffix: str) -> Path:
        """Where the export dialog starts: beside the recording when that folder takes files.

        The process's own folder, where a dialog would start otherwise, is often
        ``/`` or the install folder for an app started from a menu.
        """
        recording = (Path(self.report.source).absolute() if self.report is not None
                     else Path.home() / "call")
        # Home otherwise, where History's exports start too.
        folder = recording.parent if os.access(recording.parent, os.W_OK) else Path.home()
        return folder / f"{recording.stem}-review{suffix}"

    def _choose_html(self) -> None:
        self._choose_report("html", self.export_html)

    def _choose_pdf(self) -> None:
        self._choose_report("pdf", self.export_pdf)

    def _choose_report(self, kind: str, write: object) -> None:
        """Ask where to save the report as ``kind``, under a name with that format's ending."""
        endings = REPORT_SUFFIXES[kind]
        name, _ = QFileDialog.getSaveFileName(
            self, f"Export report as {kind.upper()}", str(self._suggested_path(endings[0])),
            f"{kind.upper()} ({' '.join('*' + e for e in endings)})")
        if not name:
            return
        path = report_path(Path(name), kind)
        # The dialog asked about replacing the name chosen, not the one the report goes under;
        # a name that cannot take the report (a folder, say) is refused before that question.
        if path != Path(name):
            try:
                self._check_export_target(path, kind)
            except ExportError as exc:
                self._show_message(str(exc))
                return
            if path.exists() and not _confirm(
                    self, f"{path.name} already exists in {path.parent}. Replace it with this report?"):
                self._show_message(f"Report not saved: {path.name} was kept.")
                return
        self._export(write, path)

    def _export(self, write: object, path: Path) -> None:
        try:
            write(path)  # type: ignore[operator]
        except ExportError as exc:
            self._show_message(str(exc))
        else:
            self._show_message(f"Report saved to {path}")

    # --- Qt overrides

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not files:
            return
        event.acceptProposedAction()
        if len(files) > 2:
            self._show_message(f"{len(files)} files dropped: drop one recording of a call, or two "
                               "(yours and the customer's).")
        elif len(files) == 2:
            self.open_file(files[0], customer_path=files[1])
            self._show_message(f"{files[0].name} is taken as yours and {files[1].name} as the "
                               "customer's. If it is the other way round, use Channels ▸ Swap "
                               "you and the customer.")
        else:
            self.open_file(files[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self._stop_analysis()
        self._playback.unload()
        super().closeEvent(event)


def _show_label_text(label: QLabel, text: str) -> None:
    """Show ``text`` in a message or notice label and have screen readers speak it.

    Neither label takes the focus, and one with an accessible name is read out
    by that name alone ("Notice"), so the text goes in its description too, as
    in the live window; and it is announced, since nothing else would read it.
    """
    label.setText(text)
    label.setAccessibleDescription(text)
    announce(label, text)


def _confirm(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(parent, window_title("Export report"), question,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def run_review(path: Path | None, channels: ChannelChoice | None = None,
               customer_path: Path | None = None, *, settings: RuleSettings | None = None,
               store_path: Path | None = None) -> int:
    """Show the review window (opening ``path`` if given) and run the event loop.

    Parameters
    ----------
    path : Path or None
        A recording to open at once.
    channels : ChannelChoice, optional
        Which of its channels carry which party (the usual layout by default;
        a recording with more than two channels then asks in the window).
    customer_path : Path, optional
        The customer's side in a recording of its own.
    settings : RuleSettings, optional
        Rule thresholds for the analysis: the user's, under the IT policy
        (built-in defaults when omitted).
    store_path : Path, optional
        The call log that File ▸ Open logged call lists (the user's by default).

    Returns
    -------
    int
        The application's exit code.
    """
    app = QApplication.instance()
    if app is None:
        keep_qt_settings_private()
        app = QApplication(sys.argv[:1])
    app.setApplicationName("CalmLine")
    window = ReviewWindow(settings=settings, store_path=store_path)
    window.show()
    if path is not None:
        window.open_file(path, channels, customer_path)
    with quit_on_signals(app):  # Ctrl-C in the terminal closes the window
        logger.info("review window open")
        return app.exec()
