"""The tray icon: CalmLine's state at a glance, and its menu.

Each state has its own shape, so the icon reads the same to someone who
cannot tell its colours apart and on light and dark panels alike:

* idle: an empty ring;
* in call: a solid disc;
* cue: a disc inside a ring (a "pulse");
* device problem: a triangle with an exclamation mark;
* paused: two bars.

Where the desktop has no system tray (some Wayland sessions, offscreen test
runs) :class:`TrayController` stays inert and everything it offers remains
reachable from the live window.
"""
from __future__ import annotations

import enum

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon


ICON_SIZES = (16, 22, 24, 32, 48, 64, 128)
"""Pixel sizes drawn for each state, so every panel scale gets a crisp icon."""

PROBLEM_COLOUR = QColor(230, 160, 20)
"""Amber fill of the device-problem triangle, always paired with its shape and "!"."""


class IndicatorState(str, enum.Enum):
    """What the tray icon (and the window icon) shows."""

    IDLE = "idle"
    IN_CALL = "in_call"
    CUE = "cue"
    DEVICE_PROBLEM = "device_problem"
    PAUSED = "paused"


STATE_TEXT: dict[IndicatorState, str] = {
    IndicatorState.IDLE: "Listening, no call",
    IndicatorState.IN_CALL: "In a call",
    IndicatorState.CUE: "Cue showing",
    IndicatorState.DEVICE_PROBLEM: "Audio device problem",
    IndicatorState.PAUSED: "Monitoring paused",
}


def state_icon(state: IndicatorState, palette: QPalette | None = None) -> QIcon:
    """The icon of a state, drawn at every size in :data:`ICON_SIZES`.

    Parameters
    ----------
    state : IndicatorState
        The state to draw.
    palette : QPalette, optional
        Colours to draw with; the application's palette by default.
    """
    palette = palette or QApplication.palette()
    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        _draw(painter, state, QRectF(0, 0, size, size), palette)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def _draw(painter: QPainter, state: IndicatorState, rect: QRectF, palette: QPalette) -> None:
    size = rect.width()
    stroke = max(1.5, size / 10)
    ink = palette.color(QPalette.ColorRole.WindowText)
    accent = palette.color(QPalette.ColorRole.Highlight)
    # A halo in the opposite tone keeps the glyph visible on any panel colour.
    halo = palette.color(QPalette.ColorRole.Window)
    inner = rect.adjusted(stroke, stroke, -stroke, -stroke)
    centre = rect.center()
    if state is IndicatorState.IDLE:
        _ring(painter, inner, ink, halo, stroke)
    elif state is IndicatorState.IN_CALL:
        painter.setPen(QPen(halo, stroke / 2))
        painter.setBrush(accent)
        painter.drawEllipse(inner)
    elif state is IndicatorState.CUE:
        _ring(painter, inner, ink, halo, stroke)
        r = inner.width() * 0.28
        painter.setPen(QPen(halo, stroke / 2))
        painter.setBrush(accent)
        painter.drawEllipse(centre, r, r)
    elif state is IndicatorState.DEVICE_PROBLEM:
        path = QPainterPath()
        path.moveTo(centre.x(), inner.top())
        path.lineTo(inner.right(), inner.bottom())
        path.lineTo(inner.left(), inner.bottom())
        path.closeSubpath()
        painter.setPen(QPen(ink, stroke / 1.5))
        painter.setBrush(PROBLEM_COLOUR)
        painter.drawPath(path)
        mark = QPen(QColor(0, 0, 0), stroke)
        mark.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(mark)
        top = inner.top() + inner.height() * 0.38
        painter.drawLine(QPointF(centre.x(), top),
                         QPointF(centre.x(), inner.top() + inner.height() * 0.68))
        painter.drawPoint(QPointF(centre.x(), inner.top() + inner.height() * 0.84))
    else:
        bar_w = inner.width() * 0.28
        painter.setPen(QPen(halo, stroke / 2))
        painter.setBrush(ink)
        for x in (inner.left() + inner.width() * 0.12, inner.right() - inner.width() * 0.12 - bar_w):
            painter.drawRect(QRectF(x, inner.top(), bar_w, inner.height()))


