"""Two-party feature extraction: audio blocks in, feature frames out.

Each party's audio goes through its own chain:

* loudness at the party's native rate (the exact BS.1770 filter for that rate);
* a streaming resampler to the 16 kHz analysis rate, then a DC-blocking high-pass;
* voice activity (the agent's detector also sees the customer's signal, to reject bleed);
  on the customer's line, steady tones (ringback, DTMF, beeps) and music (hold music)
  are taken out, since WebRTC's VAD hears them as a voice and they arrive from the
  network, not the headset;
* speech rate from syllable nuclei.

Frames are assembled hop by hop once every stage of both parties has
reached the end of the hop, so the two parties stay aligned whatever block
sizes arrive, and whatever their sample rates are.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import soxr
from scipy import signal

from models.frames import HOP_S, FeatureFrame, PartyFrame
from monitor.framing import hop_end_sample
from monitor.line_sounds import LineSoundDetector
from monitor.loudness import LoudnessMeter
from monitor.speech_rate import SpeechRateEstimator
from monitor.vad import VoiceActivityDetector

ANALYSIS_SR_HZ = 16000
"""Rate of the voice-activity and speech-rate stages, in Hz."""

VAD_FRAME_S = 0.01
DC_CUTOFF_HZ = 60.0
SILENCE_FLOOR_LUFS = -120.0
"""Loudness below this is reported as silence (None): after sound stops, the
K-weighting filter's tail decays through hundreds of dB before it is exactly
zero. ffmpeg's ebur128 uses the same floor."""


def _lufs_or_none(value: float) -> float | None:
    return float(value) if value >= SILENCE_FLOOR_LUFS else None


class _PartyChain:
    """One party's loudness meter, resampler and DC blocker, with their pending output."""

    def __init__(self, sr_hz: int, hop_s: float) -> None:
        self.loudness = LoudnessMeter(sr_hz, hop_s)
        self.resampler = (None if sr_hz == ANALYSIS_SR_HZ else
                          soxr.ResampleStream(sr_hz, ANALYSIS_SR_HZ, 1, dtype="float32", quality="HQ"))
        # A second-order high-pass is numerically safe as (b, a) at 16 kHz, and
        # lfilter costs a fraction of sosfilt per call.
        self.dc_b, self.dc_a = signal.butter(2, DC_CUTOFF_HZ, "highpass", fs=ANALYSIS_SR_HZ)
        self.dc_state = np.zeros(2)
        self.momentary: deque[float] = deque()
        self.short_term: deque[float] = deque()
        self.pending_16k = np.zeros(0, dtype=np.float32)

    def push(self, block: np.ndarray, last: bool = False) -> None:
        momentary, short_term = self.loudness.process(block)
        self.momentary.extend(momentary.tolist())
        self.short_term.extend(short_term.tolist())
        if self.resampler is not None:
            block = self.resampler.resample_chunk(block, last=last)
        if block.size:
            filtered, self.dc_state = signal.lfilter(self.dc_b, self.dc_a, block, zi=self.dc_state)
            self.pending_16k = np.concatenate([self.pending_16k, filtered.astype(np.float32)])

    def take_16k(self, n: int) -> np.ndarray:
        taken, self.pending_16k = self.pending_16k[:n], self.pending_16k[n:]
        return taken


@dataclass
class _PartyAnalysis:
    vad: VoiceActivityDetector
    rate: SpeechRateEstimator
    speech_frames: deque[bool]
    line_sounds: LineSoundDetector | None = None


