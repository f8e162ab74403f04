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


def write_version_2_log(path: Path) -> None:
    """A schema version 2 call log as CalmLine wrote it before ids were kept unique.

    Calls 1 (ended, with a recording), 2 (interrupted) and 3 (open), events
    final and not, and a prompt for each way an exercise goes, in calls and
    outside them; call 4 was deleted with its event and prompt.
    """
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        for statements in _MIGRATIONS[:2]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 2")
        conn.executemany(
            "INSERT INTO calls (started_at, ended_at, start_s, end_s, mode, status, duration_s, "
            "agent_talk_s, agent_talk_share, agent_rate_sps, customer_talk_s, "
            "customer_talk_share, customer_rate_sps, overtalk_s, interruptions, raised_voice_s, "
            "fast_speech_s, monologues, breathing_prompts, recording_path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [("2024-05-01T12:00:00.000000+00:00", "2024-05-01T12:02:00.000000+00:00", 0.0,
              120.0, "two_party", "ended", 120.0, 60.0, 0.5, 4.5, 50.0, 0.42, None, 3.5, 2,
              4.0, 0.0, 1, 2, "/recordings/call-1.flac"),
             ("2024-05-01T13:00:00.000000+00:00", "2024-05-01T13:00:40.000000+00:00", 3600.0,
              3640.0, "mic_only", "interrupted", None, None, None, None, None, None, None,
              None, None, None, None, None, None, None),
             ("2024-05-01T14:00:00.000000+00:00", None, 7200.0, None, "two_party", "open",
              None, None, None, None, None, None, None, None, None, None, None, None, None,
              None),
             ("2024-05-01T15:00:00.000000+00:00", None, 10800.0, None, "two_party", "open",
              None, None, None, None, None, None, None, None, None, None, None, None, None,
              None)])
        conn.executemany(
            "INSERT INTO events (call_id, kind, start_s, end_s, value, threshold, severity, "
            "final, emitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "raised_voice", 10.0, 14.5, 8.2, 6.0, "low", 1,
              "2024-05-01T12:00:15.000000+00:00"),
             (1, "breathing_prompt", 14.5, 14.5, 1.0, 0.0, "low", 1,
              "2024-05-01T12:00:15.000000+00:00"),
             (2, "monologue", 3610.0, 3640.0, 30.0, 25.0, "medium", 0,
              "2024-05-01T13:00:40.000000+00:00"),
             (4, "interruption", 10810.0, 10811.0, 1.0, 1.0, "low", 1,
              "2024-05-01T15:00:11.000000+00:00")])
        conn.executemany(
            'INSERT INTO breathing_prompts (call_id, at, "trigger", outcome, updated_at) '
            "VALUES (?, ?, ?, ?, ?)",
            [(1, "2024-05-01T12:00:20.000000+00:00", "raised_voice", "completed",
              "2024-05-01T12:01:30.000000+00:00"),
             (1, "2024-05-01T12:01:40.000000+00:00", "interruption", "dismissed",
              "2024-05-01T12:01:45.000000+00:00"),
             (2, "2024-05-01T13:00:30.000000+00:00", "manual", "stopped",
              "2024-05-01T13:00:35.000000+00:00"),
             (3, "2024-05-01T14:00:10.000000+00:00", "raised_voice", "started",
              "2024-05-01T14:00:12.000000+00:00"),
             (None, "2024-05-01T11:00:00.000000+00:00", "manual", "completed",
              "2024-05-01T11:01:00.000000+00:00"),
             (None, "2024-05-01T11:30:00.000000+00:00", "raised_voice", "shown",
              "2024-05-01T11:30:00.000000+00:00"),
             (4, "2024-05-01T15:00:20.000000+00:00", "manual", "started",
              "2024-05-01T15:00:20.000000+00:00")])
        conn.execute("DELETE FROM calls WHERE id = 4")  # with its event and prompt
        conn.commit()
