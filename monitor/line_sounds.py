"""Sounds on the customer's line that are not a voice: steady tones and music.

WebRTC's voice activity detector takes both for a voice. An outbound agent's
ringback tone, or the hold music of a company the agent has called, then
reads as the customer talking, and every word the agent says over it is an
"interruption". Both come from the network, not from a person, so they are
only looked for on the customer's line, and only in hops (100 ms) the voice
activity detector calls speech.

Steady tones (ringback, dial and busy tones, DTMF, beeps)
    Easy to tell from a voice over one hop (10 Hz resolution):

    * nearly all the power sits in a few spectral bins (over 90% in the top
      8, for two tones through a Hann window), where a voice spreads its
      power over the harmonics of a pitch that moves and over its formants;
    * the strongest bin stays put from hop to hop. Single hops of speech
      reach a concentration of 0.997, but over 2278 hops of real and
      synthetic read speech (clean and telephone band) and 90 000 hops of
      the test conversations, the only three-hop runs were in a synthetic
      voice's tail 80 dB under its speech, which the voice activity detector
      never calls speech.

    A hop is a tone when it and the two hops before it meet both conditions,
    so the first 200 ms of a tone still count as sound; no rule reacts to
    sound that short.
Music
    Speech changes its spectrum from one 100 ms hop to the next: a syllable
    lasts about 200 ms and its phones less, and the pitch glides. Music holds
    notes and chords for several hops. The measure is the cosine similarity
    of consecutive hops' magnitude spectra (250-3500 Hz, the band every phone
    line carries), and a hop is music when the median over the last
    ``MUSIC_PAIRS`` pairs of consecutive examined hops reaches
    ``MUSIC_SIMILARITY``. Before that many pairs are heard, a sound that
    has gone on without a break is music when the median of its pairs
    reaches a stricter similarity, the stricter the fewer pairs
    (``MUSIC_EARLY``): 0.9 from 6 pairs, 0.8 from 10. Music that holds its
    notes is then caught after 0.6 s instead of 3 s, so a remark the agent
    makes as the music starts is not taken for talking over the customer.
    Speech stays well under: over the first n pairs of a sound, the highest
    median in the conversations below (clean, telephone band, office noise
    15 and 10 dB under) and in 555 recorded prompts of a professional voice
    is 0.80 at 6 pairs, 0.77 at 8 and 0.74 at 10. Band music (distorted
    guitars, drums) sits at 0.75-0.80 from its first pairs, as high as
    speech, so it still waits for ``MUSIC_PAIRS``; the voice activity
    detector's breaks in the first seconds of such music restart the early
    count anyway. Only the sound since the last break counts here, so a greeting
    after a ringback tone is not judged by the tone's steady spectrum. Nor
    are hops the tone rule has taken any evidence of music: a tone's
    spectrum repeats exactly, and its remembered pairs outvoted the greeting
    that followed it.

    Measured by ``benchmarks/line_sounds.py``: of 3199 speech hops of
    two-party conversations, none is taken for music clean or telephone
    band, 1 with office noise 15 dB under the speech, 1.2% at 10 dB; with
    synthetic music playing 10 dB under the speech, 1.7%. Speech buried in
    steady noise or music 5 dB under it loses about 17% of its hops, since
    the background's spectrum does not change; webrtcvad's own decisions
    are already poor there. Over 60 s of hold music each (3 synthetic
    styles, 14 real instrumental tracks: calm, pop, metal), an agent
    muttering five times was told of 9 interruptions in all, against 75
    before. Music with a singer is not told from speech. Speech is heard as
    speech again about 1.3 s after music stops. The early decision cuts
    the customer talk the synthetic styles leave at the start of the music
    from 3 s to 0.6 s (piano, pad) and 1 s (beat); a single step, 15 pairs
    at 0.8, left 1.5 s. The 6 and 10 pair steps also cut it on 2 calm real
    tracks from 2.1 s to 1.2 s and from 2.9 s to 2.1 s: 46.4 s to 42.4 s
    over the first 5 s of all 17 tracks. The speech figures above did not
    move (over 8 conversations, 6 more of 8685 speech hops were taken for
    music with music 5 dB under the speech for the 15 pair step, and 2 more
    of 3199 for the 6 and 10 pair steps; none of the 12 507 speech hops of
    the prompts is music). Leaving
    tone hops out of the music evidence took 240 of the 1856 hops of 56
    greetings (14 real and synthetic, 0.5-3 s after a ringback tone) from
    music to speech, and none is music now; it adds 0.7 s of customer talk
    over the 17 music tracks, with the same interruptions and speech figures.
"""
from __future__ import annotations

