"""Ending the Qt event loop cleanly on Ctrl-C, SIGTERM (logout, shutdown) and SIGHUP.

Python runs a signal handler only when the interpreter gets control, and
Qt's event loop may keep it in C++ for as long as nothing happens on screen;
so the C-level handler's wake-up byte goes to a socket that Qt watches, and
reading it lets Python run the handler, which asks the loop to quit. The app
then shuts down as when the agent quits: the call ends and the log is
flushed, instead of the call being left open as "interrupted".
"""
from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from PySide6.QtCore import QCoreApplication, QSocketNotifier, QTimer

logger = logging.getLogger(__name__)


def _quit_signals() -> list[signal.Signals]:
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


@contextmanager
def quit_on_signals(app: QCoreApplication) -> Iterator[None]:
    """Quit ``app``'s event loop on a termination signal while inside the block.

    Parameters
    ----------
    app : QCoreApplication
        The application whose ``exec()`` runs inside the block.

    Notes
    -----
    Must be entered on the main thread (Python delivers signals only there).
    The previous handlers and wake-up descriptor are restored on exit.
    """
    receiver, sender = socket.socketpair()
    receiver.setblocking(False)
    sender.setblocking(False)
    notifier = QSocketNotifier(receiver.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            receiver.recv(64)
        except OSError:
            pass

    def quit_loop(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: quitting", signal.Signals(signum).name)
        # Queued, because quit() before exec() has started would be ignored.
        QTimer.singleShot(0, app.quit)

    notifier.activated.connect(drain)
    previous_handlers = {signum: signal.signal(signum, quit_loop) for signum in _quit_signals()}
    previous_fd = signal.set_wakeup_fd(sender.fileno())
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        notifier.setEnabled(False)
        receiver.close()
        sender.close()
