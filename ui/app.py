"""The desktop app: the live window and tray wired to a monitoring engine.

:func:`run_app` is what ``calmline`` with no command runs. It shows the live
window first (nothing slow happens before it is on screen), then starts the
engine on live devices, or on a recording in demo mode: when ``--replay`` is
given, or when there is no input device at all (then the bundled demo call is
rendered once into the user cache, off the GUI thread).

Engine output reaches the widgets only through :class:`~ui.qt_bridge.EngineBridge`,
and stopping an engine (which joins its thread and flushes the call log)
happens off the GUI thread while the app runs, so the window never waits on
audio. The other windows (breathing pacer, settings, history) are opened
through small hooks that report, rather than crash, when one is missing.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sounddevice as sd
from PySide6.QtCore import QCoreApplication, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from models.app_settings import AppSettings, default_settings_path
from models.events import EventKind, EventPhase
from models.policy import (Policy, apply_policy, load_effective_settings, load_policy,
                           save_user_settings)
from models.profile import load_profile
from models.settings import SettingsError
from models.store import CallStore, StoreError, default_store_path
from monitor.audio_file import AudioInputError, ChannelChoice
from monitor.capture import CaptureSource, FileReplaySource, PortAudioHost
from monitor.devices import DeviceError, InputDevice
from ui.demo_call import DemoUnavailable, default_demo_path, write_demo_call
from ui.live_window import LiveWindow, play_soft_chime
from ui.qt_bridge import EngineBridge
from ui.qt_settings import keep_qt_settings_private, make_settings_file_private
from ui.quit_signals import quit_on_signals
from ui.tray import TrayController
from ui.window_titles import APP_NAME

if TYPE_CHECKING:
    from monitor.engine import LiveEvent, MonitorEngine, StatusChange
    from ui.breathing_pacer import RealCallsPromptLog

logger = logging.getLogger(__name__)



def has_input_device() -> bool:
    """Whether PortAudio has a default input to capture from."""
    try:
        info = sd.query_devices(kind="input")
    except (sd.PortAudioError, ValueError):
        return False
    return int(info["max_input_channels"]) > 0


@dataclass(frozen=True)
class Feed:
    """What drives the engine.

    Attributes
    ----------
    replay : Path or None
        A recording to replay; None for live devices.
    fast : bool
        Replay as fast as possible instead of in real time.
    demo : bool
        The replay is the demo call (rendered on demand).
    channels : ChannelChoice
        Which channels of the replay carry which party.
    """

    replay: Path | None = None
    fast: bool = False
    demo: bool = False
    channels: ChannelChoice = field(default_factory=ChannelChoice)

    @property
    def label(self) -> str:
        """How the window describes the feed; "" for live devices."""
        if self.demo:
            return ("Demo mode: no microphone found, so CalmLine is playing a sample call. "
                    "Plug in a headset and choose it in Settings.")
        if self.replay is not None:
            return f"Replaying {self.replay.name}: this is a recording, not a live call."
        return ""


def choose_feed(replay: Path | None, fast: bool, settings: AppSettings,
                input_available: Callable[[], bool] = has_input_device,
                channels: ChannelChoice | None = None) -> Feed:
    """Live devices, the given recording, or the demo call when there is no input at all."""
    if replay is not None:
        return Feed(replay, fast, channels=channels or ChannelChoice())
    # A device named in the settings is tried even if absent now: the engine
    # reports it lost and keeps retrying, which is what a plugged-out headset needs.
    if settings.agent_device == "default" and not input_available():
        return Feed(default_demo_path(), fast, demo=True)
    return Feed()


class MonitorRunner(QObject):
    """Runs one engine at a time: start, stop without blocking the GUI, start again.

    Parameters
    ----------
    bridge : EngineBridge
        The engine's listener (every engine reports to it).
    settings : AppSettings
        Devices, rules and recording choice.
    store_path : Path or None
        The call log.
    log_replays : bool
        Whether replayed calls (the demo call included) go into the call log
        too. They are not the agent's calls, so by default they do not.
    audio_host : PortAudioHost
        The app's PortAudio host, which every engine's live sources share.
    parent : QObject, optional
        Qt parent.

    Attributes
    ----------
    stopped : Signal(str)
        The engine has stopped; the argument says why if it failed, else "".
    failed : Signal(str)
        An engine could not be started; one line for the user.
    """

    stopped = Signal(str)
    failed = Signal(str)

    def __init__(self, bridge: EngineBridge, settings: AppSettings, store_path: Path | None,
                 log_replays: bool, audio_host: PortAudioHost,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._audio_host = audio_host
        self.settings = settings
        self._store_path = store_path
        self._log_replays = log_replays
        self._feed = Feed()
        self._engine: MonitorEngine | None = None
        self._agent: CaptureSource | None = None
        self._stopping = False
        self._start_when_stopped = False
        bridge.statusReceived.connect(self._on_status)

    @property
    def running(self) -> bool:
        """Whether an engine is running (or stopping)."""
        return self._engine is not None

    @property
    def feed(self) -> Feed:
        """What the current (or last) engine was fed."""
        return self._feed

    def logs_calls(self, feed: Feed) -> bool:
        """Whether the calls of ``feed`` go into the call log."""
        return self._store_path is not None and (feed.replay is None or self._log_replays)

    def start(self, feed: Feed) -> None:
        """Build the sources and engine for ``feed`` and start it (at once, or once the last one stops)."""
        self._feed = feed
        if self._engine is not None:
            self._start_when_stopped = True
            return
        # Imported here: the engine pulls in SciPy, loaded off the GUI thread by
        # CalmLineApp before the first start (see _preload).
        from monitor.engine import MonitorEngine
        from monitor.engine_setup import SourceRequest, build_engine_setup

        try:
            setup = build_engine_setup(SourceRequest(replay=feed.replay, fast=feed.fast,
                                                     channels=feed.channels),
                                       self.settings,
                                       self._store_path if self.logs_calls(feed) else None,
                                       load_profile(), host=self._audio_host)
        except (AudioInputError, DeviceError, SettingsError) as exc:
            self.failed.emit(str(exc))
            return
        agent = setup.agent
        self._agent = agent
        self._engine = MonitorEngine(agent, setup.customer, self._bridge, setup.options)
        self._stopping = False
        self._engine.start()

    def stop(self) -> None:
        """Stop the engine on a helper thread; :attr:`stopped` follows."""
        self._start_when_stopped = False
        engine = self._engine
        if engine is None or self._stopping:
            return
        self._stopping = True
        # stop() ends the call, flushes the log and joins the engine thread: seconds, at worst.
        threading.Thread(target=engine.stop, name="calmline-engine-stop", daemon=True).start()

    def stop_and_wait(self, timeout_s: float = 5.0) -> None:
        """Stop the engine and wait for it (at quit, when no window needs the GUI thread)."""
        self._start_when_stopped = False
        if self._engine is not None:
            self._engine.stop(timeout_s)

    def hold_replay(self, held: bool) -> bool:
        """Pause or resume a running replay in place; False when no replay is running.

        A replay is paused by holding its audio rather than stopping the
        engine, so the call goes on from the same moment, as a player would.
        """
        if self._engine is None or self._stopping or not isinstance(self._agent, FileReplaySource):
            return False
        if held:
            self._agent.pause()
        else:
            self._agent.resume()
        return True

    def start_call(self) -> None:
        """Start a call by hand."""
        if self._engine is not None:
            self._engine.start_call()

    def stop_call(self) -> None:
        """Stop the current call by hand."""
        if self._engine is not None:
            self._engine.stop_call()

    def _on_status(self, status: StatusChange) -> None:
        if status.kind != "monitoring_stopped" or self._engine is None:
            return
        engine, agent = self._engine, self._agent
        self._engine = self._agent = None
        self._stopping = False
        problem = ""
        if isinstance(agent, FileReplaySource) and agent.error:
            problem = f"The replay failed: {agent.error}"
        elif engine.error is not None:
            problem = f"Monitoring stopped on an error: {engine.error}"
        self.stopped.emit(problem)
        if self._start_when_stopped:
            self._start_when_stopped = False
            self.start(self._feed)


class _Worker(QObject):
    """Runs one slow job (importing the engine, rendering the demo call) off the GUI thread."""

    done = Signal(object)
    failed = Signal(str)

    def run(self, job: Callable[[], object], name: str) -> None:
        threading.Thread(target=self._run, args=(job,), name=name, daemon=True).start()

    def _run(self, job: Callable[[], object]) -> None:
        try:
            result = job()
        except (DemoUnavailable, OSError, subprocess.CalledProcessError) as exc:
            self.failed.emit(str(exc))
            return
        self.done.emit(result)


def _preload() -> None:
    # SciPy takes about a second to import; here it overlaps the first paint.
    import monitor.engine  # noqa: F401
    import monitor.engine_setup  # noqa: F401


class CalmLineApp(QObject):
    """The app's parts and their wiring; :func:`run_app` drives it.

    Parameters
    ----------
    replay : Path, optional
        A recording to replay instead of live devices.
    fast : bool
        With ``replay``: as fast as possible.
    settings_path : Path, optional
        The settings file; the user's by default.
    store_path : Path, optional
        The call log; the user's by default.
    tray_available : bool, optional
        Override the desktop's answer (tests).
    input_available : callable
        Whether an input device exists (tests inject an answer).
    chime : callable
        Plays the optional cue sound.
    policy : Policy, optional
        The IT policy; the machine's (:func:`models.policy.load_policy`) by default.
    channels : ChannelChoice, optional
        With ``replay``: which channels carry which party.
    log_replays : bool
        Log replayed calls (and the demo call) in the call log like real ones,
        with their breathing prompts; they are left out by default.
    window_state : QSettings, optional
        Where the live window's place, size, strip and pin are kept between
        runs; CalmLine's own Qt settings (see :mod:`ui.qt_settings`) by default.
    """

    def __init__(self, replay: Path | None = None, fast: bool = False,
                 settings_path: Path | None = None, store_path: Path | None = None, *,
                 tray_available: bool | None = None,
                 input_available: Callable[[], bool] = has_input_device,
                 chime: Callable[[], None] = play_soft_chime,
                 policy: Policy | None = None,
                 channels: ChannelChoice | None = None,
                 log_replays: bool = False,
                 window_state: QSettings | None = None) -> None:
        super().__init__()
        self._settings_path = settings_path or default_settings_path()
        self._store_path = store_path or default_store_path()
        self._policy = load_policy() if policy is None else policy
        self._settings_problem = ""
        self._first_run = not self._settings_path.exists() and load_profile() is None
        try:
            settings = load_effective_settings(self._settings_path, self._policy)
        except SettingsError as exc:
            self._settings_problem = str(exc)
            settings = apply_policy({}, self._policy)
        self._input_available = input_available
        self._feed = choose_feed(replay, fast, settings, input_available, channels)
        self._paused = False
        self._settings_pending: AppSettings | None = None
        self._call_id: int | None = None
        self._extra_windows: dict[str, QWidget] = {}
        self._prompt_log: RealCallsPromptLog | None = None
        self._offer: QWidget | None = None

        self.bridge = EngineBridge(self)
        self.tray = TrayController(self, tray_available)
        self.window = LiveWindow(settings.rules, passive=self.tray.available,
                                 hide_on_close=self.tray.available, chime=chime)
        self.window.set_cue_sound(settings.cue_sound)
        if self._policy.is_locked("general", "cue_sound"):
            self.window.sound_action.setEnabled(False)
        self.window.sound_action.toggled.connect(self._remember_cue_sound)
        self._window_state = window_state or QSettings(APP_NAME, "window")
        self._restore_window()
        # One PortAudio host for the process: monitoring, the set-up wizard, the
        # settings dialog's device list and review playback all use PortAudio,
        # and re-initialising it for one must not free another's streams.
        self.audio_host = PortAudioHost()
        self.runner = MonitorRunner(self.bridge, settings, self._store_path, log_replays,
                                    self.audio_host, self)
        self._preloader = _Worker(self)
        self._demo = _Worker(self)
        self._wire()

    @property
    def feed(self) -> Feed:
        """What drives the engine."""
        return self._feed

    def _wire(self) -> None:
        b, w, t = self.bridge, self.window, self.tray
        b.frameReceived.connect(w.show_frame)
        b.eventReceived.connect(w.show_event)
        b.statusReceived.connect(w.show_status)
        b.frameReceived.connect(self._on_frame)
        b.eventReceived.connect(self._on_event)
        b.statusReceived.connect(self._on_status)
        w.indicatorChanged.connect(t.set_state)
        for source in (w, t):
            source.callToggleRequested.connect(self.toggle_call)
            source.breatheRequested.connect(self.breathe_now)
            source.settingsRequested.connect(self.open_settings)
            source.quitRequested.connect(QApplication.quit)
            source.pauseToggled.connect(self.set_paused)
        w.historyRequested.connect(self.open_history)
        w.calibrateRequested.connect(self.open_calibration)
        w.reviewRequested.connect(self.open_review)
        t.showRequested.connect(w.present)
        self.runner.stopped.connect(self._on_stopped)
        self.runner.failed.connect(self._on_failed)
        queued = Qt.ConnectionType.QueuedConnection
        self._preloader.done.connect(self._begin, queued)
        self._preloader.failed.connect(self._on_failed, queued)
        self._demo.done.connect(self._start_feed, queued)
        self._demo.failed.connect(self._on_demo_failed, queued)

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Show the window, then start monitoring once it is on screen."""
        self.window.show()
        if self._settings_problem:
            self.window.set_notice(f"{self._settings_problem}. Using default settings until "
                                   "the file is fixed.")
        # Everything slow comes after the first paint, and off the GUI thread.
        QTimer.singleShot(0, lambda: self._preloader.run(_preload, "calmline-preload"))

    def shutdown(self) -> None:
        """Stop the engine cleanly (ends the call, flushes the log) and close the log."""
        self._remember_window()
        self.window.hide()
        self.tray.hide()
        self.runner.stop_and_wait()
        # The engine's last reports (call ended, stopped) are still queued and nobody
        # will read them; dropped now, they cannot outlive the interpreter.
        QCoreApplication.removePostedEvents(self.bridge)
        if self._prompt_log is not None:
            self._prompt_log.close()

    def _restore_window(self) -> None:
        """Put the live window back where the agent left it beside the softphone."""
        state = self._window_state
        self.window.set_strip_mode(state.value("strip", False, type=bool))
        self.window.set_stay_on_top(state.value("on_top", False, type=bool))
        geometry = state.value("geometry")
        # Restored last: the strip sets its own size. A screen that has gone since is
        # left to Qt, which keeps the window on one that is there.
        if geometry is not None and not self.window.restoreGeometry(geometry):
            logger.info("live window: the saved place could not be restored")

    def _remember_window(self) -> None:
        if not self.window.testAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide):
            return  # never shown this run: its geometry is Qt's default, not the agent's choice
        state = self._window_state
        make_settings_file_private(state)
        state.setValue("geometry", self.window.saveGeometry())
        state.setValue("strip", self.window.strip_mode)
        state.setValue("on_top", self.window.stays_on_top)
        state.sync()

    def _begin(self, _result: object = None) -> None:
        self._apply_retention()
        self._log()
        if self._first_run and self._feed.replay is None:
            # Calibrate before monitoring: the wizard needs the devices the engine would hold.
            self.open_calibration(then_start=True)
            return
        if self._feed.demo and not self._feed.replay.exists():
            self.window.set_notice("Preparing the demo call…")
            path = self._feed.replay
            self._demo.run(lambda: write_demo_call(path), "calmline-demo")
            return
        self._start_feed()

    def _start_feed(self, _path: object = None) -> None:
        if self._feed.demo:
            # Demo mode stands in for a missing microphone only until one is chosen or
            # appears; PortAudio lists a device plugged in since it started only once
            # re-initialised.
            self.audio_host.refresh_device_list()
            self._feed = choose_feed(None, self._feed.fast, self.runner.settings,
                                     self._input_available)
            if self._first_run and not self._feed.demo:
                # The first run had no microphone to set up; now there is one, set it
                # up as the first run would have, before monitoring it.
                self.open_calibration(then_start=True)
                return
        self.window.set_notice(self._feed.label)
        if self._prompt_log is not None:
            self._prompt_log.logging = self.runner.logs_calls(self._feed)
        self.runner.start(self._feed)

    def _apply_retention(self) -> None:
        """Delete the calls older than the retention period, if the settings say how old."""
        if self._settings_problem and not self._policy.is_locked("general", "retention_days"):
            # The settings in use are stand-in defaults: the user's own retention is
            # unknown, and a default one must not delete the calls they chose to keep.
            logger.info("retention: not applied while the settings file cannot be used")
            return
        days = self.runner.settings.retention_days
        if not days:
            return
        try:
            with CallStore(self._store_path) as store:
                removed = store.apply_retention(days, datetime.now(timezone.utc))
        except StoreError as exc:
            self.window.set_notice(str(exc))
            return
        if removed:
            logger.info("retention: deleted %d call(s) older than %d days", removed, days)

    # -- engine output -------------------------------------------------------------

    def _on_frame(self, frame: object, _baseline: object) -> None:
        if self._offer is not None:
            self._offer.set_agent_speaking(frame.agent.speech)

    def _on_event(self, live: LiveEvent) -> None:
        self._call_id = live.call_id
        update = live.update
        if update.event.kind is EventKind.BREATHING_PROMPT and update.phase is EventPhase.CLOSE:
            if self._exercise_under_way():
                logger.info("breathing offer not made: an exercise is already under way")
                return
            offer = self._breathing_offer()
            if offer is not None:
                offer.offer(_prompt_trigger(update.event.value), live.call_id)

    def _on_status(self, status: StatusChange) -> None:
        if status.kind == "call_started":
            self._call_id = status.call_id
            self.tray.set_in_call(True)
            if self._offer is not None:
                # Still up from the last call, it would block this call's own offer.
                self._offer.withdraw("a new call started")
        elif status.kind == "call_ended":
            self.tray.set_in_call(False)
            self._call_id = None
            # A shift can last for days without a restart; calls age out as it goes.
            self._apply_retention()
            history = self._extra_windows.get("history")
            if history is not None and history.isVisible():
                history.refresh()  # the call's totals are in the log by now
            if self._offer is not None:
                self._offer.call_ended()
            if self._settings_pending is not None:
                self._restart_with(self._settings_pending)

    def _on_stopped(self, problem: str) -> None:
        self.tray.set_in_call(False)
        if problem:
            self.window.set_notice(problem)
        elif self._feed.replay is not None and not self._paused:
            self.window.set_notice("The replay has finished. Pause and resume monitoring "
                                   "to play it again from the start.")

    def _on_failed(self, message: str) -> None:
        self.window.set_notice(f"Monitoring could not start: {message}. Check the devices in "
                               "Settings.")

    def _on_demo_failed(self, message: str) -> None:
        self.window.set_notice(f"No microphone found, and the demo call cannot be prepared "
                               f"({message}). Plug in a headset and choose it in Settings.")

    # -- the agent's actions ---------------------------------------------------------

    def toggle_call(self) -> None:
        """Start a call by hand, or stop the current one.

        With monitoring stopped (a replay that finished, an engine that failed)
        it starts monitoring again first, rather than doing nothing.
        """
        if self.window.in_call:
            self.runner.stop_call()
            return
        if self._paused:
            return  # the window disables the button while paused
        if not self.runner.running:
            self._start_feed()
        self.runner.start_call()

    def set_paused(self, paused: bool) -> None:
        """Pause monitoring (the engine stops listening) or resume it."""
        if paused == self._paused:
            return
        self._paused = paused
        self.window.set_paused(paused)
        self.tray.set_paused(paused)
        if self.runner.hold_replay(paused):
            if not paused:
                self.window.set_notice(self._feed.label)
            return
        if paused:
            self.runner.stop()
        else:
            self._start_feed()  # live devices, or a replay that had finished: from the start

    def breathe_now(self) -> None:
        """Open the breathing exercise and start it (the agent asked: it may take focus)."""
        if self._offer is not None and self._offer.showing:
            self._offer.accept()  # the offer on screen is what the agent is taking up
            return
        pacer = self._extra_window("pacer")
        if pacer is None:
            return
        pacer.show()
        pacer.raise_()
        pacer.activateWindow()
        pacer.start(call_id=self._call_id)

    def open_settings(self) -> None:
        """Edit the settings; save and apply them when accepted."""
        if self._settings_problem:
            self.window.set_notice(f"{self._settings_problem}. Fix or remove the file to change "
                                   "settings here.")
            return
        from ui.settings_dialog import SettingsDialog, set_start_at_login

        current = self.runner.settings
        dialog = SettingsDialog(current, self._policy.locked, self.window,
                                device_lister=self._list_input_devices)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        new = dialog.result_settings()
        if new == current:
            return
        try:
            new = save_user_settings(new, self._policy, self._settings_path)
        except (SettingsError, OSError) as exc:
            self.window.set_notice(f"Settings not saved: {exc}")
            return
        self.window.set_cue_sound(new.cue_sound)
        if new.start_at_login != current.start_at_login:
            try:
                set_start_at_login(new.start_at_login)
            except (NotImplementedError, OSError) as exc:
                self.window.set_notice(f"Start at login could not be changed here: {exc}")
        if self.window.in_call:
            # Switching devices or thresholds mid-call would split the call in two.
            self._settings_pending = new
            self.window.set_notice("New settings apply when this call ends.")
        else:
            self._restart_with(new)

    def _list_input_devices(self) -> list[InputDevice]:
        # A headset plugged in since start-up is listed only after PortAudio is
        # re-initialised, which briefly reopens running streams: fine between
        # calls, not during one.
        return self.audio_host.input_devices(interrupt_running=not self.window.in_call)

    def _remember_cue_sound(self, enabled: bool) -> None:
        """Keep the window menu's sound choice in the settings file."""
        settings = replace(self.runner.settings, cue_sound=enabled)
        if self._settings_problem or settings == self.runner.settings:
            return
        try:
            self.runner.settings = save_user_settings(settings, self._policy,
                                                      self._settings_path)
        except (SettingsError, OSError) as exc:
            self.window.set_notice(f"Settings not saved: {exc}")

    def open_history(self) -> None:
        """Show the call history."""
        cached = "history" in self._extra_windows
        history = self._extra_window("history")
        if history is not None:
            if cached and not history.isVisible():
                history.refresh()  # calls have come and ended while it was closed
            history.show()
            history.raise_()
            history.activateWindow()

    def open_review(self) -> None:
        """Open the review window for recordings and logged calls."""
        from ui.review_window import ReviewWindow

        review = self._extra_windows.get("review")
        if (isinstance(review, ReviewWindow) and not review.isVisible()
                and review.rules != self.runner.settings.rules):
            # Closed since the thresholds changed: a fresh window reviews with the new ones.
            review.deleteLater()
            review = None
        if review is None:
            review = ReviewWindow(settings=self.runner.settings.rules, store_path=self._store_path,
                                  audio_host=self.audio_host)
            self._extra_windows["review"] = review
        review.show()
        review.raise_()
        review.activateWindow()

    def open_calibration(self, then_start: bool = False) -> None:
        """Run the calibration wizard; with ``then_start``, start monitoring when it closes."""
        from ui.calibration_wizard import CalibrationWizard, live_source_factory

        if self.runner.running and not then_start:
            # The wizard opens the same devices: release them while it runs.
            self.runner.stop()
            then_start = True
        wizard = CalibrationWizard(self.runner.settings, self.window,
                                   source_factory=live_source_factory(self.audio_host),
                                   device_lister=self.audio_host.input_devices)
        self._extra_windows["wizard"] = wizard

        def finished(result: int) -> None:
            self._extra_windows.pop("wizard", None)
            self._first_run = False
            if result == QDialog.DialogCode.Accepted:
                try:
                    # Devices the policy locks stay the policy's, whatever was picked.
                    self.runner.settings = save_user_settings(
                        wizard.result_settings(), self._policy, self._settings_path)
                except (SettingsError, OSError) as exc:
                    self.window.set_notice(f"Settings not saved: {exc}")
            if then_start and not self._paused:
                self._start_feed()

        wizard.finished.connect(finished)
        wizard.show()

    def _restart_with(self, settings: AppSettings) -> None:
        self._settings_pending = None
        self.runner.settings = settings
        self._apply_retention()  # a shorter retention applies now, not at the next start
        # The meters' zones change with the engine's rules, not before.
        self.window.set_rules(settings.rules)
        if self._paused:
            return
        if self._feed.replay is not None and not self._feed.demo:
            self.window.set_notice("New settings apply from the next replay.")
            return
        self.runner.stop()
        self._start_feed()  # which also clears "New settings apply when this call ends."

    # -- other windows -------------------------------------------------------------

    def _extra_window(self, name: str) -> QWidget | None:
        if name in self._extra_windows:
            return self._extra_windows[name]
        if name == "pacer":
            from ui.breathing_pacer import BreathingPacer
            log = self._log()
            window: QWidget | None = None if log is None else BreathingPacer(log)
            if window is not None:
                window.started.connect(self._withdraw_offer_for_exercise)
        else:
            from ui.history_window import HistoryWindow
            window = HistoryWindow(self._store_path)
        if window is not None:
            self._extra_windows[name] = window
        return window

    def _breathing_offer(self) -> QWidget | None:
        if self._offer is None:
            from ui.breathing_pacer import BreathingOffer

            log = self._log()
            if log is None:
                return None
            self._offer = BreathingOffer(log)
            self._offer.start_requested.connect(self._start_offered)
        return self._offer

    def _withdraw_offer_for_exercise(self, _pattern: str) -> None:
        # An offer still waiting would interrupt the exercise the agent is doing.
        if self._offer is not None:
            self._offer.withdraw("an exercise was started")

    def _exercise_under_way(self) -> bool:
        pacer = self._extra_windows.get("pacer")
        return pacer is not None and (pacer.running or pacer.paused)

    def _start_offered(self, prompt: object) -> None:
        pacer = self._extra_window("pacer")
        if pacer is not None:
            # The agent took the offer, so the pacer may take the focus; left open
            # from an earlier exercise it may be behind the softphone, where show()
            # alone would run the exercise out of sight and out of reach of Esc.
            pacer.show()
            pacer.raise_()
            pacer.activateWindow()
            pacer.start(prompt=prompt)

    def _log(self) -> RealCallsPromptLog | None:
        if self._prompt_log is None:
            from ui.breathing_pacer import RealCallsPromptLog, StorePromptLog

            try:
                self._prompt_log = RealCallsPromptLog(StorePromptLog(self._store_path))
                self._prompt_log.logging = self.runner.logs_calls(self._feed)
            except StoreError as exc:
                logger.warning("the breathing log is unavailable: %s", exc)
                self.window.set_notice(f"Breathing exercises are off: {exc}")
                return None
        return self._prompt_log


