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

The first stage of each chain (loudness, resampling, DC blocking) keeps its
state apart from the rest, so offline analysis runs it a block ahead in a
reader thread (:meth:`CallFeatureExtractor.filter` and
:meth:`CallFeatureExtractor.accept`); the live engine runs both in turn.
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


@dataclass(frozen=True)
class _FilteredBlock:
    """One party's block after the loudness meter and the DC blocker."""

    momentary_lufs: list[float]
    short_term_lufs: list[float]
    audio_16k: np.ndarray  # float32, DC-blocked, at ANALYSIS_SR_HZ


class _PartyChain:
    """One party's loudness meter, resampler and DC blocker, with their pending output.

    :meth:`filter` touches only the filters' state and :meth:`accept` only the
    pending output, so the two may run in different threads.
    """

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

    def filter(self, block: np.ndarray, last: bool = False) -> _FilteredBlock:
        momentary, short_term = self.loudness.process(block)
        if self.resampler is not None:
            block = self.resampler.resample_chunk(block, last=last)
        filtered = np.zeros(0, dtype=np.float32)
        if block.size:
            # lfilter's own conversion of float32 input is about twice as slow as this one.
            filtered, self.dc_state = signal.lfilter(self.dc_b, self.dc_a, block.astype(np.float64),
                                                     zi=self.dc_state)
        return _FilteredBlock(momentary.tolist(), short_term.tolist(), filtered.astype(np.float32))

    def accept(self, filtered: _FilteredBlock) -> None:
        self.momentary.extend(filtered.momentary_lufs)
        self.short_term.extend(filtered.short_term_lufs)
        if filtered.audio_16k.size:
            self.pending_16k = np.concatenate([self.pending_16k, filtered.audio_16k])

    def take_16k(self, n: int) -> np.ndarray:
        taken, self.pending_16k = self.pending_16k[:n], self.pending_16k[n:]
        return taken


@dataclass(frozen=True)
class FilteredBlocks:
    """A block of each party after the first, per-party stage of :class:`CallFeatureExtractor`.

    Made by :meth:`CallFeatureExtractor.filter` and consumed by
    :meth:`CallFeatureExtractor.accept`.
    """

    agent: _FilteredBlock
    customer: _FilteredBlock | None


@dataclass
class _PartyAnalysis:
    vad: VoiceActivityDetector
    rate: SpeechRateEstimator
    speech_frames: np.ndarray  # VAD flags per frame, not yet assembled into hops
    line_sounds: LineSoundDetector | None = None

    def add_speech_frames(self, flags: np.ndarray) -> None:
        self.speech_frames = np.concatenate((self.speech_frames, flags))

    def take_speech_frames(self, n: int) -> np.ndarray:
        taken, self.speech_frames = self.speech_frames[:n], self.speech_frames[n:]
        return taken


