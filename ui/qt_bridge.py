"""The engine's listener for a Qt front end: engine-thread callbacks in, GUI-thread signals out.

:class:`~monitor.engine.MonitorEngine` calls its listener on the engine
thread, and those calls must return at once. :class:`EngineBridge` turns each
call into a queued signal, so the public signals are always emitted on the
thread the bridge lives in (the GUI thread) whichever thread called, and
widgets can be connected to them directly.

Frames are coalesced: meters only need the latest one, and a GUI that falls
behind (or a fast replay at hundreds of frames a second) must not build up
a queue of stale frames. Events and status changes are never dropped.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

if TYPE_CHECKING:
    # Types only: importing the engine pulls in SciPy (about a second), which
    # must not delay the window.
    from models.baseline import Baseline
    from models.frames import FeatureFrame
    from monitor.engine import LiveEvent, StatusChange


class EngineBridge(QObject):
    """An :class:`~monitor.engine.EngineListener` that re-emits as queued Qt signals.

    The ``on_*`` methods may be called from any thread; the signals are
    emitted on the bridge's own thread.

    Parameters
    ----------
    parent : QObject, optional
        Qt parent.

    Attributes
    ----------
    frameReceived : Signal(FeatureFrame, object)
        The latest frame and the baseline (a :class:`Baseline` or None).
    eventReceived : Signal(LiveEvent)
        Every event update, in order.
    statusReceived : Signal(StatusChange)
        Every status change, in order.
    """

    frameReceived = Signal(object, object)
    eventReceived = Signal(object)
    statusReceived = Signal(object)

    _framePosted = Signal()
    _eventPosted = Signal(object)
    _statusPosted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: tuple[FeatureFrame, Baseline | None] | None = None
        self._frames_in = 0
        self._frames_out = 0
        queued = Qt.ConnectionType.QueuedConnection
        # Always queued, even from the GUI thread itself, so a listener call
        # never runs GUI code on the caller's stack.
        self._framePosted.connect(self._deliver_frame, queued)
        self._eventPosted.connect(self.eventReceived, queued)
        self._statusPosted.connect(self.statusReceived, queued)

    @property
    def frames_coalesced(self) -> int:
        """Frames replaced by a newer one before the GUI took them."""
        with self._lock:
            pending = 1 if self._latest is not None else 0
            return self._frames_in - self._frames_out - pending

    # -- EngineListener (any thread) -------------------------------------------

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        """Keep the latest frame; post a delivery unless one is already on its way."""
        with self._lock:
            post = self._latest is None
            self._latest = (frame, baseline)
            self._frames_in += 1
        if post:
            self._framePosted.emit()

    def on_event(self, event: LiveEvent) -> None:
        """Post an event update."""
        self._eventPosted.emit(event)

    def on_status(self, status: StatusChange) -> None:
        """Post a status change."""
        self._statusPosted.emit(status)

    # -- GUI thread --------------------------------------------------------------

    def _deliver_frame(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
            if latest is not None:
                self._frames_out += 1
        if latest is not None:
            self.frameReceived.emit(*latest)
