"""Live capture: audio devices and file replays behind one source interface.

Data path (as in Friture): backend callback -> :class:`RingBuffer` -> engine.
Every source owns one ring. Its producer is the audio callback (or the replay
thread); its consumer is the engine thread, which calls :meth:`CaptureSource.read`
and, regularly (every 50-200 ms), :meth:`CaptureSource.poll`.

Callback contract (:class:`SoundDeviceSource`)
----------------------------------------------
The PortAudio callback only copies ``indata`` (or a one-channel slice view of
it) into the preallocated ring and counts status flags in plain int
attributes. It never allocates sample memory, locks, logs, raises or does DSP.
CPython still creates a few small objects per call (sounddevice's ``indata``
view and ``CallbackFlags``, our slice views, counter ints); that is unavoidable
and bounded.

Faults
------
Everything slow happens in :meth:`CaptureSource.poll` on the engine thread:

* a stream that went inactive (PortAudio error, PulseAudio restart),
* a stream that stopped delivering: nothing for ``stall_timeout_s`` once audio
  flowed, or for ``startup_timeout_s`` after opening, counting only time in
  which the engine thread ran (when it is held up, so is the callback),
* on PulseAudio, a stream the server silently moved to another source because
  its own source vanished (unplugged headset, Bluetooth drop): PulseAudio
  "rescues" such streams, so without this check the microphone stream would
  quietly record the customer. Checked with ``pactl`` every
  ``pulse_check_interval_s``, and at once when the server announces a moved
  stream or a vanished source (:class:`PulseRouteWatch`). From such an
  announcement until ``pactl`` has confirmed the stream's source, its audio is
  held back from the engine; if the stream was moved, that audio is dropped,
  so not even a moment of the wrong source reaches the analysis.

A lost source closes its stream, reports ``'<role> lost'`` and retries every
``retry_interval_s``. :class:`PortAudioHost` decides when PortAudio itself is
re-initialised (to see hot-plugged devices), because that kills every open
stream of the process.
"""
from __future__ import annotations

import enum
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import sounddevice as sd
import soundfile as sf

from monitor.audio_file import AudioInputError, CallRecording
from monitor.devices import (
    DeviceError,
    DeviceSpec,
    InputDevice,
    OpenTarget,
    PortAudioDeviceMissing,
    list_input_devices,
    parse_device_spec,
    pulse_sources,
    pulse_stream_route,
    resolve_portaudio_input,
)
from monitor.rate_match import RateMatcher
from monitor.ring_buffer import RingBuffer

logger = logging.getLogger(__name__)

T = TypeVar("T")

STREAM_ID_PROPERTY = "calmline.stream_id"


class SourceState(enum.Enum):
    """Life cycle of a capture source."""

    RUNNING = "running"
    RESTARTING = "restarting"
    """Reopened on purpose (PortAudio was re-initialised to look for another
    device); no audio arrives until the new stream delivers, which takes up
    to about 2 s with PulseAudio. Not a fault to tell the user about."""
    LOST = "lost"
    STOPPED = "stopped"


@dataclass(frozen=True)
class CaptureCounters:
    """Fault counters of one source since it was created.

    Attributes
    ----------
    input_overflows : int
        Callbacks flagged ``input_overflow`` by PortAudio (the driver lost input).
    input_underflows : int
        Callbacks flagged ``input_underflow`` (zeros were inserted).
    dropped_frames : int
        Frames discarded because the ring was full (the engine fell behind).
    ring_overflows : int
        Writes that had to discard frames.
    stream_errors : int
        Failed opens, streams that stopped or stalled, errors on close.
    losses : int
        Times the source went from running to lost.
    recoveries : int
        Times a lost source was reopened.
    """

    input_overflows: int = 0
    input_underflows: int = 0
    dropped_frames: int = 0
    ring_overflows: int = 0
    stream_errors: int = 0
    losses: int = 0
    recoveries: int = 0


@dataclass(frozen=True)
class CaptureStatus:
    """What the engine should know alongside a chunk.

    Attributes
    ----------
    state : SourceState
        Sampled before the chunk was taken: ``STOPPED`` with an empty chunk
        means the source is finished.
    message : str
        One line for the user, e.g. 'microphone lost: no audio for 1.0 s'.
    discontinuity : bool
        Audio is missing around this chunk: frames were dropped (see
        :attr:`CaptureChunk.dropped_after`), or the device was lost and
        reopened before it. The sample clock does not count missing audio.
    """

    state: SourceState
    message: str
    discontinuity: bool


@dataclass(frozen=True)
class CaptureChunk:
    """Frames taken from a source in one :meth:`CaptureSource.read`.

    Attributes
    ----------
    samples : numpy.ndarray, shape (n_frames, channels), float32
        May be empty.
    first_frame_index : int
        Index of ``samples[0]`` on the source's sample clock (frames stored
        since the source was created, at ``sr_hz``).
    status : CaptureStatus
    dropped_after : int
        Frames dropped since the previous read because the ring buffer was
        full (the engine fell behind). The ring drops the newest frames, so
        they were lost right after ``samples`` (give or take the part of one
        callback block the ring still took), and real time ran on meanwhile.
    """

    samples: np.ndarray
    first_frame_index: int
    status: CaptureStatus
    dropped_after: int = 0


