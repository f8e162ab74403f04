"""Spoken announcements for screen readers.

CalmLine's cues and breathing offer appear without taking the keyboard focus,
so that typing stays in the softphone. A screen reader reads what has the
focus, so an agent who relies on one would not hear them. An announcement
event (Qt 6.8 and later) asks the screen reader, through the platform's
accessibility bridge, to speak a short text without moving the focus. When
no assistive technology is listening, Qt drops the event.
"""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent


def announce(source: QObject, message: str) -> None:
    """Ask screen readers to speak ``message`` once they have finished what they are saying.

    Parameters
    ----------
    source : QObject
        The widget the message belongs to.
    message : str
        A short text to speak; nothing happens when it is empty.
    """
    if not message:
        return
    event = QAccessibleAnnouncementEvent(source, message)
    # Polite: a cue must not cut off the screen reader reading the agent's own work.
    event.setPoliteness(QAccessible.AnnouncementPoliteness.Polite)
    QAccessible.updateAccessibility(event)
