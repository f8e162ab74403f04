"""The breathing exercise: a painted pacer, the quiet offer that leads to it, and its log.

:class:`BreathingPacer` guides one session of a pattern from
:mod:`models.breathing_patterns`: a shape that grows on the inhale, holds and
shrinks on the exhale, a ring that fills over the session, and the phase
written out in large text with its count, so that nothing depends on colour.

:class:`BreathingOffer` is the small prompt shown when the breathing-prompt
rule fires. It never interrupts: it waits until the agent has been silent for
:data:`SILENCE_BEFORE_OFFER_S` (or the call has ended), appears without taking
focus from the softphone, and goes away by itself after
:data:`OFFER_EXPIRES_S`.

Every offer, and every exercise started by hand, is one row in the call log
(:class:`StorePromptLog`): ``shown`` when the offer appears, then ``started``
(the row keeps that time as the exercise's start), and ``completed`` or
``stopped`` (ended early); an offer turned down, closed or left to expire is
``dismissed``. A hand-started exercise has the trigger ``manual`` and starts at
``started``.

Wiring, in the app::

    log = StorePromptLog(store_path)          # at start-up; see its notes
    pacer = BreathingPacer(log)
    offer = BreathingOffer(log)
    offer.start_requested.connect(lambda prompt: (pacer.show(), pacer.start(prompt=prompt)))
    # breathing_prompt event -> offer.offer(trigger, call_id)
    # each frame             -> offer.set_agent_speaking(agent_is_speaking)
    # call ended             -> offer.call_ended()

Clocks are injectable (a callable returning seconds, monotonic), so tests
move time forward by hand and call ``refresh()`` instead of waiting.
"""
from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable, Hashable
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QCloseEvent, QColor, QFont, QGuiApplication, QKeyEvent, QPainter,
                           QPaintEvent, QPalette, QPen, QShowEvent)
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
                               QVBoxLayout, QWidget)

from models.breathing_patterns import (PATTERNS, BreathingPattern, cycle_count, fullness_at,
                                       pattern_by_name, phase_at, phase_count,
                                       total_duration_s)
from models.store import CallStore, PromptOutcome, StoreError
from ui.announce import announce
from ui.window_titles import window_title

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""A monotonic clock: seconds as a float, only differences matter."""

MANUAL_TRIGGER = "manual"
"""The trigger logged for an exercise the agent started by hand."""

SILENCE_BEFORE_OFFER_S = 1.5
"""How long the agent must have been silent before an offer appears, in seconds.

