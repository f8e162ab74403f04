"""Hop boundaries shared by every stage of the signal path.

Every stage reports per hop, and every stage must agree on where a hop ends
in its own sample rate, even when ``hop_s * sr_hz`` is not a whole number
(11.025 kHz, say). Hop ``k`` covers samples ``[hop_end(k - 1), hop_end(k))``.
"""
from __future__ import annotations


def hop_end_sample(hop_index: int, sr_hz: int, hop_s: float) -> int:
    """Index one past the last sample of hop ``hop_index``.

    Parameters
    ----------
    hop_index : int
        Hop number, from 0.
    sr_hz : int
        Sample rate in Hz.
    hop_s : float
        Hop length in seconds.

    Returns
    -------
    int
        ``round((hop_index + 1) * hop_s * sr_hz)``, computed without drift.
    """
    # Rational arithmetic on the hop in microseconds keeps hop boundaries exact for any rate.
    hop_us = round(hop_s * 1_000_000)
    return ((hop_index + 1) * hop_us * sr_hz + 500_000) // 1_000_000
