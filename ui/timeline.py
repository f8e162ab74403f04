"""The review timeline: one time axis for both parties, painted with QPainter.

Lanes, top to bottom: event markers, each party's waveform envelope, the
agent's loudness against their baseline (raised-voice zone hatched), the
agent's pace against the fast-speech threshold, and both parties' speech
activity with overtalk hatched (music or ringing on the customer's line is
dotted: sound, but not the customer talking). Nothing relies on colour alone: lanes carry
text labels, event kinds have distinct glyph shapes, zones have hatch
patterns, and a legend in words sits under the plot.

Sizes come from the font metrics, so the timeline scales with the screen's
DPI and the user's font size; colours come from the palette, so it follows the
light or dark theme of the desktop.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter,
                           QPainterPath, QPaintEvent, QPalette, QPen, QPixmap, QPolygonF,
                           QWheelEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

from models.events import EventKind
from models.report import AnalysisReport
from models.settings import RuleSettings
from ui.summary_text import EVENT_LABELS

ENVELOPE_MAX_BINS = 20000
"""Most envelope bins kept per party: 0.18 s per bin for an hour, 10 ms for short calls."""
ENVELOPE_BIN_S = 0.01
"""Finest envelope bin in seconds; finer would not show at any useful zoom."""
MIN_VIEW_S = 2.0
"""Narrowest zoomed view in seconds: about 20 hops, still readable."""
PACE_TOP_SPS = 10.0
"""Top of the pace lane in syllables/s: well above any real speaking rate."""
LOUDNESS_SPAN_LU = 24.0
"""The loudness lane shows the baseline plus and minus this many LU."""
WHEEL_PAN_FRACTION = 0.1
"""One wheel notch pans a zoomed view by this fraction of its span."""
EMPTY_TIMELINE_TEXT = "Open a call recording (File > Open, or drop a file here)"
"""What the timeline says while no call is open."""
BASELINE_LABEL = "your baseline"
"""The loudness lane's baseline; its level in LUFS would mean nothing to a trainee."""

OVERTALK_PATTERN = Qt.BrushStyle.DiagCrossPattern
LINE_SOUND_PATTERN = Qt.BrushStyle.Dense6Pattern
"""Music or ringing on the customer's line: sound, but nobody talking."""
RAISED_ZONE_PATTERN = Qt.BrushStyle.BDiagPattern


class WaveEnvelope:
    """Min/max envelope of each party's waveform at a fixed resolution.

    Built block by block while the file is read, so the whole file is never
    in memory; the timeline folds the bins into pixel columns when painting.

    Parameters
    ----------
    duration_s : float
        Length of the call in seconds.
    agent_sr_hz : int
        Sample rate of the agent's audio in Hz.
    customer_sr_hz : int or None
        Sample rate of the customer's audio in Hz; None without a customer.
    """

    def __init__(self, duration_s: float, agent_sr_hz: int, customer_sr_hz: int | None) -> None:
        self.duration_s = duration_s
        self.bins = max(1, min(ENVELOPE_MAX_BINS, math.ceil(duration_s / ENVELOPE_BIN_S)))
        self.bin_s = duration_s / self.bins if duration_s > 0 else ENVELOPE_BIN_S
        self.agent = _PartyEnvelope(duration_s, agent_sr_hz, self.bins)
        self.customer = (_PartyEnvelope(duration_s, customer_sr_hz, self.bins)
                         if customer_sr_hz is not None else None)

    def add(self, agent: np.ndarray, customer: np.ndarray | None) -> None:
        """Fold the next block of samples (float, full scale 1.0) into the envelope."""
        self.agent.add(agent)
        if self.customer is not None and customer is not None:
            self.customer.add(customer)


