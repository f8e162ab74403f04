"""The engine thread: capture in, coaching events and call records out.

The audio callbacks only fill ring buffers. This thread drains them every
``tick_s``, aligns the two parties on one timeline, runs the same feature
extractor and call sessions as offline analysis, segments calls, writes the
call log, optionally records each call, and reports to a listener:

* frames at 10 Hz (small records, for meters);
* event updates as soon as a rule confirms or closes an episode;
* status changes (call started/ended, device lost/restored, overflows, the
  call log or a recording failing).

Coaching never depends on the call log or the recordings: when the log
cannot be opened or written, the engine goes on without it for the rest of
the run, and when a recording cannot be written, that call goes on
unrecorded. Each failure is logged as one warning line and reported once.

Listener callbacks run on this thread and must return quickly; a Qt front
end re-emits them as queued signals, the headless monitor writes JSON lines.
Nothing here imports Qt.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from models.baseline import Baseline, LevelWatch, level_shift_text
from models.call_segmentation import CallSegmenter, SegmentationSettings
from models.call_session import CallSession
from models.events import EventPhase, EventUpdate
from models.frames import HOP_S, FeatureFrame
from models.mic_check import NOT_HEARD_TEXT, AgentHeardCheck
from models.settings import RuleSettings
from models.store import CallStatus, CallStore, StoreError
from monitor.alignment import StreamAligner
from monitor.capture import CaptureSource, FileReplaySource, SourceState
from monitor.features import CallFeatureExtractor
from monitor.framing import hop_end_sample
from monitor.recorder import CallRecorder, RecordingError

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

TICK_S = 0.05
"""How often the engine drains the ring buffers, s: once per 50 ms capture block, small
against the 300 ms latency budget."""


@dataclass(frozen=True)
class StatusChange:
    """A change in what the engine is doing.

    Attributes
    ----------
    kind : str
        ``monitoring_started``, ``monitoring_stopped``, ``mic_only``, ``call_started``,
        ``call_ended``, ``microphone_lost``, ``microphone_restored``,
        ``customer_audio_lost``, ``customer_audio_restored``, ``overflow``,
        ``level_shift`` (the agent's microphone level changed and the
        baseline was learnt again), ``agent_not_heard`` (the customer talks
        and the agent's microphone picks up nothing of the agent; see
        :mod:`models.mic_check`), ``agent_heard``, ``call_log_failed`` (the
        call log cannot be opened or written: coaching goes on without it
        until monitoring starts again), ``call_not_logged`` (another CalmLine
        closed or deleted this call's record, so the rest of this call is not
        logged; later calls are) and ``recording_failed`` (this call's
        recording stopped; the next call is recorded again if it can be).
    t_s : float
        Stream time in seconds.
    wall_time_s : float
        Unix time of the change, in seconds.
    detail : str
        A sentence for the user (what happened, what to do).
    call_id : int or None
        The call it concerns, if any.
    """

    kind: str
    t_s: float
    wall_time_s: float
    detail: str = ""
    call_id: int | None = None


@dataclass(frozen=True)
class LiveEvent:
    """An event update as it was emitted.

    Attributes
    ----------
    update : EventUpdate
        The OPEN or CLOSE update.
    wall_time_s : float
        Unix time of emission, in seconds.
    call_id : int or None
        The call's id in the store.
    """

    update: EventUpdate
    wall_time_s: float
    call_id: int | None


class EngineListener(Protocol):
    """Receives the engine's output, on the engine thread."""

    def on_frame(self, frame: FeatureFrame, baseline: Baseline | None) -> None:
        """Take one 100 ms frame of features and the baseline it is judged against (if any yet)."""

    def on_event(self, event: LiveEvent) -> None:
        """Take an event as it opens (its condition is confirmed) or closes (final values)."""

    def on_status(self, status: StatusChange) -> None:
        """Take a change of call or device status."""