class CallFeatureExtractor:
    """Turns the audio of one or two parties into :class:`FeatureFrame` records.

    Parameters
    ----------
    agent_sr_hz : int
        Sample rate of the agent's audio in Hz.
    customer_sr_hz : int or None
        Sample rate of the customer's audio in Hz, or None in mic-only mode.
    hop_s : float
        Frame hop in seconds.
    agent_level_dbfs : float, optional
        The agent's calibrated speech level from a saved profile, for the VAD's gate.
    """

    def __init__(self, agent_sr_hz: int, customer_sr_hz: int | None, hop_s: float = HOP_S,
                 agent_level_dbfs: float | None = None) -> None:
        self.hop_s = hop_s
        self._frames_per_hop = round(hop_s / VAD_FRAME_S)
        self._agent_chain = _PartyChain(agent_sr_hz, hop_s)
        self._customer_chain = _PartyChain(customer_sr_hz, hop_s) if customer_sr_hz else None
        self._agent = _PartyAnalysis(
            VoiceActivityDetector(ANALYSIS_SR_HZ, VAD_FRAME_S, reference_level_dbfs=agent_level_dbfs),
            SpeechRateEstimator(ANALYSIS_SR_HZ, hop_s), deque())
        self._customer = (_PartyAnalysis(VoiceActivityDetector(ANALYSIS_SR_HZ, VAD_FRAME_S),
                                         SpeechRateEstimator(ANALYSIS_SR_HZ, hop_s), deque(),
                                         LineSoundDetector(ANALYSIS_SR_HZ, hop_s))
                          if self._customer_chain is not None else None)
        self._analysed_16k = 0
        self._next_hop = 0

    @property
    def has_customer(self) -> bool:
        """Whether the customer's side is analysed."""
        return self._customer_chain is not None

    @property
    def agent_speech_level_dbfs(self) -> float | None:
        """The agent's speech level as learned by the voice-activity gate, in dBFS."""
        return self._agent.vad.speech_level_dbfs

    def process(self, agent: np.ndarray, customer: np.ndarray | None = None) -> list[FeatureFrame]:
        """Feed a block of each party and return the frames it completes.

        Parameters
        ----------
        agent : np.ndarray, shape (n,)
            The agent's samples, float32, at ``agent_sr_hz``.
        customer : np.ndarray, shape (m,), optional
            The customer's samples over the same span, at ``customer_sr_hz``.
            Required when the extractor has a customer, ignored otherwise.

        Returns
        -------
        list of FeatureFrame
            Frames completed by this block, in order (possibly none).
        """
        return self._advance(agent, customer, last=False)

    def flush(self) -> list[FeatureFrame]:
        """End the stream: drain the resamplers and return the remaining whole hops."""
        empty = np.zeros(0, dtype=np.float32)
        return self._advance(empty, empty if self.has_customer else None, last=True)

    def _advance(self, agent: np.ndarray, customer: np.ndarray | None, last: bool) -> list[FeatureFrame]:
        self._agent_chain.push(np.asarray(agent, dtype=np.float32), last)
        if self._customer_chain is not None:
            if customer is None:
                raise ValueError("this extractor analyses a customer; pass the customer's block too")
            self._customer_chain.push(np.asarray(customer, dtype=np.float32), last)
        self._analyse_16k()
        return self._assemble()

    def _analyse_16k(self) -> None:
        chains = [self._agent_chain] + ([self._customer_chain] if self._customer_chain else [])
        n = min(len(chain.pending_16k) for chain in chains)
        if n == 0:
            return
        agent_16k = self._agent_chain.take_16k(n)
        customer_16k = self._customer_chain.take_16k(n) if self._customer_chain else None
        self._agent.speech_frames.extend(self._agent.vad.process(agent_16k, customer_16k).tolist())
        self._agent.rate.process(agent_16k)
        if self._customer is not None and customer_16k is not None:
            self._customer.speech_frames.extend(self._customer.vad.process(customer_16k).tolist())
            self._customer.line_sounds.add(customer_16k)
            self._customer.rate.process(customer_16k)
        self._analysed_16k += n

    def _assemble(self) -> list[FeatureFrame]:
        n = 0
        while self._hop_ready(self._next_hop + n):
            n += 1
        if not n:
            return []
        hops = range(self._next_hop, self._next_hop + n)
        agent = self._party_frames(self._agent_chain, self._agent, hops)
        customer: list[PartyFrame | None] = (
            self._party_frames(self._customer_chain, self._customer, hops)
            if self._customer_chain is not None and self._customer is not None else [None] * n)
        self._next_hop += n
        return [FeatureFrame(k, round(k * self.hop_s, 6), a, c)
                for k, a, c in zip(hops, agent, customer)]

    def _hop_ready(self, k: int) -> bool:
        if self._analysed_16k < hop_end_sample(k, ANALYSIS_SR_HZ, self.hop_s):
            return False
        parties = [(self._agent_chain, self._agent)]
        if self._customer_chain is not None and self._customer is not None:
            parties.append((self._customer_chain, self._customer))
        ahead = k - self._next_hop + 1
        return all(len(chain.momentary) >= ahead
                   and len(analysis.speech_frames) >= ahead * self._frames_per_hop
                   and (analysis.line_sounds is None
                        or analysis.line_sounds.hops_available >= ahead)
                   for chain, analysis in parties)

    def _party_frames(self, chain: _PartyChain, analysis: _PartyAnalysis,
                      hops: range) -> list[PartyFrame]:
        voiced = []
        for _ in hops:
            flags = [analysis.speech_frames.popleft() for _ in range(self._frames_per_hop)]
            voiced.append(2 * sum(flags) >= len(flags))
        # Only hops the VAD calls speech can be tones or music it mistook for a voice.
        not_voice = (analysis.line_sounds.judge(voiced) if analysis.line_sounds is not None
                     else [False] * len(voiced))
        frames = []
        for k, hop_voiced, sound in zip(hops, voiced, not_voice):
            speech = hop_voiced and not sound
            frames.append(PartyFrame(
                momentary_lufs=_lufs_or_none(chain.momentary.popleft()),
                short_term_lufs=_lufs_or_none(chain.short_term.popleft()),
                speech=speech,
                rate_sps=analysis.rate.rate_for_hop(k, speech),
                line_sound=sound,
            ))
        return frames
