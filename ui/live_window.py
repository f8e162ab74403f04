"""The live window: a compact panel beside the softphone, or a thin strip.

It shows who is talking (two talk lights, You and Customer), the agent's
loudness against their own baseline with the raised zone marked, a pace
gauge, the call timer and the call's counts, the current cue, and a status
line for device problems with what to do about them.

Three rules shape it:

* Nothing is signalled by colour alone: every light, zone and cue carries a
  word or a shape as well, and every accent comes from the palette, so light
  and dark themes follow the desktop.
* It never takes focus from the softphone. It is shown without activation,
  cue updates only repaint, and while ``passive`` it does not accept focus at
  all, unless the agent asks for it with :meth:`LiveWindow.present` (the tray's
  "Show"); it turns passive again once they leave it.
* It only reacts to signals: all engine output reaches it through
  :class:`~ui.qt_bridge.EngineBridge` on the GUI thread, and every slot
  returns at once.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sounddevice as sd
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QBrush, QCloseEvent, QColor, QFont, QKeySequence, QPainter,
                           QPaintEvent, QPalette, QPen, QPolygonF, QShortcut)
from PySide6.QtWidgets import (QBoxLayout, QHBoxLayout, QLabel, QMenu, QPushButton, QSizePolicy,
                               QToolButton, QVBoxLayout, QWidget)

from models.baseline import Baseline
from models.events import EventKind, Severity
from models.frames import HOP_S, FeatureFrame, PartyFrame
from models.settings import RuleSettings
from ui.announce import announce
from ui.cues import SHORT_LABELS, Cue, CueHold, cue_for, cue_phrase
from ui.tray import IndicatorState, state_icon
from ui.window_titles import window_title

if TYPE_CHECKING:
    # Types only: the engine module pulls in SciPy, which must not delay the window.
    from monitor.engine import LiveEvent, StatusChange

logger = logging.getLogger(__name__)

TALK_HOLD_FRAMES = 3
"""A talk light stays on this many frames after the last speech hop, so it does not flicker between words."""

OVERFLOW_SHOWN_S = 30.0
"""How long an overflow warning stays in the status line, s (it is a one-off, not a state)."""

LOUDNESS_RANGE_LU = (-18.0, 24.0)
"""Loudness meter range, LU relative to the agent's baseline."""

PACE_RANGE_SPS = (0.0, 10.0)
"""Pace gauge range, syllables per second."""

TICK_MS = 250
"""How often held cues and timed status lines are re-checked while any is up, ms."""

STRIP_STATUS_CHARS = 40
"""Average character widths a status headline may take under the strip before it is cut short.

Less than the strip's own row is wide, so the status never widens it."""

_PROBLEM_KINDS = {"microphone_lost": "microphone_restored",
                  "customer_audio_lost": "customer_audio_restored",
                  "agent_not_heard": "agent_heard"}
# The call log or a recording failing: coaching goes on, but the agent should know.
_LOG_PROBLEM_KINDS = ("call_log_failed", "recording_failed", "call_not_logged")
# These concern one call: the next call is recorded and logged again.
_ONE_CALL_PROBLEM_KINDS = ("recording_failed", "call_not_logged")
_WARNING = "\N{WARNING SIGN}"
# U+2139, not the circled i (U+24D8): DejaVu Sans, the usual fallback on Linux, has only this one.
_INFO = "\N{INFORMATION SOURCE}"
_MIC_ONLY_TEXT = ("Mic-only: no customer audio, so interruption and monologue cues are off. "
                  "Choose the customer's audio in Settings to turn them on.")


def play_soft_chime() -> None:
    """Play a short, quiet chime on the default output, on a thread of its own.

    Opening an output stream can take tens of milliseconds, which the GUI
    thread must not spend.
    """
    threading.Thread(target=_play_chime, name="calmline-chime", daemon=True).start()


def _play_chime() -> None:
    sr_hz = 22050
    t = np.arange(int(0.35 * sr_hz)) / sr_hz
    # A sine-squared envelope: no click at either end, nothing startling.
    envelope = np.sin(np.pi * t / t[-1]) ** 2
    tone = 0.04 * envelope * (np.sin(2 * np.pi * 660 * t) + 0.5 * np.sin(2 * np.pi * 990 * t))
    try:
        sd.play(tone.astype(np.float32), sr_hz, blocking=True)
    except (sd.PortAudioError, ValueError, OSError) as exc:
        logger.debug("cue chime not played: %s", exc)


def _scaled_font(base: QFont, factor: float, bold: bool = False) -> QFont:
    font = QFont(base)
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * factor)
    else:
        font.setPixelSize(max(1, round(font.pixelSize() * factor)))
    font.setBold(bold)
    return font


