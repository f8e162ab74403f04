"""Voice activity detection for one party of a call, streaming.

The core detector is WebRTC's GMM VAD (``webrtcvad``). On its own it answers
"is there a voice in this frame?", which on an agent's headset mic is also
true for a colleague at the next desk and for the customer's voice leaking
from the earpiece. Four things narrow it down to "is THIS party speaking?":

* **Level gate against the party's own speech level.** The level of frames
  accepted as speech is learned (a slowly decaying histogram, updated every
  ``update_s``); a run of speech must reach a frame within ``start_db`` of
  that level and continues while frames stay within ``hold_db`` of it. A
  neighbour 20 dB down rarely reaches the start threshold, while the agent's
  own weak frames inside a word are held.
* **Noise floor.** The mic's noise floor is tracked (10th percentile of all
  frame levels, a minimum-statistics estimate). When speech stands less than
  ``noisy_snr_db`` above it, the agent's weak frames are buried and only
  WebRTC's voicing (which rarely fires on stationary noise) still finds
  them, so the hold threshold drops to ``noisy_hold_db`` and the hangover
  grows to ``noisy_hangover_s`` to bridge the longer undetectable stretches.
* **Bleed gate against the other party's signal.** When a ``reference`` (the
  customer's line) is given, each frame's level is compared with the
  reference's loudest frame over the last ``bleed_lag_s`` plus a learned
  bleed-path gain: frames no louder than the leak would be are not the agent.
  The gain is learned from frames where the reference is loud (most of which
  are the customer alone in a conversation), after subtracting the mic's
  noise power: otherwise a noisy mic with no bleed at all reads as strong
  bleed, and the gate then eats the agent's speech during double talk.
* **WebRTC's warm-up.** WebRTC's VAD calls the first 70-90 ms of any
  input speech, even faint line noise, while its noise model settles. Its
  verdicts for the first ``_WEBRTC_WARMUP_S`` of a stream are ignored, so a
  call or a recording does not open with both parties "speaking" at once.
* **Steady tones on a phone line.** WebRTC calls a ringback or dial tone
  speech, and a tone as loud as a voice would become the learned speech
  level, gating out the quieter greeting that follows it. With
  ``learn_from_tones=False``, frames in a ``_TONE_CHUNK_S`` stretch whose
  spectrum holds nearly all its power in a few bins
  (:func:`monitor.line_sounds.tonal_peak_bins`) are left out of the learned
  levels. They are still flagged: the line-sound detector tells them from
  speech hop by hop.
* **Hysteresis and hangover.** Start/hold thresholds as above, and flags are
  held ``hangover_s`` after the last accepted frame of a real run (only
  ``short_hangover_s`` after a blip) so they do not chatter.
* **Onset lead.** WebRTC and the start gate confirm a run a few frames into
  it, so the weak first frames of an utterance are lost. Flags rise
  ``onset_lead_s`` before each run's first accepted frame, over frames that
  stand ``lead_margin_db`` above the noise floor; to know that,
  :meth:`VoiceActivityDetector.process` reports each frame ``onset_lead_s``
  after it has arrived, and :meth:`VoiceActivityDetector.flush` reports the
  last ones at the end of the stream.

Adaptive state changes only at fixed frame counts (every ``update_s``), so the
flags do not depend on how the input is split into blocks.
"""
from __future__ import annotations

import logging
from enum import IntEnum
from itertools import repeat

import numpy as np
import webrtcvad

from monitor.line_sounds import tonal_peak_bins

logger = logging.getLogger(__name__)

_BIN_DB = 0.5
_LO_DBFS = -120.0
_N_BINS = int(-_LO_DBFS / _BIN_DB) + 1
_SUPPORTED_SR_HZ = (8000, 16000, 32000, 48000)
_TONE_CHUNK_S = 0.1  # the line-sound detector's hop: 10 Hz bins part the two tones of a ringback
_WEBRTC_WARMUP_S = 0.1  # measured: 7 frames of 10 ms, 4 of 20 ms, 3 of 30 ms at 8-48 kHz; 7-9 of 10 ms in modes 0-3


class _Hist(IntEnum):
    """The frame groups whose levels the detector learns from."""

    SPEECH = 0  # accepted speech frames
    VOICED = 1  # frames WebRTC calls voiced and that clear the bleed margin
    ALL = 2  # every frame: the noise floor
    REFERENCE = 3  # the other party's frames
    BLEED = 4  # mic level minus reference level while the reference is loud


