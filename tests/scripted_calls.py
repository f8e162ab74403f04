"""Short scripted calls for live tests: real time is expensive, so every second counts."""
from __future__ import annotations

from pathlib import Path

import soundfile as sf

from ui.demo_call import Utterance, render_call

INTERRUPTIONS_SCRIPT: tuple[Utterance, ...] = (
    Utterance("customer", 0.5, "I have already called three times this week, and every time someone "
              "tells me it will be fixed tomorrow, and nothing ever happens."),
    Utterance("agent", 3.0, "Right.", wpm=190),
    Utterance("agent", 6.0, "I understand, but let me explain what the engineers found."),
    Utterance("customer", 11.5, "Tomorrow? That is exactly what they said last time. This is "
              "completely unacceptable, and I want a refund."),
    Utterance("agent", 14.5, "Sir, please, just listen to me for a second."),
    Utterance("agent", 20.0, "I will apply a credit to your account today."),
)
"""About 24 s: one backchannel ("Right", not an interruption) and two
interruptions, at about 6.0 s and 14.5 s."""

EXPECTED_INTERRUPTION_STARTS_S = (6.0, 14.5)

UNPLUG_SCRIPT: tuple[Utterance, ...] = tuple(
    u if u.start_s < 11 else Utterance(u.party, u.start_s + 6.0, u.text, u.wpm, u.gain_db)
    for u in INTERRUPTIONS_SCRIPT)
"""The same call with 6 s more between the two interruptions (at about 6 s and
20.5 s), so a headset can be unplugged and plugged back in between them."""

UNPLUG_AT_S = 11.0


def write_interruptions_call(folder: Path, sr_hz: int = 16000,
                             script: tuple[Utterance, ...] = INTERRUPTIONS_SCRIPT,
                             name: str = "interruptions") -> dict[str, Path]:
    """Render a script; returns the stereo call and each party alone (mono WAVs)."""
    call = render_call(script, sr_hz=sr_hz)
    paths = {"call": folder / f"{name}.wav", "agent": folder / f"{name}_agent.wav",
             "customer": folder / f"{name}_customer.wav"}
    sf.write(paths["call"], call, sr_hz, subtype="PCM_16")
    sf.write(paths["agent"], call[:, 0], sr_hz, subtype="PCM_16")
    sf.write(paths["customer"], call[:, 1], sr_hz, subtype="PCM_16")
    return paths


def split_at(path: Path, at_s: float, folder: Path) -> tuple[Path, Path]:
    """Cut a mono file in two at ``at_s`` (the second part starts at ``at_s``)."""
    x, sr = sf.read(path, dtype="float32")
    cut = round(at_s * sr)
    first, second = folder / f"{path.stem}_a.wav", folder / f"{path.stem}_b.wav"
    sf.write(first, x[:cut], sr, subtype="PCM_16")
    sf.write(second, x[cut:], sr, subtype="PCM_16")
    return first, second

