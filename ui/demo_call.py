"""The demo call: a scripted two-party call rendered with espeak-ng.

It gives a first look at CalmLine without a microphone, and it is the
fixture of the end-to-end tests. The agent calibrates on ordinary speech,
takes a backchannel turn, interrupts the customer twice, raises the voice
once and then speaks fast, so every coaching cue has something to show.
Nothing here is recorded audio: the call is synthesised on demand.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from platformdirs import user_cache_path

from models.errors import UserError
from models.private_files import make_private_folder, write_private_bytes

AGENT_VOICE = "en-us"
CUSTOMER_VOICE = "en-gb+f3"
SPEECH_LEVEL_DBFS = -26.0
NOISE_LEVEL_DBFS = -62.0


class DemoUnavailable(UserError):
    """The demo call cannot be rendered here (espeak-ng is missing)."""


@dataclass(frozen=True)
class Utterance:
    """One line of the script.

    Attributes
    ----------
    party : str
        ``"agent"`` or ``"customer"``.
    start_s : float
        When the line starts, in seconds from the start of the call.
    text : str
        What is said.
    wpm : int
        Speaking rate given to espeak-ng, in words per minute.
    gain_db : float
        Level over the party's normal speech level, in dB.
    """

    party: str
    start_s: float
    text: str
    wpm: int = 165
    gain_db: float = 0.0


DEMO_SCRIPT: tuple[Utterance, ...] = (
    Utterance("customer", 0.5, "Hello, I am calling about my internet connection. "
              "It has been down since Monday, and I work from home."),
    Utterance("agent", 8.0, "Good morning, and thank you for calling. I am sorry to hear about the "
              "outage. Could I have your account number, please?"),
    Utterance("customer", 16.5, "Sure. It is four five seven two nine one."),
    Utterance("agent", 20.5, "Thank you. I can see your account here. Let me check the line status "
              "in your area. This will only take a moment."),
    Utterance("customer", 29.5, "I have already called three times this week, and every time someone "
              "tells me that it will be fixed tomorrow, and every time nothing happens at all, and I "
              "am losing a lot of work because of this."),
    Utterance("agent", 32.6, "Right.", wpm=190),
    Utterance("agent", 37.5, "I understand, but let me explain what the engineers found."),
    Utterance("agent", 44.0, "We found a fault at the street cabinet. An engineer is booked for "
              "tomorrow morning, between eight and twelve."),
    Utterance("customer", 52.5, "Tomorrow? That is exactly what they said last time. This is "
              "completely unacceptable, and I want a refund for the whole month."),
    Utterance("agent", 56.0, "Sir, please, just listen to me for a second."),
    Utterance("agent", 61.5, "I am telling you that the engineer is booked, and there is nothing "
              "more that I can do today!", gain_db=13.0),
    Utterance("customer", 68.0, "Fine. What about the refund, then?"),
    Utterance("agent", 71.6, "Of course, I can apply a credit for every day without service, it will "
              "show on your next bill, and you will also get a text message that confirms the "
              "engineer appointment with the exact time window for tomorrow morning.", wpm=300),
    Utterance("customer", 81.0, "Okay. Thank you."),
    Utterance("agent", 83.5, "Thank you for your patience. Is there anything else I can help you "
              "with today?"),
    Utterance("customer", 89.0, "No, that is all. Goodbye."),
    Utterance("agent", 92.2, "Goodbye, and have a good day."),
)
"""The demo call. Expected cues: interruptions at about 37.5 s and 56 s (the
"Right" at 32.6 s is a backchannel), raised voice at about 61.5 s, fast speech
at about 72 s, and a breathing prompt after the raised voice."""


BUNDLED_DEMO_ENV = "CALMLINE_DEMO_CALL"
"""Set by the frozen app's start-up hook to the demo call rendered at build time,
so an installed CalmLine needs no espeak-ng."""


def default_demo_path() -> Path:
    """The demo call: the one bundled with an installed app, or the cached rendering.

    The cache file's name changes with the script, so an edited script is rendered anew.
    """
    bundled = os.environ.get(BUNDLED_DEMO_ENV)
    if bundled and Path(bundled).is_file():
        return Path(bundled)
    digest = hashlib.sha1(repr((DEMO_SCRIPT, AGENT_VOICE, CUSTOMER_VOICE)).encode()).hexdigest()[:8]
    return user_cache_path("calmline") / f"demo_call_{digest}.wav"


def _speak(text: str, voice: str, wpm: int, sr_hz: int) -> np.ndarray:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise DemoUnavailable("the demo call needs espeak-ng (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="calmline-demo-") as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run([espeak, "-v", voice, "-s", str(wpm), "-w", str(wav), text],
                       check=True, capture_output=True)
        x, sr = sf.read(wav, dtype="float32")
    return soxr.resample(x, sr, sr_hz) if sr != sr_hz else x


def _scale_to(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    active = x[np.abs(x) > 1e-3]
    rms = np.sqrt(np.mean(np.square(active, dtype=np.float64))) if active.size else 1.0
    return (x * (10 ** (level_dbfs / 20) / rms)).astype(np.float32)


def render_call(script: tuple[Utterance, ...] = DEMO_SCRIPT, sr_hz: int = 16000,
                seed: int = 0) -> np.ndarray:
    """Render a script to a stereo call (agent left, customer right).

    Parameters
    ----------
    script : tuple of Utterance
        The lines to say.
    sr_hz : int
        Output sample rate in Hz.
    seed : int
        Seed of the background noise.

    Returns
    -------
    np.ndarray, shape (n, 2)
        float32 samples; a quiet noise floor keeps silences from being digital zero.
    """
    voices = {"agent": AGENT_VOICE, "customer": CUSTOMER_VOICE}
    lines = [(u, _scale_to(_speak(u.text, voices[u.party], u.wpm, sr_hz),
                           SPEECH_LEVEL_DBFS + u.gain_db)) for u in script]
    n = max(round(u.start_s * sr_hz) + len(x) for u, x in lines) + sr_hz
    call = np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)
    call *= 10 ** (NOISE_LEVEL_DBFS / 20)
    for u, x in lines:
        start = round(u.start_s * sr_hz)
        call[start:start + len(x), 0 if u.party == "agent" else 1] += x
    return np.clip(call, -1.0, 1.0)


def write_demo_call(path: Path, sr_hz: int = 16000) -> Path:
    """Render the demo call to a 16-bit stereo WAV at ``path``.

    The file appears complete or not at all and is readable by the user only,
    like every file CalmLine writes; folders it has to create are private too.
    """
    path = Path(path)
    if not path.parent.exists():
        make_private_folder(path.parent)
    wav = io.BytesIO()
    sf.write(wav, render_call(sr_hz=sr_hz), sr_hz, subtype="PCM_16", format="WAV")
    write_private_bytes(path, wav.getvalue())
    return path
