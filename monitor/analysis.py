"""Offline analysis of a recording through the call pipeline."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from models.report import AnalysisReport
from models.settings import RuleSettings
from monitor.audio_file import CallRecording
from monitor.features import CallFeatureExtractor, FilteredBlocks
from monitor.pipeline import CallPipeline

logger = logging.getLogger(__name__)

BLOCK_S = 20.0
"""Seconds of audio read per block: large enough to amortise per-call costs,
small enough to keep memory flat and progress smooth. Measured over a 60 min
call on this project's 2-core test machine, in one process: 6.63 s at 3 s
blocks, 6.34 s at 6 s, 6.16 s at 10 s and 5.97 s at 20 s (filters run slower
once their arrays leave the cache, but the per-call costs saved outweigh it).
Peak memory for a 2 h call rose from 139 to about 155 MB. Results do not
depend on it."""


class AnalysisCancelled(Exception):
    """The caller's progress callback asked to stop."""


def analyze_recording(recording: CallRecording, settings: RuleSettings | None = None,
                      progress: Callable[[float], bool] | None = None,
                      block_s: float = BLOCK_S) -> AnalysisReport:
    """Analyse a whole recording, block by block.

    Parameters
    ----------
    recording : CallRecording
        The opened recording.
    settings : RuleSettings, optional
        Rule thresholds; defaults when omitted.
    progress : callable, optional
        Called after each block with the fraction done (0-1); returning False cancels.
    block_s : float
        Block length in seconds. Results do not depend on it.

    Returns
    -------
    AnalysisReport

    Raises
    ------
    AudioInputError
        When the audio turns out to be damaged part-way through.
    AnalysisCancelled
        When ``progress`` returned False.
    """
    rules = settings if settings is not None else RuleSettings()
    pipeline = CallPipeline(recording.agent_sr_hz, recording.customer_sr_hz, rules)
    duration_s = recording.duration_s
    done_s = 0.0
    blocks = recording.blocks(block_s)
    # Reading and the per-party filters release the GIL for most of their time,
    # so a second thread runs them a block ahead of the rest of the analysis.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="calmline-reader") as reader:
        ahead = reader.submit(_read_and_filter, blocks, pipeline.extractor)
        while (filtered := ahead.result()) is not None:
            ahead = reader.submit(_read_and_filter, blocks, pipeline.extractor)
            pipeline.accept(filtered)
            done_s += block_s
            if progress is not None and progress(min(1.0, done_s / duration_s)) is False:
                raise AnalysisCancelled()
    pipeline.finish()
    session = pipeline.session
    assert session.frames is not None
    layout = recording.layout
    name = _unicode_text(recording.path.name)
    channels = {
        "agent": f"{name}:{layout.agent_channel + 1}",
        "customer": (f"{_unicode_text(recording.customer_path.name)}:1"
                     if recording.customer_path is not None
                     else f"{name}:{layout.customer_channel + 1}" if layout.customer_channel is not None
                     else None),
    }
    notes: list[str] = []
    if not pipeline.has_customer:
        notes.append("agent only (no customer channel): interruption, overtalk and monologue cues are off")
    if recording.non_finite_samples:
        notes.append(f"{recording.non_finite_samples} NaN, infinite or absurdly large samples were "
                     "treated as silence")
    if recording.customer_path is not None and (recording.customer_channels or 1) > 1:
        notes.append(f"{_unicode_text(recording.customer_path.name)} has "
                     f"{recording.customer_channels} channels; "
                     "the first was taken as the customer")
    for problem in recording.decode_problems:
        notes.append(f"{_unicode_text(problem)}: the recording may be cut off or damaged there; "
                     "what decoded was analysed")
    line_sound_s = session.frames.customer_line_sound_s
    if line_sound_s >= 1.0:
        minutes, seconds = divmod(round(line_sound_s), 60)
        notes.append(f"the customer's line carried music or ringing for {minutes}:{seconds:02d} "
                     "(hold music, ringback); it is not counted as the customer talking")
    for shift in session.level_shifts:
        minutes, seconds = divmod(round(shift.t_s), 60)
        notes.append(f"the agent's microphone level changed by {shift.shift_lu:+.0f} dB "
                     f"(noticed at {minutes}:{seconds:02d}); the baseline was learnt again "
                     "from there")
    turned_off = cues_turned_off(rules, pipeline.has_customer)
    if turned_off:
        notes.append(f"turned off in settings: the {_and_list(turned_off)} "
                     f"cue{'s' if len(turned_off) > 1 else ''}; "
                     f"{'they are' if len(turned_off) > 1 else 'it is'} not counted")
    if not session.baseline.calibrated:
        notes.append("too little agent speech to calibrate a baseline: raised-voice and relative pace cues are off")
    return AnalysisReport(
        source=_unicode_text(str(recording.path)),
        channels=channels,
        duration_s=duration_s,
        sample_rate=recording.agent_sr_hz,
        baseline=session.baseline,
        frames=session.frames,
        events=list(session.events),
        summary=session.result(),
        notes=notes,
        rules=rules,
        calibrated_at_s=session.calibrated_at_s,
    )


def _read_and_filter(blocks: Iterator[tuple[np.ndarray, np.ndarray | None]],
                     extractor: CallFeatureExtractor) -> FilteredBlocks | None:
    """The next block through the signal path's first stage, or None at the end."""
    block = next(blocks, None)
    return None if block is None else extractor.filter(*block)


def cues_turned_off(rules: RuleSettings, has_customer: bool) -> list[str]:
    """Names of the cues the settings turn off, in the order the settings list them.

    Parameters
    ----------
    rules : RuleSettings
        The thresholds and cues in use.
    has_customer : bool
        Whether the customer's side is heard; without it the interruption and
        monologue cues are off anyway and not listed.

    Returns
    -------
    list of str
    """
    cues = [("raised-voice", rules.raised_voice_enabled, False),
            ("fast-speech", rules.fast_speech_enabled, False),
            ("interruption", rules.interruption_enabled, True),
            ("monologue", rules.monologue_enabled, True),
            ("breathing-prompt", rules.breathing_prompt_enabled, False)]
    return [name for name, enabled, needs_customer in cues
            if not enabled and (has_customer or not needs_customer)]


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _unicode_text(text: str) -> str:
    """``text`` (a file name, or a message naming one) as valid Unicode.

    A POSIX name that is not UTF-8 holds lone surrogates, which strict JSON
    readers refuse and a UTF-8 report file cannot hold; its undecodable bytes
    are shown as U+FFFD instead.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