class _PartyEnvelope:
    def __init__(self, duration_s: float, sr_hz: int, bins: int) -> None:
        self.total = max(1, round(duration_s * sr_hz))
        self.bins = bins
        self.position = 0
        # +/-inf marks bins not reached yet; they are painted as silence.
        self.low = np.full(bins, np.inf, dtype=np.float32)
        self.high = np.full(bins, -np.inf, dtype=np.float32)

    def add(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        n = np.arange(self.position, self.position + x.size, dtype=np.int64)
        self.position += x.size
        index = np.minimum(n * self.bins // self.total, self.bins - 1)
        starts = np.flatnonzero(np.diff(index)) + 1
        starts = np.concatenate(([0], starts))
        target = index[starts]
        self.low[target] = np.minimum(self.low[target], np.minimum.reduceat(x, starts))
        self.high[target] = np.maximum(self.high[target], np.maximum.reduceat(x, starts))

    def finite(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.where(np.isfinite(self.low), self.low, 0.0),
                np.where(np.isfinite(self.high), self.high, 0.0))


def fast_threshold_sps(report: AnalysisReport, settings: RuleSettings) -> float:
    """The effective fast-speech threshold in syllables/s (as the rules apply it)."""
    threshold = settings.fast_speech_floor_sps
    if report.baseline.rate_sps is not None:
        threshold = max(threshold, settings.fast_speech_ratio * report.baseline.rate_sps)
    return threshold


def glyph_path(kind: EventKind, centre: QPointF, size: float) -> tuple[QPainterPath, bool]:
    """The marker shape of an event kind, so that kinds differ by shape, not colour.

    Parameters
    ----------
    kind : EventKind
        The event's kind.
    centre : QPointF
        Centre of the glyph in device-independent pixels.
    size : float
        Width and height of the glyph in device-independent pixels.

    Returns
    -------
    path : QPainterPath
        The shape.
    filled : bool
        Whether the shape is meant to be filled (otherwise stroked).
    """
    h = size / 2
    x, y = centre.x(), centre.y()
    path = QPainterPath()
    if kind is EventKind.RAISED_VOICE:
        path.addPolygon(QPolygonF([QPointF(x - h, y + h), QPointF(x, y - h), QPointF(x + h, y + h),
                                   QPointF(x - h, y + h)]))
        return path, True
    if kind is EventKind.FAST_SPEECH:
        for dx in (-h, 0.0):
            path.moveTo(x + dx, y - h)
            path.lineTo(x + dx + h, y)
            path.lineTo(x + dx, y + h)
        return path, False
    if kind is EventKind.INTERRUPTION:
        path.moveTo(x - h, y - h)
        path.lineTo(x + h, y + h)
        path.moveTo(x - h, y + h)
        path.lineTo(x + h, y - h)
        return path, False
    if kind is EventKind.MONOLOGUE:
        path.addRect(QRectF(x - h, y - h / 2, size, h))
        return path, True
    path.addEllipse(centre, h, h)
    return path, False


@dataclass(frozen=True)
class _Colours:
    background: QColor
    text: QColor
    grid: QColor
    agent: QColor
    customer: QColor
    marker: QColor
    zone: QColor

    @classmethod
    def from_palette(cls, palette: QPalette) -> _Colours:
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        agent = palette.color(QPalette.ColorRole.Highlight)
        if abs(agent.lightness() - base.lightness()) < 60:
            agent = agent.lighter(150) if dark else agent.darker(150)
        # The customer's hue is opposite the agent's, with a lightness that reads on this base.
        customer = QColor.fromHsl((max(agent.hslHue(), 0) + 150) % 360, 140, 175 if dark else 80)
        zone = QColor.fromHsl(20, 200, 170 if dark else 90)
        grid = QColor(text)
        grid.setAlpha(60)
        return cls(base, text, grid, agent, customer, text, zone)


@dataclass(frozen=True)
class _Lane:
    key: str
    label: str
    rect: QRectF


@dataclass
class _Geometry:
    plot: QRectF
    lanes: dict[str, _Lane]
    axis: QRectF
    legend: QRectF
    legend_lines: list[list[tuple[str, str | EventKind]]]
    gutter: float


def _legend_items(has_customer: bool) -> list[tuple[str, str | EventKind]]:
    items: list[tuple[str, str | EventKind]] = [(EVENT_LABELS[k], k) for k in EventKind
                                                if has_customer or k not in
                                                (EventKind.INTERRUPTION, EventKind.MONOLOGUE)]
    if has_customer:
        items.append(("overtalk (both speaking)", "overtalk"))
        items.append(("music or ringing on the line", "line_sound"))
    items.append(("raised-voice zone", "zone"))
    items.append(("baseline / fast threshold", "threshold"))
    return items


def _label_above(painter: QPainter, fm: QFontMetrics, lane: QRectF, y: float, text: str,
                 colours: _Colours) -> None:
    """Write ``text`` on a backing just above a reference line at height ``y`` in ``lane``.

    The backing keeps the line from striking the text. A lane too small to
    hold the label whole gets none: a clipped label over the trace says
    nothing, and the legend names the line anyway.
    """
    box = QRectF(lane.left() + 4, y - fm.height() - 2, fm.horizontalAdvance(text) + 6,
                 fm.height())
    if box.top() < lane.top() or box.right() > lane.right():
        return
    painter.fillRect(box, colours.background)
    painter.setPen(colours.text)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class TimelineWidget(QWidget):
    """The painted call timeline with a play cursor.

    Click to move the cursor (``seek_requested``); click an event marker to
    jump to it (``event_activated``). Ctrl+wheel zooms around the pointer; the
    wheel, vertical or horizontal (a trackpad's two-finger swipe), pans a
    zoomed view.

    Parameters
    ----------
    parent : QWidget, optional
        Owner widget.
    settings : RuleSettings, optional
        Thresholds used to draw the raised-voice zone and the fast threshold.
    """

    seek_requested = Signal(float)
    """The user asked to move the cursor to this time, in seconds."""
    event_activated = Signal(int)
    """The user clicked the marker of the event at this index of ``report.events``."""

    def __init__(self, parent: QWidget | None = None, settings: RuleSettings | None = None) -> None:
        super().__init__(parent)
        self._settings = settings or RuleSettings()
        self._report: AnalysisReport | None = None
        self._placeholder = EMPTY_TIMELINE_TEXT
        self._envelope: WaveEnvelope | None = None
        self._cursor_s = 0.0
        self._view = (0.0, 1.0)
        self._speech_runs: dict[str, np.ndarray] = {}
        # The lanes as last painted, without the cursor: while playing, the cursor moves 20
        # times a second, and painting every lane that often holds the GIL long enough to
        # starve the audio callback. The key says what the picture shows.
        self._picture: QPixmap | None = None
        self._picture_key: tuple[object, ...] | None = None
        self._content = 0  # counts changes of the call shown, for the picture's key
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Call timeline")
        self._describe()

    # --- data

    @property
    def report(self) -> AnalysisReport | None:
        """The report shown, or None."""
        return self._report

    @property
    def cursor_s(self) -> float:
        """Cursor position in seconds."""
        return self._cursor_s

    @property
    def view(self) -> tuple[float, float]:
        """Visible span ``(start, end)`` in seconds."""
        return self._view

    def set_report(self, report: AnalysisReport, envelope: WaveEnvelope | None) -> None:
        """Show an analysed call; resets the cursor and zoom."""
        self._report = report
        self._envelope = envelope
        self._cursor_s = 0.0
        self._view = (0.0, max(report.duration_s, 1e-3))
        frames = report.frames
        agent = np.frombuffer(frames.agent.speech, dtype=np.uint8).astype(bool)
        self._speech_runs = {"agent": _runs(agent)}
        if frames.customer is not None:
            customer = np.frombuffer(frames.customer.speech, dtype=np.uint8).astype(bool)
            n = min(len(agent), len(customer))
            self._speech_runs["customer"] = _runs(customer)
            self._speech_runs["overtalk"] = _runs(agent[:n] & customer[:n])
            line_sound = np.frombuffer(frames.customer.line_sound, dtype=np.uint8).astype(bool)
            self._speech_runs["line_sound"] = _runs(line_sound)
        self._content += 1
        self._describe()
        self.updateGeometry()
        self.update()

    @property
    def placeholder(self) -> str:
        """What the timeline says while it shows no call."""
        return self._placeholder

    def clear(self, placeholder: str = EMPTY_TIMELINE_TEXT) -> None:
        """Show no call, only ``placeholder`` (an invitation to open one, by default)."""
        self._placeholder = placeholder
        self._report = None
        self._envelope = None
        self._speech_runs = {}
        self._cursor_s = 0.0
        self._content += 1
        self._describe()
        self.update()

    def set_cursor(self, t_s: float) -> None:
        """Move the cursor to ``t_s`` seconds, scrolling a zoomed view to keep it visible."""
        duration = self._report.duration_s if self._report is not None else 0.0
        self._cursor_s = min(max(0.0, t_s), duration)
        t0, t1 = self._view
        if not t0 <= self._cursor_s <= t1:
            span = t1 - t0
            start = min(max(0.0, self._cursor_s - span * 0.1), max(0.0, duration - span))
            self._view = (start, start + span)
        self.update()

    # --- zoom

    def zoom(self, factor: float, around_s: float | None = None) -> None:
        """Zoom by ``factor`` (> 1 zooms in) around a time (default: the cursor)."""
        if self._report is None:
            return
        duration = max(self._report.duration_s, 1e-3)
        t0, t1 = self._view
        centre = self._cursor_s if around_s is None else around_s
        span = min(duration, max(min(MIN_VIEW_S, duration), (t1 - t0) / factor))
        ratio = (centre - t0) / (t1 - t0) if t1 > t0 else 0.5
        start = min(max(0.0, centre - ratio * span), duration - span)
        self._view = (start, start + span)
        self.update()

    def set_view(self, start_s: float, end_s: float) -> None:
        """Show the span from ``start_s`` to ``end_s`` seconds, kept inside the call."""
        if self._report is None:
            return
        duration = max(self._report.duration_s, 1e-3)
        span = min(duration, max(min(MIN_VIEW_S, duration), end_s - start_s))
        start = min(max(0.0, start_s), duration - span)
        self._view = (start, start + span)
        self.update()

    def pan(self, seconds: float) -> None:
        """Move the visible span by ``seconds`` (positive: later), keeping it inside the call."""
        if self._report is None:
            return
        duration = max(self._report.duration_s, 1e-3)
        t0, t1 = self._view
        start = min(max(0.0, t0 + seconds), max(0.0, duration - (t1 - t0)))
        self._view = (start, start + (t1 - t0))
        self.update()

    def zoom_to_fit(self) -> None:
        """Show the whole call."""
        if self._report is not None:
            self._view = (0.0, max(self._report.duration_s, 1e-3))
            self.update()

    # --- export

    def render_image(self, width_px: int = 1600, palette: QPalette | None = None,
                     scale: float = 1.0) -> QImage:
        """The whole call's timeline as an image, for a report.

        Parameters
        ----------
        width_px : int
            Image width in pixels; the height follows from the font.
        palette : QPalette, optional
            Colours to paint with; defaults to a light print palette so that
            reports read well on paper whatever the desktop theme.
        scale : float
            Device pixels per drawing unit. A picture shown ``scale`` times
            smaller than it is rendered (sharp in print) keeps text, lines and
            hatching at their on-screen size.

        Returns
        -------
        QImage
        """
        palette = palette or _print_palette()
        font = QFont(self.font())
        logical_width = width_px / scale
        height = self._natural_height(QFontMetrics(font), int(logical_width))
        image = QImage(width_px, math.ceil(height * scale), QImage.Format.Format_ARGB32)
        image.fill(palette.color(QPalette.ColorRole.Base))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(scale, scale)
        painter.setFont(font)
        view = (0.0, max(self._report.duration_s, 1e-3)) if self._report is not None else self._view
        self._paint(painter, QRectF(0, 0, logical_width, height), palette, view)
        painter.end()
        return image

    # --- Qt overrides

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        fm = self.fontMetrics()
        return QSize(fm.averageCharWidth() * 100, self._natural_height(fm, fm.averageCharWidth() * 100))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        fm = self.fontMetrics()
        return QSize(fm.averageCharWidth() * 40, fm.height() * 12)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        ratio = self.devicePixelRatioF()
        key = (self._content, self._view, self.size(), ratio, self.palette().cacheKey(),
               self.font().key())
        if self._picture is None or key != self._picture_key:
            self._picture = QPixmap(self.size() * ratio)
            self._picture.setDevicePixelRatio(ratio)
            picture_painter = QPainter(self._picture)
            picture_painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            picture_painter.setFont(self.font())
            self._paint(picture_painter, QRectF(self.rect()), self.palette(), self._view)
            picture_painter.end()
            self._picture_key = key
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        geometry = self._geometry(QRectF(self.rect()), self.fontMetrics())
        x = self._x(geometry.plot, self._cursor_s, self._view)
        # A view panned away from the cursor shows none.
        if self._report is not None and geometry.plot.left() - 1 <= x <= geometry.plot.right() + 1:
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Text),
                                max(2.0, self.fontMetrics().height() / 8)))
            painter.drawLine(QPointF(x, geometry.plot.top()), QPointF(x, geometry.plot.bottom()))
        if self.hasFocus():
            # Keyboard users must see where focus is.
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 2, Qt.PenStyle.DotLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._report is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        geometry = self._geometry(QRectF(self.rect()), self.fontMetrics())
        pos = event.position()
        index = self._event_at(geometry, pos)
        if index is not None:
            self.event_activated.emit(index)
            return
        if geometry.plot.left() <= pos.x() <= geometry.plot.right():
            self.seek_requested.emit(self._time_at(geometry, pos.x(), self._view))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        if self._report is None:
            super().wheelEvent(event)
            return
        geometry = self._geometry(QRectF(self.rect()), self.fontMetrics())
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            self.zoom(1.25 ** steps, self._time_at(geometry, event.position().x(), self._view))
            event.accept()
            return
        t0, t1 = self._view
        if t1 - t0 >= self._report.duration_s:  # the whole call is in view: nothing to pan
            super().wheelEvent(event)
            return
        # Wheel forward (up) and a swipe to the left go back in time, as in a scroll area.
        # A horizontal swipe is meant as a pan even when it carries a little vertical motion.
        pixels, angle = event.pixelDelta(), event.angleDelta()
        if not pixels.isNull():  # trackpads: follow the fingers pixel for pixel
            delta = pixels.x() if pixels.x() else pixels.y()
            seconds = -delta * (t1 - t0) / max(geometry.plot.width(), 1.0)
        else:
            delta = angle.x() if angle.x() else angle.y()
            seconds = -delta / 120 * WHEEL_PAN_FRACTION * (t1 - t0)
        self.pan(seconds)
        event.accept()

    # --- layout

    @property
    def _has_customer(self) -> bool:
        """Whether the call has a customer side (assumed until a report says otherwise)."""
        return self._report is None or self._report.frames.customer is not None

    def _speech_rows(self) -> list[str]:
        """Names of the speaking lane's rows, top to bottom."""
        return ["you", "customer"] if self._has_customer else ["you"]

    def _lane_units(self) -> list[tuple[str, str, float, bool]]:
        """(key, label, height in text lines, stretches) of each lane."""
        lanes = [("events", "Events", 1.8, False), ("wave_agent", "You", 3.0, True)]
        if self._has_customer:
            lanes.append(("wave_customer", "Customer", 3.0, True))
        lanes += [("loudness", "Loudness", 4.0, True), ("pace", "Pace", 3.0, True),
                  ("speech", "Speaking", 2.4 if self._has_customer else 1.4, False)]
        return lanes

    def _legend_lines(self, fm: QFontMetrics, width: float) -> list[list[tuple[str, str | EventKind]]]:
        lines: list[list[tuple[str, str | EventKind]]] = [[]]
        used = 0.0
        for item in _legend_items(self._has_customer):
            w = self._legend_item_width(fm, item[0])
            if lines[-1] and used + w > width:
                lines.append([])
                used = 0.0
            lines[-1].append(item)
            used += w
        return lines

    @staticmethod
    def _legend_item_width(fm: QFontMetrics, text: str) -> float:
        return fm.height() * 2.2 + fm.horizontalAdvance(text)

    def _natural_height(self, fm: QFontMetrics, width: int) -> int:
        line = fm.height()
        lanes = sum(units for _, _, units, _ in self._lane_units())
        legend = len(self._legend_lines(fm, width)) * line * 1.3
        return int(math.ceil(lanes * line + line * 1.6 + legend + line))

    def _geometry(self, rect: QRectF, fm: QFontMetrics) -> _Geometry:
        line = float(fm.height())
        units = self._lane_units()
        widths = [fm.horizontalAdvance(label) for _, label, _, _ in units]
        rows = self._speech_rows()
        if len(rows) > 1:  # the speaking lane's label and its first row's name share a line
            label = next(label for key, label, _, _ in units if key == "speech")
            widths.append(fm.horizontalAdvance(f"{label} {rows[0]}") + line * 0.5)
        gutter = max(widths) + line
        margin = line * 0.5
        legend_lines = self._legend_lines(fm, rect.width() - 2 * margin)
        axis_h = line * 1.6
        # A squeezed timeline gives up legend lines, last first, before its lanes go below a
        # text line per label: the legend only explains what the lanes show.
        least = self._least_lane_heights(units, line)
        room_h = rect.height() - axis_h - margin - sum(least)
        legend_lines = legend_lines[:max(0, int(room_h // (line * 1.3)))]
        legend_h = len(legend_lines) * line * 1.3
        lanes_h = max(rect.height() - legend_h - axis_h - margin, line * 4)
        heights = self._lane_heights(units, least, lanes_h, line)
        lanes: dict[str, _Lane] = {}
        y = rect.top() + margin * 0.5
        left = rect.left() + gutter
        width = max(1.0, rect.right() - margin - left)
        for (key, label, _, _), h in zip(units, heights):
            lanes[key] = _Lane(key, label, QRectF(left, y, width, h))
            y += h
        plot = QRectF(left, rect.top() + margin * 0.5, width, y - rect.top() - margin * 0.5)
        axis = QRectF(left, y, width, axis_h)
        legend = QRectF(rect.left() + margin, y + axis_h, rect.width() - 2 * margin, legend_h)
        return _Geometry(plot, lanes, axis, legend, legend_lines, gutter)

    @staticmethod
    def _lane_heights(units: list[tuple[str, str, float, bool]], least: list[float],
                      lanes_h: float, line: float) -> list[float]:
        """Each lane's height in pixels when the lanes share ``lanes_h`` pixels.

        Room beyond the lanes' natural heights goes to the lanes that stretch.
        Short of it, every lane gives up what it has above its ``least`` height
        (a text line per label it holds), in proportion, so that the labels in
        the gutter never overlap; only below that are all lanes scaled alike.
        """
        natural = [u * line for _, _, u, _ in units]
        if lanes_h >= sum(natural):
            stretch_units = sum(u for _, _, u, s in units if s)
            return [h + ((lanes_h - sum(natural)) * u / stretch_units if s else 0.0)
                    for h, (_, _, u, s) in zip(natural, units)]
        if lanes_h <= sum(least):
            return [h * lanes_h / sum(least) for h in least]
        give = (sum(natural) - lanes_h) / (sum(natural) - sum(least))
        return [h - (h - m) * give for h, m in zip(natural, least)]

    def _least_lane_heights(self, units: list[tuple[str, str, float, bool]],
                            line: float) -> list[float]:
        """Each lane's least height in pixels: a text line per label it holds."""
        return [line * (len(self._speech_rows()) if key == "speech" else 1) for key, _, _, _ in units]

    @staticmethod
    def _x(plot: QRectF, t_s: float, view: tuple[float, float]) -> float:
        t0, t1 = view
        return plot.left() + (t_s - t0) / (t1 - t0) * plot.width()

    @staticmethod
    def _time_at(geometry: _Geometry, x: float, view: tuple[float, float]) -> float:
        t0, t1 = view
        fraction = (x - geometry.plot.left()) / geometry.plot.width()
        return t0 + min(max(fraction, 0.0), 1.0) * (t1 - t0)

    def _marker_centres(self, geometry: _Geometry) -> list[tuple[int, QPointF]]:
        assert self._report is not None
        lane = geometry.lanes["events"].rect
        centres = []
        for i, e in enumerate(self._report.events):
            x = self._x(geometry.plot, e.start_s, self._view)
            if lane.left() - 1 <= x <= lane.right() + 1:
                centres.append((i, QPointF(x, lane.top() + lane.height() * 0.4)))
        return centres

    def _event_at(self, geometry: _Geometry, pos: QPointF) -> int | None:
        lane = geometry.lanes["events"].rect
        if not lane.top() <= pos.y() <= lane.bottom():
            return None
        reach = lane.height() * 0.5
        best: tuple[float, int] | None = None
        for i, centre in self._marker_centres(geometry):
            distance = abs(centre.x() - pos.x())
            if distance <= reach and (best is None or distance < best[0]):
                best = (distance, i)
        return best[1] if best is not None else None

    # --- painting

    def _paint(self, painter: QPainter, rect: QRectF, palette: QPalette,
               view: tuple[float, float]) -> None:
        colours = _Colours.from_palette(palette)
        fm = QFontMetrics(painter.font())
        painter.fillRect(rect, colours.background)
        geometry = self._geometry(rect, fm)
        for lane in geometry.lanes.values():
            painter.setPen(colours.text)
            rows = self._speech_rows() if lane.key == "speech" else [""]
            row_h = lane.rect.height() / len(rows)
            label_box = QRectF(rect.left() + fm.height() * 0.3, lane.rect.top(),
                               geometry.gutter - fm.height() * 0.5, row_h)
            painter.drawText(label_box, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             lane.label)
            # The speaking lane's rows are named in the gutter, where they hide no bars.
            for k, row in enumerate(rows if len(rows) > 1 else []):
                painter.drawText(label_box.translated(0, k * row_h),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, row)
            painter.setPen(QPen(colours.grid, 1))
            painter.drawLine(QPointF(lane.rect.left(), lane.rect.bottom()),
                             QPointF(lane.rect.right(), lane.rect.bottom()))
        self._paint_axis(painter, geometry, colours, fm, view)
        self._paint_legend(painter, geometry, colours, fm)
        if self._report is None:
            painter.setPen(colours.text)
            painter.drawText(geometry.plot, Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        painter.save()
        painter.setClipRect(geometry.plot.adjusted(-fm.height(), 0, fm.height(), 0))
        self._paint_overtalk(painter, geometry, colours, view)
        self._paint_wave(painter, geometry.lanes["wave_agent"].rect, colours.agent,
                         self._envelope.agent if self._envelope else None, view)
        if "wave_customer" in geometry.lanes:
            self._paint_wave(painter, geometry.lanes["wave_customer"].rect, colours.customer,
                             self._envelope.customer if self._envelope else None, view)
        self._paint_loudness(painter, geometry.lanes["loudness"].rect, colours, fm, view)
        self._paint_pace(painter, geometry.lanes["pace"].rect, colours, fm, view)
        self._paint_speech(painter, geometry.lanes["speech"].rect, colours, view)
        self._paint_events(painter, geometry, colours, view)
        painter.restore()

    def _paint_axis(self, painter: QPainter, geometry: _Geometry, colours: _Colours,
                    fm: QFontMetrics, view: tuple[float, float]) -> None:
        t0, t1 = view
        min_gap_px = fm.horizontalAdvance("00:00:00") * 1.5
        step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
                     if s / (t1 - t0) * geometry.axis.width() >= min_gap_px), 7200)
        t = math.ceil(t0 / step) * step
        while t <= t1:
            x = self._x(geometry.plot, t, view)
            painter.setPen(QPen(colours.grid, 1))
            painter.drawLine(QPointF(x, geometry.plot.top()), QPointF(x, geometry.plot.bottom()))
            painter.setPen(colours.text)
            label = time_label(t)
            w = fm.horizontalAdvance(label)
            painter.drawText(QPointF(min(max(x - w / 2, geometry.axis.left() - geometry.gutter / 2),
                                         geometry.axis.right() - w),
                                     geometry.axis.top() + fm.ascent() + fm.height() * 0.2), label)
            t += step

    def _paint_legend(self, painter: QPainter, geometry: _Geometry, colours: _Colours,
                      fm: QFontMetrics) -> None:
        line = fm.height()
        y = geometry.legend.top()
        for items in geometry.legend_lines:
            x = geometry.legend.left()
            for text, key in items:
                swatch = QRectF(x, y + line * 0.15, line * 1.6, line)
                self._paint_swatch(painter, swatch, key, colours)
                painter.setPen(colours.text)
                painter.drawText(QPointF(swatch.right() + line * 0.3, y + fm.ascent() + line * 0.15), text)
                x += self._legend_item_width(fm, text)
            y += line * 1.3

    def _paint_swatch(self, painter: QPainter, rect: QRectF, key: str | EventKind,
                      colours: _Colours) -> None:
        if isinstance(key, EventKind):
            self._paint_glyph(painter, key, rect.center(), rect.height() * 0.8, colours.marker)
        elif key == "overtalk":
            painter.fillRect(rect, QBrush(colours.text, OVERTALK_PATTERN))
        elif key == "line_sound":
            painter.fillRect(rect, QBrush(colours.customer, LINE_SOUND_PATTERN))
        elif key == "zone":
            painter.fillRect(rect, QBrush(colours.zone, RAISED_ZONE_PATTERN))
        else:
            painter.setPen(QPen(colours.text, 1.5, Qt.PenStyle.DashLine))
            y = rect.center().y()
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))

    @staticmethod
    def _paint_glyph(painter: QPainter, kind: EventKind, centre: QPointF, size: float,
                     colour: QColor) -> None:
        path, filled = glyph_path(kind, centre, size)
        painter.setPen(QPen(colour, max(1.5, size / 7), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        painter.setBrush(colour if filled else Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_overtalk(self, painter: QPainter, geometry: _Geometry, colours: _Colours,
                        view: tuple[float, float]) -> None:
        runs = self._speech_runs.get("overtalk")
        if runs is None:
            return
        hatch = QColor(colours.text)
        hatch.setAlpha(90)
        brush = QBrush(hatch, OVERTALK_PATTERN)
        top = geometry.lanes["wave_agent"].rect.top()
        bottom = geometry.lanes["speech"].rect.bottom()
        for x0, x1 in self._run_spans(runs, geometry.plot, view):
            painter.fillRect(QRectF(x0, top, x1 - x0, bottom - top), brush)

    def _run_spans(self, runs: np.ndarray, plot: QRectF,
                   view: tuple[float, float]) -> list[tuple[float, float]]:
        assert self._report is not None
        hop = self._report.frames.hop_s
        t0, t1 = view
        spans = []
        for start, end in runs:
            a, b = start * hop, end * hop
            if b < t0 or a > t1:
                continue
            x0, x1 = self._x(plot, a, view), self._x(plot, b, view)
            spans.append((x0, max(x1, x0 + 1.0)))
        return spans

    def _paint_wave(self, painter: QPainter, rect: QRectF, colour: QColor,
                    envelope: _PartyEnvelope | None, view: tuple[float, float]) -> None:
        mid = rect.center().y()
        painter.setPen(QPen(colour, 1))
        painter.drawLine(QPointF(rect.left(), mid), QPointF(rect.right(), mid))
        if envelope is None:
            return
        low, high = envelope.finite()
        bin_s = self._report.duration_s / envelope.bins if self._report else 1.0
        xs, (lo, hi) = _columns([low, high], [np.minimum, np.maximum], bin_s, view, rect)
        half = rect.height() * 0.46
        # Speech sits around -26 dBFS; a gentle square-root scale keeps it visible
        # next to a raised voice without clipping the loud parts.
        lo = -np.sqrt(np.clip(-lo, 0.0, 1.0))
        hi = np.sqrt(np.clip(hi, 0.0, 1.0))
        width = max(1.0, (xs[1] - xs[0]) if len(xs) > 1 else 1.0)
        rects = [QRectF(x, mid - b * half, width, max((b - a) * half, 1.0))
                 for x, a, b in zip(xs, lo, hi)]
        # Drawn one by one: filled as one path (a complex union of touching columns), they
        # took Qt about 100 times as long, making a long call's zoom and pan sluggish.
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRects(rects)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_loudness(self, painter: QPainter, rect: QRectF, colours: _Colours, fm: QFontMetrics,
                        view: tuple[float, float]) -> None:
        assert self._report is not None
        baseline = self._report.baseline.loudness_lufs
        if math.isfinite(baseline):
            low, high = baseline - LOUDNESS_SPAN_LU, baseline + LOUDNESS_SPAN_LU
        else:
            low, high = -70.0, -10.0

        def y_of(lufs: float) -> float:
            return rect.bottom() - (lufs - low) / (high - low) * rect.height()

        if math.isfinite(baseline) and self._report.baseline.calibrated:
            zone_y = y_of(baseline + self._settings.raised_voice_lu)
            zone = QRectF(rect.left(), rect.top(), rect.width(), zone_y - rect.top())
            painter.fillRect(zone, QBrush(colours.zone, RAISED_ZONE_PATTERN))
            label = f"raised voice zone (+{self._settings.raised_voice_lu:g} dB)"  # 1 LU is 1 dB
            baseline_label_w = fm.horizontalAdvance(BASELINE_LABEL) + 10
            # Only where it fits inside the zone and beside the baseline's label.
            if zone.height() >= fm.height() and \
                    fm.horizontalAdvance(label) + 8 + baseline_label_w <= rect.width():
                painter.setPen(colours.text)
                painter.drawText(QPointF(rect.right() - fm.horizontalAdvance(label) - 4,
                                         rect.top() + fm.ascent()), label)
        if math.isfinite(baseline):
            y = y_of(baseline)
            painter.setPen(QPen(colours.text, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            _label_above(painter, fm, rect, y, BASELINE_LABEL, colours)
        values = np.frombuffer(self._report.frames.agent.momentary_lufs, dtype=np.float64)
        speech = np.frombuffer(self._report.frames.agent.speech, dtype=np.uint8)[: len(values)]
        # Loudness between the agent's words is room noise; drawing it would hide the voice.
        values = np.where(speech.astype(bool), values, np.nan)
        self._paint_series(painter, rect, values, y_of, colours.agent, view, low, high)

    def _paint_pace(self, painter: QPainter, rect: QRectF, colours: _Colours, fm: QFontMetrics,
                    view: tuple[float, float]) -> None:
        assert self._report is not None

        def y_of(sps: float) -> float:
            return rect.bottom() - sps / PACE_TOP_SPS * rect.height()

        threshold = fast_threshold_sps(self._report, self._settings)
        y = y_of(threshold)
        painter.setPen(QPen(colours.text, 1.5, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        _label_above(painter, fm, rect, y, f"fast above {threshold:.1f} syllables/s", colours)
        values = np.frombuffer(self._report.frames.agent.rate_sps, dtype=np.float64)
        speech = np.frombuffer(self._report.frames.agent.speech, dtype=np.uint8)[: len(values)]
        values = np.where(speech.astype(bool), values, np.nan)
        self._paint_series(painter, rect, values, y_of, colours.agent, view, 0.0, PACE_TOP_SPS)

    def _paint_series(self, painter: QPainter, rect: QRectF, values: np.ndarray,
                      y_of: Callable[[float], float], colour: QColor, view: tuple[float, float],
                      low: float, high: float) -> None:
        assert self._report is not None
        if values.size == 0:
            return
        xs, (peaks,) = _columns([values], [np.fmax], self._report.frames.hop_s, view, rect)
        painter.setPen(QPen(colour, 2))
        path = QPainterPath()
        drawing = False
        for x, v in zip(xs, peaks):
            if not math.isfinite(v):
                drawing = False
                continue
            point = QPointF(x, y_of(min(max(v, low), high)))
            if drawing:
                path.lineTo(point)
            else:
                path.moveTo(point)
                path.lineTo(point + QPointF(1, 0))
                drawing = True
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)

    def _paint_speech(self, painter: QPainter, rect: QRectF, colours: _Colours,
                      view: tuple[float, float]) -> None:
        rows = [("agent", colours.agent)] + ([("customer", colours.customer)]
                                            if "customer" in self._speech_runs else [])
        row_h = rect.height() / len(rows)
        for k, (key, colour) in enumerate(rows):
            top = rect.top() + k * row_h + row_h * 0.2
            for x0, x1 in self._run_spans(self._speech_runs[key], rect, view):
                painter.fillRect(QRectF(x0, top, x1 - x0, row_h * 0.6), colour)
            if key == "customer":
                for x0, x1 in self._run_spans(self._speech_runs["line_sound"], rect, view):
                    painter.fillRect(QRectF(x0, top, x1 - x0, row_h * 0.6),
                                     QBrush(colour, LINE_SOUND_PATTERN))

    def _paint_events(self, painter: QPainter, geometry: _Geometry, colours: _Colours,
                      view: tuple[float, float]) -> None:
        assert self._report is not None
        lane = geometry.lanes["events"].rect
        size = lane.height() * 0.45
        for i, centre in self._marker_centres(geometry):
            event = self._report.events[i]
            x1 = self._x(geometry.plot, event.end_s, view)
            painter.setPen(QPen(colours.marker, 2))
            span_y = lane.top() + lane.height() * 0.85
            painter.drawLine(QPointF(centre.x(), span_y), QPointF(max(x1, centre.x() + 1), span_y))
            self._paint_glyph(painter, event.kind, centre, size, colours.marker)

    def _describe(self) -> None:
        if self._report is None:
            self.setAccessibleDescription(self._placeholder)
            return
        n = len(self._report.events)
        self.setAccessibleDescription(
            f"Waveform, loudness against your baseline, pace and speech activity over "
            f"{time_label(self._report.duration_s)}; {n} event{'s' if n != 1 else ''}. "
            "Click to move the cursor; the event list gives the same events as text.")


def event_icon_image(kind: EventKind, size_px: int, colour: QColor) -> QImage:
    """An event kind's glyph as a small image (for lists), drawn like the timeline's markers."""
    image = QImage(size_px, size_px, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    TimelineWidget._paint_glyph(painter, kind, QPointF(size_px / 2, size_px / 2), size_px * 0.7, colour)
    painter.end()
    return image


def _print_palette() -> QPalette:
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Base, QColor("white"))
    palette.setColor(QPalette.ColorRole.Text, QColor("black"))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(30, 90, 170))
    return palette


def _runs(mask: np.ndarray) -> np.ndarray:
    """``[start, end)`` hop index pairs of the True runs of a boolean array, shape (n, 2)."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges.reshape(-1, 2)


def _columns(arrays: list[np.ndarray], reducers: list[np.ufunc], item_s: float,
             view: tuple[float, float], rect: QRectF) -> tuple[np.ndarray, list[np.ndarray]]:
    """Fold evenly spaced items into pixel columns of ``rect`` for the visible span.

    When there are fewer visible items than columns the items are returned
    as they are, at their own x positions, so a zoomed-in view stays continuous.
    """
    t0, t1 = view
    n = len(arrays[0])
    first = max(0, int(t0 / item_s))
    last = min(n, int(math.ceil(t1 / item_s)) + 1)
    if last <= first:
        return np.empty(0), [np.empty(0) for _ in arrays]
    index = np.arange(first, last)
    xs = rect.left() + (index * item_s - t0) / (t1 - t0) * rect.width()
    columns = int(rect.width())
    if last - first <= columns:
        return xs, [a[first:last] for a in arrays]
    column = np.clip((xs - rect.left()).astype(np.int64), 0, max(columns - 1, 0))
    starts = np.concatenate(([0], np.flatnonzero(np.diff(column)) + 1))
    folded = [reducer.reduceat(a[first:last], starts) for a, reducer in zip(arrays, reducers)]
    return rect.left() + column[starts].astype(np.float64), folded


def time_label(t_s: float) -> str:
    """Whole-second clock label (``m:ss`` or ``h:mm:ss``) for axes and positions."""
    whole = int(round(t_s))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