@dataclass
class EngineOptions:
    """How the engine runs.

    Attributes
    ----------
    rules : RuleSettings
        Coaching thresholds.
    segmentation : SegmentationSettings
        When calls start and end.
    store_path : Path or None
        The call log; None keeps no log.
    recording_dir : Path or None
        Where to write one stereo FLAC per call; None records nothing (the default).
    profile : Baseline or None
        The agent's saved baseline.
    agent_level_dbfs : float or None
        The agent's calibrated speech level, for the voice-activity gate.
    stereo_channels : tuple of int or None
        When one source carries both parties: (agent channel, customer channel), 0-based.
    """

    rules: RuleSettings = field(default_factory=RuleSettings)
    segmentation: SegmentationSettings = field(default_factory=SegmentationSettings)
    store_path: Path | None = None
    recording_dir: Path | None = None
    profile: Baseline | None = None
    agent_level_dbfs: float | None = None
    stereo_channels: tuple[int, int] | None = None


_LOST_MESSAGES = {
    "agent": ("microphone_lost", "microphone_restored",
              "Microphone lost: check the headset is plugged in; retrying every 2 s."),
    "customer": ("customer_audio_lost", "customer_audio_restored",
                 "Customer audio lost: customer cues are paused; retrying every 2 s."),
}


class _HopBatch:
    """Aligned audio held until the extractor can complete its next frame.

    A frame cannot complete before its whole hop, and the extractor's
    lookahead past it, have arrived, so feeding the extractor every tick
    would only multiply its fixed per-call cost; feeding it once per hop, as
    soon as that much has arrived, delays no frame. A resampler (a mic that
    is not at 16 kHz) holds back a few milliseconds more: when a feed leaves
    the frame incomplete, the next tick's audio is fed at once.
    """

    def __init__(self, agent_sr_hz: int, has_customer: bool, lookahead_s: float) -> None:
        self._sr_hz = agent_sr_hz
        self._lookahead = round(lookahead_s * agent_sr_hz)
        self._agent: list[np.ndarray] = []
        self._customer: list[np.ndarray] | None = [] if has_customer else None
        self._held = 0
        self._fed = 0

    def add(self, agent: np.ndarray, customer: np.ndarray | None) -> None:
        self._agent.append(agent)
        self._held += agent.size
        if self._customer is not None and customer is not None:
            self._customer.append(customer)

    def covers(self, hop: int) -> bool:
        """Whether new audio is held and, with what was fed, reaches the frame of ``hop``."""
        return self._held > 0 and (self._fed + self._held
                                   >= hop_end_sample(hop, self._sr_hz, HOP_S) + self._lookahead)

    def take(self) -> tuple[np.ndarray, np.ndarray | None]:
        agent = np.concatenate(self._agent) if self._agent else np.zeros(0, np.float32)
        customer = None
        if self._customer is not None:
            customer = (np.concatenate(self._customer) if self._customer
                        else np.zeros(0, np.float32))
            self._customer = []
        self._agent = []
        self._fed += self._held
        self._held = 0
        return agent, customer