def _clock_text(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class TalkLight(QWidget):
    """One party's talk light: a glyph plus words, never colour alone.

    The glyph is a solid disc while the party speaks, an empty ring while they
    are quiet, a dashed ring while the line carries music or ringing instead
    of a voice, and a slashed ring when their side is not monitored.

    Parameters
    ----------
    party : str
        "You" or "Customer".
    parent : QWidget, optional
        Qt parent.
    """

    SPEAKING = "speaking"
    QUIET = "quiet"
    LINE_SOUND = "music or ringing"
    OFF = "not monitored"

    def __init__(self, party: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._party = party
        self._state = self.QUIET
        self._compact = False
        self.setAccessibleName(f"{party} talk light")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._describe()

    @property
    def state(self) -> str:
        """``speaking``, ``quiet``, ``music or ringing`` or ``not monitored``."""
        return self._state

    @property
    def text(self) -> str:
        """What the light says."""
        return self._party if self._compact else f"{self._party}: {self._state}"

    def set_state(self, state: str) -> None:
        """Show a state (one of the class constants)."""
        if state != self._state:
            self._state = state
            self._describe()
            self.update()

    def set_compact(self, compact: bool) -> None:
        """Name only (the glyph carries the state), for the strip."""
        self._compact = compact
        self.updateGeometry()
        self.update()

    def _describe(self) -> None:
        self.setAccessibleDescription(f"{self._party}: {self._state}")
        self.setToolTip(f"{self._party}: {self._state}")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        glyph = fm.height()
        widest = max((f"{self._party}: {s}"
                      for s in (self.SPEAKING, self.QUIET, self.LINE_SOUND, self.OFF)),
                     key=fm.horizontalAdvance)
        text_w = fm.horizontalAdvance(self._party if self._compact else widest)
        return QSize(glyph + fm.averageCharWidth() + text_w + 2, fm.height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = self.fontMetrics()
        d = fm.height() * 0.8
        pen_w = max(1.0, d / 8)
        top = (self.height() - d) / 2
        glyph = QRectF(pen_w, top, d - pen_w, d - pen_w)
        ink = self.palette().color(QPalette.ColorRole.WindowText)
        pen = QPen(ink, pen_w)
        if self._state == self.LINE_SOUND:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        if self._state == self.SPEAKING:
            painter.setBrush(self.palette().color(QPalette.ColorRole.Highlight))
        else:
            painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(glyph)
        if self._state == self.OFF:
            painter.drawLine(glyph.bottomLeft(), glyph.topRight())
        painter.setPen(ink)
        text_x = int(d + fm.averageCharWidth())
        painter.drawText(QRectF(text_x, 0, self.width() - text_x, self.height()),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, self.text)


def _within_hold(index: int, last: int | None) -> bool:
    """Whether frame ``index`` is within the talk lights' hold after frame ``last``."""
    return last is not None and 0 <= index - last < TALK_HOLD_FRAMES


class ZoneMeter(QWidget):
    """A horizontal meter with a hatched, labelled zone (raised, fast).

    Parameters
    ----------
    lo, hi : float
        Range of the scale.
    zone_label : str
        Word written in the zone, so it is not marked by colour or hatching alone.
    needle : bool
        Draw the value as a needle (a gauge) rather than a filled bar.
    parent : QWidget, optional
        Qt parent.
    """

    def __init__(self, lo: float, hi: float, zone_label: str, needle: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lo, self._hi = lo, hi
        self._zone_label = zone_label
        self._needle = needle
        self._zone_from = hi
        self._marks: tuple[float, ...] = ()
        self._value: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def value(self) -> float | None:
        """The value shown; None shows an empty meter."""
        return self._value

    def set_value(self, value: float | None) -> None:
        """Show a value (clamped to the scale when drawn)."""
        if value != self._value:
            self._value = value
            self.update()

    def set_zone(self, zone_from: float, marks: tuple[float, ...] = ()) -> None:
        """Where the zone starts and where to draw reference ticks."""
        self._zone_from, self._marks = zone_from, marks
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        return QSize(fm.averageCharWidth() * 24, round(fm.height() * 1.3))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        fm = self.fontMetrics()
        return QSize(fm.averageCharWidth() * 12, round(fm.height() * 1.3))

    def _x(self, value: float, rect: QRectF) -> float:
        frac = (min(max(value, self._lo), self._hi) - self._lo) / (self._hi - self._lo)
        return rect.left() + frac * rect.width()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        ink = pal.color(QPalette.ColorRole.WindowText)
        rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(pal.color(QPalette.ColorRole.Base))
        painter.drawRect(rect)
        zone = QRectF(self._x(self._zone_from, rect), rect.top(),
                      rect.right() - self._x(self._zone_from, rect), rect.height())
        hatch = QColor(ink)
        hatch.setAlphaF(0.45)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(hatch, Qt.BrushStyle.BDiagPattern))
        painter.drawRect(zone)
        painter.setPen(QPen(ink, 1))
        painter.drawLine(zone.topLeft(), zone.bottomLeft())
        for mark in self._marks:
            x = self._x(mark, rect)
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.top() + rect.height() * 0.3))
            painter.drawLine(QPointF(x, rect.bottom() - rect.height() * 0.3),
                             QPointF(x, rect.bottom()))
        if self._value is not None:
            self._paint_value(painter, rect, ink, self._value)
        self._paint_zone_label(painter, zone, ink)

    def _paint_zone_label(self, painter: QPainter, zone: QRectF, ink: QColor) -> None:
        # Painted last, on its own backing, so a bar reaching into the zone never hides it.
        fm = self.fontMetrics()
        width = fm.horizontalAdvance(self._zone_label) + 6
        if zone.width() <= width:
            return
        label = QRectF(zone.right() - width - 1, zone.center().y() - fm.height() / 2,
                       width, fm.height())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.palette().color(QPalette.ColorRole.Base))
        painter.drawRect(label)
        painter.setPen(QPen(ink, 1))
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, self._zone_label)

    def _paint_value(self, painter: QPainter, rect: QRectF, ink: QColor, value: float) -> None:
        pal = self.palette()
        x = self._x(value, rect)
        accent = pal.color(QPalette.ColorRole.Highlight)
        if self._needle:
            painter.setPen(QPen(ink, max(2.0, rect.height() / 10)))
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            tri = rect.height() * 0.3
            painter.setBrush(ink)
            painter.drawPolygon(QPolygonF([QPointF(x - tri, rect.top()), QPointF(x + tri, rect.top()),
                                           QPointF(x, rect.top() + tri)]))
        else:
            bar = QRectF(rect.left(), rect.top() + rect.height() * 0.2,
                         x - rect.left(), rect.height() * 0.6)
            painter.setPen(QPen(ink, 1))
            painter.setBrush(accent)
            painter.drawRect(bar)


