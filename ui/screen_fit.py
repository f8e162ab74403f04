"""Opening sizes that keep a window, frame included, on its screen.

A size given to ``resize`` is the size inside the frame, and Qt does not cap
it: a window sized for its content at a large font would open taller than a
1366x768 laptop screen, with its bottom row of buttons out of reach. Qt caps
only the size a window picks from its own size hint.
"""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QStyle, QWidget


def opening_size(window: QWidget, wanted: QSize) -> QSize:
    """The size to open ``window`` at: ``wanted``, no larger than its screen's free area.

    Parameters
    ----------
    window : QWidget
        A top-level window, not shown yet.
    wanted : QSize
        The size inside the frame that suits the content, in device-independent pixels.

    Returns
    -------
    QSize
        ``wanted``, bounded by the available area of the window's screen (without
        panels and task bars) less room for a title bar and the frame's borders.
    """
    style = window.style()
    border_px = 2 * style.pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth)
    title_px = style.pixelMetric(QStyle.PixelMetric.PM_TitleBarHeight)
    available = window.screen().availableGeometry().size()
    return wanted.boundedTo(QSize(available.width() - border_px,
                                  available.height() - title_px - border_px))