class MonitorEngine:
    """Runs live monitoring on its own thread.

    Parameters
    ----------
    agent : CaptureSource
        The agent's microphone (or a source carrying both parties, see
        ``EngineOptions.stereo_channels``).
    customer : CaptureSource or None
        The customer's side; None for mic-only mode or a two-party source.
    listener : EngineListener
        Receives frames, events and status changes.
    options : EngineOptions
        Settings.
    clock : callable
        Monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, agent: CaptureSource, customer: CaptureSource | None,
                 listener: EngineListener, options: EngineOptions | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options or EngineOptions()
        self._agent = agent
        self._customer = customer
        self._listener = listener
        self._clock = clock
        two_party = customer is not None or self.options.stereo_channels is not None
        customer_sr_hz = (customer.sr_hz if customer is not None
                          else agent.sr_hz if two_party else None)
        self._aligner = StreamAligner(agent.sr_hz, customer_sr_hz)
        self._extractor = CallFeatureExtractor(agent.sr_hz, customer_sr_hz, HOP_S,
                                               self.options.agent_level_dbfs)
        self._batch = _HopBatch(agent.sr_hz, customer_sr_hz is not None, self._extractor.lookahead_s)
        self._segmenter = CallSegmenter(self.options.segmentation, customer_present=two_party)
        self._two_party = two_party
        self._session: CallSession | None = None
        self._call_start_s = 0.0
        # Calls are often shorter than the window that reveals a change of mic level.
        self._level_watch = LevelWatch(self.options.rules)
        self._level_shifts_reported = 0
        self._heard_check = AgentHeardCheck()
        self._call_id: int | None = None
        # False once this call's record was closed or deleted by another CalmLine.
        self._call_logged = False
        self._profile = self.options.profile
        self._store: CallStore | None = None
        self._recorder: CallRecorder | None = None
        if self.options.recording_dir is not None:
            self._recorder = CallRecorder(self.options.recording_dir, agent.sr_hz, customer_sr_hz)
        self._stop = threading.Event()
        self._manual: list[str] = []
        self._manual_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="calmline-engine", daemon=True)
        self._source_state: dict[str, SourceState] = {}
        self._overflows_reported = 0
        self._agent_awaiting_audio = False
        # (timeline s, wall time) of recent pulls: when each stretch of audio reached the engine.
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=500)
        self.open_latencies_s: deque[float] = deque(maxlen=1000)
        """For each OPEN update: seconds from the arrival of the audio that
        confirmed it to its emission (capture-device latency not included)."""
        self.error: BaseException | None = None

    # -- control (any thread) -------------------------------------------------

    def start(self) -> None:
        """Open the devices and start the engine thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the current call cleanly, flush the log and stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def join(self, timeout_s: float | None = None) -> None:
        """Wait for the engine to end by itself (a replay that has finished)."""
        self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        """Whether the engine thread is alive."""
        return self._thread.is_alive()

    def start_call(self) -> None:
        """Start a call by hand (the agent's "start call" action)."""
        with self._manual_lock:
            self._manual.append("start")

    def stop_call(self) -> None:
        """Stop the current call by hand."""
        with self._manual_lock:
            self._manual.append("stop")

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            store_problem: StoreError | None = None
            if self.options.store_path is not None:
                try:
                    self._store = CallStore(self.options.store_path, recover=True)
                except StoreError as exc:
                    store_problem = exc
            self._agent.start()
            if self._customer is not None:
                self._customer.start()
            self._status("monitoring_started")
            if store_problem is not None:
                self._stop_logging(store_problem)
            if not self._two_party:
                self._status("mic_only", "No customer audio: interruption, overtalk and monologue "
                                         "cues are off.")
            while not self._stop.is_set():
                started = self._clock()
                finished = self._step(started)
                if finished:
                    break
                spare = TICK_S - (self._clock() - started)
                if spare > 0 and not self._draining_fast():
                    self._stop.wait(spare)
            self._finish_stream()
        except BaseException as exc:  # reported to the caller; the thread must not die silently
            logger.exception("the engine stopped on an error")
            self.error = exc
        finally:
            self._shutdown()

    def _draining_fast(self) -> bool:
        return isinstance(self._agent, FileReplaySource) and self._agent.fast

    def _step(self, now_s: float) -> bool:
        """One tick: poll devices, move audio through the pipeline. True when the input has ended."""
        self._poll_sources(now_s)
        self._apply_manual_actions()
        chunk = self._agent.read()
        samples = chunk.samples
        if self._agent_awaiting_audio and samples.shape[0]:
            # Only now is the device the master clock again: a reopened stream
            # may take seconds to deliver, and the timeline must not stall meanwhile.
            self._agent_awaiting_audio = False
            self._aligner.agent_restored()
        gap = chunk.dropped_after
        if self.options.stereo_channels is not None:
            a_ch, c_ch = self.options.stereo_channels
            self._aligner.push_agent(_with_silence_after(samples[:, a_ch], gap))
            self._aligner.push_customer(_with_silence_after(samples[:, c_ch], gap))
        else:
            self._aligner.push_agent(_with_silence_after(samples[:, 0], gap))
            if self._customer is not None:
                customer = self._customer.read()
                self._aligner.push_customer(_with_silence_after(customer.samples[:, 0],
                                                                customer.dropped_after))
        # A replay that has delivered everything reads empty once it is STOPPED.
        ended = chunk.status.state is SourceState.STOPPED and samples.shape[0] == 0
        agent, customer = self._aligner.pull(float("inf") if ended else now_s)
        self._arrivals.append((self._aligner.timeline_s, time.time()))
        if self._recorder is not None:
            try:
                self._recorder.push(agent, customer)
            except RecordingError as exc:
                self._recording_failed(exc)
        self._batch.add(agent, customer)
        if ended or self._batch.covers(self._extractor.next_hop):
            batch_agent, batch_customer = self._batch.take()
            self._consume(self._extractor.process(batch_agent, batch_customer))
        self._report_overflows()
        return ended

    def _poll_sources(self, now_s: float) -> None:
        for role, source in (("agent", self._agent), ("customer", self._customer)):
            if source is None:
                continue
            source.poll()
            state = source.state
            previous = self._source_state.get(role)
            self._source_state[role] = state
            if state is previous:
                continue
            lost_kind, restored_kind, message = _LOST_MESSAGES[role]
            if state in (SourceState.LOST, SourceState.RESTARTING):
                # A restart is deliberate and brief, so the user is not told, but its
                # audio is missing all the same and is filled in on the call's clock.
                if state is SourceState.LOST:
                    self._status(lost_kind, f"{message} ({source.message})")
                if role == "agent":
                    self._aligner.agent_lost(now_s)
                else:
                    self._aligner.customer_lost()
            elif state is SourceState.RUNNING and previous in (SourceState.LOST,
                                                              SourceState.RESTARTING):
                if previous is SourceState.LOST:
                    self._status(restored_kind, "")
                if role == "agent":
                    self._agent_awaiting_audio = True
                else:
                    self._aligner.customer_restored()

    def _apply_manual_actions(self) -> None:
        with self._manual_lock:
            actions, self._manual = self._manual, []
        t_s = self._aligner.timeline_s
        for action in actions:
            segment_events = (self._segmenter.start_manual(t_s) if action == "start"
                              else self._segmenter.stop_manual(t_s))
            self._apply_segments(segment_events)

    def _consume(self, frames: list[FeatureFrame]) -> None:
        for frame in frames:
            self._apply_segments(self._segmenter.push(frame))
            if self._session is not None:
                self._emit(self._session.push(frame))
                self._report_level_shifts(frame.t_s)
            heard = self._heard_check.push(frame)
            if heard == "not_heard":
                self._status("agent_not_heard", NOT_HEARD_TEXT, frame.t_s)
            elif heard == "heard":
                self._status("agent_heard", "", frame.t_s)
            self._listener.on_frame(frame, self._session.baseline if self._session else self._profile)

    def _report_level_shifts(self, t_s: float) -> None:
        assert self._session is not None
        shifts = self._session.level_shifts
        for shift in shifts[self._level_shifts_reported:]:
            logger.info("agent microphone level changed by %+.1f LU; baseline now %.1f LUFS",
                        shift.shift_lu, shift.baseline_lufs)
            self._status("level_shift", level_shift_text(shift.shift_lu), t_s)
        self._level_shifts_reported = len(shifts)

    def _apply_segments(self, segment_events: list) -> None:
        for seg in segment_events:
            if seg.kind == "call_started" and self._session is None:
                self._begin_call(seg.t_s, seg.reason)
            elif seg.kind == "call_ended" and self._session is not None:
                self._end_call(seg.t_s, seg.reason)

    def _begin_call(self, t_s: float, reason: str) -> None:
        self._level_shifts_reported = 0
        self._call_start_s = t_s
        self._session = CallSession(self.options.rules, self._two_party, self._profile,
                                    record_frames=False, level_watch=self._level_watch)
        mode = "two_party" if self._two_party else "mic_only"
        self._call_id = self._write_log(lambda store: store.begin_call(_utc_now(), t_s, mode))
        self._call_logged = self._call_id is not None
        self._status("call_started", f"Call started ({reason.replace('_', ' ')}).", t_s)
        if self._recorder is not None and (self._call_logged or self.options.store_path is None):
            # A recording goes with its call's record, which retention and deleting the
            # call also remove; without the log it would be kept forever. Calls can start
            # within the same second: the recorder adds a suffix rather than overwrite,
            # and the call's id (when logged) says which record a file belongs to.
            name = datetime.now().strftime("call-%Y%m%d-%H%M%S")
            try:
                path = self._recorder.begin(name if self._call_id is None
                                            else f"{name}-{self._call_id}", t_s)
            except RecordingError as exc:
                self._recording_failed(exc)
            else:
                self._write_call_log(lambda store, call_id: store.set_recording(call_id, path))

    def _end_call(self, t_s: float, reason: str) -> None:
        assert self._session is not None
        self._emit(self._session.finish())
        # The call ran from the start of its first speech to the end of its last; the
        # frames pushed go on through the silence that ended it and would dilute talk shares.
        summary = self._session.result(duration_s=max(0.0, t_s - self._call_start_s))
        if self._session.baseline.calibrated:
            self._profile = self._session.baseline
        recording = self._end_recording()
        self._write_call_log(lambda store, call_id: store.end_call(call_id, _utc_now(), t_s,
                                                                  summary, recording))
        self._status("call_ended", f"Call ended ({reason.replace('_', ' ')}).", t_s)
        self._session = None
        self._call_id = None
        self._call_logged = False

    def _emit(self, updates: list[EventUpdate]) -> None:
        for update in updates:
            wall = time.time()
            if update.phase is EventPhase.OPEN:
                arrived = next((w for t, w in self._arrivals if t >= update.event.end_s - 1e-6), None)
                if arrived is not None:
                    self.open_latencies_s.append(wall - arrived)
            # Opening updates are logged too, so an episode still open at a crash survives it.
            self._write_call_log(lambda store, call_id: store.record_update(call_id, update,
                                                                           iso_utc(wall)))
            self._listener.on_event(LiveEvent(update, wall, self._call_id))

    def _write_log(self, write: Callable[[CallStore], _T]) -> _T | None:
        """Write to the call log, if one is kept; None when there is none or it fails.

        Parameters
        ----------
        write : callable
            Does the writing, given the store.

        Returns
        -------
        object or None
            What ``write`` returned.
        """
        if self._store is None:
            return None
        try:
            return write(self._store)
        except StoreError as exc:
            self._stop_logging(exc)
            return None

    def _write_call_log(self, write: Callable[[CallStore, int], object]) -> None:
        """Write the current call's record, unless it is not logged (any more).

        A failure is the log's when the record is still open; otherwise another
        CalmLine closed the call (taking it for one a crash left open) or deleted
        it, and only the rest of this call goes unlogged.

        Parameters
        ----------
        write : callable
            Does the writing, given the store and the call's id.
        """
        store, call_id = self._store, self._call_id
        if store is None or call_id is None or not self._call_logged:
            return
        try:
            write(store, call_id)
        except StoreError as exc:
            try:
                record = store.call(call_id)
            except StoreError:
                self._stop_logging(exc)
                return
            if record is not None and record.status is CallStatus.OPEN:
                self._stop_logging(exc)
                return
            self._call_logged = False
            logger.warning("call %d changed in the call log by another CalmLine (%s); the rest "
                           "of it is not logged", call_id, exc)
            self._status("call_not_logged",
                         f"Another CalmLine closed or deleted this call in the call log ({exc}): "
                         "the rest of this call is not logged. Coaching goes on.")

    def _stop_logging(self, exc: StoreError) -> None:
        """Go on without the call log until monitoring starts again, and say so once.

        A log that failed once (disk full, damaged, read-only, locked) is not
        tried again during this run: each try could hold the engine for the
        store's busy timeout and delay cues, and a log that missed some of a
        call's updates would hold a wrong record of it. The call open in the
        log, if any, is closed as interrupted by the next engine to open it.
        """
        logger.warning("the call log cannot be used: %s; coaching goes on without logging", exc)
        logger.debug("call log failure", exc_info=exc)
        store, self._store = self._store, None
        self._call_logged = False
        if store is not None:
            try:
                store.close()
            except (StoreError, sqlite3.Error):  # a broken log may fail to close too; it is given up
                logger.debug("closing the call log failed", exc_info=True)
        unrecorded = " or recording" if self._recorder is not None else ""
        self._status("call_log_failed", f"The call log cannot be used ({exc}). Coaching goes on "
                                        f"without logging{unrecorded} until monitoring starts "
                                        "again.")

    def _end_recording(self) -> Path | None:
        """Close the current recording, if any; None when there is none or it fails."""
        if self._recorder is None:
            return None
        try:
            return self._recorder.end()
        except RecordingError as exc:
            self._recording_failed(exc)
            return None

    def _recording_failed(self, exc: RecordingError) -> None:
        """Say that this call's recording stopped (the recorder writes no more of it after a failure)."""
        logger.warning("%s; coaching goes on", exc)
        logger.debug("recording failure", exc_info=exc)
        self._status("recording_failed", f"{exc}. Coaching goes on.")

    def _report_overflows(self) -> None:
        sources = [s for s in (self._agent, self._customer) if s is not None]
        in_driver = sum(s.counters.input_overflows for s in sources)
        in_engine = sum(s.counters.ring_overflows for s in sources)
        total = in_driver + in_engine
        if total > self._overflows_reported:
            self._overflows_reported = total
            # Both are audio lost because the machine was too busy: the driver's buffer
            # overflowed, or the engine fell so far behind that the ring buffer was full.
            logger.warning("audio lost: %d input overflow(s), %d time(s) the engine fell behind",
                           in_driver, in_engine)
            self._status("overflow", f"Audio was lost {total} time(s): the computer was too busy "
                                     "to keep up. Close other heavy programs if this repeats.")

    def _finish_stream(self) -> None:
        self._consume(self._extractor.flush())
        repairs = self._aligner.counters
        if repairs.customer_filled_s or repairs.customer_dropped_s or repairs.agent_filled_s:
            # Two devices' clocks drift apart by a few seconds over a shift; this says how much
            # the aligner had to mend, for a helpdesk reading the log.
            logger.info("lines kept in step: %.2f s of silence filled in for the customer and "
                        "%.2f s for the agent, %.2f s of customer backlog dropped",
                        repairs.customer_filled_s, repairs.agent_filled_s,
                        repairs.customer_dropped_s)
        if self._session is not None:
            self._end_call(self._aligner.timeline_s, "monitoring_stopped")

    def _shutdown(self) -> None:
        for source in (self._agent, self._customer):
            if source is not None:
                try:
                    source.stop()
                except Exception:  # closing a vanished device may fail; nothing is lost by it
                    logger.debug("closing a source failed", exc_info=True)
        self._end_recording()
        if self._store is not None:
            self._store.close()
        self._status("monitoring_stopped")

    def _status(self, kind: str, detail: str = "", t_s: float | None = None) -> None:
        self._listener.on_status(StatusChange(kind, self._aligner.timeline_s if t_s is None else t_s,
                                              time.time(), detail, self._call_id))


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _with_silence_after(channel: np.ndarray, gap_frames: int) -> np.ndarray:
    """One channel of a chunk, contiguous, then ``gap_frames`` of silence.

    The silence stands for frames a full ring buffer dropped (the engine fell
    far behind): they took real time, so the call's clock and the times of
    later events stay true only if the gap is kept.
    """
    channel = np.ascontiguousarray(channel)
    return channel if gap_frames == 0 else np.concatenate(
        [channel, np.zeros(gap_frames, np.float32)])


def iso_utc(wall_time_s: float) -> str:
    """ISO 8601 UTC text, to the millisecond, of a Unix time in seconds."""
    return datetime.fromtimestamp(wall_time_s, timezone.utc).isoformat(timespec="milliseconds")