@dataclass
class _StatusLines:
    """What the status line says, by source; joined in a fixed order."""

    problems: dict[str, str]
    overflow: str = ""
    overflow_until_s: float = 0.0
    mic_only: bool = False
    notice: str = ""

    def text(self) -> str:
        lines = [f"{_WARNING} {text}" for text in self.problems.values()]
        if self.overflow:
            lines.append(f"{_WARNING} {self.overflow}")
        if self.mic_only:
            lines.append(f"{_INFO} {_MIC_ONLY_TEXT}")
        if self.notice:
            lines.append(f"{_INFO} {self.notice}")
        return "\n".join(lines)


class LiveWindow(QWidget):
    """The live window.

    Parameters
    ----------
    rules : RuleSettings
        Thresholds, for the zones of the meters.
    passive : bool
        Refuse focus unless :meth:`present` is called: use it when another way
        to reach the window by keyboard exists (the tray).
    hide_on_close : bool
        Closing hides the window (the tray brings it back); otherwise closing
        asks to quit.
    chime : callable
        Plays the optional cue sound; must return at once.
    clock : callable
        Monotonic time in seconds (injectable for tests).
    parent : QWidget, optional
        Qt parent.

    Attributes
    ----------
    callToggleRequested, breatheRequested, settingsRequested, historyRequested, calibrateRequested, reviewRequested, quitRequested : Signal()
        The agent's actions.
    pauseToggled : Signal(bool)
        "Pause monitoring" was checked or unchecked.
    indicatorChanged : Signal(IndicatorState)
        The state the tray should show changed.
    frameShown : Signal()
        A frame has updated the meters.
    """

    callToggleRequested = Signal()
    breatheRequested = Signal()
    settingsRequested = Signal()
    historyRequested = Signal()
    calibrateRequested = Signal()
    reviewRequested = Signal()
    quitRequested = Signal()
    pauseToggled = Signal(bool)
    indicatorChanged = Signal(object)
    frameShown = Signal()

    def __init__(self, rules: RuleSettings, *, passive: bool = True, hide_on_close: bool = False,
                 chime: Callable[[], None] = play_soft_chime,
                 clock: Callable[[], float] = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rules = rules
        self._passive = passive
        self._presented = False
        self._on_top = False
        self._hide_on_close = hide_on_close
        self._chime = chime
        self._cue_sound = False
        self._clock = clock
        self._strip = False
        self._paused = False
        self._in_call = False
        self._call_start_s: float | None = None
        self._elapsed_s = 0.0
        self._counts: dict[EventKind, int] = {}
        self._counted: set[tuple[EventKind, float]] = set()
        self._last_speech: dict[str, int] = {}
        self._last_line_sound: int | None = None
        self._hold = CueHold()
        self._cue: Cue | None = None
        self._status = _StatusLines({})
        self._indicator = IndicatorState.IDLE

        self.setObjectName("live_window")
        self.setWindowTitle("CalmLine")
        self.setAccessibleName("CalmLine live window")
        self.setWindowIcon(state_icon(self._indicator))
        # Appearing (at launch, or when a cue arrives) must not take focus from the softphone.
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self._build()
        self._apply_flags()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.set_rules(rules)
        self._refresh_texts()

    # -- construction --------------------------------------------------------------

    def _build(self) -> None:
        self.you_light = TalkLight("You")
        self.customer_light = TalkLight("Customer")
        self.timer_label = QLabel("No call")
        self.timer_label.setAccessibleName("Call timer")
        self.timer_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lights = QHBoxLayout()
        lights.addWidget(self.you_light)
        lights.addWidget(self.customer_light)
        lights.addStretch(1)
        lights.addWidget(self.timer_label)

        self.cue_label = QLabel()
        self.cue_label.setAccessibleName("Cue")
        self.cue_label.setFont(_scaled_font(self.font(), 1.6, bold=True))
        self.cue_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cue_label.setMargin(self.fontMetrics().height() // 4)
        self.cue_label.setMinimumHeight(self.cue_label.sizeHint().height())
        self.cue_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.cue_label.setForegroundRole(QPalette.ColorRole.HighlightedText)
        self.cue_label.setBackgroundRole(QPalette.ColorRole.Highlight)
        self._reserve_widths()

        self.loudness_caption = QLabel()
        self.loudness_caption.setAccessibleName("Loudness")
        self.loudness_meter = ZoneMeter(*LOUDNESS_RANGE_LU, "raised")
        self.loudness_meter.setAccessibleName("Loudness against your normal level")
        loud_box = QVBoxLayout()
        loud_box.setSpacing(0)
        loud_box.addWidget(self.loudness_caption)
        loud_box.addWidget(self.loudness_meter)

        self.pace_caption = QLabel()
        self.pace_caption.setAccessibleName("Pace")
        self.pace_meter = ZoneMeter(*PACE_RANGE_SPS, "fast", needle=True)
        self.pace_meter.setAccessibleName("Pace gauge")
        self._pace_box = QWidget()
        pace_box = QVBoxLayout(self._pace_box)
        pace_box.setContentsMargins(0, 0, 0, 0)
        pace_box.setSpacing(0)
        pace_box.addWidget(self.pace_caption)
        pace_box.addWidget(self.pace_meter)

        self.counts_label = QLabel()
        self.counts_label.setAccessibleName("This call's counts")
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.call_button = QPushButton("&Start call")
        self.call_button.setAccessibleName("Start or stop a call")
        self.call_button.setToolTip("Start or stop a call by hand (C)")
        self.call_button.clicked.connect(self.callToggleRequested)
        self.breathe_button = QPushButton("&Breathe")
        self.breathe_button.setAccessibleName("Breathe now")
        self.breathe_button.setToolTip("A short guided breathing exercise (B)")
        self.breathe_button.clicked.connect(self.breatheRequested)
        self.strip_button = QToolButton()
        self.strip_button.setText("S&trip")
        self.strip_button.setCheckable(True)
        self.strip_button.setAccessibleName("Thin strip mode")
        self.strip_button.setToolTip("Shrink to a thin strip, or back (T)")
        self.strip_button.toggled.connect(self.set_strip_mode)
        self.pin_button = QToolButton()
        self.pin_button.setText("&Pin")
        self.pin_button.setCheckable(True)
        self.pin_button.setAccessibleName("Keep on top")
        self.pin_button.setToolTip("Keep this window above other windows (P)")
        self.pin_button.toggled.connect(self.set_stay_on_top)
        self.more_button = QToolButton()
        self.more_button.setText("&More")
        self.more_button.setAccessibleName("More actions")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more_button.setMenu(self._more_menu())
        self._buttons = QWidget()
        buttons = QHBoxLayout(self._buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.call_button, self.breathe_button, self.strip_button, self.pin_button,
                       self.more_button):
            buttons.addWidget(button)

        self._outer = QVBoxLayout(self)
        self._root = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self._outer.addLayout(self._root)
        self._root.addLayout(lights)
        self._root.addWidget(self.cue_label)
        self._root.addLayout(loud_box)
        self._root.addWidget(self._pace_box)
        self._root.addWidget(self.counts_label)
        self._root.addWidget(self.status_label)
        self._root.addWidget(self._buttons)
        self._shortcuts()

    def _reserve_widths(self) -> None:
        # Room for the longest usual texts from the start: "No call" turning into
        # "Last call 04:12", or a cue appearing in the strip, must not push the window
        # wider, towards the softphone.
        clock = _clock_text(59 * 60)
        timer_fm = self.timer_label.fontMetrics()
        timer_texts = (clock, "No call") if self._strip else (f"Last call {clock}",)
        self.timer_label.setMinimumWidth(max(timer_fm.horizontalAdvance(t) for t in timer_texts))
        if self._strip:
            cue_fm = self.cue_label.fontMetrics()
            widest_px = max(cue_fm.horizontalAdvance(cue_phrase(kind, severity))
                            for kind in EventKind for severity in Severity)
            self.cue_label.setMinimumWidth(widest_px + 2 * self.cue_label.margin())
        else:
            self.cue_label.setMinimumWidth(0)
        for label in (self.timer_label, self.cue_label):
            # A label keeps the size hint it worked out under its old minimum width until
            # its text or format changes; setting its indent again makes it measure anew.
            label.setIndent(label.indent())

    def _more_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.setAccessibleName("More actions")
        self.settings_action = QAction("S&ettings…", self)
        self.settings_action.triggered.connect(self.settingsRequested)
        self.history_action = QAction("&History…", self)
        self.history_action.triggered.connect(self.historyRequested)
        self.calibrate_action = QAction("&Calibrate my voice…", self)
        self.calibrate_action.triggered.connect(self.calibrateRequested)
        self.review_action = QAction("&Review a recording…", self)
        self.review_action.triggered.connect(self.reviewRequested)
        self.sound_action = QAction("Soft &sound with cues", self, checkable=True)
        self.sound_action.toggled.connect(self.set_cue_sound)
        self.pause_action = QAction("P&ause monitoring", self, checkable=True)
        self.pause_action.toggled.connect(self.pauseToggled)
        self.quit_action = QAction("&Quit CalmLine", self)
        self.quit_action.triggered.connect(self.quitRequested)
        for action in (self.settings_action, self.history_action, self.review_action,
                       self.calibrate_action, self.sound_action, self.pause_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.quit_action)
        return menu

    def _shortcuts(self) -> None:
        # No text fields here, so single keys are safe and quickest to reach.
        bindings: list[tuple[str, Callable[[], None]]] = [
            ("C", self.call_button.click),
            ("B", self.breathe_button.click),
            ("T", self.strip_button.toggle),
            ("P", self.pin_button.toggle),
            ("H", self.historyRequested.emit),
            ("Ctrl+,", self.settingsRequested.emit),
            ("Ctrl+Q", self.quitRequested.emit),
        ]
        for keys, slot in bindings:
            QShortcut(QKeySequence(keys), self, activated=slot)

    # -- public state ------------------------------------------------------------

    @property
    def in_call(self) -> bool:
        """Whether a call is under way."""
        return self._in_call

    @property
    def mic_only(self) -> bool:
        """Whether only the microphone is monitored."""
        return self._status.mic_only

    @property
    def strip_mode(self) -> bool:
        """Whether the window is a thin strip."""
        return self._strip

    @property
    def stays_on_top(self) -> bool:
        """Whether the window asks to stay above others."""
        return self._on_top

    @property
    def current_cue(self) -> Cue | None:
        """The cue on screen."""
        return self._cue

    @property
    def counts(self) -> dict[EventKind, int]:
        """This call's (or the last call's) events by kind."""
        return dict(self._counts)

    @property
    def status_text(self) -> str:
        """The status line in full (the strip shows only its headlines)."""
        return self._status.text()

    @property
    def indicator_state(self) -> IndicatorState:
        """The state the tray shows."""
        return self._indicator

    # -- engine output (GUI thread) -----------------------------------------------

    def show_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        """Update lights, meters and the timer from the latest frame."""
        if self._paused:
            return
        self._light(self.you_light, "agent", frame.agent, frame.index)
        if frame.customer is not None:
            self._light(self.customer_light, "customer", frame.customer, frame.index)
        if self._in_call and self._call_start_s is not None:
            self._elapsed_s = frame.t_s + HOP_S - self._call_start_s
            self._refresh_timer()
        self._show_loudness(frame.agent, baseline)
        self._show_pace(frame.agent, baseline)
        self.frameShown.emit()

    def show_event(self, live: LiveEvent) -> None:
        """Count an event and show its cue, if it calls for one."""
        if self._paused:
            return
        event = live.update.event
        key = (event.kind, event.start_s)
        if key not in self._counted:
            self._counted.add(key)
            self._counts[event.kind] = self._counts.get(event.kind, 0) + 1
            self._refresh_counts()
        cue = cue_for(live.update)
        if cue is None:
            return
        if self._hold.offer(cue, self._clock()):
            self._show_cue(self._hold.current(self._clock()), chime=True)

    def show_status(self, status: StatusChange) -> None:
        """Reflect a status change: calls, mic-only, device problems."""
        kind = status.kind
        if kind == "monitoring_stopped":
            self._set_in_call(False)
            # No more frames will come to replace the last reading.
            self.loudness_meter.set_value(None)
            self.pace_meter.set_value(None)
            self._set_caption(self.loudness_caption, "Loudness: not listening")
            self._set_caption(self.pace_caption, "Pace: not listening")
            # A restarted engine numbers its frames from 0 again.
            self._last_speech.clear()
            self._last_line_sound = None
            self._status.mic_only = False  # the next engine says again if it has no customer
            self._status.problems.clear()
            self._status.overflow = ""
            for light in (self.you_light, self.customer_light):
                if light.state == TalkLight.SPEAKING:
                    light.set_state(TalkLight.QUIET)
        elif kind == "mic_only":
            self._status.mic_only = True
            self.customer_light.set_state(TalkLight.OFF)
        elif kind == "call_started":
            self._counts.clear()
            self._counted.clear()
            self._call_start_s = status.t_s
            self._elapsed_s = 0.0
            self._set_in_call(True)
            for one_call in _ONE_CALL_PROBLEM_KINDS:
                self._status.problems.pop(one_call, None)
        elif kind == "call_ended":
            self._set_in_call(False)
        elif kind in _PROBLEM_KINDS:
            if kind not in self._status.problems:
                announce(self.status_label, status.detail)
            self._status.problems[kind] = status.detail
        elif kind in _LOG_PROBLEM_KINDS:
            if self._status.problems.get(kind) != status.detail:
                announce(self.status_label, status.detail)
            self._status.problems[kind] = status.detail
        elif kind in _PROBLEM_KINDS.values():
            lost = next(k for k, v in _PROBLEM_KINDS.items() if v == kind)
            self._status.problems.pop(lost, None)
        elif kind == "level_shift":
            self._status.notice = status.detail
        elif kind == "overflow":
            self._status.overflow = status.detail
            self._status.overflow_until_s = self._clock() + OVERFLOW_SHOWN_S
            self._timer.start()
        self._refresh_texts()

    # -- settings and modes --------------------------------------------------------

    @property
    def rules(self) -> RuleSettings:
        """The thresholds the meters' zones show."""
        return self._rules

    def set_rules(self, rules: RuleSettings) -> None:
        """Use new thresholds for the meters' zones."""
        self._rules = rules
        self.loudness_meter.set_zone(rules.raised_voice_lu, (0.0, rules.loud_lu))
        self.pace_meter.set_zone(rules.fast_speech_floor_sps)

    def set_notice(self, text: str) -> None:
        """An information line (demo mode, replay finished, settings problem); "" clears it."""
        self._status.notice = text
        self._refresh_texts()

    def set_paused(self, paused: bool) -> None:
        """Show monitoring as paused (the engine stopped, or a replay held) or resumed."""
        self._paused = paused
        blocked = self.pause_action.blockSignals(True)
        self.pause_action.setChecked(paused)
        self.pause_action.blockSignals(blocked)
        self.call_button.setEnabled(not paused)
        if paused:
            self._hold.clear()
            self._show_cue(None, chime=False)
            for light in (self.you_light, self.customer_light):
                light.set_state(TalkLight.OFF)
            self.loudness_meter.set_value(None)
            self.pace_meter.set_value(None)
            self._set_caption(self.loudness_caption, "Loudness: paused")
            self._set_caption(self.pace_caption, "Pace: paused")
            self._status.notice = "Monitoring paused: CalmLine is not listening."
        else:
            self.you_light.set_state(TalkLight.QUIET)
            self.customer_light.set_state(TalkLight.OFF if self._status.mic_only
                                          else TalkLight.QUIET)
            self._status.notice = ""
        self._refresh_texts()

    def set_cue_sound(self, enabled: bool) -> None:
        """Play a soft sound with each new cue, or not."""
        self._cue_sound = enabled
        blocked = self.sound_action.blockSignals(True)
        self.sound_action.setChecked(enabled)
        self.sound_action.blockSignals(blocked)

    def set_strip_mode(self, strip: bool) -> None:
        """Shrink to a thin one-row strip (lights, timer, cue, loudness, status), or back."""
        self._strip = strip
        if self.strip_button.isChecked() != strip:
            self.strip_button.setChecked(strip)
        self._root.setDirection(QBoxLayout.Direction.LeftToRight if strip
                                else QBoxLayout.Direction.TopToBottom)
        # In the strip the status rows go under it, so that however many problems
        # there are, they never widen it past the screen.
        self._outer.removeWidget(self.status_label)
        self._root.removeWidget(self.status_label)
        if strip:
            self._outer.addWidget(self.status_label)
        else:
            self._root.insertWidget(self._root.indexOf(self._buttons), self.status_label)
        for widget in (self._pace_box, self.counts_label, self.loudness_caption,
                       self.call_button, self.breathe_button, self.pin_button, self.more_button):
            widget.setVisible(not strip)
        # Buttons hidden in a window not shown yet (the strip restored at start-up) do not
        # tell the layout that holds their row, which would keep the panel's width for it.
        self._buttons.updateGeometry()
        for light in (self.you_light, self.customer_light):
            light.set_compact(strip)
        self.status_label.setWordWrap(not strip)
        self.cue_label.setFont(_scaled_font(self.font(), 1.2 if strip else 1.6, bold=True))
        self._reserve_widths()
        self._refresh_texts()
        self.adjustSize()
        self.resize(self.sizeHint())

    def set_stay_on_top(self, on_top: bool) -> None:
        """Keep the window above the softphone, or not."""
        self._on_top = on_top
        if self.pin_button.isChecked() != on_top:
            self.pin_button.setChecked(on_top)
        self._apply_flags()

    def present(self) -> None:
        """Show and activate the window for keyboard use (the agent asked for it)."""
        self._presented = True
        self._apply_flags()
        self.show()
        self.raise_()
        self.activateWindow()

    # -- Qt events -----------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self._presented \
                and not self.isActiveWindow():
            self._presented = False
            # Not from inside the activation change itself: changing flags there re-enters it.
            QTimer.singleShot(0, self._apply_flags)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._hide_on_close:
            event.ignore()
            self.hide()
        else:
            event.accept()
            self.quitRequested.emit()

    # -- internals -------------------------------------------------------------------

    def _apply_flags(self) -> None:
        flags = Qt.WindowType.Window
        if self._on_top:
            flags |= Qt.WindowType.WindowStaysOnTopHint
        if self._passive and not self._presented:
            flags |= Qt.WindowType.WindowDoesNotAcceptFocus
        handle = self.windowHandle()
        if handle is None:
            self.setWindowFlags(flags)
        else:
            # QWidget.setWindowFlags would hide and recreate the window; the
            # QWindow updates the existing one in place.
            self.overrideWindowFlags(flags)
            handle.setFlags(flags)

    def _light(self, light: TalkLight, party: str, frame: PartyFrame, index: int) -> None:
        if frame.speech:
            self._last_speech[party] = index
        if frame.line_sound:
            self._last_line_sound = index
        if _within_hold(index, self._last_speech.get(party)):
            light.set_state(TalkLight.SPEAKING)
        elif party == "customer" and _within_hold(index, self._last_line_sound):
            light.set_state(TalkLight.LINE_SOUND)
        else:
            light.set_state(TalkLight.QUIET)

    def _show_loudness(self, agent: PartyFrame, baseline: Baseline | None) -> None:
        if baseline is None or not math.isfinite(baseline.loudness_lufs):
            self.loudness_meter.set_value(None)
            self._set_caption(self.loudness_caption, "Loudness: learning your normal level")
            return
        if agent.momentary_lufs is None:
            self.loudness_meter.set_value(None)
            self._set_caption(self.loudness_caption, "Loudness: silence")
            return
        relative = agent.momentary_lufs - baseline.loudness_lufs
        self.loudness_meter.set_value(relative)
        zone = " (raised)" if relative >= self._rules.raised_voice_lu and agent.speech else ""
        learning = "" if baseline.calibrated else ", still learning"
        shown_db = round(relative) or 0  # -0.3 reads "+0", not "-0"
        # Loudness units step like decibels, and "dB" is a word an agent may know.
        self._set_caption(self.loudness_caption,
                          f"Loudness: {shown_db:+d} dB from your normal{zone}{learning}")
        self.loudness_meter.setAccessibleDescription(self.loudness_caption.text())

    def _show_pace(self, agent: PartyFrame, baseline: Baseline | None) -> None:
        threshold = self._rules.fast_speech_floor_sps
        if baseline is not None and baseline.rate_sps is not None:
            threshold = max(threshold, self._rules.fast_speech_ratio * baseline.rate_sps)
        self.pace_meter.set_zone(threshold)
        if not self._in_call:
            # The pace is of the agent's recent speech; between calls that is the last
            # call's, which would read as the pace now.
            self.pace_meter.set_value(None)
            self._set_caption(self.pace_caption, "Pace: shown during calls")
            return
        if agent.rate_sps is None:
            self.pace_meter.set_value(None)
            self._set_caption(self.pace_caption, "Pace: listening")
            return
        self.pace_meter.set_value(agent.rate_sps)
        zone = " (fast)" if agent.rate_sps >= threshold else ""
        self._set_caption(self.pace_caption, f"Pace: {agent.rate_sps:.1f} syllables/s{zone}")
        self.pace_meter.setAccessibleDescription(self.pace_caption.text())

    @staticmethod
    def _set_caption(label: QLabel, text: str) -> None:
        # Unchanged text must not trigger a relayout ten times a second.
        if label.text() != text:
            label.setText(text)

    def _set_in_call(self, in_call: bool) -> None:
        self._in_call = in_call
        self.call_button.setText("S&top call" if in_call else "&Start call")
        if not in_call:
            self._hold.clear()
            self._show_cue(None, chime=False)
        self._refresh_timer()
        self._refresh_counts()

    def _show_cue(self, cue: Cue | None, chime: bool) -> None:
        changed = cue != self._cue
        self._cue = cue
        if cue is None:
            self.cue_label.setText("")
            self.cue_label.setToolTip("")
            self.cue_label.setAccessibleDescription("No cue")
            self.cue_label.setAutoFillBackground(False)
        else:
            self.cue_label.setText(cue.phrase)
            self.cue_label.setToolTip(cue.explanation)
            self.cue_label.setAccessibleDescription(cue.explanation)
            # The accent background always comes with the words themselves.
            self.cue_label.setAutoFillBackground(True)
            self._timer.start()
            if changed:
                announce(self.cue_label, cue.phrase)
            if chime and changed and self._cue_sound:
                self._chime()
        self._update_indicator()

    def _tick(self) -> None:
        now = self._clock()
        cue = self._hold.current(now)
        if cue != self._cue:
            self._show_cue(cue, chime=True)
        if self._status.overflow and now >= self._status.overflow_until_s:
            self._status.overflow = ""
            self._refresh_texts()
        if self._cue is None and not self._status.overflow:
            self._timer.stop()

    def _refresh_timer(self) -> None:
        clock = _clock_text(self._elapsed_s)
        if self._in_call:
            text = f"In call {clock}"
        elif self._call_start_s is not None:
            text = f"Last call {clock}"
        else:
            text = "No call"
        # The strip keeps the running clock only; the words are in the tooltip.
        shown = (clock if self._in_call else "No call") if self._strip else text
        self._set_caption(self.timer_label, shown)
        if self.timer_label.toolTip() != text:
            self.timer_label.setToolTip(text)
            self.timer_label.setAccessibleDescription(text)

    def _refresh_counts(self) -> None:
        kinds = [EventKind.RAISED_VOICE, EventKind.FAST_SPEECH]
        if not self._status.mic_only:
            kinds += [EventKind.INTERRUPTION, EventKind.MONOLOGUE]
        kinds.append(EventKind.BREATHING_PROMPT)
        prefix = "This call" if self._in_call else "Last call" if self._call_start_s is not None \
            else "Counts"
        parts = " · ".join(f"{SHORT_LABELS[k]} {self._counts.get(k, 0)}" for k in kinds)
        self._set_caption(self.counts_label, f"{prefix}: {parts}")

    def _refresh_texts(self) -> None:
        text = self._status.text()
        shown = self._strip_status(text) if self._strip else text
        self.status_label.setText(shown)
        self.status_label.setToolTip(text)
        self.status_label.setVisible(bool(text))
        self.status_label.setAccessibleDescription(text)
        self._fit_height()
        self._refresh_timer()
        self._refresh_counts()
        state = "In call" if self._in_call else "Paused" if self._paused else ""
        self.setWindowTitle(window_title(state))
        self._update_indicator()

    def _strip_status(self, text: str) -> str:
        # The strip keeps each line's headline ("Microphone lost"), one a row, and cuts
        # a long one short rather than grow wider than its row; the rest is in the tooltip.
        fm = self.status_label.fontMetrics()
        room_px = fm.averageCharWidth() * STRIP_STATUS_CHARS
        return "\n".join(fm.elidedText(line.split(":")[0], Qt.TextElideMode.ElideRight, room_px)
                         for line in text.splitlines())

    def _fit_height(self) -> None:
        if self._strip:
            # The strip is as tall as its status rows, and thin again when they clear
            # (the layout first lowers the window's minimum height to match). A hidden
            # window is sized when it is shown; its layout is not to be settled before.
            if self.isVisible():
                self._outer.activate()
                self.resize(self.width(), self.minimumSizeHint().height())
            return
        # A top-level window does not grow by itself when a wrapped status line
        # needs another row; without this the advice at its end is cut off.
        needed = self._outer.totalHeightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _update_indicator(self) -> None:
        if self._paused:
            state = IndicatorState.PAUSED
        elif self._status.overflow or any(k in _PROBLEM_KINDS for k in self._status.problems):
            # The call log or a recording failing is said in the window, not as an
            # audio device problem: coaching, which the indicator is about, goes on.
            state = IndicatorState.DEVICE_PROBLEM
        elif self._cue is not None:
            state = IndicatorState.CUE
        elif self._in_call:
            state = IndicatorState.IN_CALL
        else:
            state = IndicatorState.IDLE
        if state is not self._indicator:
            self._indicator = state
            self.setWindowIcon(state_icon(state))
            self.indicatorChanged.emit(state)
