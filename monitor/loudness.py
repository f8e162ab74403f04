"""ITU-R BS.1770-4 loudness: K-weighting, momentary and short-term LUFS per hop.

One :class:`LoudnessMeter` meters one mono channel (channel weight 1.0), so a
full-scale 1 kHz sine reads about -3.01 LUFS here where a stereo pair of it
reads 0 LUFS. Momentary (400 ms) and short-term (3 s) windows end at every hop
end; before a window has filled, the missing part counts as silence (ffmpeg's
``ebur128`` prints a -120.7 LUFS floor there instead; after that the two agree).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, signal

from monitor.framing import hop_end_sample

MOMENTARY_S = 0.4
"""Momentary loudness window in seconds (BS.1770-4, EBU R 128)."""

SHORT_TERM_S = 3.0
"""Short-term loudness window in seconds (EBU R 128)."""

LUFS_OFFSET_DB = -0.691
"""BS.1770 offset that makes a 1 kHz sine read its level after K-weighting."""

REFERENCE_SR_HZ = 48000
"""Rate at which BS.1770 publishes the K-weighting coefficients."""

# Analog prototypes of the BS.1770 K-weighting stages, as derived by libebur128
# so that the bilinear transform reproduces the standard's 48 kHz coefficients.
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

# Shelf fit below 48 kHz: log-spaced grid from 20 Hz to this fraction of the rate.
_FIT_LOW_HZ = 20.0
_FIT_TOP_FRACTION = 0.46
_FIT_POINTS = 200


def _bilinear_shelf(sr_hz: int) -> np.ndarray:
    k = math.tan(math.pi * _SHELF_F0_HZ / sr_hz)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh ** _SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    return np.array([
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ])


def _fitted_shelf(sr_hz: int) -> np.ndarray:
    """Shelf biquad whose dB magnitude best fits the 48 kHz shelf up to ``0.46 * sr_hz``."""
    f_hz = np.geomspace(_FIT_LOW_HZ, _FIT_TOP_FRACTION * sr_hz, _FIT_POINTS)
    _, h_ref = signal.sosfreqz(_bilinear_shelf(REFERENCE_SR_HZ)[None, :], worN=f_hz, fs=REFERENCE_SR_HZ)
    target_db = 20.0 * np.log10(np.abs(h_ref))
    z1 = np.exp(-2j * np.pi * f_hz / sr_hz)

    def error_db(p: np.ndarray) -> np.ndarray:
        h = (p[0] + p[1] * z1 + p[2] * z1 * z1) / (1.0 + p[3] * z1 + p[4] * z1 * z1)
        return 20.0 * np.log10(np.abs(h)) - target_db

    start = _bilinear_shelf(sr_hz)[[0, 1, 2, 4, 5]]
    fit = optimize.least_squares(error_db, start, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    b0, b1, b2, a1, a2 = fit.x
    return np.array([b0, b1, b2, 1.0, a1, a2])


def k_weighting_sos(sr_hz: int, libebur128_compatible: bool = False) -> np.ndarray:
    """Design the BS.1770 K-weighting filter for a sample rate.

    Both stages start from their analog prototypes through the bilinear
    transform pre-warped at each stage's own corner frequency, so the 48 kHz
    result is the filter published in BS.1770-4. Carried naively to other
    rates (as libebur128 and ffmpeg do) that design drifts from the standard:
    the RLB numerator ``(1, -2, 1)`` hides a passband gain that grows as the
    rate falls (+0.21 dB at 8 kHz relative to 48 kHz), and warping bends the
    shelf (±0.28 dB near 1-3 kHz at 8 kHz), so speech at 8 kHz reads about
    0.2 LU louder than at 48 kHz. By default both are corrected: the RLB
    stage keeps its 48 kHz passband gain, and below 48 kHz the shelf biquad
    is a least-squares fit of the 48 kHz shelf's dB magnitude (within 0.015 dB
    from 20 Hz to 0.46 times the rate, even at 8 kHz).

    Parameters
    ----------
    sr_hz : int
        Sample rate in Hz; must exceed twice the shelf corner (about 3364 Hz).
    libebur128_compatible : bool
        Use the plain per-rate bilinear design of libebur128 and ffmpeg's
        ``ebur128`` filter instead, to reproduce their numbers exactly.

    Returns
    -------
    np.ndarray, shape (2, 6), float64
        Second-order sections ``[b0, b1, b2, 1, a1, a2]`` for
        :func:`scipy.signal.sosfilt`: the pre-filter high shelf, then the RLB
        high-pass.

    Raises
    ------
    ValueError
        If the shelf corner is not below the Nyquist frequency.
    """
    if sr_hz <= 2 * _SHELF_F0_HZ:
        raise ValueError(f"sample rate {sr_hz} Hz too low for K-weighting (need > {2 * _SHELF_F0_HZ:.0f} Hz)")
    if libebur128_compatible or sr_hz >= REFERENCE_SR_HZ:
        shelf = _bilinear_shelf(sr_hz)
    else:
        shelf = _fitted_shelf(sr_hz)

    def highpass_a0(rate_hz: int) -> float:
        k = math.tan(math.pi * _HIGHPASS_F0_HZ / rate_hz)
        return 1.0 + k / _HIGHPASS_Q + k * k

    k = math.tan(math.pi * _HIGHPASS_F0_HZ / sr_hz)
    a0 = highpass_a0(sr_hz)
    gain = 1.0 if libebur128_compatible else highpass_a0(REFERENCE_SR_HZ) / a0
    highpass = [gain, -2.0 * gain, gain, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


def mean_square_to_lufs(mean_square: np.ndarray) -> np.ndarray:
    """Convert the mean square of a K-weighted mono signal to loudness.

    Parameters
    ----------
    mean_square : np.ndarray, shape (n,)
        Mean square of the K-weighted signal over each window, in full-scale
        units squared; non-negative.

    Returns
    -------
    np.ndarray, shape (n,), float64
        ``-0.691 + 10 * log10(mean_square)`` in LUFS; ``-inf`` where the mean
        square is 0 (digital silence).
    """
    ms = np.asarray(mean_square, dtype=np.float64)
    log_ms = np.log10(ms, out=np.full(ms.shape, -np.inf), where=ms > 0.0)
    return LUFS_OFFSET_DB + 10.0 * log_ms


def _hops_per_window(window_s: float, hop_s: float) -> int:
    n = round(window_s / hop_s)
    if n < 1 or not math.isclose(n * hop_s, window_s, rel_tol=1e-9):
        raise ValueError(f"hop of {hop_s} s does not divide the {window_s} s loudness window")
    return n


class LoudnessMeter:
    """Streaming BS.1770 momentary and short-term loudness of one mono channel.

    Feed blocks of any size with :meth:`process`; each call returns the
    loudness of every hop completed by that block. Results do not depend on
    how the stream is split into blocks (they are bit-identical).

    Parameters
    ----------
    sr_hz : int
        Sample rate in Hz (8 kHz to 96 kHz intended; anything above ~3.4 kHz works).
    hop_s : float
        Hop in seconds; must divide both 0.4 s and 3 s.
    libebur128_compatible : bool
        Filter like libebur128 and ffmpeg's ``ebur128`` (see
        :func:`k_weighting_sos`) to reproduce their readings; below 48 kHz
        these read broadband sound up to 0.2 LU louder than the standard.

    Notes
    -----
    Windows are sums of per-hop energy sums (4 and 30 hops at 0.1 s), which is
    exact because hops partition the samples. A window's mean square divides by
    its full length in samples, so windows reaching back before the start of
    the stream are zero-padded.
    """

    def __init__(self, sr_hz: int, hop_s: float = 0.1, *, libebur128_compatible: bool = False) -> None:
        self.sr_hz = int(sr_hz)
        self.hop_s = float(hop_s)
        sos = k_weighting_sos(self.sr_hz, libebur128_compatible)
        # One 4th-order direct-form filter instead of sosfilt's cascade: same
        # throughput, a fifth of the per-call overhead (small live blocks), and
        # its float64 rounding error stays below 1e-7 LU even at 96 kHz.
        self._b = np.convolve(sos[0, :3], sos[1, :3])
        self._a = np.convolve(sos[0, 3:], sos[1, 3:])
        self._zi = np.zeros(self._a.size - 1, dtype=np.float64)
        self._window_hops = np.array([_hops_per_window(MOMENTARY_S, self.hop_s),
                                      _hops_per_window(SHORT_TERM_S, self.hop_s)])
        n_history = int(self._window_hops.max())
        # Energy sums and end samples of the last completed hops, oldest first.
        # Hops before the stream began count as silent, which zero-pads the windows.
        self._energy_history = np.zeros(n_history, dtype=np.float64)
        self._end_history = hop_end_sample(np.arange(-n_history, 0, dtype=np.int64), self.sr_hz, self.hop_s)
        self._next_hop = 0
        self._next_hop_end = hop_end_sample(0, self.sr_hz, self.hop_s)
        self._samples_seen = 0
        # Squared K-weighted samples of the hop in progress, kept whole (not as a
        # running sum) so every hop is summed in one go and block splits cannot
        # change the rounding.
        self._pending = np.empty(math.ceil(self.hop_s * self.sr_hz) + 1, dtype=np.float64)
        self._n_pending = 0

    def process(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Meter the next block of samples.

        Parameters
        ----------
        block : np.ndarray, shape (n,)
            Next mono samples, floating point in full-scale units (±1.0);
            any ``n`` including 0. NaN and ±inf samples are metered as 0.

        Returns
        -------
        momentary_lufs : np.ndarray, shape (h,), float64
            Momentary loudness (400 ms window ending at the hop end) in LUFS of
            each of the ``h`` hops completed by this block; ``-inf`` for zero
            K-weighted energy (digital silence).
        short_term_lufs : np.ndarray, shape (h,), float64
            Short-term loudness (3 s window ending at the hop end) in LUFS.

        Raises
        ------
        ValueError
            If ``block`` is not one-dimensional or not real floating point.
        """
        x = np.asarray(block)
        if x.ndim != 1:
            raise ValueError(f"expected a 1-D mono block, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise ValueError(f"expected floating-point samples in full-scale units, got {x.dtype}")
        if x.size == 0:
            return np.empty(0), np.empty(0)
        # lfilter's own conversion of float32 input is about twice as slow as this one.
        x = x.astype(np.float64, copy=False)
        y, zf = signal.lfilter(self._b, self._a, x, zi=self._zi)
        # Any NaN or inf sample leaves the final state non-finite, so checking the
        # state finds them without scanning the block; the rare dirty block is
        # filtered again with those samples zeroed so they cannot poison the state.
        if not np.isfinite(zf).all():
            y, zf = signal.lfilter(self._b, self._a, np.where(np.isfinite(x), x, 0.0), zi=self._zi)
        self._zi = zf
        energy = np.square(y, out=y)

        start = self._samples_seen
        self._samples_seen += energy.size
        if self._samples_seen < self._next_hop_end:
            self._pending[self._n_pending:self._n_pending + energy.size] = energy
            self._n_pending += energy.size
            return np.empty(0), np.empty(0)

        hop_energy, hop_end = self._complete_hops(energy, start)
        n_new = hop_energy.size
        self._next_hop += n_new
        self._next_hop_end = hop_end_sample(self._next_hop, self.sr_hz, self.hop_s)
        n_history = self._energy_history.size
        # A trailing zero keeps reduceat's last end index in range.
        energies = np.concatenate((self._energy_history, hop_energy, [0.0]))
        ends = np.concatenate((self._end_history, hop_end))
        self._energy_history = energies[n_new:n_new + n_history].copy()
        self._end_history = ends[n_new:].copy()

        # Interleaved (start, end) index pairs make reduceat sum every overlapping
        # window on its own, in the same order however many hops this block completes.
        last = np.arange(n_history, n_history + n_new)
        bounds = np.empty((2, n_new, 2), dtype=np.int64)
        bounds[:, :, 0] = last + 1 - self._window_hops[:, None]
        bounds[:, :, 1] = last + 1
        window_energy = np.add.reduceat(energies, bounds.ravel())[0::2].reshape(2, n_new)
        window_len = ends[last] - ends[bounds[:, :, 0] - 1]
        lufs = mean_square_to_lufs(window_energy / window_len)
        return lufs[0], lufs[1]

    def _complete_hops(self, energy: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Finish the hops that ``energy`` (stream samples from ``start``) completes.

        Returns
        -------
        hop_energy : np.ndarray, shape (h,), float64
            Sum of squared K-weighted samples of each completed hop.
        hop_end : np.ndarray, shape (h,), int64
            Stream sample index one past each completed hop.
        """
        end = start + energy.size
        # Overestimate the number of hop ends from the nominal hop length, then trim.
        n_guess = int((end - self._next_hop_end) / (self.hop_s * self.sr_hz)) + 2
        hop_end = hop_end_sample(np.arange(self._next_hop, self._next_hop + n_guess, dtype=np.int64),
                                 self.sr_hz, self.hop_s)
        hop_end = hop_end[hop_end <= end]
        cuts = hop_end - start
        # The first hop began in an earlier block: finish it in the pending buffer and
        # sum it with the same reduceat as the others, which rounds alike at any offset.
        n_first = self._n_pending + int(cuts[0])
        self._pending[self._n_pending:n_first] = energy[:cuts[0]]
        first = np.add.reduceat(self._pending[:n_first], [0])
        if cuts[-1] < energy.size:
            # The last segment reduceat returns is the start of the next hop: drop it.
            rest = np.add.reduceat(energy, cuts)[:-1]
        else:
            rest = np.add.reduceat(energy, cuts[:-1]) if cuts.size > 1 else np.empty(0)
        leftover = energy[cuts[-1]:]
        self._pending[:leftover.size] = leftover
        self._n_pending = leftover.size
        return np.concatenate((first, rest)), hop_end
