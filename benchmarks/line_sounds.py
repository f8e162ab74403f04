"""Hold music and tones on the customer's line: caught as not-a-voice, and speech never is.

Three measurements:

1. **Hold music.** A 60 s call in which the customer's line carries only
   music (telephone band) and the agent mutters a phrase every 12 s. Truth:
   no interruptions and no customer talk. Printed per track: interruptions,
   customer talk time, the customer speech the analysis hears in the first
   5 s of the music (what the detector needs to decide), and the share of
   hops after the first 3 s that the detector calls music. The tracks are
   the synthetic styles of ``tests.audio_fixtures.hold_music`` and, where
   installed, real instrumental music from Debian's game data (calm, pop and
   metal)::

       apt-get install lincity-ng-data frozen-bubble-data fretsonfire-songs-muldjord

   or any audio files given with ``--music``.
2. **Speech.** The customer track of labelled conversations (see
   ``tests/conversation_tracks.py``), clean, telephone band, with office
   noise 15, 10 and 5 dB under the speech, and with music 10 and 5 dB under
   it: the share of speech hops taken for music or a tone. Then the same for
   the 8 kHz recordings of Asterisk's English prompts, one professional voice
   (``apt-get install asterisk-core-sounds-en-wav``), where installed.
3. **Cost.** CPU time per hour of audio with every hop examined.

Run from the repository root::

    python benchmarks/line_sounds.py [--seconds 300] [--seeds 3] [--music FILE ...]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.features import CallFeatureExtractor  # noqa: E402
from monitor.line_sounds import MUSIC_PAIRS, LineSoundDetector  # noqa: E402
from tests.audio_fixtures import (HOLD_MUSIC_STYLES, espeak, hold_music, office_noise,  # noqa: E402
                                  scale_to_dbfs, telephone_band)
from tests.conversation_tracks import FRAME, PROMPTS, SR_HZ, build_conversation, prompt_speech  # noqa: E402
from ui.cli import main as calmline  # noqa: E402

logger = logging.getLogger("line_sounds")

GAME_MUSIC = ("/usr/share/games/lincity-ng/music", "/usr/share/games/frozen-bubble/snd",
              "/usr/share/games/fretsonfire/data/songs")
PHRASES = ("Come on, pick up.", "Still on hold, typical.", "Let me note the ticket number.",
           "How long is this going to take?")
CALL_S = 60.0
START_S = 5.0
HOP = 1600


def real_music(paths: list[Path]) -> dict[str, np.ndarray]:
    """60 s from 20 s into each file, mono at 16 kHz, -26 dBFS."""
    tracks = {}
    for path in paths:
        info = sf.info(path)
        start = min(int(20 * info.samplerate), max(0, info.frames - int(CALL_S * info.samplerate)))
        x, sr = sf.read(path, start=start, frames=int(CALL_S * info.samplerate), dtype="float32",
                        always_2d=True)
        x = soxr.resample(x.mean(axis=1), sr, SR_HZ)
        if x.size < CALL_S * SR_HZ / 2 or not np.any(x):
            continue
        tracks[f"{path.parent.name}/{path.name}"] = scale_to_dbfs(x, -26.0)
    return tracks


def hold_call(music: np.ndarray, workdir: Path) -> dict:
    """Analyse a call whose customer line is ``music``; return the report."""
    n = int(CALL_S * SR_HZ)
    customer = telephone_band(np.pad(music, (0, max(0, n - music.size)))[:n], SR_HZ)
    agent = np.zeros(n, np.float32)
    for k, start_s in enumerate(range(5, int(CALL_S), 12)):
        words = espeak(PHRASES[k % len(PHRASES)], 160)
        start = start_s * SR_HZ
        agent[start:start + words.size] = words[:n - start]
    path = workdir / "hold.wav"
    sf.write(path, np.stack([agent, customer], axis=1), SR_HZ)
    report = workdir / "report.json"
    with contextlib.redirect_stdout(io.StringIO()):
        status = calmline(["analyze", str(path), "--json", str(report)])
    if status != 0:
        raise RuntimeError("analyze failed")
    return json.loads(report.read_text())


def talk_at_start_s(music: np.ndarray) -> float:
    """Customer speech the analysis hears in the first ``START_S`` of ``music``, in seconds."""
    customer = telephone_band(music[:round(START_S * SR_HZ)], SR_HZ)
    extractor = CallFeatureExtractor(SR_HZ, SR_HZ)
    frames = extractor.process(np.zeros_like(customer), customer) + extractor.flush()
    return HOP / SR_HZ * sum(f.customer.speech for f in frames)


def flags(x: np.ndarray, examine: np.ndarray | None = None,
          block_s: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Tone and music flags per hop, fed in blocks as the analysis does.

    All hops are examined unless ``examine`` (bool per hop) says otherwise.
    """
    detector = LineSoundDetector(SR_HZ, HOP / SR_HZ)
    n_hops = x.size // HOP
    looked = np.ones(n_hops, bool) if examine is None else examine[:n_hops]
    tones: list[bool] = []
    music: list[bool] = []
    step = round(block_s * SR_HZ)
    for i in range(0, x.size, step):
        detector.add(x[i:i + step])
        first = len(tones)
        more = detector.judge_kinds(looked[first:first + detector.hops_available].tolist())
        tones += more[0]
        music += more[1]
    return np.array(tones), np.array(music)