from bisect import insort
from collections import deque

import numpy as np

from monitor.framing import hop_end_sample

TONE_CONCENTRATION = 0.9
"""Share of a hop's power in its ``TONE_BINS`` strongest bins that marks a tone."""

TONE_BINS = 8
"""Bins counted for the concentration (two tones, about four bins each under a Hann window)."""

TONE_RUN_HOPS = 3
"""Consecutive tonal hops with the same strongest bin that make a tone."""

MUSIC_BAND_HZ = (250.0, 3500.0)
"""Band of the spectra compared for music, in Hz: what a phone line carries."""

MUSIC_SIMILARITY = 0.7
"""Median similarity of consecutive hops' spectra at and above which sound is music."""

MUSIC_PAIRS = 30
"""Pairs of consecutive examined hops the median is taken over (3 s of sound)."""

MUSIC_EARLY = ((6, 0.9), (10, 0.8))
"""``(pairs, similarity)``: before ``MUSIC_PAIRS`` are heard, a sound that has gone
on for at least ``pairs`` pairs is music when their median reaches ``similarity``;
the fewer pairs, the stricter."""

MUSIC_EARLY_PAIRS = MUSIC_EARLY[0][0]
"""Fewest pairs of one sound that can make it music (0.6 s)."""

MUSIC_MEMORY_HOPS = 60
"""Pairs older than this many hops are forgotten, so that a new sound after a
silence is judged on its own."""

_MIN_POWER = 1e-10
"""Hops weaker than this mean square (-100 dBFS) are silence, not tones or music."""


