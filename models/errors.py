"""The one kind of error a user can act on.

Every module's own error class for bad input (a broken file, a missing
device, a nonsense setting, an unwritable output) derives from
:class:`UserError`, so a front end can answer all of them the same way (one
line, exit code 2) without importing every module that defines one.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the message is one line for them."""