def _ring(painter: QPainter, rect: QRectF, ink: QColor, halo: QColor, stroke: float) -> None:
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(halo, stroke * 1.8))
    painter.drawEllipse(rect)
    painter.setPen(QPen(ink, stroke))
    painter.drawEllipse(rect)


class TrayController(QObject):
    """The tray icon and its menu, when the desktop has a tray.

    Parameters
    ----------
    parent : QObject, optional
        Qt parent.
    tray_available : bool, optional
        Whether to create the tray icon; asks Qt by default (tests pass False
        or True to exercise both paths).

    Attributes
    ----------
    showRequested, callToggleRequested, breatheRequested, settingsRequested, quitRequested : Signal()
        The menu actions.
    pauseToggled : Signal(bool)
        "Pause monitoring" was checked (True) or unchecked.
    """

    showRequested = Signal()
    callToggleRequested = Signal()
    pauseToggled = Signal(bool)
    breatheRequested = Signal()
    settingsRequested = Signal()
    quitRequested = Signal()

    def __init__(self, parent: QObject | None = None, tray_available: bool | None = None) -> None:
        super().__init__(parent)
        available = (QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None
                     else tray_available)
        self._state = IndicatorState.IDLE
        self.menu = QMenu()
        self.menu.setAccessibleName("CalmLine menu")
        self.show_action = self._action("&Show CalmLine", self.showRequested)
        self.call_action = self._action("&Start call", self.callToggleRequested)
        self.pause_action = QAction("&Pause monitoring", self.menu, checkable=True)
        self.pause_action.toggled.connect(self.pauseToggled)
        self.menu.addAction(self.pause_action)
        self.breathe_action = self._action("&Breathe now", self.breatheRequested)
        self.menu.addSeparator()
        self.settings_action = self._action("S&ettings…", self.settingsRequested)
        self.quit_action = self._action("&Quit CalmLine", self.quitRequested)
        self._icon: QSystemTrayIcon | None = None
        if available:
            self._icon = QSystemTrayIcon(state_icon(self._state), self)
            self._icon.setContextMenu(self.menu)
            self._icon.activated.connect(self._on_activated)
            self._icon.setToolTip(self.tooltip)
            self._icon.show()

    def _action(self, text: str, signal: Signal) -> QAction:
        action = QAction(text, self.menu)
        action.triggered.connect(signal)
        self.menu.addAction(action)
        return action

    @property
    def available(self) -> bool:
        """Whether a tray icon is shown."""
        return self._icon is not None

    @property
    def state(self) -> IndicatorState:
        """The state shown."""
        return self._state

    @property
    def tooltip(self) -> str:
        """The icon's tooltip: the app's name and its state in words."""
        return f"CalmLine: {STATE_TEXT[self._state]}"

    def set_state(self, state: IndicatorState) -> None:
        """Show a state."""
        if state is self._state:
            return
        self._state = state
        if self._icon is not None:
            self._icon.setIcon(state_icon(state))
            self._icon.setToolTip(self.tooltip)

    def set_in_call(self, in_call: bool) -> None:
        """Offer "Stop call" during a call and "Start call" otherwise."""
        self.call_action.setText("S&top call" if in_call else "&Start call")

    def set_paused(self, paused: bool) -> None:
        """Reflect the paused state in the menu without re-emitting it."""
        blocked = self.pause_action.blockSignals(True)
        self.pause_action.setChecked(paused)
        self.pause_action.blockSignals(blocked)
        self.call_action.setEnabled(not paused)

    def hide(self) -> None:
        """Remove the icon from the tray (on quit)."""
        if self._icon is not None:
            self._icon.hide()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.showRequested.emit()