_NO_LEVELS = np.zeros(0)


class _LevelHistograms:
    """Level histograms (0.5 dB bins) of several groups of frames, forgotten exponentially.

    All groups live in one array and are updated together: the per-call cost
    of numpy, not the arithmetic, is what an update of a few histograms costs.

    Parameters
    ----------
    groups : int
        Number of histograms.
    decay : float
        Factor applied to every count at each update.
    """

    def __init__(self, groups: int, decay: float) -> None:
        self.decay = decay
        self.counts = np.zeros((groups, _N_BINS))
        self._offsets = np.arange(groups) * _N_BINS
        self._cum = np.zeros((groups, _N_BINS))
        self.totals = np.zeros(groups)

    def update(self, levels_db: list[np.ndarray]) -> None:
        """Forget a step's worth of the past, then count ``levels_db[g]`` into histogram ``g``."""
        position = (np.concatenate(levels_db) - _LO_DBFS) / _BIN_DB
        # fmax takes NaN to bin 0 and minimum takes +inf to the top bin. Ufuncs, not
        # nan_to_num and clip: their Python wrappers cost more than the arithmetic.
        np.minimum(np.fmax(position, 0.0, out=position), _N_BINS - 1, out=position)
        bins = position.astype(np.intp)
        bins += np.repeat(self._offsets, [x.size for x in levels_db])
        self.counts *= self.decay
        self.counts += np.bincount(bins, minlength=self.counts.size).reshape(self.counts.shape)
        self.totals = np.add.reduce(self.counts, axis=1)
        np.add.accumulate(self.counts, axis=1, out=self._cum)

    def percentile(self, group: int, q: float) -> float:
        """The ``q``-th percentile of histogram ``group``, in dBFS (a bin centre)."""
        cum = self._cum[group]
        k = int(np.searchsorted(cum, q / 100.0 * cum[-1]))
        return _LO_DBFS + (k + 0.5) * _BIN_DB


