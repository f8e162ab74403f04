"""Call logs as earlier CalmLine versions wrote them."""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from models.store import _MIGRATIONS


def write_version_1_log(path: Path, call_status: str = "open") -> None:
    """A schema version 1 call log: one call (id 1) with one completed breathing prompt."""
    with closing(sqlite3.connect(path)) as conn:
        for sql in _MIGRATIONS[0]:
            conn.execute(sql)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO calls (started_at, start_s, mode, status) VALUES "
                     "('2024-05-01T12:00:00.000000+00:00', 0, 'two_party', ?)", (call_status,))
        conn.execute('INSERT INTO breathing_prompts (call_id, at, "trigger", outcome, updated_at) '
                     "VALUES (1, '2024-05-01T12:01:00.000000+00:00', 'raised_voice', "
                     "'completed', '2024-05-01T12:02:00.000000+00:00')")
        conn.commit()
