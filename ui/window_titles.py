"""Window titles that read the same on every desktop.

The app sets Qt's application display name, which Qt appends to every
window title on Linux and Windows unless the title already ends with it
("Settings — CalmLine"); macOS shows titles as given. So titles are written
with the name at the end, once.
"""
from __future__ import annotations

APP_NAME = "CalmLine"
"""The application's name as shown to the user."""


def window_title(what: str = "") -> str:
    """A window's title: ``what`` followed by the app's name, or the name alone.

    Parameters
    ----------
    what : str
        What the window is or shows ("Settings", "in call"); "" for the name alone.

    Returns
    -------
    str
        For example ``"Settings — CalmLine"``.
    """
    return f"{what} \N{EM DASH} {APP_NAME}" if what else APP_NAME
