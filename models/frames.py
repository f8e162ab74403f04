"""Feature frames: what the signal path reports about a call every hop.

A frame describes the hop ``[t_s, t_s + hop_s)``. Loudness windows end at the
hop's end, so a frame's values are known as soon as its hop has been captured.
"""
from __future__ import annotations

from dataclasses import dataclass

HOP_S = 0.1
"""Feature hop in seconds (10 frames per second)."""


@dataclass(frozen=True, slots=True)
class PartyFrame:
    """One party's features for one hop.

    Attributes
    ----------
    momentary_lufs : float or None
        BS.1770 momentary loudness (400 ms window) in LUFS; None for digital silence.
    short_term_lufs : float or None
        BS.1770 short-term loudness (3 s window) in LUFS; None for digital silence.
    speech : bool
        Whether this party is speaking during the hop.
    rate_sps : float or None
        Speech rate in syllables per second of speaking time over the recent
        speech window; None until enough speech has been heard.
    line_sound : bool
        Whether the line carries a steady tone or music (ringing, hold music)
        during the hop: sound that is not a person, so never ``speech``, but
        a sign that the call is still on.
    """

    momentary_lufs: float | None
    short_term_lufs: float | None
    speech: bool
    rate_sps: float | None
    line_sound: bool = False


@dataclass(frozen=True, slots=True)
class FeatureFrame:
    """Both parties' features for one hop.

    Attributes
    ----------
    index : int
        Hop number from the start of the stream.
    t_s : float
        Start of the hop in seconds from the start of the stream.
    agent : PartyFrame
        The agent (the user).
    customer : PartyFrame or None
        The other party; None when there is no customer source (mic-only mode).
    """

    index: int
    t_s: float
    agent: PartyFrame
    customer: PartyFrame | None