class CaptureSource(ABC):
    """A source of float32 frames delivered through a ring buffer.

    Parameters
    ----------
    sr_hz : int
        Sample rate of the delivered frames in Hz.
    channels : int
        Channels of the delivered frames.
    ring_s : float
        Ring capacity in seconds of audio: how long the engine may stall
        before frames are dropped.
    role : str
        Who this source carries, for status lines ('microphone', 'customer audio').
    """

    def __init__(self, sr_hz: int, channels: int, ring_s: float, role: str) -> None:
        self._sr_hz = int(sr_hz)
        self._channels = int(channels)
        self._role = role
        self._ring = RingBuffer(max(1, int(math.ceil(ring_s * sr_hz))), channels, np.float32)
        self._state = SourceState.STOPPED
        self._message = f"{role} stopped"
        self._discontinuity = False
        self._dropped_seen = 0

    @property
    def sr_hz(self) -> int:
        """Sample rate of the delivered frames in Hz."""
        return self._sr_hz

    @property
    def channels(self) -> int:
        """Channels of the delivered frames."""
        return self._channels

    @property
    def role(self) -> str:
        """Who this source carries."""
        return self._role

    @property
    def state(self) -> SourceState:
        """Running, lost (retrying) or stopped."""
        return self._state

    @property
    def message(self) -> str:
        """One-line status for the user."""
        return self._message

    @property
    def frames_stored(self) -> int:
        """Sample clock: frames delivered into the ring so far."""
        return self._ring.frames_stored

    @property
    @abstractmethod
    def counters(self) -> CaptureCounters:
        """Fault counters since creation."""

    @abstractmethod
    def start(self) -> None:
        """Start delivering frames; a device that cannot be opened yet is retried."""

    @abstractmethod
    def stop(self) -> None:
        """Stop delivering frames and release the device; frames already stored stay readable."""

    @abstractmethod
    def poll(self) -> None:
        """Detect faults, log counters, retry lost devices; call often from the engine thread."""

    def read(self, max_frames: int | None = None) -> CaptureChunk:
        """Take the frames stored so far (consumer side; engine thread only).

        Parameters
        ----------
        max_frames : int or None
            Upper bound on the frames returned; None takes all.
        """
        state = self._state
        first_frame_index = self._ring.frames_read
        samples = self._ring.read(max_frames)
        dropped = self._ring.frames_dropped - self._dropped_seen
        discontinuity = self._discontinuity or dropped > 0
        self._dropped_seen += dropped
        self._discontinuity = False
        return CaptureChunk(samples, first_frame_index,
                            CaptureStatus(state, self._message, discontinuity), dropped)

    def _set_state(self, state: SourceState, message: str) -> None:
        self._state = state
        self._message = message


_STREAM_OPEN = (SourceState.RUNNING, SourceState.RESTARTING)

POLL_GAP_S = 0.25
"""Longest normal time between two polls, s (the engine polls every 50 ms).

Beyond it, the polling thread itself was held up: a long garbage collection
held the GIL, or the process got no CPU. The audio callback needs the same
GIL and CPU, so it was held up too, and the audio it could not store meanwhile
waits in the driver's buffer: that silence says nothing about the device."""


def _playing_through_sounddevice() -> bool:
    """Whether sounddevice's ``play()`` has a stream playing (the cue chime, on its own thread).

    ``Pa_Terminate`` would free that stream under the thread that waits on it,
    so re-initialising PortAudio waits until the sound has ended.
    """
    try:
        stream = sd.get_stream()
    except RuntimeError:  # play() was never called
        return False
    return not stream.closed and stream.active


FIRST_ROUTE_CHECK_S = 0.5
"""Seconds after a ``pulse:`` stream opens that ``pactl`` is first asked where it is."""


