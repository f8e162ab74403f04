"""The call history: a table of calls, a trend chart, delete and export.

The window reads the call log through its own read-only :class:`CallStore`,
opened for each refresh or export and closed straight after, so it never holds
a connection the engine's writer could trip over and never outlives a moved
file. Deleting needs a writer; see :class:`HistoryWindow` for why the app
should pass its own deleter while monitoring runs.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex,
                            QPersistentModelIndex, QPointF, QRectF, QSize, Qt, Slot)
from PySide6.QtGui import (QAction, QFontMetricsF, QKeySequence, QPainter, QPaintEvent, QPalette,
                           QPen)
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QMainWindow, QMessageBox, QPlainTextEdit,
                               QPushButton, QSizePolicy, QSplitter, QTableView, QVBoxLayout,
                               QWidget)

from models.store import (CallRecord, CallStatus, CallStore, NoCallLogYet, PromptOutcome,
                          PromptRecord, StoreError)
from models.summary import CallSummary
from ui.breathing_pacer import MANUAL_TRIGGER
from ui.screen_fit import opening_size
from ui.window_titles import APP_NAME, window_title

logger = logging.getLogger(__name__)

SHIFT_WINDOW = timedelta(hours=12)
"""Calls starting within this long after a shift's first call belong to that shift."""

DEFAULT_MAX_CALLS = 2000
"""Newest calls the window lists: months of calls, still a fast query."""

EXERCISE_LINES = 3
"""Lines of the selected call's breathing exercises shown without scrolling: as many
as a call offers by default (``RuleSettings.breathing_max_per_call``)."""

CHART_MIN_LINES = 9
"""The trend chart's least height in text lines: each panel keeps a plot two lines
tall, and the window still fits a 1366x768 laptop at 125 % with a 16 pt font."""

SIZE_BY_ROWS = 200
"""Rows, besides those in view, whose contents the columns are sized to."""

NOT_AVAILABLE = "\N{EM DASH}"

SavePathChooser = Callable[[QWidget, str, str, str], "Path | None"]
"""``(parent, caption, suggested file name, name filter) -> chosen path or None``."""
Confirmer = Callable[[QWidget, str], bool]
"""``(parent, question) -> whether the user agreed``."""
CallDeleter = Callable[[int], bool]
"""Deletes one call by id; returns whether it existed."""

ROLE_CALL_ID = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class CallRow:
    """One call as the table shows it.

    Attributes
    ----------
    record : CallRecord
        The call from the store.
    prompts : tuple of PromptRecord
        Breathing exercises offered or started during the call, in order.
    """

    record: CallRecord
    prompts: tuple[PromptRecord, ...]


@dataclass(frozen=True)
class TrendBucket:
    """The calls of one day or one shift, averaged.

    Attributes
    ----------
    start : datetime
        Local start of the day, or local start of the shift's first call.
    label : str
        Short label for the chart's axis.
    calls : int
        Ended calls in the bucket (calls without a summary are left out).
    interruptions_per_call : float or None
        Mean interruptions per call over the calls that had the customer's side;
        None if every call in the bucket was mic-only, so nothing was measured.
    raised_voice_s_per_call : float
        Mean raised-voice time per call, in seconds.
    """

    start: datetime
    label: str
    calls: int
    interruptions_per_call: float | None
    raised_voice_s_per_call: float


def trend_buckets(calls: Sequence[CallRecord], per_shift: bool = False) -> list[TrendBucket]:
    """Group ended calls by local day, or by shift, oldest first.

    Parameters
    ----------
    calls : sequence of CallRecord
        Calls in any order; those without a summary (open or interrupted) are skipped.
    per_shift : bool
        Group into shifts: a shift starts with a call and takes every call
        starting less than :data:`SHIFT_WINDOW` (12 h) after it. Otherwise
        group by local calendar day.

    Returns
    -------
    list of TrendBucket
    """
    ended = sorted(((c.started_at.astimezone(), c.summary) for c in calls
                    if c.summary is not None), key=lambda pair: pair[0])
    groups: list[tuple[datetime, list[CallSummary]]] = []
    for local, summary in ended:
        if per_shift:
            if not groups or local - groups[-1][0] >= SHIFT_WINDOW:
                groups.append((local, []))
        else:
            day = datetime.combine(local.date(), datetime.min.time(), local.tzinfo)
            if not groups or groups[-1][0].date() != day.date():
                groups.append((day, []))
        groups[-1][1].append(summary)
    buckets = []
    for start, summaries in groups:
        label = f"{start:%d %b %H:%M}" if per_shift else f"{start:%a %d %b}"
        # A mic-only call cannot see interruptions; counting it as 0 would pull
        # the average down, so only calls with the customer's side count.
        measured = [s.interruptions for s in summaries if s.customer is not None]
        buckets.append(TrendBucket(
            start=start, label=label, calls=len(summaries),
            interruptions_per_call=sum(measured) / len(measured) if measured else None,
            raised_voice_s_per_call=sum(s.raised_voice_s for s in summaries) / len(summaries)))
    return buckets


