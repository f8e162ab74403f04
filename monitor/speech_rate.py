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

Every nucleus carries the sample count at which it is confirmed (its dip has
been seen and the audio for its voicing check has arrived). The rate for a
hop counts only nuclei confirmed by the end of that hop, so it is a function
of the audio up to there, whatever the block size and however far the
detector has read ahead.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

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
    max_peak_to_dip_s : float
        A peak whose following dip comes later than this, in seconds, is a
        held tone or steady noise rather than a syllable. The limit also
        bounds the audio kept for the voicing check.
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
    max_peak_to_dip_s: float = 1.0


class Nuclei(NamedTuple):
    """Syllable nuclei reported by :meth:`NucleusDetector.process`.

    Attributes
    ----------
    peak_sample : np.ndarray, shape (k,), int64
        Sample positions (from the start of the stream) of the contour peaks.
    confirm_sample : np.ndarray, shape (k,), int64
        For each nucleus, the number of samples from the start of the stream
        that the detector needs to confirm it: the nucleus is found by any
        :meth:`NucleusDetector.process` call that brings the stream to at
        least this many samples, whatever the block split.
    """

    peak_sample: np.ndarray
    confirm_sample: np.ndarray


class _Tail:
    """The latest samples of a stream, kept in an array reused between calls.

    ``data[:size]`` holds stream samples ``start`` to ``start + size - 1``.
    Reusing the array instead of concatenating keeps the per-call cost of
    small blocks down.
    """

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(max(1, capacity))
        self.size = 0
        self.start = 0

    @property
    def end(self) -> int:
        """Stream index one past the last sample held."""
        return self.start + self.size

    @property
    def values(self) -> np.ndarray:
        """View of the samples held (invalidated by the next append or trim)."""
        return self.data[:self.size]

    def append(self, x: np.ndarray) -> None:
        """Add samples at the end, growing the array if they do not fit."""
        n = self.size + x.size
        if n > self.data.size:
            grown = np.zeros(2 * n)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:n] = x
        self.size = n

    def keep_last(self, n: int) -> None:
        """Forget all but the last ``n`` samples."""
        drop = self.size - n
        if drop > 0:
            self.data[:n] = self.data[drop:self.size]
            self.size = n
            self.start += drop


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
    it, typically 20-150 ms after the peak, and once the audio its voicing
    check needs has arrived. The sample count at which that happens is fixed
    by the audio, so what is found, and when, does not depend on how the
    audio is split into blocks.
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
        self._frame_len = frame_len = max(1, round(cfg.frame_s * self.sr_hz))
        n_smooth = max(1, round(cfg.smooth_s / cfg.frame_s))
        window = np.hanning(n_smooth + 2)[1:-1]
        self._smooth_w = window / window.sum()
        # Smoothed frame j averages frames j .. j + n_smooth - 1; its centre, in samples:
        self._centre_offset = (0.5 + 0.5 * (n_smooth - 1)) * frame_len
        self._max_delay_frames = round(cfg.max_peak_to_dip_s / cfg.frame_s)

        self._squared = _Tail(2 * self.sr_hz)  # squared band samples of the unfinished frame
        self._energy = _Tail(self.sr_hz)  # the last n_smooth - 1 frame energies
        self._contour = _Tail(self.sr_hz)  # the last two smoothed dB values

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
        self._win_offsets = np.arange(win_len)
        win_ac = np.fft.irfft(np.abs(np.fft.rfft(self._hann, self._nfft)) ** 2, self._nfft)
        self._lag_lo = max(1, int(np.floor(self.sr_hz / cfg.pitch_range_hz[1])))
        self._lag_hi = min(win_len // 2, int(np.ceil(self.sr_hz / cfg.pitch_range_hz[0])))
        self._win_ac_norm = win_ac[self._lag_lo:self._lag_hi + 1] / win_ac[0]
        f_hz = np.fft.rfftfreq(self._nfft, 1.0 / self.sr_hz)
        bins = np.flatnonzero((f_hz >= cfg.voicing_band_hz[0]) & (f_hz <= cfg.voicing_band_hz[1]))
        self._voicing_bins = slice(int(bins[0]), int(bins[-1]) + 1)
        # The autocorrelation is the inverse FFT of the band's power spectrum; only
        # lag 0 and the pitch lags are read, so a cosine sum over the band's bins
        # (a small matrix product) replaces the full inverse FFT.
        lags = np.concatenate(([0], np.arange(self._lag_lo, self._lag_hi + 1)))
        self._ac_basis = np.cos(2.0 * np.pi / self._nfft * np.outer(bins, lags))

        # Raw audio for the voicing check. A peak's window is needed at the latest
        # when its dip arrives, at most max_peak_to_dip_s plus the smoothing delay later.
        self._audio_keep = (self._max_delay_frames + n_smooth + 2) * frame_len + win_len
        self._audio = _Tail(self._audio_keep + 2 * self.sr_hz)
        self._pending: list[tuple[int, int]] = []  # (peak, confirm) samples awaiting audio for voicing
        self._nuclei_count = 0

    @property
    def nuclei_count(self) -> int:
        """Number of nuclei confirmed so far."""
        return self._nuclei_count

    @property
    def samples_seen(self) -> int:
        """Number of samples given to :meth:`process` so far."""
        return self._audio.end

    def process(self, block: np.ndarray) -> Nuclei:
        """Feed audio and return the nuclei confirmed by it.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono audio, any length including 0, full scale 1.0.

        Returns
        -------
        Nuclei
            The syllable nuclei confirmed while processing this block, in
            increasing order, with the stream positions (in samples) of their
            peaks and of their confirmation.
        """
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if x.size:
            self._audio.append(x)
            band, self._zi = signal.lfilter(self._b, self._a, x, zi=self._zi)
            self._add_squared(np.multiply(band, band, out=band))
        found = self._check_voicing()
        if self._audio.size > self._audio_keep + self.sr_hz:  # trim seldom: each trim copies
            self._audio.keep_last(self._audio_keep)
        return found

    def _add_squared(self, squared: np.ndarray) -> None:
        tail = self._squared
        tail.append(squared)
        n_frames = tail.size // self._frame_len
        if not n_frames:
            return
        cut = n_frames * self._frame_len
        # Summing each frame's samples in one call keeps the energies independent of the block split.
        energy = tail.values[:cut].reshape(n_frames, self._frame_len).sum(axis=1)
        energy /= self._frame_len
        tail.keep_last(tail.size - cut)
        self._add_frames(energy)

    def _add_frames(self, energy: np.ndarray) -> None:
        tail = self._energy
        tail.append(energy)
        n_w = self._smooth_w.size
        if tail.size < n_w:
            return
        first = tail.start  # smoothed frame j averages frames j .. j + n_w - 1
        # np.convolve is a direct sum per output, so outputs do not depend on the block split.
        smooth = np.convolve(tail.values, self._smooth_w, mode="valid")
        tail.keep_last(n_w - 1)
        smooth += _EPS_POWER
        db = np.log10(smooth, out=smooth)
        db *= 10.0
        self._add_smoothed(db, first)

    def _add_smoothed(self, db: np.ndarray, first: int) -> None:
        tail = self._contour
        if tail.size == 0:
            tail.start = first
        tail.append(db)
        v = tail.values
        if v.size >= 3:
            mid, left, right = v[1:-1], v[:-2], v[2:]
            is_max = (mid > left) & (mid >= right)
            turning = np.flatnonzero(is_max | ((mid < left) & (mid <= right)))
            self._pick_peaks(mid[turning].tolist(), (turning + (tail.start + 1)).tolist(),
                             is_max[turning].tolist())
        tail.keep_last(2)

    def _pick_peaks(self, values: list[float], frames: list[int], maxima: list[bool]) -> None:
        dip = self.config.min_dip_db
        for v, j, is_max in zip(values, frames, maxima):
            if self._seek_max:
                if is_max:
                    if v > self._max_db:
                        self._max_db, self._max_frame = v, j
                elif v <= self._max_db - dip:
                    self._accept_peak(self._max_db, self._max_frame, j)
                    self._seek_max = False
                    self._trough_db = v
            elif is_max:
                if v >= self._trough_db + dip:
                    self._seek_max = True
                    self._max_db, self._max_frame = v, j
            elif v < self._trough_db:
                self._trough_db = v

    def _accept_peak(self, peak_db: float, frame: int, dip_frame: int) -> None:
        cfg = self.config
        level = self._level_db - cfg.level_decay_db_per_s * cfg.frame_s * (frame - self._level_frame)
        if peak_db >= level:
            self._level_db, self._level_frame = peak_db, frame
            level = peak_db
        if peak_db < level - cfg.level_drop_db or dip_frame - frame > self._max_delay_frames:
            return
        peak = int(round(frame * self._frame_len + self._centre_offset))
        # The dip is a turning point once the next smoothed frame exists, which
        # needs energy frames up to dip_frame + n_smooth.
        dip_known = (dip_frame + self._smooth_w.size + 1) * self._frame_len
        voicing_end = max(peak - self._win_len // 2, 0) + self._win_len
        self._pending.append((peak, max(dip_known, voicing_end)))

    def _check_voicing(self) -> Nuclei:
        end = self.samples_seen
        n_ready = 0
        while n_ready < len(self._pending) and self._pending[n_ready][1] <= end:
            n_ready += 1
        if not n_ready:
            return _NO_NUCLEI
        ready = np.array(self._pending[:n_ready], dtype=np.int64)
        del self._pending[:n_ready]
        peaks = ready[:, 0]
        starts = np.maximum(peaks - self._win_len // 2 - self._audio.start, 0)
        frames = self._audio.data[starts[:, None] + self._win_offsets]
        frames -= frames.mean(axis=1, keepdims=True)
        frames *= self._hann
        spec = np.fft.rfft(frames, self._nfft, axis=1)[:, self._voicing_bins]
        ac = (spec.real ** 2 + spec.imag ** 2) @ self._ac_basis
        lags = ac[:, 1:] / np.maximum(ac[:, :1], 1e-30)
        voiced = (lags / self._win_ac_norm).max(axis=1) >= self.config.min_voicing
        self._nuclei_count += int(np.count_nonzero(voiced))
        return Nuclei(peaks[voiced], ready[voiced, 1])


_NO_NUCLEI = Nuclei(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
_NO_NUCLEI.peak_sample.flags.writeable = False
_NO_NUCLEI.confirm_sample.flags.writeable = False


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
    The rate for hop ``k`` depends only on the audio up to the end of hop
    ``k``, however much more has been given to :meth:`process`: a nucleus
    counts from the hop in which it is confirmed (typically 20-150 ms after
    its peak), and is credited to the hop of its peak if that hop is a
    speech hop still in the window.
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
        self._found: deque[tuple[int, int]] = deque()  # (peak, confirm) samples not yet counted
        self._window: deque[int] = deque()  # speech hops in the window, oldest first
        self._window_nuclei: dict[int, int] = {}  # hop -> nuclei, for hops in the window
        self._window_total = 0
        self._last_hop = -1
        self._nuclei_count = 0

    @property
    def nuclei_count(self) -> int:
        """Syllable nuclei confirmed up to the end of the last hop classified, in any hop."""
        return self._nuclei_count

    def process(self, block: np.ndarray) -> None:
        """Feed audio.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Mono float audio at ``sr_hz``, any length including 0.
        """
        found = self._detector.process(block)
        if found.peak_sample.size:
            self._found.extend(zip(found.peak_sample.tolist(), found.confirm_sample.tolist()))

    def rate_for_hop(self, hop_index: int, speech: bool) -> float | None:
        """Classify a hop and return the speech rate up to its end.

        Parameters
        ----------
        hop_index : int
            Hop number; hops must be given in order, once each, after the
            audio up to the hop's end has been given to :meth:`process`.
        speech : bool
            Whether the hop is speech (from the VAD).

        Returns
        -------
        float or None
            Syllables per second of speech over the last ``window_speech_s``
            seconds of speech hops, or None until ``min_speech_s`` of speech
            has been heard.

        Raises
        ------
        ValueError
            If hops are given out of order or before their audio.
        """
        if hop_index <= self._last_hop:
            raise ValueError(f"hop {hop_index} given after hop {self._last_hop}")
        end = hop_end_sample(hop_index, self.sr_hz, self.hop_s)
        if self._detector.samples_seen < end:
            raise ValueError(f"hop {hop_index} ends at sample {end}, but only "
                             f"{self._detector.samples_seen} samples have been processed")
        self._last_hop = hop_index
        if speech:
            self._window.append(hop_index)
            self._window_nuclei[hop_index] = 0
            if len(self._window) > self._max_hops:
                self._window_total -= self._window_nuclei.pop(self._window.popleft())
        while self._found and self._found[0][1] <= end:
            hop = self._hop_of(self._found.popleft()[0])
            self._nuclei_count += 1
            if hop in self._window_nuclei:
                self._window_nuclei[hop] += 1
                self._window_total += 1
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
                  block_samples: int = 16000) -> np.ndarray:
    """Run the streaming nucleus detector over a whole signal.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Mono audio.
    sr_hz : int
        Sample rate in Hz.
    config : NucleusConfig, optional
        Detector parameters.
    block_samples : int
        Block length in samples fed to the detector (results do not depend on it).

    Returns
    -------
    np.ndarray, shape (k,)
        Times of the syllable nuclei in seconds from the start of ``x``. The
        signal is followed by 0.5 s of silence so that a final nucleus is confirmed.
    """
    det = NucleusDetector(sr_hz, config)
    padded = np.concatenate((np.asarray(x, dtype=np.float64).reshape(-1), np.zeros(sr_hz // 2)))
    found = [det.process(padded[i:i + block_samples]).peak_sample for i in range(0, padded.size, block_samples)]
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