class LineSoundDetector:
    """Tells, hop by hop, whether the sound on a line is a steady tone or music.

    Audio is added as it streams in; the hops are then judged in order,
    each only if the caller asks (the voice activity detector thought it was
    speech): the spectrum of a hop that nobody would count as speech anyway
    need not be taken.

    Parameters
    ----------
    sr_hz : int
        Sample rate of the audio in Hz.
    hop_s : float
        Hop length in seconds; ``hop_s * sr_hz`` must be a whole number of
        samples (0.1 s at the 16 kHz analysis rate is 1600).

    Raises
    ------
    ValueError
        If a hop is not a whole number of samples.

    Notes
    -----
    The flags depend only on the audio and on which hops are examined, not
    on how the audio is split into blocks. A hop that is not examined ends a
    run of tonal hops, and gives no similarity with its neighbours.
    """

    def __init__(self, sr_hz: int, hop_s: float) -> None:
        hop_len = hop_end_sample(0, sr_hz, hop_s)
        if hop_end_sample(1, sr_hz, hop_s) != 2 * hop_len:
            raise ValueError(f"a hop of {hop_s} s at {sr_hz} Hz is not a whole number of samples")
        self._hop_len = hop_len
        self._window = np.hanning(hop_len)
        f_hz = np.fft.rfftfreq(hop_len, 1.0 / sr_hz)
        band = np.flatnonzero((f_hz >= MUSIC_BAND_HZ[0]) & (f_hz <= MUSIC_BAND_HZ[1]))
        self._music_bins = slice(int(band[0]), int(band[-1]) + 1)
        self._pending = np.zeros(0, dtype=np.float64)
        self._hop = 0
        self._run = 0
        self._run_bin = -1
        self._previous_shape: np.ndarray | None = None  # unit spectrum of the previous hop, if examined
        self._pairs: deque[tuple[int, float]] = deque()  # (hop, similarity), oldest first
        self._sorted: list[float] = []  # the same similarities, in order, for the median
        # Similarities since the last hop without sound, for the early decision: the
        # pairs remembered from earlier sounds must not make speech after them music.
        self._this_sound: deque[float] = deque(maxlen=MUSIC_PAIRS)

    @property
    def hops_available(self) -> int:
        """Whole hops added and not yet judged."""
        return self._pending.size // self._hop_len

    def add(self, block: np.ndarray) -> None:
        """Add audio.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono audio at ``sr_hz``, any length including 0.
        """
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if x.size:
            self._pending = np.concatenate((self._pending, x))

    def judge(self, examine: list[bool]) -> list[bool]:
        """Judge the next ``len(examine)`` hops.

        Parameters
        ----------
        examine : list of bool
            Per hop, whether to look at it; hops not examined are neither
            tones nor music.

        Returns
        -------
        list of bool
            Per hop, True when it is part of a steady tone or of music.

        Raises
        ------
        ValueError
            If fewer hops have been added.
        """
        return [tone or music for tone, music in zip(*self.judge_kinds(examine))]

    def judge_kinds(self, examine: list[bool]) -> tuple[list[bool], list[bool]]:
        """Like :meth:`judge`, with tones and music told apart.

        Returns
        -------
        tones, music : list of bool
            Per hop, True when it is part of a steady tone, or of music.
        """
        n = len(examine)
        if n > self.hops_available:
            raise ValueError(f"{n} hops asked for, {self.hops_available} added")
        hops = self._pending[:n * self._hop_len].reshape(n, self._hop_len)
        looked = np.flatnonzero(examine)
        tonal_bins = np.full(n, -1)
        shapes: list[np.ndarray | None] = [None] * n
        if looked.size:
            loud = looked[np.einsum("ij,ij->i", hops[looked], hops[looked])
                          >= _MIN_POWER * self._hop_len]
            if loud.size:
                # 1600 samples need no padding: pocketfft takes 2^6 x 5^2 fast, at 10 Hz per bin.
                power = np.abs(np.fft.rfft(hops[loud] * self._window, axis=1)) ** 2
                tonal_bins[loud] = tonal_peak_bins(power)
                magnitude = np.sqrt(power[:, self._music_bins])
                magnitude /= np.maximum(np.linalg.norm(magnitude, axis=1, keepdims=True), 1e-30)
                for k, shape in zip(loud.tolist(), magnitude):
                    shapes[k] = shape
        self._pending = self._pending[n * self._hop_len:]
        tones, music = [], []
        for tonal_bin, shape in zip(tonal_bins.tolist(), shapes):
            tone = self._next_tone(tonal_bin)
            tones.append(tone)
            # A hop the tone rule has taken is no evidence of music: a tone's spectrum
            # repeats exactly, and its remembered pairs would make the speech that follows
            # a ringback tone "music" until they are forgotten.
            music.append(self._next_music(shape, evidence=not tone))
            self._hop += 1
        return tones, music

    def _next_tone(self, tonal_bin: int) -> bool:
        if tonal_bin < 0:
            self._run, self._run_bin = 0, -1
        else:
            self._run = self._run + 1 if tonal_bin == self._run_bin else 1
            self._run_bin = tonal_bin
        return self._run >= TONE_RUN_HOPS

    def _next_music(self, shape: np.ndarray | None, evidence: bool) -> bool:
        if shape is None or self._previous_shape is None:
            self._this_sound.clear()
        elif evidence:
            similarity = float(shape @ self._previous_shape)
            self._pairs.append((self._hop, similarity))
            insort(self._sorted, similarity)
            self._this_sound.append(similarity)
        self._previous_shape = shape
        pairs = self._pairs
        while pairs and (len(pairs) > MUSIC_PAIRS or pairs[0][0] <= self._hop - MUSIC_MEMORY_HOPS):
            self._sorted.remove(pairs.popleft()[1])
        if shape is None:
            return False
        if len(pairs) == MUSIC_PAIRS:
            median = 0.5 * (self._sorted[(MUSIC_PAIRS - 1) // 2] + self._sorted[MUSIC_PAIRS // 2])
            return median >= MUSIC_SIMILARITY
        heard = len(self._this_sound)
        if heard < MUSIC_EARLY_PAIRS:
            return False
        needed = min(similarity for n, similarity in MUSIC_EARLY if n <= heard)
        return float(np.median(self._this_sound)) >= needed


def tonal_peak_bins(power: np.ndarray) -> np.ndarray:
    """Strongest spectral bin of each spectrum that holds nearly all its power in a few bins.

    Parameters
    ----------
    power : np.ndarray, shape (k, bins)
        Power spectra, one per row (about 100 ms of audio each, Hann windowed).

    Returns
    -------
    np.ndarray, shape (k,), int
        Per row, the index of its strongest bin when at least
        ``TONE_CONCENTRATION`` of its power is in its ``TONE_BINS`` strongest
        bins (a steady tone), else -1.
    """
    strongest = np.argpartition(power, -TONE_BINS, axis=1)[:, -TONE_BINS:]
    top = np.take_along_axis(power, strongest, axis=1)
    tonal = top.sum(axis=1) >= TONE_CONCENTRATION * power.sum(axis=1)
    peak = strongest[np.arange(power.shape[0]), np.argmax(top, axis=1)]
    return np.where(tonal, peak, -1)