def exercise_text(prompt: PromptRecord) -> str:
    """One breathing exercise of the log as a line of text, times in local time.

    Parameters
    ----------
    prompt : PromptRecord
        The exercise.

    Returns
    -------
    str
        Such as "Offered at 14:02:10 after a raised voice, started at 14:02:31,
        completed at 14:03:41".
    """
    if prompt.trigger == MANUAL_TRIGGER:
        text = f"Started by you at {_clock(prompt.at)}"
    else:
        cause = _TRIGGER_TEXT.get(prompt.trigger, prompt.trigger.replace("_", " "))
        text = f"Offered at {_clock(prompt.at)} after {cause}"
        if prompt.started_at is not None:
            text += f", started at {_clock(prompt.started_at)}"
        elif prompt.outcome in (PromptOutcome.STARTED, PromptOutcome.COMPLETED,
                                PromptOutcome.STOPPED):
            # Logs from before CalmLine kept start times lost them once the exercise ended.
            text += ", started (time not logged)"
    if prompt.outcome is PromptOutcome.SHOWN:
        return text
    if prompt.outcome is PromptOutcome.DISMISSED:
        return f"{text}, not taken"
    if prompt.outcome is PromptOutcome.STARTED:
        return f"{text}, under way"
    ended = "completed" if prompt.outcome is PromptOutcome.COMPLETED else "stopped early"
    return f"{text}, {ended} at {_clock(prompt.updated_at)}"


_TRIGGER_TEXT = {"raised_voice": "a raised voice", "interruption": "interruptions"}


def _clock(moment: datetime) -> str:
    return f"{moment.astimezone():%H:%M:%S}"


def _duration_s(record: CallRecord) -> float | None:
    if record.summary is not None:
        return record.summary.duration_s
    if record.end_s is not None:
        return record.end_s - record.start_s
    return None


