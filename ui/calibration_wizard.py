"""The first-run calibration wizard.

Four pages: pick the microphone and the customer's side; check the
microphone's level on a live meter; check that the customer's side really
carries the other party (not the microphone again); and learn the agent's
normal loudness, pace and speech level from 15 s of ordinary speech. The
result is saved as the profile (:mod:`models.profile`) only when the user
presses Finish.

Every Next enters a page afresh (Back has already released its devices), so
each page resets what it shows on entry instead of keeping a stale reading.

Audio never blocks the UI thread: each page owns its capture sources and a
:class:`QTimer` that takes whatever the sources have buffered, so a silent or
lost device just leaves the meter still. Durations are counted in captured
audio, not wall-clock time.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from enum import Enum
from pathlib import Path
from statistics import median

import numpy as np
import soxr
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget, QWizard, QWizardPage)
from scipy import signal

from models.app_settings import AppSettings
from models.frames import HOP_S
from models.profile import AgentProfile, new_profile, save_profile
from models.settings import SettingsError
from monitor.capture import CaptureSource, PortAudioHost, make_source
from monitor.devices import DeviceError, list_input_devices
from monitor.features import CallFeatureExtractor
from monitor.loudness import LoudnessMeter
from ui.settings_dialog import DeviceLister, DevicePicker
from ui.window_titles import window_title

logger = logging.getLogger(__name__)

CAPTURE_SR_HZ = 16000
"""Rate the wizard asks devices for, in Hz (the analysis rate)."""

POLL_INTERVAL_MS = 50
"""How often the pages take buffered audio: 20 meter updates per second."""

METER_FLOOR_LUFS = -60.0
"""Bottom of the level meter, in LUFS."""

TOO_QUIET_LUFS = -45.0
"""Speech peaks below this (momentary loudness, LUFS) are too quiet to analyse reliably."""

TOO_LOUD_LUFS = -8.0
"""Speech peaks above this (momentary loudness, LUFS) are close to clipping."""

CLIP_LEVEL = 0.99
"""A sample this close to full scale counts as clipped."""

PEAK_WINDOW_S = 2.0
"""The meter's verdict looks at the loudest hop of the last two seconds: about a phrase."""

SAME_SIGNAL_CORRELATION = 0.8
"""Peak normalised cross-correlation above which the two sides are one signal.

Independent voices stay below 0.1; an acoustic leak of the customer into the
microphone goes through a room and a second transducer and stays well
below 0.8, while one device opened twice reads close to 1."""

CORRELATION_WINDOW_S = 3.0
"""Audio compared for the customer check, in seconds."""

MAX_LAG_S = 0.25
"""Largest offset between the two sides' buffers the check allows for, in seconds."""

AUDIBLE_LUFS = -45.0
"""The customer's side counts as playing something above this momentary loudness."""

MIN_SPEECH_FRACTION = 1 / 4
"""Give up the baseline after this little speech per second of audio (in the worst case
four times the calibration time)."""

SourceFactory = Callable[[str, str], CaptureSource]
"""``(device spec, role) -> capture source``, not yet started."""

OK_GLYPH = "\N{CHECK MARK}"
WARN_GLYPH = "\N{WARNING SIGN}"


class Level(Enum):
    """The level check's verdict, always shown in words."""

    TOO_QUIET = "Too quiet"
    GOOD = "Good"
    TOO_LOUD = "Too loud"


WAITING_FOR_MIC = "Waiting for sound from the microphone\N{HORIZONTAL ELLIPSIS}"

LEVEL_ADVICE = {
    Level.TOO_QUIET: "Too quiet: say a few words; if you are, move the microphone closer "
                     "or raise its input volume.",
    Level.GOOD: "Good: your voice comes through clearly.",
    Level.TOO_LOUD: "Too loud: your voice may distort; move the microphone away a little "
                    "or lower its input volume.",
}