Long enough to be past the end of a sentence, not just a breath between words.
"""

OFFER_EXPIRES_S = 30.0
"""How long a shown offer waits before it goes away as dismissed, in seconds."""

_FRAME_INTERVAL_MS = 33
"""Animation tick (about 30 per second): smooth for a shape that moves over seconds."""

_OFFER_POLL_MS = 250
"""How often the offer re-checks silence and expiry when no frames arrive, in ms."""

_OFFER_QUESTION = "A minute to breathe?"
_OFFER_DETAIL = "A short guided breath can help you settle before you go on."

_OUTCOME_ORDER = {PromptOutcome.SHOWN: 0, PromptOutcome.STARTED: 1,
                  PromptOutcome.COMPLETED: 2, PromptOutcome.STOPPED: 2, PromptOutcome.DISMISSED: 2}


class PromptLog(Protocol):
    """Where breathing prompts and their outcomes are logged."""

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> Hashable:
        """Log a new prompt and return its key.

        Parameters
        ----------
        trigger : str
            What led to it (``raised_voice``, ``interruption``, ``manual``...).
        call_id : int or None
            The call it belongs to; None outside a call.
        outcome : PromptOutcome
            Where it starts: ``shown`` for an offer, ``started`` by hand.

        Returns
        -------
        Hashable
            The key for :meth:`update`.
        """

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        """Move a logged prompt to a later outcome.

        Parameters
        ----------
        key : Hashable
            What :meth:`record` returned.
        outcome : PromptOutcome
            The new outcome.
        """


class StorePromptLog:
    """A :class:`PromptLog` writing to the call log, one small transaction per change.

    It opens a writing :class:`~models.store.CallStore` of its own, for use in
    the UI thread only (a store's connection belongs to the thread that opened
    it).

    It may be opened at any time, during a call too: only a monitoring
    engine's store closes calls left open by a crash. While it is open, an
    engine started by another process (``calmline monitor --headless``) leaves
    the exercises logged here alone, even if this app's engine is paused.

    Parameters
    ----------
    store_path : Path
        The call log file.
    now : callable, optional
        Wall-clock time as a timezone-aware datetime; UTC now by default.

    Raises
    ------
    StoreError
        If the call log cannot be opened.
    """

    def __init__(self, store_path: Path,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._store = CallStore(store_path, prompt_log=True)
        self._now = now

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> int:
        """Log a new prompt (see :meth:`PromptLog.record`); returns its row id.

        Raises
        ------
        StoreError
            If the row cannot be written (the call does not exist, say).
        """
        return self._store.record_prompt(call_id, self._now(), trigger, outcome)

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        """Move a prompt forward (see :meth:`PromptLog.update`).

        Raises
        ------
        StoreError
            If the row is missing or the outcome would move backwards.
        """
        if not isinstance(key, int):
            raise TypeError(f"a call-log prompt key is a row id, not {key!r}")
        self._store.update_prompt_outcome(key, outcome, self._now())

    def close(self) -> None:
        """Close the store; the log cannot be used afterwards."""
        self._store.close()


class _UnloggedPrompt:
    """The key of a prompt that was not logged."""


class RealCallsPromptLog:
    """A :class:`PromptLog` that logs only while the app monitors the agent's real calls.

    A demo call or a replayed recording is not a call the agent took: its
    prompts stay out of the log, and so do their later outcomes, even when
    live devices take over while the exercise runs.

    Parameters
    ----------
    log : StorePromptLog
        Where the real calls' prompts go.
    """

    def __init__(self, log: StorePromptLog) -> None:
        self._log = log
        self.logging = True
        """Whether the calls monitored now are real (set by the app as it starts a feed)."""

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> Hashable:
        """Log a new prompt if the calls are real (see :meth:`PromptLog.record`)."""
        if not self.logging:
            return _UnloggedPrompt()
        return self._log.record(trigger, call_id, outcome)

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        """Move a logged prompt forward (see :meth:`PromptLog.update`)."""
        if not isinstance(key, _UnloggedPrompt):
            self._log.update(key, outcome)

    def close(self) -> None:
        """Close the underlying log."""
        self._log.close()


class LoggedPrompt:
    """One prompt's way through shown, started and completed or stopped (or dismissed).

    The outcome only moves forward; asking for the current or an earlier one
    changes nothing, so that closing the pacer after it completed does not
    log a dismissal. A failure to write the log is reported as a warning and
    never stops the exercise: the agent's calm matters more than the row.

    Parameters
    ----------
    log : PromptLog
        Where to write.
    trigger : str
        What led to the prompt.
    call_id : int or None
        The call it belongs to.
    outcome : PromptOutcome
        The first outcome, written at once.
    """

    def __init__(self, log: PromptLog, trigger: str, call_id: int | None,
                 outcome: PromptOutcome = PromptOutcome.SHOWN) -> None:
        self._log = log
        self.trigger = trigger
        self.call_id = call_id
        self._outcome = outcome
        self._key: Hashable | None = None
        try:
            self._key = log.record(trigger, call_id, outcome)
        except StoreError as exc:
            logger.warning("breathing prompt (%s) not logged: %s", trigger, exc)

    @property
    def outcome(self) -> PromptOutcome:
        """The latest outcome."""
        return self._outcome

    @property
    def finished(self) -> bool:
        """True once completed, stopped or dismissed."""
        return _OUTCOME_ORDER[self._outcome] == 2

    def advance(self, outcome: PromptOutcome) -> None:
        """Move to ``outcome`` if it comes later than the current one.

        Parameters
        ----------
        outcome : PromptOutcome
            The new outcome.
        """
        if self.finished or _OUTCOME_ORDER[outcome] <= _OUTCOME_ORDER[self._outcome]:
            return
        self._outcome = outcome
        if self._key is None:
            return
        try:
            self._log.update(self._key, outcome)
        except StoreError as exc:
            logger.warning("breathing prompt (%s) outcome %s not logged: %s",
                           self.trigger, outcome.value, exc)


class _Session(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"


class _PacerCanvas(QWidget):
    """The painted guide: a shape sized by lung fullness inside a session ring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Breathing guide")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._fullness = 0.0
        self._session_progress = 0.0
        self._square = False

    def set_state(self, fullness: float, session_progress: float, square: bool) -> None:
        """Show a moment of the session.

        Parameters
        ----------
        fullness : float
            Lung fullness 0 to 1: the shape's size.
        session_progress : float
            Fraction of the session done, 0 to 1: the ring.
        square : bool
            Draw a box (box breathing) instead of a circle.
        """
        self._fullness = fullness
        self._session_progress = session_progress
        self._square = square
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        # Sized in lines of text so that it grows with the font and the screen's DPI.
        side = 14 * self.fontMetrics().height()
        return QSize(side, side)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        side = 7 * self.fontMetrics().height()
        return QSize(side, side)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        palette = self.palette()
        accent = palette.color(QPalette.ColorRole.Highlight)
        track = palette.color(QPalette.ColorRole.Mid)
        ring_width = max(3.0, self.fontMetrics().height() / 3.0)
        side = min(self.width(), self.height()) - ring_width
        centre = QPointF(self.width() / 2.0, self.height() / 2.0)
        ring = QRectF(centre.x() - side / 2.0, centre.y() - side / 2.0, side, side)

        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(track, ring_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        painter.drawEllipse(ring)
        if self._session_progress > 0.0:
            painter.setPen(QPen(accent, ring_width, Qt.PenStyle.SolidLine,
                                Qt.PenCapStyle.RoundCap))
            # Qt angles are in 1/16 degree, counter-clockwise from 3 o'clock:
            # start at 12 o'clock and go clockwise like a clock hand.
            painter.drawArc(ring, 90 * 16, -round(self._session_progress * 360 * 16))

        # Never shrink to nothing: an empty-lung shape still shows where to look.
        inner_max = side - 3.0 * ring_width
        inner = inner_max * (0.3 + 0.7 * self._fullness)
        if self._square:
            inner /= math.sqrt(2.0)  # keep the box's corners inside the ring
        shape = QRectF(centre.x() - inner / 2.0, centre.y() - inner / 2.0, inner, inner)
        fill = QColor(accent)
        fill.setAlphaF(0.35)
        painter.setBrush(fill)
        painter.setPen(QPen(accent, max(1.5, ring_width / 2.0)))
        if self._square:
            painter.drawRoundedRect(shape, inner / 12.0, inner / 12.0)
        else:
            painter.drawEllipse(shape)
        painter.end()


class BreathingPacer(QWidget):
    """A guided breathing session for one to two minutes.

    The agent picks a pattern and starts; the shape and the written phase
    lead each breath, and the session completes by itself after a whole
    number of cycles (:func:`~models.breathing_patterns.total_duration_s`).
    Space starts, pauses and resumes; Esc closes (a session under way is then
    stopped). Pauses do not count towards the session.

    Each session is logged: an offered one through the :class:`LoggedPrompt`
    given to :meth:`start`, a hand-started one as a new ``manual`` prompt.

    Parameters
    ----------
    prompt_log : PromptLog
        Where sessions are logged.
    clock : callable, optional
        Monotonic seconds; :func:`time.monotonic` by default.
    parent : QWidget, optional
        Parent widget.

    Signals
    -------
    started(str)
        A session has started; the pattern's name.
    completed()
        The session ran to its end.
    stopped()
        The session was stopped or closed before its end.
    """

    started = Signal(str)
    completed = Signal()
    stopped = Signal()

    def __init__(self, prompt_log: PromptLog, clock: Clock = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._log = prompt_log
        self._clock = clock
        self._state = _Session.IDLE
        self._pattern = PATTERNS[0]
        self._prompt: LoggedPrompt | None = None
        self._duration_s = total_duration_s(self._pattern)
        self._banked_s = 0.0  # exercise time before the latest resume
        self._resumed_at = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(_FRAME_INTERVAL_MS)
        self._timer.timeout.connect(self.refresh)

        self.setWindowTitle(window_title("Breathing exercise"))
        self.setAccessibleName("CalmLine breathing exercise")

        self._picker = QComboBox()
        self._picker.setAccessibleName("Breathing pattern")
        for pattern in PATTERNS:
            self._picker.addItem(pattern.label, pattern.name)
        self._picker.currentIndexChanged.connect(self._on_pattern_picked)

        self._description = QLabel()
        self._description.setWordWrap(True)
        self._description.setAccessibleName("Pattern description")

        self._canvas = _PacerCanvas()

        self._phase_label = QLabel()
        self._phase_label.setAccessibleName("Breathing phase")
        self._phase_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Wrapped, so that a long phase at a large font does not widen the window.
        self._phase_label.setWordWrap(True)
        self._phase_label.setFont(_scaled_font(self.font(), 2.0, bold=True))

        self._count_label = QLabel()
        self._count_label.setAccessibleName("Count")
        self._count_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._count_label.setFont(_scaled_font(self.font(), 1.6))

        self._session_label = QLabel()
        self._session_label.setAccessibleName("Session progress")
        self._session_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        # Its name is set with its text (Start, Pause, Resume, Start again),
        # so that what a screen reader says matches what is on the button.
        self._start_button = QPushButton()
        self._start_button.setAutoDefault(True)
        self._start_button.clicked.connect(self.toggle)
        self._stop_button = QPushButton("Stop")
        self._stop_button.setAccessibleName("Stop the exercise")
        self._stop_button.setAutoDefault(True)
        self._stop_button.clicked.connect(self.stop)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self._start_button)
        buttons.addWidget(self._stop_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self._picker)
        layout.addWidget(self._description)
        layout.addWidget(self._canvas, 1)
        layout.addWidget(self._phase_label)
        layout.addWidget(self._count_label)
        layout.addWidget(self._session_label)
        layout.addLayout(buttons)

        self.setTabOrder(self._start_button, self._stop_button)
        self.setTabOrder(self._stop_button, self._picker)
        # Space and Esc reach the pacer from anywhere inside it; the start
        # button holds focus first so that Space starts straight away.
        self.setFocusProxy(self._start_button)
        self._show_pattern()
        self.refresh()

    # --- public API

    @property
    def pattern(self) -> BreathingPattern:
        """The pattern of the current (or next) session."""
        return self._pattern

    @property
    def running(self) -> bool:
        """True while a session is under way and not paused."""
        return self._state is _Session.RUNNING

    @property
    def paused(self) -> bool:
        """True while a session is paused."""
        return self._state is _Session.PAUSED

    def elapsed_s(self) -> float:
        """Seconds of exercise in the current session, pauses excluded."""
        if self._state is _Session.RUNNING:
            return self._banked_s + (self._clock() - self._resumed_at)
        return self._banked_s

    def session_duration_s(self) -> float:
        """Length of the current (or next) session in seconds."""
        return self._duration_s

    def start(self, pattern_name: str | None = None, *, prompt: LoggedPrompt | None = None,
              call_id: int | None = None) -> None:
        """Start a session; one already under way is stopped first.

        The pacer does not show itself: the caller shows it (it was asked for).

        Parameters
        ----------
        pattern_name : str, optional
            A pattern's ``name``; the picker's choice by default.
        prompt : LoggedPrompt, optional
            The offer that led here (from :attr:`BreathingOffer.start_requested`);
            it moves to ``started``. Without one, the session is logged as a
            ``manual`` prompt starting at ``started``.
        call_id : int, optional
            The call a hand-started session belongs to; ignored with ``prompt``.

        Raises
        ------
        KeyError
            If there is no pattern called ``pattern_name``.
        """
        pattern = self._pattern if pattern_name is None else pattern_by_name(pattern_name)
        if self._state in (_Session.RUNNING, _Session.PAUSED):
            self._end(PromptOutcome.STOPPED)
        if pattern is not self._pattern:
            # Nothing is under way now, so the picker's handler takes the pattern on.
            self._picker.setCurrentIndex(PATTERNS.index(pattern))
        if prompt is None:
            prompt = LoggedPrompt(self._log, MANUAL_TRIGGER, call_id, PromptOutcome.STARTED)
        else:
            prompt.advance(PromptOutcome.STARTED)
        self._prompt = prompt
        self._duration_s = total_duration_s(pattern)
        self._banked_s = 0.0
        self._resumed_at = self._clock()
        self._state = _Session.RUNNING
        self._picker.setEnabled(False)
        self._timer.start()
        logger.info("breathing exercise started: %s (%s), %.0f s",
                    pattern.name, prompt.trigger, self._duration_s)
        self.started.emit(pattern.name)
        self.refresh()

    def pause(self) -> None:
        """Pause a running session."""
        if self._state is not _Session.RUNNING:
            return
        self._banked_s = self.elapsed_s()
        self._state = _Session.PAUSED
        self._timer.stop()
        self.refresh()

    def resume(self) -> None:
        """Resume a paused session."""
        if self._state is not _Session.PAUSED:
            return
        self._resumed_at = self._clock()
        self._state = _Session.RUNNING
        self._timer.start()
        self.refresh()

    def toggle(self) -> None:
        """What Space does: start when idle or done, else pause or resume."""
        if self._state is _Session.RUNNING:
            self.pause()
        elif self._state is _Session.PAUSED:
            self.resume()
        else:
            self.start()

    def stop(self) -> None:
        """End a session under way early; it is logged as ``stopped``."""
        if self._state in (_Session.RUNNING, _Session.PAUSED):
            self._end(PromptOutcome.STOPPED)
            self.refresh()

    def refresh(self) -> None:
        """Bring the picture up to the clock; completes the session at its end.

        The animation timer calls this; tests call it after moving a fake clock.
        """
        if self._state is _Session.RUNNING and self.elapsed_s() >= self._duration_s:
            self._banked_s = self._duration_s
            self._end(PromptOutcome.COMPLETED)
        self._paint_state()

    # --- Qt events

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.toggle()
        elif event.key() == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.stop()
        super().closeEvent(event)

    # --- internals

    def _end(self, outcome: PromptOutcome) -> None:
        self._timer.stop()
        self._banked_s = min(self.elapsed_s(), self._duration_s)
        self._state = _Session.DONE if outcome is PromptOutcome.COMPLETED else _Session.IDLE
        self._picker.setEnabled(True)
        if self._prompt is not None:
            self._prompt.advance(outcome)
            self._prompt = None
        logger.info("breathing exercise %s after %.0f s", outcome.value, self._banked_s)
        if outcome is PromptOutcome.COMPLETED:
            self.completed.emit()
        else:
            self._banked_s = 0.0
            self.stopped.emit()

    def _on_pattern_picked(self, index: int) -> None:
        if self._state in (_Session.RUNNING, _Session.PAUSED):
            return
        self._pattern = PATTERNS[index]
        self._duration_s = total_duration_s(self._pattern)
        self._state = _Session.IDLE
        self._banked_s = 0.0
        self._show_pattern()
        self.refresh()

    def _show_pattern(self) -> None:
        _set_text(self._description, self._pattern.description)

    def _paint_state(self) -> None:
        pattern = self._pattern
        elapsed = self.elapsed_s()
        cycles = cycle_count(pattern)
        remaining_s = max(0.0, self._duration_s - elapsed)
        if self._state is _Session.IDLE:
            phase_text, count_text = "Ready when you are", ""
            session_text = f"{cycles} breaths, {_minutes(self._duration_s)}"
            fullness, progress = 0.0, 0.0
        elif self._state is _Session.DONE:
            phase_text, count_text = "Well done", ""
            session_text = "Finished. Take your time before the next call."
            fullness, progress = 0.0, 1.0
        else:
            position = phase_at(pattern, elapsed)
            # The last cycle ends exactly at the session's end; never show "6 of 5".
            breath = min(position.cycle_index + 1, cycles)
            phase_text = position.phase.prompt
            count_text = str(phase_count(position))
            session_text = f"Breath {breath} of {cycles}, {_minutes(remaining_s)} left"
            if self._state is _Session.PAUSED:
                phase_text, count_text = "Paused", ""
                session_text += ". Press Space to go on."
            fullness = fullness_at(pattern, elapsed)
            progress = elapsed / self._duration_s
        if self._state is not _Session.IDLE and self._phase_label.text() != phase_text:
            # The pacer may be followed with eyes closed: phase changes are spoken too.
            announce(self._phase_label, phase_text)
        _set_text(self._phase_label, phase_text)
        _set_text(self._count_label, count_text)
        _set_text(self._session_label, session_text)
        self._canvas.setAccessibleDescription(phase_text)
        self._canvas.set_state(fullness, progress, square=pattern.name == "box")
        button_text = {_Session.RUNNING: "Pause", _Session.PAUSED: "Resume",
                       _Session.DONE: "Start again"}.get(self._state, "Start")
        if self._start_button.text() != button_text:
            self._start_button.setText(button_text)
            self._start_button.setAccessibleName(button_text)
        self._stop_button.setEnabled(self._state in (_Session.RUNNING, _Session.PAUSED))


class _OfferState(enum.Enum):
    IDLE = "idle"
    QUEUED = "queued"
    SHOWN = "shown"


class BreathingOffer(QWidget):
    """A small, quiet prompt: "A minute to breathe?" with Start and Not now.

    An offer is queued by :meth:`offer` and appears only once the agent has
    been silent for :data:`SILENCE_BEFORE_OFFER_S`, or at once after the call
    has ended (:meth:`call_ended`). It appears without taking focus from the
    softphone and is not modal; the agent can reach it with the mouse or by
    switching windows, then Tab between the buttons and press Esc for Not
    now. Not taken within :data:`OFFER_EXPIRES_S`, it goes away by itself.

    The offer is logged as ``shown`` when it appears and ``dismissed`` if
    declined or expired; on Start it hides and hands its :class:`LoggedPrompt`
    to :attr:`start_requested` for :meth:`BreathingPacer.start`, which logs
    the rest. While one offer is queued or shown, further offers are ignored.

    Parameters
    ----------
    prompt_log : PromptLog
        Where offers are logged.
    clock : callable, optional
        Monotonic seconds; :func:`time.monotonic` by default.
    parent : QWidget, optional
        Owner; the offer is always a window of its own.

    Signals
    -------
    start_requested(LoggedPrompt)
        The agent chose Start; pass the prompt to :meth:`BreathingPacer.start`.
    dismissed()
        The agent chose Not now, or the offer expired.
    """

    start_requested = Signal(object)
    dismissed = Signal()

    def __init__(self, prompt_log: PromptLog, clock: Clock = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        # Appearing must never pull keystrokes away from the softphone.
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self._log = prompt_log
        self._clock = clock
        self._state = _OfferState.IDLE
        self._trigger = ""
        self._call_id: int | None = None
        self._prompt: LoggedPrompt | None = None
        self._shown_at = 0.0
        self._speaking = False
        # Until frames say otherwise, the agent has been quiet since we started.
        self._silent_since: float | None = clock()
        self._timer = QTimer(self)
        self._timer.setInterval(_OFFER_POLL_MS)
        self._timer.timeout.connect(self.refresh)

        self.setWindowTitle(window_title("A minute to breathe?"))
        self.setAccessibleName("CalmLine breathing offer")

        question = QLabel()
        question.setFont(_scaled_font(self.font(), 1.3, bold=True))
        question.setAccessibleName("Offer")
        _set_text(question, _OFFER_QUESTION)
        detail = QLabel()
        detail.setWordWrap(True)
        detail.setAccessibleName("Offer details")
        _set_text(detail, _OFFER_DETAIL)

        self._start_button = QPushButton("Start")
        self._start_button.setAccessibleName("Start the breathing exercise")
        self._start_button.setAutoDefault(True)
        self._start_button.clicked.connect(self.accept)
        self._later_button = QPushButton("Not now")
        self._later_button.setAccessibleName("Not now")
        self._later_button.setAutoDefault(True)
        self._later_button.clicked.connect(self.decline)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self._start_button)
        buttons.addWidget(self._later_button)

        layout = QVBoxLayout(self)
        layout.addWidget(question)
        layout.addWidget(detail)
        layout.addLayout(buttons)
        self.setTabOrder(self._start_button, self._later_button)
        self.setFocusProxy(self._start_button)

    # --- what the app tells the offer

    def offer(self, trigger: str, call_id: int | None) -> None:
        """Queue an offer; it appears at the next pause or at the end of the call.

        Parameters
        ----------
        trigger : str
            What led to it, such as ``raised_voice`` or ``interruption``.
        call_id : int or None
            The call it belongs to; None outside a call.
        """
        if self._state is not _OfferState.IDLE:
            logger.debug("breathing offer (%s) ignored: one is already %s",
                         trigger, self._state.value)
            return
        self._trigger = trigger
        self._call_id = call_id
        self._state = _OfferState.QUEUED
        self._timer.start()
        self.refresh()

    def set_agent_speaking(self, speaking: bool) -> None:
        """Tell the offer whether the agent is speaking now (from each frame).

        Parameters
        ----------
        speaking : bool
            True while the agent's voice activity is on.
        """
        if speaking:
            self._silent_since = None
        elif self._speaking or self._silent_since is None:
            self._silent_since = self._clock()
        self._speaking = speaking
        self.refresh()

    def call_ended(self) -> None:
        """The call has ended: a queued offer appears at once."""
        if self._state is _OfferState.QUEUED:
            self._appear(self._clock())

    def withdraw(self, why: str) -> None:
        """Take back a pending offer: a queued one is dropped, a shown one is dismissed.

        For when the offer no longer fits: the agent is already breathing, or
        another call has started and the offer belongs to the last one.

        Parameters
        ----------
        why : str
            For the log, e.g. ``"a new call started"``.
        """
        if self._state is _OfferState.QUEUED:
            logger.info("breathing offer (%s) dropped before it was shown: %s", self._trigger, why)
            self._reset()
        else:
            self._dismiss(why)

    # --- what the agent does

    def accept(self) -> None:
        """Start: hide and ask for the exercise (the pacer logs ``started``)."""
        if self._state is not _OfferState.SHOWN or self._prompt is None:
            return
        prompt = self._prompt
        self._reset()
        logger.info("breathing offer (%s) taken", prompt.trigger)
        self.start_requested.emit(prompt)

    def decline(self) -> None:
        """Not now: hide and log ``dismissed``."""
        self._dismiss("declined")

    # --- state

    @property
    def queued(self) -> bool:
        """True while an offer waits for a pause."""
        return self._state is _OfferState.QUEUED

    @property
    def showing(self) -> bool:
        """True while an offer is on screen."""
        return self._state is _OfferState.SHOWN

    def refresh(self) -> None:
        """Show a queued offer when it is time, expire a shown one when it is late.

        A timer calls this while an offer is pending; so does every
        :meth:`set_agent_speaking`. Tests call it after moving a fake clock.
        """
        now = self._clock()
        if self._state is _OfferState.QUEUED:
            if self._silent_since is not None \
                    and now - self._silent_since >= SILENCE_BEFORE_OFFER_S:
                self._appear(now)
        elif self._state is _OfferState.SHOWN and now - self._shown_at >= OFFER_EXPIRES_S:
            self._dismiss("expired")

    # --- Qt events

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape:
            self.decline()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        # Closing from the window manager is a "not now".
        self.decline()
        super().closeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._move_to_corner()

    # --- internals

    def _appear(self, now: float) -> None:
        self._prompt = LoggedPrompt(self._log, self._trigger, self._call_id)
        self._shown_at = now
        self._state = _OfferState.SHOWN
        logger.info("breathing offer (%s) shown", self._trigger)
        self.show()
        announce(self, f"{_OFFER_QUESTION} {_OFFER_DETAIL}")

    def _dismiss(self, why: str) -> None:
        if self._state is not _OfferState.SHOWN or self._prompt is None:
            return
        prompt = self._prompt
        self._reset()
        prompt.advance(PromptOutcome.DISMISSED)
        logger.info("breathing offer (%s) %s", prompt.trigger, why)
        self.dismissed.emit()

    def _reset(self) -> None:
        self._state = _OfferState.IDLE
        self._prompt = None
        self._timer.stop()
        self.hide()

    def _move_to_corner(self) -> None:
        # Bottom right of the screen's free area, clear of the taskbar and
        # of the middle of the screen where the softphone usually is.
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area = screen.availableGeometry()
        margin = self.fontMetrics().height()
        size = self.sizeHint().expandedTo(self.size())
        self.move(area.right() - size.width() - margin, area.bottom() - size.height() - margin)


def _scaled_font(base: QFont, factor: float, bold: bool = False) -> QFont:
    # Relative to the widget's font, so it follows the user's size and DPI.
    font = QFont(base)
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * factor)
    else:
        font.setPixelSize(round(font.pixelSize() * factor))
    font.setBold(bold)
    return font


def _set_text(widget: QLabel, text: str) -> None:
    # Only on change: the animation refreshes 30 times a second, and an
    # unchanged text must not relayout or re-announce to screen readers.
    if widget.text() != text:
        widget.setText(text)
        # A label with an accessible name is read out by that name alone
        # ("Breathing phase"), never by its text; as in the live window, the
        # text goes in the description so that a screen reader reads both.
        widget.setAccessibleDescription(text)


def _minutes(seconds: float) -> str:
    whole = math.ceil(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