def _minutes_seconds(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class CallTableModel(QAbstractTableModel):
    """Calls as table rows, in the order the view sorts them by (newest first to begin with).

    The model sorts itself: a sorting proxy would ask Python for a cell at every
    comparison, tens of thousands of calls for a few thousand rows on each refresh.
    """

    HEADERS = ("Date", "Duration", "Talk share", "Interruptions", "Raised voice", "Pace",
               "Prompts")
    HEADER_HELP = (
        "When the call started (local time)",
        "How long the call lasted (minutes:seconds)",
        "Share of the call you were speaking",
        "Times you started talking over the customer (needs the customer's side)",
        "Seconds you spent with a raised voice",
        "Your median speaking pace in syllables per second",
        "Breathing exercises during the call: offered by CalmLine, or started by you "
        "(point at a count, or see below the table, for when each started and how it ended)",
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[CallRow] = []
        # Sorting and sizing the columns ask for each cell many times over (a
        # thousand rows take seconds in Python), so each is worked out once.
        self._cells: list[list[tuple[str, Any, str | None] | None]] = []
        # Table row -> index into _rows.
        self._order: list[int] = []
        self._sort_column = 0
        self._sort_order = Qt.SortOrder.DescendingOrder

    def set_rows(self, rows: list[CallRow]) -> None:
        """Replace every row (given newest first); the table keeps its sort order."""
        self.beginResetModel()
        self._rows = list(rows)
        self._cells = [[None] * len(self.HEADERS) for _ in self._rows]
        self._order = self._sorted_order()
        self.endResetModel()

    def rows(self) -> list[CallRow]:
        """The rows as given to :meth:`set_rows`, newest first."""
        return list(self._rows)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.HEADERS):
            return
        self._sort_column, self._sort_order = column, order
        self.layoutAboutToBeChanged.emit()
        # The selection follows its call to the row the call moves to.
        persistent = self.persistentIndexList()
        moved_from = [(index, self._order[index.row()]) for index in persistent]
        self._order = self._sorted_order()
        table_row = {source: row for row, source in enumerate(self._order)}
        self.changePersistentIndexList(
            persistent, [self.index(table_row[source], index.column())
                         for index, source in moved_from])
        self.layoutChanged.emit()

    def table_row_of(self, call_id: int) -> int | None:
        """The table row listing a call, or None."""
        for row, source in enumerate(self._order):
            if self._rows[source].record.id == call_id:
                return row
        return None

    def _sorted_order(self) -> list[int]:
        keys = [self._cell_at(source, self._sort_column)[1] for source in range(len(self._rows))]
        # Python's sort is stable in both directions: equal keys stay newest first.
        return sorted(range(len(keys)), key=keys.__getitem__,
                      reverse=self._sort_order == Qt.SortOrder.DescendingOrder)

    def _cell_at(self, source: int, column: int) -> tuple[str, Any, str | None]:
        cells = self._cells[source]
        cell = cells[column]
        if cell is None:
            cell = cells[column] = self._cell(self._rows[source], column)
        return cell

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_HELP[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        source = self._order[index.row()]
        if role == ROLE_CALL_ID:
            return self._rows[source].record.id
        if role == Qt.ItemDataRole.TextAlignmentRole:
            left = Qt.AlignmentFlag.AlignLeft if index.column() == 0 else Qt.AlignmentFlag.AlignRight
            return left | Qt.AlignmentFlag.AlignVCenter
        display, _sort_key, tip = self._cell_at(source, index.column())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return display
        # A screen reader reads the description with the cell: the tooltip is the mouse's only.
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleDescriptionRole):
            return tip
        return None

    @staticmethod
    def _cell(row: CallRow, column: int) -> tuple[str, Any, str | None]:
        """(display text, sort key, tooltip) of one cell."""
        record, summary = row.record, row.record.summary
        if column == 0:
            text = f"{record.started_at.astimezone():%Y-%m-%d %H:%M}"
            status = {CallStatus.OPEN: " (in progress)",
                      CallStatus.INTERRUPTED: " (interrupted)"}.get(record.status, "")
            return text + status, record.started_at.timestamp(), None
        if column == 1:
            duration = _duration_s(record)
            if duration is None:
                return NOT_AVAILABLE, -1.0, "Still in progress"
            if record.status is CallStatus.INTERRUPTED:
                # Its end is only the last thing logged before CalmLine was stopped.
                if duration <= 0:
                    return NOT_AVAILABLE, -1.0, "Not known: CalmLine was stopped during the call"
                return (f"\N{GREATER-THAN OR EQUAL TO} {_minutes_seconds(duration)}", duration,
                        "At least this long: CalmLine was stopped during the call")
            return _minutes_seconds(duration), duration, None
        if column == 6:
            count = len(row.prompts)
            return str(count), count, "\n".join(map(exercise_text, row.prompts)) or None
        if summary is None:
            return NOT_AVAILABLE, -1.0, "No totals: the call did not end normally"
        if column == 2:
            share = summary.agent.talk_share
            return f"{share * 100:.0f} %", share, None
        if column == 3:
            if summary.customer is None:
                return NOT_AVAILABLE, -1.0, "Mic-only call: interruptions need the customer's side"
            return str(summary.interruptions), summary.interruptions, None
        if column == 4:
            return f"{summary.raised_voice_s:.0f} s", summary.raised_voice_s, None
        rate = summary.agent.rate_sps
        if rate is None:
            return NOT_AVAILABLE, -1.0, "Too little speech for a pace estimate"
        return f"{rate:.1f} syl/s", rate, None


def place_axis_labels(widths: Sequence[float], left: float, right: float,
                      gap: float) -> list[tuple[int, float]]:
    """Choose which bucket labels the axis shows, and where, so that none overlap.

    Parameters
    ----------
    widths : sequence of float
        Width of each bucket's label in pixels, oldest first; bucket ``i``
        takes the ``i``-th of ``len(widths)`` equal slots from `left` to `right`.
    left, right : float
        Horizontal extent of the plot, in pixels.
    gap : float
        Least free space between two labels, in pixels.

    Returns
    -------
    list of (int, float)
        Index and left edge (pixels) of each label to draw, newest first. The
        newest bucket is always labelled.
    """
    if not widths:
        return []
    step = (right - left) / len(widths)
    # Every n-th label only, with n such that the widest label fits in n slots.
    every = max(1, math.ceil((max(widths) + gap) / step))
    placed: list[tuple[int, float]] = []
    for i in range(len(widths) - 1, -1, -every):
        centre = left + (i + 0.5) * step
        # Labels are centred under their bar, but pulled in to stay inside the
        # plot, which can push one onto its neighbour: that neighbour is left out.
        x = min(max(centre - widths[i] / 2, left), right - widths[i])
        if placed and x + widths[i] + gap > placed[-1][1]:
            continue
        placed.append((i, x))
    return placed


@dataclass(frozen=True)
class ChartLayout:
    """Where :class:`TrendChart` draws, in widget pixels.

    Attributes
    ----------
    visible : list of TrendBucket
        The buckets that fit, oldest first (the newest are kept).
    panels : tuple of QRectF
        The interruptions panel and the raised-voice panel: title and plot,
        right of the value axis.
    plots : tuple of QRectF
        The plot area of each panel, below its title.
    bars : list of QRectF or None
        One interruptions bar per visible bucket; None where no call could
        measure interruptions (a gap), while a real zero is a thin bar.
    tops : tuple of float
        The value at the top of each panel's plot: interruptions, seconds.
    points : list of QPointF
        One raised-voice point per visible bucket.
    labels : list of (str, QRectF)
        The axis labels drawn and their boxes, newest first.
    """

    visible: list[TrendBucket]
    panels: tuple[QRectF, QRectF]
    plots: tuple[QRectF, QRectF]
    tops: tuple[float, float]
    bars: list[QRectF | None]
    points: list[QPointF]
    labels: list[tuple[str, QRectF]]


class TrendChart(QWidget):
    """Two small charts of the trend: interruptions per call (bars) and raised-voice
    seconds per call (line with square markers), one point per day or shift.

    Each measure has its own labelled panel and its own mark shape, so nothing
    depends on telling colours apart; colours come from the palette, so the
    chart follows the light or dark theme.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._buckets: list[TrendBucket] = []
        self.setAccessibleName("Trend chart")
        self.setMinimumHeight(self.fontMetrics().height() * CHART_MIN_LINES)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._describe()

    def set_buckets(self, buckets: list[TrendBucket]) -> None:
        """Show these buckets (oldest first) and repaint."""
        self._buckets = list(buckets)
        self._describe()
        self.update()

    @property
    def buckets(self) -> list[TrendBucket]:
        """The buckets shown, oldest first."""
        return list(self._buckets)

    def _describe(self) -> None:
        # The chart's content in words, for screen readers and tooltips.
        if not self._buckets:
            text = "No ended calls yet."
        else:
            last = self._buckets[-1]
            interruptions = ("interruptions not measured (mic-only calls)"
                             if last.interruptions_per_call is None else
                             f"{last.interruptions_per_call:.1f} interruptions")
            text = (f"{len(self._buckets)} periods. Latest, {last.label}: {last.calls} calls, "
                    f"{interruptions} and {last.raised_voice_s_per_call:.0f} s of raised "
                    "voice per call.")
        self.setAccessibleDescription(text)
        self.setToolTip(text)

    def _margins(self) -> QRectF:
        line_h = QFontMetricsF(self.font()).height()
        return QRectF(self.rect()).adjusted(line_h * 0.5, line_h * 0.25, -line_h * 0.5,
                                            -line_h * 0.25)

    def chart_layout(self) -> ChartLayout | None:
        """Where the chart draws at its current size; None when there is nothing to draw."""
        if not self._buckets:
            return None
        metrics = QFontMetricsF(self.font())
        line_h = metrics.height()
        rect = self._margins()
        axis_w = metrics.horizontalAdvance("000.0") + line_h * 0.5
        plot_left = rect.left() + axis_w
        plot_width = max(1.0, rect.right() - plot_left)
        # Wide enough for the thinnest bar a pointer or eye can still pick out.
        fits = max(1, int(plot_width // max(6.0, line_h * 0.6)))
        visible = self._buckets[-fits:]
        step = plot_width / len(visible)
        panel_h = (rect.height() - line_h * 1.4) / 2
        panels = (QRectF(plot_left, rect.top(), plot_width, panel_h),
                  QRectF(plot_left, rect.top() + panel_h, plot_width, panel_h))
        plots = (panels[0].adjusted(0, line_h * 1.2, 0, -line_h * 0.3),
                 panels[1].adjusted(0, line_h * 1.2, 0, -line_h * 0.3))

        tops = (max((b.interruptions_per_call for b in visible
                     if b.interruptions_per_call is not None), default=0.0) or 1.0,
                max(b.raised_voice_s_per_call for b in visible) or 1.0)
        # A zero still gets a sliver of a bar, so that it cannot be taken for a gap.
        least_h = max(2.0, line_h / 8)
        bars: list[QRectF | None] = []
        for i, bucket in enumerate(visible):
            value = bucket.interruptions_per_call
            if value is None:
                bars.append(None)
                continue
            height = max(least_h, plots[0].height() * value / tops[0])
            bars.append(QRectF(plots[0].left() + (i + 0.15) * step, plots[0].bottom() - height,
                               step * 0.7, height))
        line = plots[1]
        points = [QPointF(line.left() + (i + 0.5) * step,
                          line.bottom() - line.height() * b.raised_voice_s_per_call / tops[1])
                  for i, b in enumerate(visible)]

        widths = [metrics.horizontalAdvance(b.label) for b in visible]
        labels = [(visible[i].label, QRectF(x, rect.bottom() - line_h, widths[i], line_h))
                  for i, x in place_axis_labels(widths, plot_left, rect.right(), line_h)]
        return ChartLayout(visible, panels, plots, tops, bars, points, labels)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        mark_colour = palette.color(QPalette.ColorRole.Highlight)
        painter.setPen(text_colour)
        layout = self.chart_layout()
        if layout is None:
            painter.drawText(self._margins(), Qt.AlignmentFlag.AlignCenter,
                             "No ended calls yet: the trend appears after your first call.")
            painter.end()
            return
        titles = ("Interruptions per call (bars; a gap: mic-only calls)",
                  "Raised voice per call, seconds (line, squares)")
        for title, panel, plot, top in zip(titles, layout.panels, layout.plots, layout.tops):
            self._paint_axes(painter, panel, plot, title, top)
        metrics = QFontMetricsF(self.font())
        line_h = metrics.height()
        painter.setPen(QPen(text_colour, 1))
        painter.setBrush(mark_colour)
        for bar in layout.bars:
            if bar is not None:
                painter.drawRect(bar)
        painter.setPen(QPen(mark_colour, max(2.0, line_h / 8)))
        painter.drawPolyline(layout.points)
        painter.setPen(QPen(text_colour, 1))
        half = max(3.0, line_h / 5)
        for point in layout.points:
            painter.drawRect(QRectF(point.x() - half, point.y() - half, 2 * half, 2 * half))
        for text, box in layout.labels:
            painter.drawText(QPointF(box.left(), box.bottom() - metrics.descent()), text)
        painter.end()

    def _paint_axes(self, painter: QPainter, panel: QRectF, plot: QRectF, title: str,
                    top_value: float) -> None:
        """A panel's title, base line, and value axis labelled 0 and `top_value`."""
        metrics = QFontMetricsF(self.font())
        line_h = metrics.height()
        axis_left = self._margins().left()
        painter.drawText(QPointF(panel.left(), panel.top() + metrics.ascent()), title)
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        width = panel.left() - axis_left - line_h * 0.25
        painter.drawText(QRectF(axis_left, plot.top() - line_h / 2, width, line_h), align,
                         f"{top_value:.1f}")
        painter.drawText(QRectF(axis_left, plot.bottom() - line_h / 2, width, line_h), align, "0")


def _calls(count: int) -> str:
    return "1 call" if count == 1 else f"{count} calls"


def _choose_save_path(parent: QWidget, caption: str, suggested: str,
                      name_filter: str) -> Path | None:
    chosen, _ = QFileDialog.getSaveFileName(parent, caption, str(Path.home() / suggested),
                                            name_filter)
    return Path(chosen) if chosen else None


def _replace_question(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths]
    if len(names) == 1:
        return f"{names[0]} already exists in {paths[0].parent}. Replace it with this export?"
    listed = f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{listed} already exist in {paths[0].parent}. Replace them with this export?"


def _confirm(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(parent, APP_NAME, question,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class HistoryWindow(QMainWindow):
    """The list of calls, their trend, and delete and export.

    Parameters
    ----------
    store_path : Path
        The call log.
    parent : QWidget, optional
        Parent widget.
    choose_save_path : callable, optional
        Asks where to export (see :data:`SavePathChooser`); a file dialog by default.
    confirm : callable, optional
        Asks to confirm a deletion (see :data:`Confirmer`); a message box by default.
    delete_call : callable, optional
        Deletes a call by id; by default through a writing :class:`CallStore`
        of its own (safe beside the engine's: only the engine ends open calls,
        and an open call cannot be deleted from here).
    max_calls : int
        Newest calls to list.
    """

    def __init__(self, store_path: Path, parent: QWidget | None = None, *,
                 choose_save_path: SavePathChooser = _choose_save_path,
                 confirm: Confirmer = _confirm,
                 delete_call: CallDeleter | None = None,
                 max_calls: int = DEFAULT_MAX_CALLS) -> None:
        super().__init__(parent)
        self.store_path = Path(store_path)
        self._choose_save_path = choose_save_path
        self._confirm = confirm
        self._delete_call = delete_call or self._delete_with_writer
        self._max_calls = max_calls
        self.setWindowTitle(window_title("Call history"))
        self.setObjectName("history_window")

        self.model = CallTableModel(self)
        self.table = QTableView()
        self.table.setObjectName("call_table")
        self.table.setAccessibleName("Calls")
        self.table.setAccessibleDescription("One row per call, newest first. Press Delete to "
                                            "delete the selected call.")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        # Every column fits its contents ("(interrupted)" after a date must not be cut
        # off); the last one takes any spare width, so the numbers stay close together.
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        # Measuring goes through Python for every cell and role, and happens on each
        # refresh: the rows in view and this many around them are plenty to size by.
        header.setResizeContentsPrecision(SIZE_BY_ROWS)
        self.table.verticalHeader().hide()
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.selectionModel().selectionChanged.connect(self._update_exercises)

        # The Prompts count's tooltip, for the selected call, where the keyboard reaches it;
        # a few lines tall whatever it holds, so that the table does not jump with the selection.
        self.exercises = QPlainTextEdit()
        self.exercises.setObjectName("exercises")
        self.exercises.setReadOnly(True)
        self.exercises.setTabChangesFocus(True)
        self.exercises.setAccessibleName("Breathing exercises of the selected call")
        margins = 2 * (self.exercises.document().documentMargin() + self.exercises.frameWidth())
        self.exercises.setFixedHeight(round(self.exercises.fontMetrics().lineSpacing()
                                            * EXERCISE_LINES + margins))
        exercises_label = QLabel("Breathing e&xercises of the selected call:")
        exercises_label.setBuddy(self.exercises)

        delete_action = QAction("Delete call", self.table)
        delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete_action.triggered.connect(self.delete_selected)
        self.table.addAction(delete_action)
        refresh_action = QAction("Refresh", self)
        refresh_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        refresh_action.triggered.connect(self.refresh)
        self.addAction(refresh_action)
        # Opened from the live window for a glance between calls: Esc puts it away
        # as it would a dialog, without reaching for the mouse.
        close_action = QAction("Close", self)
        close_action.setShortcuts([QKeySequence(Qt.Key.Key_Escape),
                                   QKeySequence(QKeySequence.StandardKey.Close)])
        close_action.triggered.connect(self.close)
        self.addAction(close_action)

        self.chart = TrendChart()
        self.grouping = QComboBox()
        self.grouping.setObjectName("grouping")
        self.grouping.addItem("Per day", False)
        self.grouping.addItem("Per shift (calls within 12 h)", True)
        self.grouping.setAccessibleName("Group the trend")
        self.grouping.currentIndexChanged.connect(self._update_chart)
        grouping_label = QLabel("&Group the trend:")
        grouping_label.setBuddy(self.grouping)

        self.delete_button = QPushButton("&Delete call\N{HORIZONTAL ELLIPSIS}")
        self.delete_button.setAccessibleName("Delete the selected call")
        self.delete_button.clicked.connect(self.delete_selected)
        self.export_csv_button = QPushButton("Export &CSV\N{HORIZONTAL ELLIPSIS}")
        self.export_csv_button.setAccessibleName("Export calls and events as CSV")
        self.export_csv_button.clicked.connect(self.export_csv)
        self.export_json_button = QPushButton("Export &JSON\N{HORIZONTAL ELLIPSIS}")
        self.export_json_button.setAccessibleName("Export calls and events as JSON")
        self.export_json_button.clicked.connect(self.export_json)
        self.selected_only = QCheckBox("Selected call &only")
        self.selected_only.setAccessibleName("Export only the selected call")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Refresh the list")
        self.refresh_button.clicked.connect(self.refresh)

        self.status_label = QLabel()
        self.status_label.setObjectName("status_label")
        self.status_label.setAccessibleName("Status")
        self.status_label.setWordWrap(True)

        buttons = QHBoxLayout()
        for button in (self.delete_button, self.export_csv_button, self.export_json_button,
                       self.selected_only, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_controls = QHBoxLayout()
        chart_controls.addWidget(grouping_label)
        chart_controls.addWidget(self.grouping)
        chart_controls.addStretch(1)
        chart_layout.addLayout(chart_controls)
        chart_layout.addWidget(self.chart)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table)
        table_layout.addWidget(exercises_label)
        table_layout.addWidget(self.exercises)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(table_box)
        splitter.addWidget(chart_box)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(buttons)
        layout.addWidget(splitter)
        layout.addWidget(self.status_label)
        self.setCentralWidget(central)
        self.setTabOrder(self.table, self.exercises)
        self.setTabOrder(self.exercises, self.delete_button)
        self.setTabOrder(self.delete_button, self.export_csv_button)
        self.setTabOrder(self.export_csv_button, self.export_json_button)
        self.setTabOrder(self.export_json_button, self.selected_only)
        self.setTabOrder(self.selected_only, self.refresh_button)
        self.setTabOrder(self.refresh_button, self.grouping)
        self.setTabOrder(self.grouping, self.chart)
        self.refresh()
        self.resize(opening_size(self, self.sizeHint()))

    def sizeHint(self) -> QSize:
        """Wide enough for every column of the table, in pixels.

        The layout alone asks for a narrow window, which hides the last columns
        behind a scroll bar.
        """
        hint = super().sizeHint()
        table = self.table
        header = table.horizontalHeader()
        widths = [max(header.sectionSizeHint(c), table.sizeHintForColumn(c))
                  for c in range(header.count())]
        # The stretched last column never gets narrower than the size it had
        # before stretching, the default section size.
        widths[-1] = max(widths[-1], header.defaultSectionSize())
        # The vertical scroll bar is counted too: a few weeks of calls need one.
        table_w = sum(widths) + table.verticalScrollBar().sizeHint().width() + 2 * table.frameWidth()
        margins = self.centralWidget().layout().contentsMargins()
        return hint.expandedTo(QSize(table_w + margins.left() + margins.right(), hint.height()))

    # --- reading

    @Slot()
    def refresh(self) -> None:
        """Read the calls again (connect to the engine's call-ended signal)."""
        selected = self.selected_call_id()
        rows = self._read_rows()
        self.model.set_rows(rows)
        self._update_chart()
        # Keep the selection; otherwise start on the newest call, so that the
        # keyboard user lands on a row and the actions are ready.
        if not (selected is not None and self.select_call(selected)) and rows:
            self.table.selectRow(0)
            self.table.setCurrentIndex(self.model.index(0, 0))
        self._update_buttons()
        self._update_exercises()

    def _read_rows(self) -> list[CallRow]:
        """The logged calls, newest first; none, with the reason in the status line, on failure."""
        try:
            with CallStore(self.store_path, read_only=True) as store:
                records = store.calls(limit=self._max_calls)
                prompts = store.prompts_by_call()
        except NoCallLogYet:
            self._status("No calls logged yet.")  # the first call creates the log
            return []
        except StoreError as exc:
            logger.warning("cannot read the call log: %s", exc)
            self._status(f"Cannot read the call log: {exc}")
            return []
        self._status(f"{len(records)} call{'s' if len(records) != 1 else ''}.")
        return [CallRow(r, tuple(prompts.get(r.id, ()))) for r in records]

    def _update_chart(self) -> None:
        self.chart.set_buckets(trend_buckets([row.record for row in self.model.rows()],
                                             per_shift=bool(self.grouping.currentData())))

    def selected_call_id(self) -> int | None:
        """The selected call's id, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.data(rows[0], ROLE_CALL_ID) if rows else None

    def select_call(self, call_id: int) -> bool:
        """Select a call by id; False if it is not listed."""
        row = self.model.table_row_of(call_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.setCurrentIndex(self.model.index(row, 0))
        return True

    def _update_buttons(self) -> None:
        call_id = self.selected_call_id()
        rows = {row.record.id: row for row in self.model.rows()}
        open_call = call_id is not None and rows[call_id].record.status is CallStatus.OPEN
        self.delete_button.setEnabled(call_id is not None and not open_call)
        self.delete_button.setToolTip("A call in progress cannot be deleted" if open_call else "")
        has_calls = bool(rows)
        self.export_csv_button.setEnabled(has_calls)
        self.export_json_button.setEnabled(has_calls)
        self.selected_only.setEnabled(call_id is not None)

    def _update_exercises(self) -> None:
        call_id = self.selected_call_id()
        row = next((r for r in self.model.rows() if r.record.id == call_id), None)
        if row is None:
            text = "No call selected."
        elif not row.prompts:
            text = "None during this call."
        else:
            text = "\n".join(map(exercise_text, row.prompts))
        self.exercises.setPlainText(text)

    def _status(self, text: str) -> None:
        self.status_label.setText(text)

    # --- delete

    def _delete_with_writer(self, call_id: int) -> bool:
        with CallStore(self.store_path) as store:
            return store.delete_call(call_id)

    @Slot()
    def delete_selected(self) -> None:
        """Delete the selected call after confirmation."""
        call_id = self.selected_call_id()
        if call_id is None or not self.delete_button.isEnabled():
            return
        row = next(r for r in self.model.rows() if r.record.id == call_id)
        when = f"{row.record.started_at.astimezone():%Y-%m-%d %H:%M}"
        recording = " and its recording" if row.record.recording_path is not None else ""
        if not self._confirm(self, f"Delete the call of {when}{recording}? This cannot be "
                                   "undone."):
            return
        try:
            existed = self._delete_call(call_id)
        except StoreError as exc:
            self._status(f"Cannot delete the call: {exc}")
            return
        self.refresh()
        self._status(f"Deleted the call of {when}." if existed else
                     f"The call of {when} was already gone.")

    # --- export

    @Slot()
    def export_json(self) -> Path | None:
        """Export the calls (every call, or the selected one) with their events and prompts as JSON.

        Returns
        -------
        Path or None
            The file written, or None if the user cancelled or it failed.
        """
        call_ids, name = self._export_scope()
        path = self._choose_save_path(self, "Export calls as JSON", f"{name}.json",
                                      "JSON files (*.json)")
        if path is None:
            return None
        try:
            with CallStore(self.store_path, read_only=True) as store:
                count = store.export_json(path, call_ids)
        except StoreError as exc:
            self._status(f"Export failed: {exc}")
            return None
        self._status(f"Exported {_calls(count)} to {path}.")
        return path

    @Slot()
    def export_csv(self) -> tuple[Path, Path, Path] | None:
        """Export the calls (every call, or the selected one) as CSV, with their events and
        breathing offers in two more files beside it.

        Returns
        -------
        tuple of Path or None
            (calls file, events file, prompts file), or None if the user
            cancelled or it failed.
        """
        call_ids, name = self._export_scope()
        path = self._choose_save_path(self, "Export calls as CSV", f"{name}.csv",
                                      "CSV files (*.csv)")
        if path is None:
            return None
        # The file dialog asked about replacing the name chosen, and only that.
        unasked = [] if path.suffix.lower() == ".csv" else [path.with_name(path.name + ".csv")]
        path = unasked[0] if unasked else path
        events_path = path.with_name(f"{path.stem}-events.csv")
        prompts_path = path.with_name(f"{path.stem}-prompts.csv")
        existing = [p for p in (*unasked, events_path, prompts_path) if p.exists()]
        if existing and not self._confirm(self, _replace_question(existing)):
            self._status("Export cancelled: nothing was replaced.")
            return None
        try:
            with CallStore(self.store_path, read_only=True) as store:
                count = store.export_csv(path, events_path, call_ids, prompts_path)
        except StoreError as exc:
            self._status(f"Export failed: {exc}")
            return None
        self._status(f"Exported {_calls(count)} to {path}, with the events and breathing offers "
                     f"in {events_path.name} and {prompts_path.name}.")
        return path, events_path, prompts_path

    def _export_scope(self) -> tuple[list[int] | None, str]:
        """The calls to export (None: all) and a file name for them, without extension."""
        call_id = self.selected_call_id()
        if self.selected_only.isChecked() and call_id is not None:
            return [call_id], f"calmline-call-{call_id}"
        return None, "calmline-calls"