def level_verdict(peak_lufs: float, clipped: bool) -> Level:
    """Judge a microphone's level from its recent loudest hop.

    Parameters
    ----------
    peak_lufs : float
        Loudest momentary loudness of the last :data:`PEAK_WINDOW_S`, in LUFS
        (-inf for silence).
    clipped : bool
        Whether a sample reached full scale in that time.
    """
    if clipped or peak_lufs > TOO_LOUD_LUFS:
        return Level.TOO_LOUD
    if peak_lufs < TOO_QUIET_LUFS:
        return Level.TOO_QUIET
    return Level.GOOD


def signal_similarity(a: np.ndarray, b: np.ndarray, sr_hz: int,
                      max_lag_s: float = MAX_LAG_S) -> float:
    """Peak normalised cross-correlation of two signals within a lag range.

    Parameters
    ----------
    a, b : np.ndarray, shape (n,)
        Mono signals at ``sr_hz`` ending at about the same moment; the
        longer one is cut to the shorter's length from the start.
    sr_hz : int
        Sample rate in Hz.
    max_lag_s : float
        Largest offset between them to try, in seconds.

    Returns
    -------
    float
        0 (unrelated) to 1 (the same signal, possibly shifted or inverted);
        0 if either is silent.
    """
    n = min(a.size, b.size)
    x = np.asarray(a[a.size - n:], np.float64)
    y = np.asarray(b[b.size - n:], np.float64)
    x = x - x.mean()
    y = y - y.mean()
    energy = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if n == 0 or energy == 0.0:
        return 0.0
    corr = signal.correlate(x, y, mode="full", method="fft")
    lags = signal.correlation_lags(n, n, mode="full")
    within = np.abs(lags) <= max_lag_s * sr_hz
    return float(np.max(np.abs(corr[within])) / energy)


class _LiveLevel:
    """One capture source metered hop by hop, with its recent audio kept for comparison."""

    def __init__(self, source: CaptureSource, keep_s: float = 0.0) -> None:
        self.source = source
        self.meter = LoudnessMeter(source.sr_hz, HOP_S)
        self.recent_lufs: deque[float] = deque(maxlen=round(PEAK_WINDOW_S / HOP_S))
        self.recent_clipped: deque[bool] = deque(maxlen=round(PEAK_WINDOW_S / HOP_S))
        self.last_lufs = -math.inf
        self._keep = round(keep_s * source.sr_hz)
        self.kept = np.zeros(0, np.float32)

    def poll(self) -> np.ndarray:
        """Take what the source has buffered; returns the new mono samples."""
        self.source.poll()
        samples = self.source.read().samples
        mono = samples[:, 0] if samples.ndim == 2 else samples
        if mono.size == 0:
            return mono
        momentary, _ = self.meter.process(mono)
        if momentary.size:
            self.last_lufs = float(momentary[-1])
            self.recent_lufs.extend(momentary.tolist())
            # Per block, not per hop: a clipped sample anywhere in it counts.
            self.recent_clipped.append(bool(np.max(np.abs(mono)) >= CLIP_LEVEL))
        if self._keep:
            self.kept = np.concatenate((self.kept, mono))[-self._keep:]
        return mono

    @property
    def peak_lufs(self) -> float:
        """Loudest momentary loudness of the last :data:`PEAK_WINDOW_S`, in LUFS."""
        return max(self.recent_lufs, default=-math.inf)

    @property
    def clipped(self) -> bool:
        """Whether a sample reached full scale in the last :data:`PEAK_WINDOW_S`."""
        return any(self.recent_clipped)