_NO_FLAGS = np.zeros(0, bool)


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
            SpeechRateEstimator(ANALYSIS_SR_HZ, hop_s), _NO_FLAGS)
        self._customer = (_PartyAnalysis(VoiceActivityDetector(ANALYSIS_SR_HZ, VAD_FRAME_S,
                                                               learn_from_tones=False),
                                         SpeechRateEstimator(ANALYSIS_SR_HZ, hop_s), _NO_FLAGS,
                                         LineSoundDetector(ANALYSIS_SR_HZ, hop_s))
                          if self._customer_chain is not None else None)
        self._analysed_16k = 0
        self._next_hop = 0

    @property
    def next_hop(self) -> int:
        """Index of the next frame to complete (frames so far, counting from 0)."""
        return self._next_hop

    @property
    def lookahead_s(self) -> float:
        """Audio past the end of a hop needed before that hop's frame can complete, in seconds.

        The voice-activity stage reports each frame this late (its onset lead);
        the resamplers of non-16 kHz input add a few milliseconds more.
        """
        return self._agent.vad.delay_s

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

        The same as ``accept(filter(agent, customer))``; the parameters are
        those of :meth:`filter`.

        Returns
        -------
        list of FeatureFrame
            Frames completed by this block, in order (possibly none).
        """
        return self.accept(self.filter(agent, customer))

    def flush(self) -> list[FeatureFrame]:
        """End the stream: drain the resamplers and return the remaining whole hops."""
        frames = self.accept(self.filter_end())
        for analysis in (self._agent, self._customer):
            if analysis is not None:
                analysis.add_speech_frames(analysis.vad.flush())
        return frames + self._assemble()

    def filter(self, agent: np.ndarray, customer: np.ndarray | None = None) -> FilteredBlocks:
        """Run the first stage (loudness, resampling, DC blocking) over a block of each party.

        This stage keeps its own state, apart from :meth:`accept`'s: a reader
        thread may filter the next block while another thread accepts this
        one, as long as each method is called in stream order.

        Parameters
        ----------
        agent : np.ndarray, shape (n,)
            The agent's samples, float32, at ``agent_sr_hz``.
        customer : np.ndarray, shape (m,), optional
            The customer's samples over the same span, at ``customer_sr_hz``.
            Required when the extractor has a customer, ignored otherwise.

        Returns
        -------
        FilteredBlocks
            To be passed to :meth:`accept`.
        """
        return self._filter(agent, customer, last=False)

    def filter_end(self) -> FilteredBlocks:
        """End the first stage: drain the resamplers (see :meth:`filter`)."""
        empty = np.zeros(0, dtype=np.float32)
        return self._filter(empty, empty if self.has_customer else None, last=True)

    def accept(self, filtered: FilteredBlocks) -> list[FeatureFrame]:
        """Run the rest of the analysis over a filtered block and return the frames it completes.

        Parameters
        ----------
        filtered : FilteredBlocks
            The next block from :meth:`filter` or :meth:`filter_end`.

        Returns
        -------
        list of FeatureFrame
            Frames completed by this block, in order (possibly none).
        """
        self._agent_chain.accept(filtered.agent)
        if self._customer_chain is not None and filtered.customer is not None:
            self._customer_chain.accept(filtered.customer)
        self._analyse_16k()
        return self._assemble()

    def _filter(self, agent: np.ndarray, customer: np.ndarray | None, last: bool) -> FilteredBlocks:
        agent_filtered = self._agent_chain.filter(np.asarray(agent, dtype=np.float32), last)
        customer_filtered = None
        if self._customer_chain is not None:
            if customer is None:
                raise ValueError("this extractor analyses a customer; pass the customer's block too")
            customer_filtered = self._customer_chain.filter(np.asarray(customer, dtype=np.float32), last)
        return FilteredBlocks(agent_filtered, customer_filtered)

    def _analyse_16k(self) -> None:
        chains = [self._agent_chain] + ([self._customer_chain] if self._customer_chain else [])
        n = min(len(chain.pending_16k) for chain in chains)
        if n == 0:
            return
        agent_16k = self._agent_chain.take_16k(n)
        customer_16k = self._customer_chain.take_16k(n) if self._customer_chain else None
        self._agent.add_speech_frames(self._agent.vad.process(agent_16k, customer_16k))
        self._agent.rate.process(agent_16k)
        if self._customer is not None and customer_16k is not None:
            self._customer.add_speech_frames(self._customer.vad.process(customer_16k))
            self._customer.line_sounds.add(customer_16k)
            self._customer.rate.process(customer_16k)
        self._analysed_16k += n

    def _assemble(self) -> list[FeatureFrame]:
        n = self._hops_ready()
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

    def _hops_ready(self) -> int:
        """How many hops from the next one every stage has finished."""
        parties = [(self._agent_chain, self._agent)]
        if self._customer_chain is not None and self._customer is not None:
            parties.append((self._customer_chain, self._customer))
        limit = min(min(len(chain.momentary), analysis.speech_frames.size // self._frames_per_hop,
                        analysis.line_sounds.hops_available if analysis.line_sounds is not None
                        else len(chain.momentary))
                    for chain, analysis in parties)
        n = 0
        while n < limit and hop_end_sample(self._next_hop + n, ANALYSIS_SR_HZ, self.hop_s) <= self._analysed_16k:
            n += 1
        return n

    def _party_frames(self, chain: _PartyChain, analysis: _PartyAnalysis,
                      hops: range) -> list[PartyFrame]:
        per_hop = self._frames_per_hop
        flags = analysis.take_speech_frames(len(hops) * per_hop).reshape(len(hops), per_hop)
        voiced = (2 * np.count_nonzero(flags, axis=1) >= per_hop).tolist()
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