def main() -> int:
    """Print the three measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="conversation length (default 300)")
    parser.add_argument("--seeds", type=int, default=3, help="conversations (default 3)")
    parser.add_argument("--music", type=Path, nargs="*", default=None,
                        help="audio files to use as hold music (default: Debian's game music)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("ui").setLevel(logging.WARNING)
    logging.getLogger("monitor").setLevel(logging.WARNING)

    paths = args.music if args.music is not None else sorted(
        p for root in GAME_MUSIC for p in Path(root).rglob("*.ogg") if p.stat().st_size > 300_000)
    tracks = {f"synthetic {s}": hold_music(CALL_S, SR_HZ, s) for s in HOLD_MUSIC_STYLES}
    tracks.update(real_music(paths))
    if not paths:
        logger.info("no real music found; see the module docstring")
    logger.info("1. hold music, %d s, agent mutters %d times (truth: 0 interruptions, 0 s talk)",
                CALL_S, len(range(5, int(CALL_S), 12)))
    total = 0
    start_s = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, music in tracks.items():
            report = hold_call(music, Path(tmp))
            interruptions = sum(e["kind"] == "interruption" for e in report["events"])
            total += interruptions
            _, music_flags = flags(telephone_band(music, SR_HZ))
            start_s.append(talk_at_start_s(music))
            logger.info("   %-60s interruptions %d  customer talk %5.1f s (%.1f s in the first %.0f s)"
                        "  music %3.0f%% of hops after 3 s", name[-60:], interruptions,
                        report["summary"]["customer"]["talk_s"], start_s[-1], START_S,
                        100 * music_flags[MUSIC_PAIRS + 1:].mean())
    logger.info("   total interruptions over %d tracks: %d; customer talk in the first %.0f s: %.1f s",
                len(tracks), total, START_S, sum(start_s))

    logger.info("2. conversation speech taken for music or a tone (customer track, %d x %.0f s)",
                args.seeds, args.seconds)
    lines = ("clean", "telephone", "noise 15 dB", "noise 10 dB", "noise 5 dB", "music 10 dB",
             "music 5 dB")
    taken = {line: [0, 0] for line in lines}
    for seed in range(args.seeds):
        conv = build_conversation(args.seconds, seed=seed)
        per_hop = HOP // FRAME
        n = conv.customer_labels.size // per_hop
        speech = conv.customer_labels[:n * per_hop].reshape(n, per_hop).mean(axis=1) >= 0.5
        for line in lines:
            x = conv.customer if line == "clean" else telephone_band(conv.customer, SR_HZ)
            snr_db = float(line.split()[1]) if " " in line else 0.0
            if line.startswith("noise"):
                x = x + office_noise(x.size, SR_HZ, -24.0 - snr_db, seed=seed)
            elif line.startswith("music"):  # the customer talks with music playing in the room
                room = hold_music(x.size / SR_HZ, SR_HZ, HOLD_MUSIC_STYLES[seed % 3], seed=seed)
                x = x + telephone_band(room, SR_HZ) * 10 ** ((-24.0 - snr_db + 26.0) / 20)
            tones, music = flags(x.astype(np.float32), speech)
            taken[line][0] += int(np.count_nonzero((tones | music) & speech[:tones.size]))
            taken[line][1] += int(np.count_nonzero(speech))
    if PROMPTS.exists():
        taken["prompts"] = [0, 0]
        for x, speech in prompt_speech():
            tones, music = flags(x, speech)
            taken["prompts"][0] += int(np.count_nonzero((tones | music) & speech[:tones.size]))
            taken["prompts"][1] += int(np.count_nonzero(speech))
    for line, (bad, hops) in taken.items():
        logger.info("   %-12s %4d of %5d speech hops (%.2f%%)", line, bad, hops, 100 * bad / hops)

    x = np.concatenate([hold_music(600.0, SR_HZ, "beat"),
                        telephone_band(build_conversation(600.0, seed=0).customer, SR_HZ)])
    start = time.process_time()
    flags(x.astype(np.float32))
    cpu_s = time.process_time() - start
    logger.info("3. cost, every hop examined, 3 s blocks: %.2f s CPU per hour of audio", cpu_s * 3600 / (x.size / SR_HZ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
