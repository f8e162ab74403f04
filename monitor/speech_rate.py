"""Speech rate in syllables per second of speaking time, computed as audio streams in.

Syllable nuclei are counted after de Jong & Wempe (2009): peaks of an
intensity contour that stand out from the dips around them and are voiced.
Three changes make the count hold up when the same speech is played faster or
slower and when it arrives a block at a time:

* The contour is the energy of the 300-2500 Hz band (where vowels carry their
  first two formants and fricatives little energy) in 5 ms frames, smoothed
  over only 25 ms, so that the dips between fast syllables survive. Praat's intensity at a
  50 Hz pitch floor smooths over 64 ms and merges syllables at fast tempo.
* A peak counts when the contour rises at least ``min_dip_db`` above the dip
  before it and falls at least ``min_dip_db`` below it afterwards (a
  hysteresis peak detector). Both criteria are level differences, not
  durations, so they do not change when time is stretched; de Jong & Wempe
  only check the dip towards the following peak.
* The loudness threshold is relative to a running speech level (a peak hold
  that decays slowly) instead of the 99th percentile of the whole file, which
  a live call cannot know.

Voicing is the peak of the normalised autocorrelation in the 75-400 Hz pitch
range, computed only at candidate peaks, with the 60-1500 Hz band selected in
the spectrum so no extra filter has to run over every sample.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import signal

from monitor.framing import hop_end_sample

_EPS_POWER = 1e-12  # -120 dB: keeps log10 finite on digital silence


@dataclass(frozen=True, slots=True)
class NucleusConfig:
    """Parameters of the syllable-nucleus detector.

    Attributes
    ----------
    band_hz : tuple of float
        Pass band of the intensity contour in Hz.
    frame_s : float
        Frame length of the contour in seconds.
    smooth_s : float
        Length of the Hann window that smooths the frame energies, in seconds.
    min_dip_db : float
        Minimum rise from the preceding dip and fall to the following dip, in dB.
    level_drop_db : float
        A peak must be no more than this far below the running speech level, in dB.
    level_decay_db_per_s : float
        How fast the running speech level (a peak hold) decays, in dB per second.
    voicing_window_s : float
        Length of the autocorrelation window centred on a peak, in seconds.
    pitch_range_hz : tuple of float
        Lowest and highest pitch searched by the voicing check, in Hz.
    voicing_band_hz : tuple of float
        Spectral band kept for the voicing autocorrelation, in Hz.
    min_voicing : float
        Minimum normalised autocorrelation (0-1) for a peak to count as voiced.
    """

    band_hz: tuple[float, float] = (300.0, 2500.0)
    frame_s: float = 0.005
    smooth_s: float = 0.025
    min_dip_db: float = 4.0
    level_drop_db: float = 20.0
    level_decay_db_per_s: float = 1.0
    voicing_window_s: float = 0.048
    pitch_range_hz: tuple[float, float] = (75.0, 400.0)
    voicing_band_hz: tuple[float, float] = (60.0, 1500.0)
    min_voicing: float = 0.45


class NucleusDetector:
    """Streaming syllable-nucleus detector.

    Parameters
    ----------
    sr_hz : int
        Sample rate of the audio in Hz.
    config : NucleusConfig, optional
        Detector parameters.

    Notes
    -----
    A nucleus is confirmed once the contour has fallen ``min_dip_db`` below
    it, typically 20-150 ms after the peak, and reported with the sample
    position of the peak. Results do not depend on how the audio is split
    into blocks.
    """

    def __init__(self, sr_hz: int = 16000, config: NucleusConfig | None = None) -> None:
        self.sr_hz = int(sr_hz)
        self.config = cfg = config or NucleusConfig()
        nyquist_hz = 0.5 * self.sr_hz
        high_hz = min(cfg.band_hz[1], 0.9 * nyquist_hz)
        # lfilter on a 4th-order band pass is numerically safe here and has a
        # third of sosfilt's per-call overhead, which dominates at 100 ms blocks.
        self._b, self._a = signal.butter(2, (cfg.band_hz[0], high_hz), btype="bandpass", fs=self.sr_hz)
        self._zi = np.zeros(max(self._a.size, self._b.size) - 1)
        self._frame_len = max(1, round(cfg.frame_s * self.sr_hz))
        n_smooth = max(1, round(cfg.smooth_s / cfg.frame_s))
        window = np.hanning(n_smooth + 2)[1:-1]
        self._smooth_w = window / window.sum()
        # Centre of smoothed frame j, in samples, is j * frame_len + _centre_offset.
        self._centre_offset = (0.5 + 0.5 * (n_smooth - 1)) * self._frame_len
        self._frame_dt_s = self._frame_len / self.sr_hz

        self._partial = np.zeros(0)  # squared band samples of the unfinished frame
        self._energy_hist = np.zeros(0)  # last n_smooth - 1 frame energies
        self._n_frames = 0  # finished frames so far
        self._context = np.zeros(0)  # last two smoothed dB values
        self._context_start = 0  # smoothed-frame index of _context[0]

        # Hysteresis peak picker: seeking a maximum after a confirmed dip, or a dip after a peak.
        # The stream may start mid-syllable, so the first peak needs a dip before it.
        self._seek_max = False
        self._trough_db = np.inf
        self._max_db = -np.inf
        self._max_frame = -1
        self._level_db = -np.inf
        self._level_frame = 0

        win_len = max(8, round(cfg.voicing_window_s * self.sr_hz))
        self._win_len = win_len
        self._nfft = 1 << int(np.ceil(np.log2(2 * win_len)))
        self._hann = np.hanning(win_len)
        win_ac = np.fft.irfft(np.abs(np.fft.rfft(self._hann, self._nfft)) ** 2, self._nfft)
        self._lag_lo = max(1, int(np.floor(self.sr_hz / cfg.pitch_range_hz[1])))
        self._lag_hi = min(win_len // 2, int(np.ceil(self.sr_hz / cfg.pitch_range_hz[0])))
        self._win_ac_norm = win_ac[self._lag_lo:self._lag_hi + 1] / win_ac[0]
        f_hz = np.fft.rfftfreq(self._nfft, 1.0 / self.sr_hz)
        self._voicing_bins = (f_hz >= cfg.voicing_band_hz[0]) & (f_hz <= cfg.voicing_band_hz[1])

        # Raw audio kept for the voicing check, from absolute sample _audio_start on.
        self._audio = np.zeros(0, dtype=np.float64)
        self._audio_start = 0
        self._pending: list[int] = []  # peak sample positions awaiting enough audio for voicing
        self._nuclei_count = 0

    @property
    def nuclei_count(self) -> int:
        """Number of nuclei confirmed so far."""
        return self._nuclei_count

    @property
    def samples_seen(self) -> int:
        """Number of samples given to :meth:`process` so far."""
        return self._audio_start + self._audio.size

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed audio and return the nuclei confirmed by it.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono audio, any length including 0, full scale 1.0.

        Returns
        -------
        np.ndarray, shape (k,), int64
            Sample positions (from the start of the stream) of the syllable
            nuclei confirmed while processing this block, in increasing order.
        """
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return np.zeros(0, dtype=np.int64)
        self._audio = np.concatenate((self._audio, x))
        band, self._zi = signal.lfilter(self._b, self._a, x, zi=self._zi)
        power = np.concatenate((self._partial, band * band))
        n_new = power.size // self._frame_len
        cut = n_new * self._frame_len
        self._partial = power[cut:]
        if n_new:
            energy = power[:cut].reshape(n_new, self._frame_len).mean(axis=1)
            self._n_frames += n_new
            self._add_frames(energy)
        nuclei = self._check_voicing()
        self._trim_audio()
        return nuclei

    def _add_frames(self, energy: np.ndarray) -> None:
        hist = np.concatenate((self._energy_hist, energy))
        n_w = self._smooth_w.size
        n_out = hist.size - n_w + 1
        if n_out <= 0:
            self._energy_hist = hist
            return
        # np.convolve is a direct sum per output, so outputs do not depend on the block split.
        smooth = np.convolve(hist, self._smooth_w, mode="valid")
        self._energy_hist = hist[n_out:]
        first_index = self._n_frames - n_out
        self._add_smoothed(10.0 * np.log10(smooth + _EPS_POWER), first_index - (n_w - 1))

    def _add_smoothed(self, db: np.ndarray, first_index: int) -> None:
        if self._context.size == 0:
            self._context_start = first_index
        v = np.concatenate((self._context, db))
        start = self._context_start
        if v.size >= 3:
            mid = v[1:-1]
            is_max = (mid > v[:-2]) & (mid >= v[2:])
            is_min = (mid < v[:-2]) & (mid <= v[2:])
            turning = np.flatnonzero(is_max | is_min) + 1
            self._pick_peaks(v[turning], turning + start, is_max[turning - 1])
        keep = min(2, v.size)
        self._context = v[-keep:]
        self._context_start = start + v.size - keep

    def _pick_peaks(self, values: np.ndarray, frames: np.ndarray, maxima: np.ndarray) -> None:
        cfg = self.config
        dip = cfg.min_dip_db
        decay_per_frame = cfg.level_decay_db_per_s * self._frame_dt_s
        for v, j, is_max in zip(values.tolist(), frames.tolist(), maxima.tolist()):
            if self._seek_max:
                if is_max:
                    if v > self._max_db:
                        self._max_db, self._max_frame = v, j
                elif v <= self._max_db - dip:
                    self._accept_peak(self._max_db, self._max_frame, decay_per_frame)
                    self._seek_max = False
                    self._trough_db = v
            elif is_max:
                if v >= self._trough_db + dip:
                    self._seek_max = True
                    self._max_db, self._max_frame = v, j
            elif v < self._trough_db:
                self._trough_db = v

    def _accept_peak(self, peak_db: float, frame: int, decay_per_frame: float) -> None:
        level = self._level_db - decay_per_frame * (frame - self._level_frame)
        if peak_db >= level:
            self._level_db, self._level_frame = peak_db, frame
            level = peak_db
        if peak_db < level - self.config.level_drop_db:
            return
        self._pending.append(int(round(frame * self._frame_len + self._centre_offset)))

    def _check_voicing(self) -> np.ndarray:
        half = self._win_len // 2
        end = self.samples_seen
        ready = [p for p in self._pending if p + self._win_len - half <= end]
        if not ready:
            return np.zeros(0, dtype=np.int64)
        self._pending = self._pending[len(ready):]
        pos = np.asarray(ready, dtype=np.int64)
        starts = np.clip(pos - half - self._audio_start, 0, None)
        idx = starts[:, None] + np.arange(self._win_len)[None, :]
        frames = self._audio[np.clip(idx, 0, self._audio.size - 1)]
        frames = (frames - frames.mean(axis=1, keepdims=True)) * self._hann
        spec = np.fft.rfft(frames, self._nfft, axis=1)
        power = np.where(self._voicing_bins, spec.real ** 2 + spec.imag ** 2, 0.0)
        ac = np.fft.irfft(power, self._nfft, axis=1)
        lags = ac[:, self._lag_lo:self._lag_hi + 1] / np.maximum(ac[:, :1], 1e-30)
        voicing = (lags / self._win_ac_norm).max(axis=1)
        voiced = pos[voicing >= self.config.min_voicing]
        self._nuclei_count += int(voiced.size)
        return voiced

    def _trim_audio(self) -> None:
        # Keep enough audio for the oldest pending peak, or else one voicing window.
        keep_from = self.samples_seen - 2 * self._win_len
        if self._pending:
            keep_from = min(keep_from, self._pending[0] - self._win_len)
        drop = keep_from - self._audio_start
        if drop > self.sr_hz:  # trim in chunks so small blocks do not copy every call
            self._audio = self._audio[drop:]
            self._audio_start += drop