class LevelMeter(QProgressBar):
    """A loudness meter that states its value in words too."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, round(-METER_FLOOR_LUFS))
        self.setTextVisible(True)
        self.setAccessibleName(name)
        self.show_lufs(-math.inf)

    def show_lufs(self, lufs: float) -> None:
        """Show a momentary loudness in LUFS (-inf for silence).

        The bar says how the level compares with what CalmLine needs, in
        words: a number in LUFS means nothing to the agent setting up.
        """
        clamped = max(METER_FLOOR_LUFS, min(0.0, lufs))
        self.setValue(round(clamped - METER_FLOOR_LUFS))
        if lufs <= METER_FLOOR_LUFS:
            text = "silence"
        elif lufs < TOO_QUIET_LUFS:
            text = "very quiet"
        elif lufs > TOO_LOUD_LUFS:
            text = "very loud"
        else:
            text = "clear"
        self.setFormat(text)
        self.setAccessibleDescription(text)


def live_source_factory(host: PortAudioHost) -> SourceFactory:
    """Opens live devices at :data:`CAPTURE_SR_HZ` through one shared PortAudio host."""
    def open_live(spec: str, role: str) -> CaptureSource:
        return make_source(spec, CAPTURE_SR_HZ, role, host)
    return open_live


class _Context:
    """What the pages share: the device choices and how to open them."""

    def __init__(self, settings: AppSettings, source_factory: SourceFactory,
                 device_lister: DeviceLister, poll_interval_ms: int) -> None:
        self.settings = settings
        self.source_factory = source_factory
        self.device_lister = device_lister
        self.poll_interval_ms = poll_interval_ms
        self.agent_device = settings.agent_device
        self.customer_device = settings.customer_device

    def open(self, spec: str, role: str) -> CaptureSource:
        """Open and start a source; raises DeviceError with a one-line message."""
        source = self.source_factory(spec, role)
        source.start()
        return source


class _LivePage(QWizardPage):
    """A page that reads capture sources on a timer while it is shown."""

    def __init__(self, context: _Context) -> None:
        super().__init__()
        self.context = context
        self.timer = QTimer(self)
        self.timer.setInterval(context.poll_interval_ms)
        self.timer.timeout.connect(self.tick)
        self.sources: list[CaptureSource] = []

    def open_sources(self, *specs: tuple[str, str]) -> list[CaptureSource] | None:
        """Open ``(spec, role)`` pairs and start polling; None (all closed) if one fails."""
        self.stop()
        try:
            for spec, role in specs:
                self.sources.append(self.context.open(spec, role))
        except DeviceError as exc:
            self.stop()
            self.show_problem(f"{WARN_GLYPH} Cannot open the device: {exc}")
            return None
        self.timer.start()
        return list(self.sources)

    def stop(self) -> None:
        """Stop polling and release the devices."""
        self.timer.stop()
        sources, self.sources = self.sources, []
        for source in sources:
            source.stop()

    def show_problem(self, text: str) -> None:
        """Tell the user why the page cannot go on."""

    @Slot()
    def tick(self) -> None:
        """Take buffered audio; pages override."""


class DevicesPage(QWizardPage):
    """Pick the microphone and the customer's side."""

    def __init__(self, context: _Context) -> None:
        super().__init__()
        self.context = context
        self.setTitle("Your microphone and the customer's side")
        self.setSubTitle("CalmLine listens to your microphone and, if you choose it, to what "
                         "your softphone plays, so that it can tell who is speaking.")
        self.picker = DevicePicker(context.agent_device, context.customer_device,
                                   context.device_lister)
        self.agent_combo = self.picker.agent_combo
        self.customer_combo = self.picker.customer_combo
        QVBoxLayout(self).addWidget(self.picker)

    def validatePage(self) -> bool:
        self.context.agent_device = self.picker.agent_device()
        self.context.customer_device = self.picker.customer_device()
        return True