class VoiceActivityDetector:
    """Streaming speech/non-speech decision for one party, one flag per frame.

    Parameters
    ----------
    sr_hz : int
        Sample rate of the input in Hz: 8000, 16000, 32000 or 48000.
    frame_s : float
        Frame (and flag) length in seconds: 0.01, 0.02 or 0.03.
    reference_level_dbfs : float or None
        This party's speech level from a saved profile (see
        ``speech_level_dbfs``). None learns it from the call, which takes
        about ``min_speech_s`` of speech; until then the gate uses the loudest
        voiced frames heard so far.
    aggressiveness : int
        WebRTC VAD mode, 0 (permissive) to 3 (strict).
    start_db : float
        A speech run starts only on a frame at most this many dB below the
        speech level.
    hold_db : float
        A run continues through frames at most this many dB below the speech
        level (and still voiced by WebRTC, and not bleed).
    hangover_s : float
        Flags stay on this long after the last accepted frame of a run of at
        least ``long_run_s``, in seconds (bridges stop closures and the
        weak frames at the end of words). Every extra 10 ms is a false
        accept at the end of each utterance, and over a neighbour talking
        after it.
    noisy_snr_db : float
        Speech level minus noise floor, in dB, below which the mic counts as
        noisy and ``noisy_hold_db`` and ``noisy_hangover_s`` apply.
    noisy_hold_db : float
        ``hold_db`` on a noisy mic, in dB.
    noisy_hangover_s : float
        ``hangover_s`` on a noisy mic, in seconds.
    short_hangover_s : float
        Hangover after a shorter run, in seconds: a blip (a neighbour's
        stressed syllable) must not buy the full hangover.
    long_run_s : float
        Run length that earns the full hangover, in seconds.
    floor_dbfs : float
        Frames below this level in dBFS are never speech.
    bleed_lag_s : float
        Longest acoustic delay from the reference to this party's mic, in seconds.
    bleed_margin_db : float
        While the reference is audible, a run starts only on a frame this many
        dB above the predicted bleed level (reference level + bleed gain).
    bleed_hold_margin_db : float
        Margin over the predicted bleed level for frames that continue a run;
        smaller, so the agent's weaker syllables survive double talk.
    bleed_prior_db : float
        Bleed-path gain in dB assumed until it has been learned (pessimistic:
        strong leakage).
    bleed_min_s : float
        Loud-reference time needed to learn the bleed gain, in seconds. Short:
        the gain is a tight cluster, and the pessimistic prior costs double
        talk while it lasts.
    update_s : float
        Interval between updates of the learned levels, in seconds.
    halflife_s : float
        Half-life of the learned levels' memory, in seconds.
    min_speech_s : float
        Speech needed before the learned speech level replaces the start-up
        estimate, in seconds; also the reference time needed to learn its
        loud and noise levels.
    learn_from_tones : bool
        False leaves steady tones out of the learned speech level (for the
        customer's line, which carries ringback and dial tones). Checking
        costs a spectrum per 100 ms of speech, about 0.3 s of CPU per hour.
    onset_lead_s : float
        Flags rise this long before the first accepted frame of each run, in
        seconds; it is also how long each flag waits before it is reported.
        60 ms recovers most of the onset frames the gates confirm late, and
        lets the noisy hangover be shorter (see ``benchmarks/vad_accuracy.py``).
    lead_margin_db : float
        The lead flags only frames this many dB above the noise floor (and
        above ``floor_dbfs``), going back from the onset until one is not: it
        never paints silence, a muted mic or the gap before a tone as speech.

    Notes
    -----
    ``speech_level_dbfs`` is the 80th percentile of the levels (frame RMS) of
    accepted speech frames: close to the level of the party's stressed
    syllables, roughly 3 dB above the active speech RMS.

    The bleed gain is the median of (mic level - reference level) over frames
    where the reference is within 10 dB of its own loud level (its 90th
    percentile) and at least 15 dB above its own noise floor (its 10th
    percentile; before the customer has spoken, the "loud" level is just line
    noise). In a conversation most of those frames are the customer alone.
    The mic level there is taken after subtracting the mic's noise power and
    is floored 10 dB under the noise floor, so a mic without bleed yields a
    gain too low to matter.
    """

    def __init__(self, sr_hz: int = 16000, frame_s: float = 0.01, *,
                 reference_level_dbfs: float | None = None,
                 aggressiveness: int = 2,
                 start_db: float = 10.0,
                 hold_db: float = 22.0,
                 hangover_s: float = 0.14,
                 short_hangover_s: float = 0.08,
                 long_run_s: float = 0.1,
                 floor_dbfs: float = -70.0,
                 bleed_lag_s: float = 0.06,
                 bleed_margin_db: float = 8.0,
                 bleed_hold_margin_db: float = 3.0,
                 bleed_prior_db: float = -15.0,
                 bleed_min_s: float = 0.5,
                 noisy_snr_db: float = 32.0,
                 noisy_hold_db: float = 26.0,
                 noisy_hangover_s: float = 0.16,
                 update_s: float = 1.0,
                 halflife_s: float = 120.0,
                 min_speech_s: float = 2.0,
                 learn_from_tones: bool = True,
                 onset_lead_s: float = 0.06,
                 lead_margin_db: float = 3.0) -> None:
        if sr_hz not in _SUPPORTED_SR_HZ:
            raise ValueError(f"sr_hz must be one of {_SUPPORTED_SR_HZ}, got {sr_hz}")
        if round(frame_s * 1000) not in (10, 20, 30) or abs(frame_s * 1000 - round(frame_s * 1000)) > 1e-9:
            raise ValueError(f"frame_s must be 0.01, 0.02 or 0.03, got {frame_s}")
        self.sr_hz = sr_hz
        self.frame_s = frame_s
        self.start_db = start_db
        self.hold_db = hold_db
        self.floor_dbfs = floor_dbfs
        self.bleed_margin_db = bleed_margin_db
        self.bleed_hold_margin_db = bleed_hold_margin_db
        self.noisy_snr_db = noisy_snr_db
        self.noisy_hold_db = noisy_hold_db
        self._n = round(frame_s * sr_hz)
        self._vad = webrtcvad.Vad(aggressiveness)
        self._hang_long = round(hangover_s / frame_s)
        self._hang_noisy = round(noisy_hangover_s / frame_s)
        self._hang_short = round(short_hangover_s / frame_s)
        self._lead = round(onset_lead_s / frame_s)
        self.lead_margin_db = lead_margin_db
        # Flags of the latest ``_lead`` frames, not reported yet: a run may start after them;
        # and whether each may be flagged by a lead (it is louder than the noise).
        self._held = np.zeros(0, bool)
        self._held_audible = np.zeros(0, bool)
        self._long_run = round(long_run_s / frame_s)
        self._lag = max(1, int(np.ceil(bleed_lag_s / frame_s)))
        self._warmup_frames = int(np.ceil(_WEBRTC_WARMUP_S / frame_s - 1e-9))
        self._update = max(1, round(update_s / frame_s))
        self._learn_from_tones = learn_from_tones
        self._tone_chunk = max(1, round(_TONE_CHUNK_S / frame_s))
        self._tone_window = np.hanning(self._tone_chunk * self._n)
        decay = 0.5 ** (self._update * frame_s / halflife_s)
        self._min_frames = min_speech_s / frame_s
        self._bleed_min_frames = bleed_min_s / frame_s
        self._hists = _LevelHistograms(len(_Hist), decay)
        self._profile_level = reference_level_dbfs
        self._level = reference_level_dbfs
        self._calibrated = False
        self._bleed_db = bleed_prior_db
        self._noise_dbfs: float | None = None
        self._ref_loud_dbfs: float | None = None
        self._ref_noise_dbfs: float | None = None
        self._buf = np.zeros(0, np.float32)
        self._ref_buf = np.zeros(0, np.float32)
        self._ref_recent = np.full(self._lag, _LO_DBFS)
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._frames_done = 0
        self._active = False
        # Frames since the last accepted frame, and since the onset of its run.
        self._since_accept = 1 << 30
        self._since_onset = 1 << 30

    @property
    def speech_level_dbfs(self) -> float | None:
        """Learned speech level in dBFS (see Notes), or None before any speech."""
        return self._level

    @property
    def noise_floor_dbfs(self) -> float | None:
        """Tracked noise floor of the input in dBFS (frame level), or None before the first update."""
        return self._noise_dbfs

    @property
    def delay_s(self) -> float:
        """How long after its audio has arrived each flag is reported, in seconds (the onset lead)."""
        return self._lead * self.frame_s

    @property
    def bleed_gain_db(self) -> float:
        """Current bleed-path gain estimate in dB, from the reference to this mic."""
        return self._bleed_db

    def process(self, block: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        """Classify the frames completed by ``block``.

        Parameters
        ----------
        block : np.ndarray
            Mono samples at ``sr_hz``, float in [-1, 1], shape (n,), any n >= 0.
        reference : np.ndarray or None
            The other party's signal over the same span, shape (n,); None
            when there is none (treated as silence).

        Returns
        -------
        np.ndarray
            Bool, shape (k,): the next flags in stream order, one per
            ``frame_s`` frame, for the frames completed by this call except
            the latest ``onset_lead_s`` worth, which later calls or
            :meth:`flush` report (k may be 0).
        """
        block = np.asarray(block, np.float32).reshape(-1)
        if reference is not None:
            reference = np.asarray(reference, np.float32).reshape(-1)
            if reference.shape != block.shape:
                raise ValueError("reference must have the same length as block")
            if self._ref_buf.size != self._buf.size:
                # The reference starts mid-frame after reference-less calls: silence before it.
                self._ref_buf = np.zeros(self._buf.size, np.float32)
        elif self._ref_buf.size:
            reference = np.zeros_like(block)
        buf = np.concatenate((self._buf, block)) if self._buf.size else block
        k = len(buf) // self._n
        used = k * self._n
        self._buf = buf[used:].copy()
        if reference is not None:
            ref = np.concatenate((self._ref_buf, reference)) if self._ref_buf.size else reference
            self._ref_buf = ref[used:].copy()
        if k == 0:
            return np.zeros(0, bool)
        frames = buf[:used].reshape(k, self._n)
        level = _level_db(frames)
        if reference is None:
            ref_level = np.full(k, _LO_DBFS)
        else:
            ref_level = _level_db(ref[:used].reshape(k, self._n))
        # Loudest reference frame within the acoustic lag of each frame.
        ref_hist = np.concatenate((self._ref_recent, ref_level))
        ref_max = ref_hist[self._lag:].copy()
        for shift in range(1, self._lag + 1):
            np.maximum(ref_max, ref_hist[self._lag - shift:len(ref_hist) - shift], out=ref_max)
        self._ref_recent = ref_hist[-self._lag:]
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        # Rows as uint8 views: ``is_speech`` wants a bytes-like frame whose len() counts bytes,
        # and a views map is cheaper than slicing a bytes copy per frame.
        voiced = np.fromiter(map(self._vad.is_speech, pcm.view(np.uint8), repeat(self.sr_hz, k),
                                 repeat(self._n, k)), bool, count=k)
        voiced &= level > self.floor_dbfs
        if self._frames_done < self._warmup_frames:
            voiced[:self._warmup_frames - self._frames_done] = False
        held = self._held.size
        out = np.empty(held + k, bool)
        out[:held] = self._held
        onset = np.zeros(held + k, bool)
        audible = np.empty(held + k, bool)
        audible[:held] = self._held_audible
        i = 0
        while i < k:
            # Segments end at update points so learned levels change at fixed frames.
            j = min(k, i + self._update - self._frames_done % self._update)
            audible[held + i:held + j] = level[i:j] > self._lead_floor_dbfs()
            out[held + i:held + j], onset[held + i:held + j] = self._segment(
                frames[i:j], level[i:j], ref_level[i:j], ref_max[i:j], voiced[i:j])
            self._frames_done += j - i
            if self._frames_done % self._update == 0:
                self._learn()
            i = j
        return self._release(out, onset, audible)

    def flush(self) -> np.ndarray:
        """End the stream: report the flags still held back (see ``onset_lead_s``).

        Returns
        -------
        np.ndarray
            Bool, shape (k,): the remaining flags in stream order. A partial
            frame at the end of the stream gets none.
        """
        out, self._held = self._held, np.zeros(0, bool)
        self._held_audible = np.zeros(0, bool)
        return out

    def _release(self, flags: np.ndarray, onset: np.ndarray, audible: np.ndarray) -> np.ndarray:
        """Raise the flags up to ``_lead`` frames before each onset, through audible frames only;
        keep the latest ``_lead`` back."""
        if self._lead and onset.any():
            idx = np.arange(flags.size)
            end = flags.size + self._lead
            # Index of the next onset, and of the next inaudible frame, at or after each frame.
            upcoming = np.minimum.accumulate(np.where(onset, idx, end)[::-1])[::-1]
            blocked = np.minimum.accumulate(np.where(audible, end + 1, idx)[::-1])[::-1]
            flags |= (upcoming - idx <= self._lead) & (blocked > upcoming)
        cut = max(0, flags.size - self._lead)
        self._held = flags[cut:]
        self._held_audible = audible[cut:]
        return flags[:cut]

    def _lead_floor_dbfs(self) -> float:
        """Level in dBFS a frame must exceed to be flagged by an onset lead."""
        if self._noise_dbfs is None:
            return self.floor_dbfs
        return max(self.floor_dbfs, self._noise_dbfs + self.lead_margin_db)

    def _segment(self, frames: np.ndarray, level: np.ndarray, ref_level: np.ndarray,
                 ref_max: np.ndarray, voiced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flags and run onsets (first accepted frame of each run) of a stretch of frames."""
        n = len(level)
        over_bleed = level - ref_max - self._bleed_db
        candidate = voiced & (over_bleed > self.bleed_margin_db)
        noisy = self._noisy()
        if self._level is None:
            # Nothing learned yet: accept every voiced frame (the start-up estimate follows).
            start = hold = candidate
        else:
            hold_db = self.noisy_hold_db if noisy else self.hold_db
            start = candidate & (level > self._level - self.start_db)
            hold = (voiced & (level > self._level - hold_db)
                    & (over_bleed > self.bleed_hold_margin_db))
        # Hysteresis: accepted if it holds and a start frame came after the last break.
        idx = np.arange(1, n + 1)
        last_break = np.maximum.accumulate(np.where(hold, 0, idx))
        last_start = np.maximum.accumulate(np.where(start, idx, 0))
        accepted = hold & ((last_start > last_break) | (self._active & (last_break == 0)))
        # Hangover: long after a real run, short after a blip (a neighbour's stressed syllable).
        onset = accepted & ~np.r_[self._active, accepted[:-1]]
        last_acc = np.maximum.accumulate(np.where(accepted, idx, -self._since_accept))
        last_onset = np.maximum.accumulate(np.where(onset, idx, -self._since_onset))
        hang_long = self._hang_noisy if noisy else self._hang_long
        hang = np.where(last_acc - last_onset >= self._long_run, hang_long, self._hang_short)
        flags = idx - last_acc <= hang
        self._active = bool(accepted[-1])
        self._since_accept = int(n - last_acc[-1])
        self._since_onset = int(n - last_onset[-1])
        # A copy: the frames may be a view of the caller's buffer, and are read at the next update.
        kept = frames[:0] if self._learn_from_tones else frames.copy()
        self._pending.append((kept, level, ref_level, ref_max, candidate, accepted))
        return flags, onset

    def _learn(self) -> None:
        frames, level, ref_level, ref_max, candidate, accepted = (
            np.concatenate(parts) for parts in zip(*self._pending))
        self._pending.clear()
        if not self._learn_from_tones:
            voice = ~self._in_steady_tone(frames, candidate | accepted)
            candidate, accepted = candidate & voice, accepted & voice
        bleed = _NO_LEVELS
        if self._ref_loud_dbfs is not None and self._ref_noise_dbfs is not None:
            loud = ref_max > max(self._ref_loud_dbfs - 10.0, self._ref_noise_dbfs + 15.0)
            bleed = self._less_noise(level[loud]) - ref_max[loud]
        hists = self._hists
        by_group = {_Hist.SPEECH: level[accepted], _Hist.VOICED: level[candidate], _Hist.ALL: level,
                    _Hist.REFERENCE: ref_level, _Hist.BLEED: bleed}
        hists.update([by_group[g] for g in _Hist])
        totals = hists.totals
        self._noise_dbfs = hists.percentile(_Hist.ALL, 10.0)
        if totals[_Hist.SPEECH] >= self._min_frames:
            if not self._calibrated:
                logger.debug("speech level learned after %.1f s", self._frames_done * self.frame_s)
                self._calibrated = True
            self._level = hists.percentile(_Hist.SPEECH, 80.0)
        elif self._profile_level is None and totals[_Hist.VOICED] > 0:
            self._level = hists.percentile(_Hist.VOICED, 90.0)
        if totals[_Hist.REFERENCE] >= self._min_frames:
            self._ref_loud_dbfs = hists.percentile(_Hist.REFERENCE, 90.0)
            self._ref_noise_dbfs = hists.percentile(_Hist.REFERENCE, 10.0)
        if totals[_Hist.BLEED] >= self._bleed_min_frames:
            self._bleed_db = hists.percentile(_Hist.BLEED, 50.0)

    def _in_steady_tone(self, frames: np.ndarray, examine: np.ndarray) -> np.ndarray:
        """Per frame, whether it lies in a ``_TONE_CHUNK_S`` chunk that is a steady tone.

        Only chunks holding a frame flagged in ``examine`` are looked at;
        frames after the last whole chunk are never in a tone.
        """
        n_chunks = frames.shape[0] // self._tone_chunk
        whole = n_chunks * self._tone_chunk
        in_tone = np.zeros(frames.shape[0], bool)
        looked = np.flatnonzero(examine[:whole].reshape(n_chunks, self._tone_chunk).any(axis=1))
        if looked.size:
            chunks = frames[:whole].reshape(n_chunks, -1)[looked]
            power = np.abs(np.fft.rfft(chunks * self._tone_window, axis=1)) ** 2
            tonal = looked[tonal_peak_bins(power) >= 0]
            in_tone[:whole].reshape(n_chunks, self._tone_chunk)[tonal] = True
        return in_tone

    def _noisy(self) -> bool:
        """Whether the speech level stands less than ``noisy_snr_db`` above the noise floor."""
        return (self._level is not None and self._noise_dbfs is not None
                and self._level - self._noise_dbfs < self.noisy_snr_db)

    def _less_noise(self, level_dbfs: np.ndarray) -> np.ndarray:
        """Frame levels in dBFS with the noise floor's power removed, floored 10 dB under it."""
        if self._noise_dbfs is None:
            return level_dbfs
        power = 10.0 ** (level_dbfs / 10.0) - 10.0 ** (self._noise_dbfs / 10.0)
        return np.maximum(10.0 * np.log10(np.maximum(power, 1e-20)), self._noise_dbfs - 10.0)


def _level_db(frames: np.ndarray) -> np.ndarray:
    """Per-frame RMS level in dBFS, shape (k,).

    The DC is not removed: the pipeline high-passes before this stage, and a
    float32 dot product per frame is a third of the cost of a float64 variance.
    """
    power = np.einsum("ij,ij->i", frames, frames) * np.float32(1.0 / frames.shape[1])
    return 10.0 * np.log10(np.maximum(power, 1e-12), dtype=np.float64)