def _prompt_trigger(trigger_count: float) -> str:
    # The rules give a raised-voice trigger a value of 1 and an interruption cluster its size.
    return "raised_voice" if trigger_count <= 1 else "interruption"


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, with high-DPI defaults and CalmLine's names (or the existing one)."""
    existing = QApplication.instance()
    if existing is not None:
        return existing
    # Fractional scale factors (125 %, 150 %) as the desktop asks, not rounded.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    keep_qt_settings_private()
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("calmline")
    # With a tray the app lives on when the window is closed; without one the
    # window's quit request ends it.
    app.setQuitOnLastWindowClosed(False)
    return app


def run_app(replay: Path | None = None, fast: bool = False, settings_path: Path | None = None,
            store_path: Path | None = None, channels: ChannelChoice | None = None,
            log_replays: bool = False) -> int:
    """Open the CalmLine window and monitor until the agent quits.

    Parameters
    ----------
    replay : Path, optional
        A recording to replay instead of live devices (demo mode).
    fast : bool
        With ``replay``: as fast as possible.
    settings_path : Path, optional
        The settings file; the user's by default.
    store_path : Path, optional
        The call log; the user's by default.
    channels : ChannelChoice, optional
        With ``replay``: which channels carry which party.
    log_replays : bool
        Log the replayed calls in the call log too.

    Returns
    -------
    int
        The exit code.
    """
    app = make_application()
    calm = CalmLineApp(replay, fast, settings_path, store_path, channels=channels,
                       log_replays=log_replays)
    calm.start()
    try:
        with quit_on_signals(app):
            return app.exec()
    finally:
        calm.shutdown()