class PulseRouteWatch:
    """Counts the sound server's announcements that may have moved a recording stream.

    PulseAudio moves a stream whose source vanished onto the default source
    at once, and announces it to subscribers before the stream delivers any
    audio from its new source. ``pactl subscribe`` hears that within
    milliseconds; polling ``pactl`` every second alone let up to a second of
    the default source through (on a headset unplug, the customer's voice on
    the microphone's line, which reads as the agent cutting in).

    Announcements are counted per stream (``'change' on source-output #N``)
    and per vanished source (``'remove' on source #N``), so that a source
    reacts only to its own: other programs change their streams all the time.
    One ``pactl subscribe`` process serves every source of a host. Without
    ``pactl`` or a server, nothing is counted and the periodic check remains.
    """

    _KINDS = (("'change' on source-output #", "source-output"), ("'remove' on source #", "source"))

    def __init__(self) -> None:
        # Written only by the reader thread; a dict lookup from another thread is atomic.
        self._counts: dict[tuple[str, int | None], int] = {}
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._end_process: weakref.finalize | None = None
        self._lock = threading.Lock()  # the wizard's sources open on the GUI thread

    def count(self, kind: str, index: int | None) -> int:
        """Announcements so far about one stream or source.

        Parameters
        ----------
        kind : str
            ``"source-output"`` (a recording stream changed) or ``"source"`` (a source vanished).
        index : int or None
            Its index on the server; None counts those about any of that kind.

        Returns
        -------
        int
        """
        return self._counts.get((kind, index), 0)

    def ensure_running(self) -> None:
        """Start watching, or start again after the server went away."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            self._stop()
            exe = shutil.which("pactl")
            if exe is None:
                return
            try:
                process = subprocess.Popen([exe, "subscribe"], stdout=subprocess.PIPE,
                                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                           text=True, env=dict(os.environ, LC_ALL="C"))
            except OSError as exc:
                logger.debug("cannot watch the sound server: %s", exc)
                return
            self._process = process
            # A quiet server gives pactl nothing to write, so it would not notice that
            # CalmLine has gone: it is ended when the watch or the interpreter is.
            self._end_process = weakref.finalize(self, _end_process, process)
            self._thread = threading.Thread(target=self._read, args=(process,),
                                            name="calmline-pulse-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if self._end_process is not None:
            self._end_process()
            self._end_process = None
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        process.stdout.close()

    def _read(self, process: subprocess.Popen) -> None:
        # A move is a 'change' on the stream; the vanished source's 'remove' follows it.
        for line in process.stdout:
            for marker, kind in self._KINDS:
                at = line.find(marker)
                if at < 0:
                    continue
                digits = line[at + len(marker):].strip()
                index = int(digits) if digits.isdigit() else None
                for key in ((kind, index), (kind, None)):
                    self._counts[key] = self._counts.get(key, 0) + 1


def _end_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PortAudioHost:
    """Coordinates everything that touches PortAudio globally.

    Share one host between all :class:`SoundDeviceSource` objects of a process.
    It serialises stream opening (``PULSE_SOURCE``/``PULSE_PROP`` are process
    environment variables read while a stream opens) and decides when PortAudio
    may be re-initialised: ``Pa_Terminate`` kills every open stream, so a lost
    source may re-initialise at once only when no other source is running;
    otherwise every running source is closed and reopened around the
    re-initialisation. The first such interruption may come at once; while
    the device stays missing, the wait between them doubles from
    ``busy_reinit_interval_s`` up to ``max_busy_reinit_interval_s``, so a
    headset left unplugged over a break does not break into the other
    party's audio every half minute. A reopened source is
    :attr:`SourceState.RESTARTING` until its new stream delivers, so that the
    engine fills the missing audio with silence on the call's clock.

    Streams opened elsewhere in the process (the review window's playback)
    are announced with :meth:`outside_stream_opened` and
    :meth:`outside_stream_closed`; PortAudio is not re-initialised while one
    is open, since that would free it under its owner.

    Parameters
    ----------
    busy_reinit_interval_s : float or None
        Time between the first re-initialisations that interrupt running
        sources, in seconds; None never interrupts them (a hot-plugged device
        then appears only once the others stop or are lost too).
    max_busy_reinit_interval_s : float
        Longest time between them while a device stays missing, in seconds.
    """

    def __init__(self, busy_reinit_interval_s: float | None = 30.0,
                 max_busy_reinit_interval_s: float = 120.0) -> None:
        self._busy_reinit_interval_s = busy_reinit_interval_s
        self._max_busy_reinit_interval_s = max_busy_reinit_interval_s
        self._lock = threading.RLock()
        self._sources: list[SoundDeviceSource] = []
        self._last_busy_reinit_s = -math.inf
        self._busy_wait_s = busy_reinit_interval_s
        self._worker: ThreadPoolExecutor | None = None
        self._outside_streams = 0
        # A device-list refresh waiting for the engine thread: (its answer, interrupt_running).
        self._refresh_request: tuple[Future[bool], bool] | None = None
        self.route_watch = PulseRouteWatch()
        """Announcements of moved streams, for sources on named PulseAudio sources."""

    def register(self, source: SoundDeviceSource) -> None:
        """Take part in re-initialisation decisions (done by the source)."""
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)

    def unregister(self, source: SoundDeviceSource) -> None:
        """Leave the host (done by the source when it stops)."""
        with self._lock:
            if source in self._sources:
                self._sources.remove(source)
            if not self._sources:
                self.route_watch.stop()

    def outside_stream_opened(self) -> None:
        """A stream this host does not manage is open: hold re-initialisation until it closes."""
        with self._lock:
            self._outside_streams += 1

    def outside_stream_closed(self) -> None:
        """A stream announced with :meth:`outside_stream_opened` is closed."""
        with self._lock:
            self._outside_streams = max(0, self._outside_streams - 1)

    def _must_wait(self) -> bool:
        return self._outside_streams > 0 or _playing_through_sounddevice()

    @contextmanager
    def environment(self, variables: dict[str, str]) -> Iterator[None]:
        """Set environment variables for the duration of one stream open.

        The previous values are restored afterwards; holding the host lock
        keeps two sources from opening with each other's variables.
        """
        with self._lock:
            saved = {name: os.environ.get(name) for name in variables}
            os.environ.update(variables)
            try:
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def reinitialise(self, requester: SoundDeviceSource) -> bool:
        """Re-initialise PortAudio for a lost source if allowed now.

        Returns
        -------
        bool
            Whether PortAudio was re-initialised.
        """
        with self._lock:
            running = [source for source in self._sources
                       if source is not requester and source.state in _STREAM_OPEN]
            now_s = time.monotonic()
            if self._must_wait():
                return False
            if running:
                if (self._busy_wait_s is None
                        or now_s - self._last_busy_reinit_s < self._busy_wait_s):
                    return False
                if self._last_busy_reinit_s > -math.inf:
                    self._busy_wait_s = min(2 * self._busy_wait_s, self._max_busy_reinit_interval_s)
                self._last_busy_reinit_s = now_s
                logger.warning("re-initialising PortAudio; briefly reopening %s; next try "
                               "in %.1f s at the earliest", ", ".join(source.role for source in running),
                               self._busy_wait_s)
            self._reinitialise_around(running)
            return True

    def _reinitialise_around(self, running: list[SoundDeviceSource]) -> None:
        for source in running:
            source._close_stream()
        self._reinitialise_portaudio()
        for source in running:
            source._reopen_after_reinit()

    def in_background(self, call: Callable[..., T], *args: object) -> Future[T]:
        """Run a slow query (``pactl``) off the engine thread; its answer is read on a later tick.

        Parameters
        ----------
        call : callable
            The query.
        *args
            Its arguments.

        Returns
        -------
        concurrent.futures.Future
            The query's answer once it is done.
        """
        with self._lock:
            if self._worker is None:
                # One thread for every source: the queries are rare and short.
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calmline-pactl")
            return self._worker.submit(call, *args)

    def device_found(self) -> None:
        """A lost source is back: the next missing device gets the short wait again."""
        with self._lock:
            self._busy_wait_s = self._busy_reinit_interval_s
            self._last_busy_reinit_s = -math.inf

    def refresh_device_list(self, interrupt_running: bool = False, timeout_s: float = 1.0) -> bool:
        """Re-initialise PortAudio so that it sees current devices.

        Call before listing devices in a long-running process (a settings
        dialog); a fresh process sees current devices anyway. PortAudio on
        Windows and macOS lists only the devices present when it started, so
        a headset plugged in later appears only after this.

        Parameters
        ----------
        interrupt_running : bool
            Also when sources are running: they are closed and reopened
            around the re-initialisation (a gap of some tens of milliseconds,
            which the engine fills with silence). Without it, nothing happens
            while a source runs.
        timeout_s : float
            Longest wait for the engine thread, in seconds; on timeout the
            request is withdrawn.

        Notes
        -----
        While sources are started, their streams (and their retries to open
        one) belong to the engine thread, so the re-initialisation is left to
        it, on its next poll of a source, and this call waits for that.

        Returns
        -------
        bool
            Whether PortAudio was re-initialised.
        """
        with self._lock:
            if self._must_wait():
                return False
            if not self._sources:
                self._reinitialise_portaudio()
                return True
            if self._running_sources() and not interrupt_running:
                return False
            if self._refresh_request is None:
                self._refresh_request = (Future(), interrupt_running)
            request = self._refresh_request[0]
        try:
            return request.result(timeout=timeout_s)
        except TimeoutError:
            request.cancel()
            return False

    def input_devices(self, interrupt_running: bool = False) -> list[InputDevice]:
        """The input devices as they are now, after :meth:`refresh_device_list`.

        Parameters
        ----------
        interrupt_running : bool
            Passed to :meth:`refresh_device_list`.

        Returns
        -------
        list of InputDevice
            As :func:`monitor.devices.list_input_devices` lists them.
        """
        self.refresh_device_list(interrupt_running)
        return list_input_devices()

    def serve_refresh_request(self) -> None:
        """Carry out a pending :meth:`refresh_device_list` (from a source's poll, on the engine thread)."""
        if self._refresh_request is None:
            return
        with self._lock:
            pending, self._refresh_request = self._refresh_request, None
            if pending is None:
                return
            request, interrupt_running = pending
            if not request.set_running_or_notify_cancel():
                return
            running = self._running_sources()
            if self._must_wait() or (running and not interrupt_running):
                request.set_result(False)
                return
            self._reinitialise_around(running)
            request.set_result(True)

    def _running_sources(self) -> list[SoundDeviceSource]:
        return [source for source in self._sources if source.state in _STREAM_OPEN]

    def _reinitialise_portaudio(self) -> None:
        try:
            # sounddevice has no public re-initialisation; these keep its own
            # count of Pa_Initialize calls balanced.
            sd._terminate()
            sd._initialize()
        except sd.PortAudioError as exc:
            logger.error("PortAudio re-initialisation failed: %s", exc)
            return
        logger.info("re-initialised PortAudio; it now lists %d devices", len(sd.query_devices()))


class SoundDeviceSource(CaptureSource):
    """Capture from a PortAudio input, a PulseAudio/PipeWire source or a monitor.

    Parameters
    ----------
    device : str or DeviceSpec
        Device spec (see :mod:`monitor.devices`): ``default``,
        ``pulse:<source>``, a PortAudio name or index, optionally ``#<channel>``.
    sr_hz : int
        Requested sample rate in Hz.
    channels : int
        Channels to deliver; must be 1 with a ``#<channel>`` spec.
    blocksize_frames : int
        Frames per callback; 0 lets PortAudio choose. The default, 50 ms at
        16 kHz, costs 2.1 % of a core for two streams against 3.6 % at 20 ms
        (measured on PulseAudio monitors), and adds at most 50 ms to a cue's
        300 ms budget.
    role : str
        'microphone', 'customer audio', ... for status lines.
    host : PortAudioHost or None
        Shared coordinator; sources of one process should share one. None
        creates a private one.
    ring_s : float
        Ring capacity in seconds.
    retry_interval_s : float
        Time between reopen attempts while lost.
    stall_timeout_s : float
        No new frames for this long, once audio flowed, means lost. Time the
        polling thread was held up beyond :data:`POLL_GAP_S` is not counted.
    startup_timeout_s : float
        No first frame for this long after opening means lost.
    pulse_check_interval_s : float
        How often ``pactl`` confirms that a ``pulse:`` stream is still on its source.
    """

    def __init__(self, device: str | DeviceSpec, sr_hz: int = 16000, channels: int = 1,
                 blocksize_frames: int = 800, role: str = "audio",
                 host: PortAudioHost | None = None, ring_s: float = 10.0,
                 retry_interval_s: float = 2.0, stall_timeout_s: float = 1.0,
                 startup_timeout_s: float = 5.0, pulse_check_interval_s: float = 1.0) -> None:
        spec = device if isinstance(device, DeviceSpec) else parse_device_spec(device)
        if spec.kind == "wasapi-loopback":
            raise DeviceError(f"{spec.text!r}: use WasapiLoopbackSource for WASAPI loopback")
        if spec.channel is not None and channels != 1:
            raise DeviceError(f"{spec.text!r}: a '#<channel>' spec delivers one channel, "
                              f"not {channels}")
        super().__init__(sr_hz, channels, ring_s, role)
        self._spec = spec
        self._blocksize_frames = blocksize_frames
        self._host = host if host is not None else PortAudioHost()
        self._retry_interval_s = retry_interval_s
        self._stall_timeout_s = stall_timeout_s
        self._startup_timeout_s = startup_timeout_s
        self._pulse_check_interval_s = pulse_check_interval_s
        first = spec.channel if spec.channel is not None else 0
        self._channel_slice = slice(first, first + channels)
        self._stream: sd.InputStream | None = None
        self._target: OpenTarget | None = None
        self._stream_id = ""
        self._pulse_index: int | None = None
        self._opened_at_s = 0.0
        self._progress_frames = 0
        self._progress_at_s = 0.0
        self._polled_at_s = 0.0
        self._flowed = False
        # The state as the last poll left it, which is what the engine saw.
        self._polled_state = SourceState.STOPPED
        self._next_pulse_check_s = 0.0
        # pactl's answer about a stream: (stream id and whether audio had flowed when asked, answer).
        self._route_check: tuple[str, bool, Future[int | None]] | None = None
        self._route_events_seen = 0
        # The stream's own index on the sound server, once pactl has named it.
        self._pulse_stream_index: int | None = None
        # First frame held back from the engine until pactl confirms the stream's source.
        self._held_from: int | None = None
        self._next_retry_s = 0.0
        self._stale_device_list = False
        # Written only by the callback (the producer side).
        self._cb_input_overflows = 0
        self._cb_input_underflows = 0
        # Written only by the engine thread.
        self._stream_errors = 0
        self._losses = 0
        self._recoveries = 0
        self._logged = CaptureCounters()
        self._next_counter_log_s = 0.0

    @property
    def spec(self) -> DeviceSpec:
        """The device spec this source opens."""
        return self._spec

    @property
    def counters(self) -> CaptureCounters:
        """Fault counters since creation."""
        return CaptureCounters(
            input_overflows=self._cb_input_overflows,
            input_underflows=self._cb_input_underflows,
            dropped_frames=self._ring.frames_dropped,
            ring_overflows=self._ring.overflow_count,
            stream_errors=self._stream_errors,
            losses=self._losses,
            recoveries=self._recoveries,
        )

    def start(self) -> None:
        """Open the device and start capturing; if it cannot be opened, retry from :meth:`poll`."""
        if self._state is not SourceState.STOPPED:
            return
        self._host.register(self)
        if self._open() or (self._stale_device_list and self._host.reinitialise(self)
                            and self._open()):
            self._set_state(SourceState.RUNNING, f"{self._role} running")
        else:
            self._stream_errors += 1
            self._enter_lost(self._message)

    def stop(self) -> None:
        """Close the stream and stop retrying."""
        self._close_stream()
        self._host.unregister(self)
        self._set_state(SourceState.STOPPED, f"{self._role} stopped")

    def poll(self) -> None:
        """Detect loss, retry while lost, log new fault counts (engine thread)."""
        self._host.serve_refresh_request()
        now_s = time.monotonic()
        if self._state in _STREAM_OPEN:
            reason = self._loss_reason(now_s)
            if reason is not None:
                self._stream_errors += 1
                self._losses += 1
                self._close_stream()
                self._enter_lost(f"{self._role} lost: {reason}")
            elif (self._state is SourceState.RESTARTING and self._flowed
                  and self._polled_state is SourceState.RESTARTING):
                # Only once a poll has shown the restart: the engine fills its gap on
                # seeing it, and a stream reopened during this very poll (this source's
                # or, through the shared host, another's) may already have delivered.
                self._set_state(SourceState.RUNNING, f"{self._role} running")
        elif self._state is SourceState.LOST and now_s >= self._next_retry_s:
            self._retry()
        self._polled_at_s = now_s
        self._polled_state = self._state
        self._log_counters(now_s)

    def read(self, max_frames: int | None = None) -> CaptureChunk:
        """Take the frames stored so far, except those held while the stream's source is in doubt.

        Parameters
        ----------
        max_frames : int or None
            Upper bound on the frames returned; None takes all.
        """
        if self._held_from is not None:
            allowed = self._held_from - self._ring.frames_read
            max_frames = allowed if max_frames is None else min(max_frames, allowed)
        return super().read(max_frames)

    # -- PortAudio callback (producer side) ------------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: object,
                  status: sd.CallbackFlags) -> None:
        if status:
            if status.input_overflow:
                self._cb_input_overflows += 1
            if status.input_underflow:
                self._cb_input_underflows += 1
        self._ring.write(indata[:, self._channel_slice])

    # -- engine-thread internals ---------------------------------------------

    def _open(self) -> bool:
        """Resolve the spec and open a started stream; False (with a message) on failure."""
        try:
            target = resolve_portaudio_input(self._spec)
            needed = self._channel_slice.stop
            if target.max_channels < needed:
                raise DeviceError(f"{target.label} has {target.max_channels} input channels, "
                                  f"{needed} needed")
            self._stream_id = uuid.uuid4().hex
            variables = dict(target.environment)
            variables["PULSE_PROP"] = f"{STREAM_ID_PROPERTY}={self._stream_id}"
            with self._host.environment(variables):
                stream = sd.InputStream(device=target.device, samplerate=self._sr_hz,
                                        channels=needed, dtype="float32",
                                        blocksize=self._blocksize_frames,
                                        callback=self._callback)
            try:
                stream.start()
            except sd.PortAudioError:
                stream.close(ignore_errors=True)
                raise
        except (DeviceError, sd.PortAudioError, ValueError) as exc:
            self._message = f"{self._role} unavailable: {exc}"
            # A missing PulseAudio source is looked up live; anything PortAudio
            # itself could not find or open may be fixed by re-initialising it.
            self._stale_device_list = (not isinstance(exc, DeviceError)
                                       or isinstance(exc, PortAudioDeviceMissing))
            return False
        self._stream = stream
        self._target = target
        self._pulse_index = self._pulse_source_index(target.pulse_source)
        if target.pulse_source is not None:
            self._host.route_watch.ensure_running()
        self._pulse_stream_index = None
        self._route_events_seen = self._route_events()
        now_s = time.monotonic()
        self._opened_at_s = now_s
        self._progress_frames = self._ring.frames_stored
        self._progress_at_s = now_s
        self._polled_at_s = now_s
        self._flowed = False
        # The first check comes soon, once audio flows: it names the stream, after which only
        # the server's announcements about this stream hold its audio (see _route_events).
        self._next_pulse_check_s = now_s + min(self._pulse_check_interval_s, FIRST_ROUTE_CHECK_S)
        logger.info("%s: opened %s at %d Hz", self._role, target.label, self._sr_hz)
        return True

    @staticmethod
    def _pulse_source_index(name: str | None) -> int | None:
        if name is None:
            return None
        return next((source.index for source in pulse_sources() if source.name == name), None)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort()
            stream.close()
        except sd.PortAudioError as exc:
            # A vanished device often refuses to close cleanly; it is gone either way.
            self._stream_errors += 1
            logger.info("%s: error closing stream: %s", self._role, exc)
        self._drop_held_audio()

    def _drop_held_audio(self) -> None:
        """Discard audio held since the server announced a move that pactl never cleared.

        It may be another source's (the customer's voice on the microphone's
        line); the engine fills the gap with silence on the call's clock.
        """
        if self._held_from is None:
            return
        self._held_from = None
        dropped = self._ring.read_available()
        self._ring.read(dropped)
        if dropped:
            logger.info("%s: dropped %.2f s of audio recorded after its source was moved",
                        self._role, dropped / self._sr_hz)

    def _reopen_after_reinit(self) -> None:
        """Reopen a running stream that the host closed to re-initialise PortAudio."""
        if self._open():
            self._discontinuity = True
            self._set_state(SourceState.RESTARTING, f"{self._role} reopening after a device search")
        else:
            self._stream_errors += 1
            self._losses += 1
            self._enter_lost(f"{self._role} lost: {self._message}")

    def _loss_reason(self, now_s: float) -> str | None:
        stream = self._stream
        if stream is None or not stream.active:
            return "the audio stream stopped"
        # Time this thread could not watch (beyond a normal poll interval) is not
        # counted as silence; see POLL_GAP_S.
        held_up_s = now_s - self._polled_at_s - POLL_GAP_S
        if held_up_s > 0:
            self._progress_at_s += held_up_s
            self._opened_at_s += held_up_s
        stored = self._ring.frames_stored
        if stored != self._progress_frames:
            self._progress_frames = stored
            self._progress_at_s = now_s
            self._flowed = True
        elif self._flowed and now_s - self._progress_at_s > self._stall_timeout_s:
            return f"no audio for {now_s - self._progress_at_s:.1f} s"
        elif not self._flowed and now_s - self._opened_at_s > self._startup_timeout_s:
            return f"no audio within {self._startup_timeout_s:.1f} s of opening"
        target = self._target
        if target is not None and target.pulse_source is not None:
            return self._pulse_route_problem(target.pulse_source, now_s)
        return None

    def _route_events(self) -> int:
        """The sound server's announcements so far that may concern this stream.

        Before pactl has named the stream, a change to any recording stream may be its move.
        """
        watch = self._host.route_watch
        return (watch.count("source-output", self._pulse_stream_index)
                + watch.count("source", self._pulse_index))

    def _pulse_route_problem(self, source_name: str, now_s: float) -> str | None:
        # pactl takes milliseconds, but seconds while the sound server restarts, and
        # the engine's tick must not wait for it: it is asked on the host's worker
        # thread and its answer is read on a later tick.
        events = self._route_events()
        if events != self._route_events_seen:
            # Audio stored since the last read may come from another source already;
            # it waits for an answer asked after the announcement (an earlier one may
            # predate the move).
            self._route_events_seen = events
            if self._held_from is None:
                self._held_from = self._ring.frames_read
            self._route_check = None
            self._next_pulse_check_s = now_s
        pending = self._route_check
        if pending is None:
            if now_s >= self._next_pulse_check_s:
                self._next_pulse_check_s = now_s + self._pulse_check_interval_s
                self._route_check = (self._stream_id, self._flowed, self._host.in_background(
                    pulse_stream_route, STREAM_ID_PROPERTY, self._stream_id))
            return None
        stream_id, flowed, answer = pending
        if not answer.done():
            return None
        self._route_check = None
        if stream_id != self._stream_id:
            return None  # about a stream since closed
        route = answer.result()
        if route is None:
            # The server lists a stream only once it records; before audio
            # flowed its absence proves nothing.
            problem = "the sound server dropped the stream" if flowed else None
        elif route.source_index != self._pulse_index:
            problem = f"source {source_name} went away"
        else:
            problem = None
        if route is not None and route.stream_index != self._pulse_stream_index:
            # From now on only this stream's own announcements count; those about others
            # until now were looked into by this answer, which was asked after them.
            self._pulse_stream_index = route.stream_index
            self._route_events_seen = events = self._route_events()
        if problem is None and events == self._route_events():
            self._held_from = None  # asked after the last announcement: the held audio is ours
        return problem

    def _enter_lost(self, message: str) -> None:
        self._set_state(SourceState.LOST, message)
        self._discontinuity = True
        self._next_retry_s = time.monotonic() + self._retry_interval_s
        logger.warning("%s; retrying every %.0f s", message, self._retry_interval_s)

    def _retry(self) -> None:
        self._next_retry_s = time.monotonic() + self._retry_interval_s
        if self._open():
            self._recover()
            return
        self._stream_errors += 1
        if self._stale_device_list and self._host.reinitialise(self) and self._open():
            self._recover()
            return
        logger.debug("%s", self._message)

    def _recover(self) -> None:
        self._host.device_found()
        self._recoveries += 1
        self._discontinuity = True
        self._set_state(SourceState.RUNNING, f"{self._role} running")
        logger.warning("%s is back", self._role)

    def _log_counters(self, now_s: float) -> None:
        if now_s < self._next_counter_log_s:
            return
        counters = self.counters
        logged = self._logged
        if (counters.input_overflows, counters.input_underflows, counters.dropped_frames) \
                != (logged.input_overflows, logged.input_underflows, logged.dropped_frames):
            logger.warning(
                "%s: %d input overflows, %d input underflows, %d frames dropped "
                "(engine too slow) since last report",
                self._role, counters.input_overflows - logged.input_overflows,
                counters.input_underflows - logged.input_underflows,
                counters.dropped_frames - logged.dropped_frames)
            self._logged = counters
            # Report at most every few seconds so a persistent fault cannot flood the log.
            self._next_counter_log_s = now_s + 5.0


class FileReplaySource(CaptureSource):
    """Replay a call recording through a ring buffer, like a live device would deliver it.

    The recording is read through :class:`~monitor.audio_file.CallRecording`,
    exactly as ``calmline analyze`` reads it (same channel choice, same repair
    of NaN samples, same errors), and delivered as one channel (agent only) or
    two (agent, customer at the agent's rate). A thread writes blocks to the
    ring. In real time it paces blocks by the clock and, like a device, drops
    frames if the engine falls behind. With ``fast=True`` it never sleeps for
    pacing but waits whenever the ring is full, so nothing is ever dropped.
    :meth:`pause` holds the replay where it is, as a paused player would, and
    :meth:`resume` goes on from there.

    Parameters
    ----------
    recording : CallRecording
        The opened recording (closed by :meth:`stop`).
    fast : bool
        Replay as fast as the consumer takes the frames.
    blocksize_frames : int
        Frames per write, like a device's callback block.
    role : str
        For status lines.
    ring_s : float
        Ring capacity in seconds.
    """

    def __init__(self, recording: CallRecording, fast: bool = False,
                 blocksize_frames: int = 320, role: str = "replay", ring_s: float = 10.0) -> None:
        super().__init__(recording.agent_sr_hz, 2 if recording.has_customer else 1, ring_s, role)
        self._recording = recording
        self.fast = fast
        self._blocksize_frames = blocksize_frames
        self._stop_event = threading.Event()
        self._playing = threading.Event()
        self._playing.set()
        self._thread: threading.Thread | None = None
        self._error: str | None = None
        self._reported_error = False

    @property
    def error(self) -> str | None:
        """Why the replay failed, or None."""
        return self._error

    @property
    def counters(self) -> CaptureCounters:
        """Fault counters since creation."""
        return CaptureCounters(dropped_frames=self._ring.frames_dropped,
                               ring_overflows=self._ring.overflow_count,
                               stream_errors=1 if self._error else 0)

    def start(self) -> None:
        """Start the replay thread."""
        if self._thread is not None:
            return
        self._set_state(SourceState.RUNNING, f"{self._role} running")
        self._thread = threading.Thread(target=self._run, name=f"replay-{self._role}",
                                        daemon=True)
        self._thread.start()

    @property
    def paused(self) -> bool:
        """Whether the replay is held by :meth:`pause`."""
        return not self._playing.is_set()

    def pause(self) -> None:
        """Hold the replay after the block being written; nothing is skipped meanwhile."""
        self._playing.clear()

    def resume(self) -> None:
        """Go on from where :meth:`pause` held the replay, paced from now."""
        self._playing.set()

    def stop(self) -> None:
        """Stop the replay thread and close the recording; stored frames stay readable."""
        self._stop_event.set()
        self._playing.set()  # a paused feed wakes up to see the stop
        if self._thread is not None:
            self._thread.join()
        self._recording.close()
        self._set_state(SourceState.STOPPED, f"{self._role} stopped")

    def poll(self) -> None:
        """Log a replay error once, for the log file."""
        if self._error and not self._reported_error:
            self._reported_error = True
            # Not a warning: the window and the headless command show :attr:`error`
            # to the user themselves, and stderr would say it twice.
            logger.info("%s: replay failed: %s", self._role, self._error)

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the replay thread to finish; True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._feed()
        except (OSError, RuntimeError, sf.LibsndfileError, AudioInputError) as exc:
            self._error = str(exc)
        # State changes after the last write, so STOPPED + empty read means done.
        message = f"{self._role} failed: {self._error}" if self._error else f"{self._role} finished"
        self._set_state(SourceState.STOPPED, message)

    def _feed(self) -> None:
        start_s = time.monotonic()
        sent_frames = 0
        customer_sr_hz = self._recording.customer_sr_hz
        matcher = (RateMatcher(customer_sr_hz, self._sr_hz)
                   if customer_sr_hz is not None else None)
        for agent, customer in self._recording.blocks(self._blocksize_frames / self._sr_hz):
            if not self._playing.is_set():
                held_at_s = time.monotonic()
                self._playing.wait()
                start_s += time.monotonic() - held_at_s
            if self._stop_event.is_set():
                return
            block = matcher.push(agent, customer) if matcher is not None else agent[:, np.newaxis]
            if not self._send(block, start_s, sent_frames):
                return
            sent_frames += block.shape[0]
        if matcher is not None:
            self._send(matcher.flush(), start_s, sent_frames)

    def _send(self, block: np.ndarray, start_s: float, sent_frames: int) -> bool:
        """Write a block into the ring when it is due; False when the replay is stopped."""
        if not block.shape[0]:
            return True
        if self.fast:
            self._wait_for_space(block.shape[0])
        else:
            self._wait_until(start_s + (sent_frames + block.shape[0]) / self._sr_hz)
        if self._stop_event.is_set():
            return False
        self._ring.write(block)
        return True

    def _wait_for_space(self, n_frames: int) -> None:
        # Polling keeps the ring lock-free; the consumer never signals.
        while self._ring.write_available() < n_frames and not self._stop_event.is_set():
            self._stop_event.wait(0.002)

    def _wait_until(self, due_s: float) -> None:
        delay_s = due_s - time.monotonic()
        if delay_s > 0:
            self._stop_event.wait(delay_s)


def make_source(device: str, sr_hz: int, role: str, host: PortAudioHost,
                channels: int = 1) -> CaptureSource:
    """Build the right live source for a device spec string.

    Parameters
    ----------
    device : str
        Device spec string from settings.
    sr_hz : int
        Requested rate in Hz (a WASAPI loopback delivers its device's rate instead).
    role : str
        'microphone' or 'customer audio'.
    host : PortAudioHost
        The process's shared PortAudio coordinator.
    channels : int
        Channels to deliver.
    """
    spec = parse_device_spec(device)
    if spec.kind == "wasapi-loopback":
        return WasapiLoopbackSource(spec, channels=channels, role=role)
    return SoundDeviceSource(spec, sr_hz=sr_hz, channels=channels, role=role, host=host)


class WasapiLoopbackSource(CaptureSource):
    """What a Windows output device plays, captured through pyaudiowpatch.

    Stock sounddevice cannot open WASAPI loopback, so this uses the
    pyaudiowpatch fork of PyAudio (its own PortAudio), behind the same
    interface. Shared-mode loopback runs at the output's mix rate and channel
    count; :attr:`sr_hz` reports that rate and the engine must resample.
    Written against pyaudiowpatch's documented API and tested here only
    against a stand-in for it (``tests/test_wasapi_adapter.py``): this
    project's test machines are Linux, so it has not run on Windows.

    Parameters
    ----------
    device : DeviceSpec
        ``wasapi-loopback:default`` or ``wasapi-loopback:<output device name>``.
    channels : int
        Leading channels to deliver.
    role : str
        For status lines.
    ring_s : float
        Ring capacity in seconds.
    retry_interval_s : float
        Time between reopen attempts while lost.
    """

    def __init__(self, device: DeviceSpec, channels: int = 1, role: str = "customer audio",
                 ring_s: float = 10.0, retry_interval_s: float = 2.0) -> None:
        if sys.platform != "win32":
            raise DeviceError(f"{device.text!r}: WASAPI loopback exists only on Windows")
        try:
            import pyaudiowpatch
        except ImportError:
            raise DeviceError(f"{device.text!r}: needs the pyaudiowpatch package") from None
        self._pa = pyaudiowpatch
        self._spec = device
        self._audio = pyaudiowpatch.PyAudio()
        info = self._find(self._audio)
        super().__init__(int(info["defaultSampleRate"]), channels, ring_s, role)
        self._device_channels = int(info["maxInputChannels"])
        if self._device_channels < channels:
            raise DeviceError(f"{info['name']} has {self._device_channels} channels, "
                              f"{channels} needed")
        self._retry_interval_s = retry_interval_s
        self._next_retry_s = 0.0
        self._stream = None
        self._stream_errors = 0
        self._losses = 0
        self._recoveries = 0
        self._cb_input_overflows = 0

    @property
    def counters(self) -> CaptureCounters:
        """Fault counters since creation."""
        return CaptureCounters(input_overflows=self._cb_input_overflows,
                               dropped_frames=self._ring.frames_dropped,
                               ring_overflows=self._ring.overflow_count,
                               stream_errors=self._stream_errors, losses=self._losses,
                               recoveries=self._recoveries)

    def _find(self, audio: object) -> dict:
        if self._spec.target == "default":
            return audio.get_default_wasapi_loopback()
        for info in audio.get_loopback_device_info_generator():
            if info["name"] == self._spec.target:
                return info
        raise DeviceError(f"no WASAPI loopback device {self._spec.target!r} "
                          "(run 'calmline devices' to list inputs)")

    def start(self) -> None:
        """Open the loopback stream; if it cannot be opened, retry from :meth:`poll`."""
        if self._state is not SourceState.STOPPED:
            return
        if self._open():
            self._set_state(SourceState.RUNNING, f"{self._role} running")
        else:
            self._set_state(SourceState.LOST, self._message)
            self._next_retry_s = time.monotonic() + self._retry_interval_s

    def stop(self) -> None:
        """Close the stream and release pyaudiowpatch."""
        self._close()
        self._audio.terminate()
        self._set_state(SourceState.STOPPED, f"{self._role} stopped")

    def poll(self) -> None:
        """Detect a dead stream and retry (re-creating pyaudiowpatch's PortAudio)."""
        now_s = time.monotonic()
        if self._state is SourceState.RUNNING and not self._stream.is_active():
            self._stream_errors += 1
            self._losses += 1
            self._close()
            self._discontinuity = True
            self._set_state(SourceState.LOST, f"{self._role} lost: the loopback stream stopped")
            logger.warning("%s; retrying every %.0f s", self._message, self._retry_interval_s)
            self._next_retry_s = now_s + self._retry_interval_s
        elif self._state is SourceState.LOST and now_s >= self._next_retry_s:
            self._next_retry_s = now_s + self._retry_interval_s
            # This PortAudio serves only this source, so re-initialising it is safe.
            self._audio.terminate()
            self._audio = self._pa.PyAudio()
            if self._open():
                self._recoveries += 1
                self._discontinuity = True
                self._set_state(SourceState.RUNNING, f"{self._role} running")
                logger.warning("%s is back", self._role)
            else:
                self._stream_errors += 1

    def _callback(self, in_data: bytes, frame_count: int, time_info: dict,
                  status: int) -> tuple[None, int]:
        if status & self._pa.paInputOverflow:
            self._cb_input_overflows += 1
        frames = np.frombuffer(in_data, dtype=np.float32).reshape(-1, self._device_channels)
        self._ring.write(frames[:, :self._channels])
        return None, self._pa.paContinue

    def _open(self) -> bool:
        try:
            info = self._find(self._audio)
            if int(info["defaultSampleRate"]) != self._sr_hz:
                raise DeviceError(f"{info['name']} changed rate to {info['defaultSampleRate']} Hz")
            self._stream = self._audio.open(
                format=self._pa.paFloat32, channels=self._device_channels, rate=self._sr_hz,
                input=True, input_device_index=int(info["index"]),
                frames_per_buffer=int(self._sr_hz // 50), stream_callback=self._callback)
        except (DeviceError, OSError) as exc:
            self._message = f"{self._role} unavailable: {exc}"
            return False
        return True

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.stop_stream()
            stream.close()
        except OSError as exc:
            self._stream_errors += 1
            logger.info("%s: error closing loopback stream: %s", self._role, exc)