class SpeechRateEstimator:
    """Speech rate over a sliding window of recent speech, hop by hop.

    Parameters
    ----------
    sr_hz : int
        Sample rate of the audio in Hz.
    hop_s : float
        Hop length in seconds; hop ``k`` covers the samples given by
        :func:`monitor.framing.hop_end_sample`.
    window_speech_s : float
        Amount of speech, in seconds, that the rate is averaged over. Only
        speech hops count, so pauses neither dilute the rate nor age it.
    min_speech_s : float
        Speech heard, in seconds, before a rate is reported.
    config : NucleusConfig, optional
        Syllable-nucleus detector parameters.

    Notes
    -----
    Nuclei are confirmed up to a few hundred milliseconds after their peak.
    A late nucleus is credited to the hop of its peak if that hop is still
    in the window (or not yet classified), so the rate for a hop can rise a
    little once the following audio has arrived.
    """

    def __init__(self, sr_hz: int = 16000, hop_s: float = 0.1, *, window_speech_s: float = 6.0,
                 min_speech_s: float = 1.5, config: NucleusConfig | None = None) -> None:
        if window_speech_s < min_speech_s:
            raise ValueError("window_speech_s must be at least min_speech_s")
        self.sr_hz = int(sr_hz)
        self.hop_s = float(hop_s)
        self._detector = NucleusDetector(self.sr_hz, config)
        self._max_hops = max(1, round(window_speech_s / hop_s))
        self._min_hops = max(1, int(np.ceil(min_speech_s / hop_s - 1e-9)))
        self._unclassified: dict[int, int] = {}  # hop -> nuclei, for hops not yet classified
        self._window: deque[int] = deque()  # speech hops in the window, oldest first
        self._window_nuclei: dict[int, int] = {}  # hop -> nuclei, for hops in the window
        self._window_total = 0
        self._last_hop = -1

    @property
    def nuclei_count(self) -> int:
        """Total syllable nuclei detected so far, in speech and non-speech hops."""
        return self._detector.nuclei_count

    def process(self, block: np.ndarray) -> None:
        """Feed audio.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono float audio at ``sr_hz``, any length including 0.
        """
        for pos in self._detector.process(block).tolist():
            hop = self._hop_of(pos)
            if hop > self._last_hop:
                self._unclassified[hop] = self._unclassified.get(hop, 0) + 1
            elif hop in self._window_nuclei:
                self._window_nuclei[hop] += 1
                self._window_total += 1

    def rate_for_hop(self, hop_index: int, speech: bool) -> float | None:
        """Classify a hop and return the current speech rate.

        Parameters
        ----------
        hop_index : int
            Hop number; hops must be given in order, once each.
        speech : bool
            Whether the hop is speech (from the VAD).

        Returns
        -------
        float or None
            Syllables per second of speech over the last ``window_speech_s``
            seconds of speech hops, or None until ``min_speech_s`` of speech
            has been heard.
        """
        if hop_index <= self._last_hop:
            raise ValueError(f"hop {hop_index} given after hop {self._last_hop}")
        for hop in [h for h in self._unclassified if h < hop_index]:
            del self._unclassified[hop]  # skipped hops: no rate was asked for them
        self._last_hop = hop_index
        count = self._unclassified.pop(hop_index, 0)
        if speech:
            self._window.append(hop_index)
            self._window_nuclei[hop_index] = count
            self._window_total += count
            if len(self._window) > self._max_hops:
                self._window_total -= self._window_nuclei.pop(self._window.popleft())
        if len(self._window) < self._min_hops:
            return None
        return self._window_total / (len(self._window) * self.hop_s)

    def _hop_of(self, pos: int) -> int:
        hop = int(pos // (self.hop_s * self.sr_hz))
        while hop_end_sample(hop, self.sr_hz, self.hop_s) <= pos:
            hop += 1
        while hop > 0 and hop_end_sample(hop - 1, self.sr_hz, self.hop_s) > pos:
            hop -= 1
        return hop


def detect_nuclei(x: np.ndarray, sr_hz: int, config: NucleusConfig | None = None,
                  block_len: int = 16000) -> np.ndarray:
    """Run the streaming nucleus detector over a whole signal.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Mono audio.
    sr_hz : int
        Sample rate in Hz.
    config : NucleusConfig, optional
        Detector parameters.
    block_len : int
        Block length in samples fed to the detector (results do not depend on it).

    Returns
    -------
    np.ndarray, shape (k,)
        Times of the syllable nuclei in seconds from the start of ``x``. The
        signal is followed by 0.5 s of silence so that a final nucleus is confirmed.
    """
    det = NucleusDetector(sr_hz, config)
    padded = np.concatenate((np.asarray(x, dtype=np.float64).reshape(-1), np.zeros(sr_hz // 2)))
    found = [det.process(padded[i:i + block_len]) for i in range(0, padded.size, block_len)]
    pos = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return pos[pos < np.asarray(x).size] / sr_hz


def count_nuclei(x: np.ndarray, sr_hz: int, config: NucleusConfig | None = None) -> int:
    """Number of syllable nuclei in a whole signal (see :func:`detect_nuclei`).

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Mono audio.
    sr_hz : int
        Sample rate in Hz.
    config : NucleusConfig, optional
        Detector parameters.

    Returns
    -------
    int
        Number of nuclei.
    """
    return int(detect_nuclei(x, sr_hz, config).size)