class LevelPage(_LivePage):
    """A live meter on the microphone, judged in words."""

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.setTitle("Microphone level")
        self.setSubTitle("Talk as you do on a call, for example say your usual greeting. "
                         "The meter shows how loud your voice arrives.")
        self.meter = LevelMeter("Microphone level")
        self.verdict_label = QLabel(WAITING_FOR_MIC)
        self.verdict_label.setObjectName("level_verdict")
        self.verdict_label.setAccessibleName("Microphone level verdict")
        self.verdict_label.setWordWrap(True)
        self.verdict: Level | None = None
        self.live: _LiveLevel | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.meter)
        layout.addWidget(self.verdict_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.verdict = None
        self.live = None
        # A verdict or device error from an earlier visit would describe audio no longer heard.
        self.meter.show_lufs(-math.inf)
        self.verdict_label.setText(WAITING_FOR_MIC)
        opened = self.open_sources((self.context.agent_device, "microphone"))
        if opened:
            self.live = _LiveLevel(opened[0])

    def cleanupPage(self) -> None:
        self.stop()

    def show_problem(self, text: str) -> None:
        self.verdict_label.setText(text)

    @Slot()
    def tick(self) -> None:
        if self.live is None or self.live.poll().size == 0:
            return
        self.meter.show_lufs(self.live.last_lufs)
        self.verdict = level_verdict(self.live.peak_lufs, self.live.clipped)
        self.verdict_label.setText(LEVEL_ADVICE[self.verdict])


class CustomerCheck(Enum):
    """What the customer check found."""

    MIC_ONLY = "mic-only"
    WAITING = "waiting"
    DISTINCT = "distinct"
    SAME_AS_MIC = "same as microphone"


class CustomerPage(_LivePage):
    """Check that the customer's side carries a signal of its own."""

    def __init__(self, context: _Context) -> None:
        super().__init__(context)
        self.setTitle("The customer's side")
        self.meter = LevelMeter("Customer side level")
        self.result_label = QLabel()
        self.result_label.setObjectName("customer_verdict")
        self.result_label.setAccessibleName("Customer check result")
        self.result_label.setWordWrap(True)
        self.similarity: float | None = None
        self.check = CustomerCheck.WAITING
        self.mic: _LiveLevel | None = None
        self.customer: _LiveLevel | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(self.meter)
        layout.addWidget(self.result_label)
        layout.addStretch(1)

    def initializePage(self) -> None:
        self.similarity = None
        self.mic = self.customer = None
        # The level from an earlier visit may be of another device, or of none.
        self.meter.show_lufs(-math.inf)
        if not self.context.customer_device:
            self.setSubTitle("No customer side chosen.")
            # Must match models.rules: without the customer's side the rules see no
            # customer turns, so interruption, overtalk and monologue are switched off.
            self._set(CustomerCheck.MIC_ONLY,
                      "CalmLine will work in mic-only mode: raised voice and fast speech are "
                      "still coached, but the interruption and monologue cues are off because "
                      "they need the customer's voice. You can choose the customer's side "
                      "later in Settings.")
            self.meter.hide()
            return
        self.meter.show()
        self.setSubTitle("Play something through your softphone, for example its sound test, "
                         "an echo-test call or a voicemail, and keep quiet meanwhile.")
        self._set(CustomerCheck.WAITING,
                  "Waiting for sound on the customer's side\N{HORIZONTAL ELLIPSIS}")
        if self.context.customer_device == self.context.agent_device:
            self._same()
            return
        opened = self.open_sources((self.context.agent_device, "microphone"),
                                   (self.context.customer_device, "customer audio"))
        if opened:
            self.mic = _LiveLevel(opened[0], CORRELATION_WINDOW_S)
            self.customer = _LiveLevel(opened[1], CORRELATION_WINDOW_S)

    def cleanupPage(self) -> None:
        self.stop()

    def isComplete(self) -> bool:
        # A customer side that is the microphone again would make every cue
        # wrong; silence only means the check could not be made yet.
        return self.check is not CustomerCheck.SAME_AS_MIC

    def show_problem(self, text: str) -> None:
        self.result_label.setText(text)

    def _set(self, check: CustomerCheck, text: str) -> None:
        changed = check is not self.check
        self.check = check
        self.result_label.setText(text)
        if changed:
            self.completeChanged.emit()

    def _same(self) -> None:
        self._set(CustomerCheck.SAME_AS_MIC,
                  f"{WARN_GLYPH} The customer source seems to be your microphone. Go back and "
                  "choose what your softphone plays (a monitor or loopback input), or none.")

    @Slot()
    def tick(self) -> None:
        if self.mic is None or self.customer is None:
            return
        self.mic.poll()
        if self.customer.poll().size:
            self.meter.show_lufs(self.customer.last_lufs)
        mic_rate, customer_rate = self.mic.source.sr_hz, self.customer.source.sr_hz
        needed = CORRELATION_WINDOW_S * 0.9
        if (self.customer.peak_lufs < AUDIBLE_LUFS
                or self.mic.kept.size < needed * mic_rate
                or self.customer.kept.size < needed * customer_rate):
            return
        customer = self.customer.kept
        if customer_rate != mic_rate:
            customer = soxr.resample(customer, customer_rate, mic_rate)
        self.similarity = signal_similarity(self.mic.kept, customer, mic_rate)
        if self.similarity >= SAME_SIGNAL_CORRELATION:
            self._same()
        else:
            self._set(CustomerCheck.DISTINCT,
                      f"{OK_GLYPH} Sound heard on the customer's side, and it is not your "
                      "microphone.")


READING_PROMPT = ("\N{LEFT DOUBLE QUOTATION MARK}Thank you for calling. Let me look into that "
                  "for you. Could you tell me your account number and the date the problem "
                  "started?\N{RIGHT DOUBLE QUOTATION MARK}")
"""What the baseline page suggests reading aloud: about 5 s of speech at a normal pace."""


class BaselinePage(_LivePage):
    """Learn the agent's normal loudness, pace and speech level from ordinary speech.

    The measured :attr:`profile` is saved by :meth:`validatePage`, that is when
    the user presses Finish, so that Cancel keeps the previous profile (or none),
    just as it keeps the previous device settings.
    """

    def __init__(self, context: _Context, profile_path: Path | None) -> None:
        super().__init__(context)
        self.profile_path = profile_path
        self.target_s = context.settings.rules.baseline_calibration_s
        self.setTitle("Your normal voice")
        # Only speech counts towards the target (see tick), so the user is told to
        # watch the bar rather than a clock.
        self.setSubTitle(f"Press Start, then talk as you would to a customer until the bar "
                         f"shows {self.target_s:.0f}\N{NO-BREAK SPACE}s of speech. Pauses do "
                         "not count.")
        # The prompt lives in the page body, not the subtitle: the wizard's header has a
        # fixed height and cut it off mid-sentence.
        self.prompt_label = QLabel("Reading this aloud, again and again until the bar is full, "
                                   f"works well:\n{READING_PROMPT}")
        self.prompt_label.setObjectName("baseline_prompt")
        self.prompt_label.setAccessibleName("Text to read aloud")
        self.prompt_label.setWordWrap(True)
        self.prompt_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("&Start")
        self.start_button.setAccessibleName("Start measuring your normal voice")
        self.start_button.clicked.connect(self.start)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Speech heard")
        self.progress.setRange(0, round(self.target_s * 10))
        self.status_label = QLabel()
        self.status_label.setObjectName("baseline_status")
        self.status_label.setAccessibleName("Calibration status")
        self.status_label.setWordWrap(True)
        self.profile: AgentProfile | None = None
        self._measured_with: str | None = None
        self._extractor: CallFeatureExtractor | None = None
        self._loudness: list[float] = []
        self._rates: list[float] = []
        self._audio_s = 0.0
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_label)
        layout.addWidget(self.start_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self._show_progress()

    def initializePage(self) -> None:
        # Back stops a measurement in progress (cleanupPage), so on return the page must
        # offer a fresh Start. A finished measurement is kept if it is of the microphone
        # still chosen: the user has done the work and expects Finish to save it. Another
        # microphone has another level, so then the old result would be wrong.
        if self.profile is not None and self._measured_with == self.context.agent_device:
            self._show_done(self.profile)
        else:
            self._reset()
        self.start_button.setFocus()

    def cleanupPage(self) -> None:
        self.stop()

    def isComplete(self) -> bool:
        return self.profile is not None

    def validatePage(self) -> bool:
        """Save the measured profile; called when the user presses Finish.

        Returns
        -------
        bool
            True when saved; False keeps the wizard open with the reason shown,
            so the user can try Finish again or Cancel.
        """
        if self.profile is None:
            return False
        try:
            save_profile(self.profile, self.profile_path)
        except (SettingsError, OSError) as exc:
            self.status_label.setText(f"{WARN_GLYPH} Cannot save your profile: {exc}")
            return False
        return True

    def show_problem(self, text: str) -> None:
        self.status_label.setText(text)
        self.start_button.setEnabled(True)

    @property
    def speech_s(self) -> float:
        """Speech heard so far, in seconds."""
        return len(self._loudness) * HOP_S

    @Slot()
    def start(self) -> None:
        """Start (or restart) listening."""
        self.profile = None
        self._measured_with = None
        self.completeChanged.emit()
        self._loudness, self._rates, self._audio_s = [], [], 0.0
        opened = self.open_sources((self.context.agent_device, "microphone"))
        if not opened:
            return
        self._extractor = CallFeatureExtractor(opened[0].sr_hz, None, HOP_S)
        self.start_button.setEnabled(False)
        self.start_button.setText("&Start again")
        self.status_label.setText("Listening\N{HORIZONTAL ELLIPSIS} speak normally.")
        self._show_progress()

    def _reset(self) -> None:
        self.stop()
        self.profile = None
        self._measured_with = None
        self._extractor = None
        self._loudness, self._rates, self._audio_s = [], [], 0.0
        self.start_button.setEnabled(True)
        self.start_button.setText("&Start")
        self.status_label.clear()
        self._show_progress()
        self.completeChanged.emit()

    def _show_progress(self) -> None:
        heard = min(self.speech_s, self.target_s)
        self.progress.setValue(round(heard * 10))
        self.progress.setFormat(f"{heard:.0f} of {self.target_s:.0f} s of speech")

    def _show_done(self, profile: AgentProfile) -> None:
        # The loudness itself is a LUFS figure, which says nothing to an agent;
        # what matters is that it was learnt.
        if profile.rate_sps is None:
            learnt = ("how loud you normally speak, and judges a raised voice against it. "
                      "Press Finish to save it.")
        else:
            learnt = (f"how loud you normally speak and your pace ({profile.rate_sps:.1f} "
                      "syllables a second), and judges a raised voice and fast speech against "
                      "these. Press Finish to save them.")
        self.status_label.setText(f"{OK_GLYPH} Done. CalmLine has learnt {learnt}")
        self.start_button.setText("&Start again")
        self.start_button.setEnabled(True)
        self._show_progress()

    @Slot()
    def tick(self) -> None:
        if self._extractor is None or not self.sources:
            return
        source = self.sources[0]
        source.poll()
        samples = source.read().samples
        if samples.size == 0:
            return
        mono = samples[:, 0]
        self._audio_s += mono.size / source.sr_hz
        for frame in self._extractor.process(mono):
            agent = frame.agent
            if agent.speech and agent.momentary_lufs is not None:
                self._loudness.append(agent.momentary_lufs)
                if agent.rate_sps is not None:
                    self._rates.append(agent.rate_sps)
        self._show_progress()
        if self.speech_s >= self.target_s:
            self._finish()
        elif self._audio_s * MIN_SPEECH_FRACTION >= self.target_s:
            self.stop()
            self.show_problem(f"{WARN_GLYPH} Only {self.speech_s:.0f} s of speech heard in "
                              f"{self._audio_s:.0f} s. Go back to the level page to check the "
                              "microphone, or press Start again and keep talking.")

    def _finish(self) -> None:
        assert self._extractor is not None
        level_dbfs = self._extractor.agent_speech_level_dbfs
        self.stop()
        self._extractor = None
        try:
            profile = new_profile(median(self._loudness),
                                  median(self._rates) if self._rates else None, level_dbfs)
        except SettingsError as exc:
            self.show_problem(f"{WARN_GLYPH} The measurement is not usable: {exc}. Press "
                              "Start again.")
            return
        self.profile = profile
        self._measured_with = self.context.agent_device
        self._show_done(profile)
        self.completeChanged.emit()


class CalibrationWizard(QWizard):
    """The first-run set-up: devices, level check, customer check, baseline.

    Parameters
    ----------
    settings : AppSettings
        Current settings: the devices to preselect, and the calibration time
        (``rules.baseline_calibration_s``).
    parent : QWidget, optional
        Parent window.
    source_factory : callable, optional
        Opens a device spec for a role (see :data:`SourceFactory`); live
        devices through :func:`monitor.capture.make_source` by default.
        Tests pass replay sources.
    device_lister : callable, optional
        Lists the input devices.
    profile_path : Path, optional
        Where to save the profile; the user data folder by default.
    poll_interval_ms : int
        How often the pages take buffered audio, in milliseconds.
    """

    def __init__(self, settings: AppSettings, parent: QWidget | None = None, *,
                 source_factory: SourceFactory | None = None,
                 device_lister: DeviceLister = list_input_devices,
                 profile_path: Path | None = None,
                 poll_interval_ms: int = POLL_INTERVAL_MS) -> None:
        super().__init__(parent)
        if source_factory is None:
            source_factory = live_source_factory(PortAudioHost())
        self.setWindowTitle(window_title("Set-up"))
        self.setObjectName("calibration_wizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.context = _Context(settings, source_factory, device_lister, poll_interval_ms)
        self.devices_page = DevicesPage(self.context)
        self.level_page = LevelPage(self.context)
        self.customer_page = CustomerPage(self.context)
        self.baseline_page = BaselinePage(self.context, profile_path)
        self.live_pages: tuple[_LivePage, ...] = (self.level_page, self.customer_page,
                                                  self.baseline_page)
        for page in (self.devices_page, *self.live_pages):
            self.addPage(page)
        self.currentIdChanged.connect(self._release_hidden_pages)
        self.currentIdChanged.connect(self._fit_page)
        self.finished.connect(self._release_all)

    @Slot(int)
    def _release_hidden_pages(self, current_id: int) -> None:
        # Only the page on screen may hold a device: the next page may open the same one.
        current = self.page(current_id)
        for page in self.live_pages:
            if page is not current:
                page.stop()

    @Slot()
    def _fit_page(self) -> None:
        # Word-wrapped labels claim a one-line minimum height, so below its laid-out size
        # the wizard would clip the text the user must read aloud on the baseline page.
        # Measured per page once it is shown: before that the wizard only knows Qt's
        # fixed floor, which a large font outgrows.
        self._fit_subtitle()
        self.setMinimumSize(self.sizeHint())

    def _fit_subtitle(self) -> None:
        # Qt's header is as tall as two lines of subtitle at the narrowest the subtitle
        # may get (512 px at most), and cuts off a third line, which a large font needs.
        page = self.currentPage()
        if page is None or not page.subTitle():
            return
        pages = [self.page(page_id) for page_id in self.pageIds()]
        label = next((label for label in self.findChildren(QLabel)
                      if label.text() == page.subTitle()
                      and not any(p.isAncestorOf(label) for p in pages)), None)
        if label is None:
            return
        extra = label.heightForWidth(label.minimumWidth()) - label.minimumHeight()
        if extra > 0:
            header = label.parentWidget()
            header.setFixedHeight(header.minimumHeight() + extra)

    @Slot()
    def _release_all(self) -> None:
        for page in self.live_pages:
            page.stop()

    @property
    def profile(self) -> AgentProfile | None:
        """The measured profile once the baseline page has finished, else None.

        It is written to disk only when the user presses Finish.
        """
        return self.baseline_page.profile

    def devices(self) -> tuple[str, str]:
        """The chosen (microphone spec, customer spec or "" for mic-only)."""
        return self.context.agent_device, self.context.customer_device

    def result_settings(self) -> AppSettings:
        """The settings with the chosen devices (save them with ``save_settings``)."""
        agent, customer = self.devices()
        return replace(self.context.settings, agent_device=agent, customer_device=customer)
