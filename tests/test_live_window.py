"""The live window, the engine bridge, cue wording and the app's wiring (offscreen Qt)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from models.baseline import Baseline
from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
from models.frames import FeatureFrame, PartyFrame
from models.settings import RuleSettings
from monitor.engine import LiveEvent, StatusChange
from tests.app_fakes import record_settings_dialogs
from tests.audio_fixtures import have
from ui.cues import CueHold, cue_for
from ui.live_window import TALK_HOLD_FRAMES, LiveWindow, TalkLight
from ui.qt_bridge import EngineBridge
from ui.tray import IndicatorState, TrayController, state_icon

BASELINE = Baseline(-30.0, 4.5, True, "calibrated")


def frame(index: int, agent_speech: bool = False, customer_speech: bool = False,
          agent_lufs: float = -30.0, rate: float | None = None, mic_only: bool = False) -> FeatureFrame:
    agent = PartyFrame(agent_lufs, agent_lufs, agent_speech, rate)
    customer = None if mic_only else PartyFrame(-35.0, -35.0, customer_speech, None)
    return FeatureFrame(index, index * 0.1, agent, customer)


def update(kind: EventKind, phase: EventPhase = EventPhase.OPEN, start_s: float = 5.0,
           severity: Severity = Severity.LOW, value: float = 8.0) -> EventUpdate:
    return EventUpdate(phase, Event(kind, start_s, start_s + 2.0, value, 6.0, severity))


def status(kind: str, detail: str = "", t_s: float = 0.0) -> StatusChange:
    return StatusChange(kind, t_s, 0.0, detail)


@pytest.fixture
def window(qtbot) -> LiveWindow:
    w = LiveWindow(RuleSettings(), chime=lambda: None)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def wired(qtbot, window: LiveWindow) -> tuple[EngineBridge, LiveWindow]:
    bridge = EngineBridge()
    bridge.frameReceived.connect(window.show_frame)
    bridge.eventReceived.connect(window.show_event)
    bridge.statusReceived.connect(window.show_status)
    return bridge, window


def from_engine_thread(call) -> None:
    thread = threading.Thread(target=call, name="fake-engine")
    thread.start()
    thread.join()


# -- cues (pure) -------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "phrase"), [
    (EventKind.RAISED_VOICE, "Softer"), (EventKind.FAST_SPEECH, "Slow down"),
    (EventKind.INTERRUPTION, "Let them finish"), (EventKind.MONOLOGUE, "Pause and ask"),
])
def test_each_rule_has_a_short_phrase_and_an_explanation(kind: EventKind, phrase: str) -> None:
    cue = cue_for(update(kind))
    assert cue is not None and cue.phrase == phrase
    assert len(cue.phrase.split()) <= 3
    assert len(cue.explanation) > len(cue.phrase)


def test_breathing_prompts_are_cued_on_close_and_episodes_on_open_only() -> None:
    assert cue_for(update(EventKind.BREATHING_PROMPT, EventPhase.CLOSE)).phrase == "Take a breath"
    assert cue_for(update(EventKind.RAISED_VOICE, EventPhase.CLOSE)) is None


def test_severity_strengthens_the_wording() -> None:
    low = cue_for(update(EventKind.RAISED_VOICE, severity=Severity.LOW))
    high = cue_for(update(EventKind.RAISED_VOICE, severity=Severity.HIGH))
    assert low.phrase != high.phrase


def test_cues_hold_and_do_not_flicker() -> None:
    hold = CueHold(hold_s=4.0, min_show_s=1.5)
    pace = cue_for(update(EventKind.FAST_SPEECH))
    monologue = cue_for(update(EventKind.MONOLOGUE))
    voice = cue_for(update(EventKind.RAISED_VOICE))
    assert hold.offer(pace, 0.0)
    assert not hold.offer(monologue, 0.5)          # less important: waits its turn
    assert hold.current(1.0) is pace
    assert hold.current(1.6) is monologue          # pace was readable for 1.5 s
    assert hold.offer(voice, 1.7)                  # more important: at once
    assert not hold.offer(voice, 3.0)              # a repeat only extends it
    assert hold.current(6.9) is voice
    assert hold.current(7.1) is None


# -- bridge and window -----------------------------------------------------------------

def test_a_cue_appears_when_the_engine_thread_reports_an_event(qtbot, wired) -> None:
    bridge, window = wired
    live = LiveEvent(update(EventKind.INTERRUPTION), 0.0, 1)
    with qtbot.waitSignal(bridge.eventReceived):
        from_engine_thread(lambda: bridge.on_event(live))
    assert window.current_cue is not None
    assert window.cue_label.text() == "Let them finish"
    assert "talked at once" in window.cue_label.toolTip()
    assert window.counts[EventKind.INTERRUPTION] == 1
    assert window.indicator_state is IndicatorState.CUE


def test_a_new_cue_is_spoken_to_screen_readers_once(qtbot, wired, announcements) -> None:
    # The window never takes the focus, so a screen reader would not read the cue by itself.
    bridge, window = wired
    for _ in range(2):
        with qtbot.waitSignal(bridge.eventReceived):
            from_engine_thread(lambda: bridge.on_event(LiveEvent(update(EventKind.INTERRUPTION),
                                                                 0.0, 1)))
    assert announcements == [("Let them finish", "Polite")]


def test_bridge_emits_on_the_gui_thread_and_keeps_only_the_latest_frame(qtbot) -> None:
    bridge = EngineBridge()
    seen: list[tuple[int, bool]] = []
    bridge.frameReceived.connect(
        lambda f, _b: seen.append((f.index, threading.current_thread() is threading.main_thread())))
    from_engine_thread(lambda: [bridge.on_frame(frame(i), None) for i in range(50)])
    qtbot.waitUntil(lambda: bool(seen))
    assert seen[-1] == (49, True)
    assert bridge.frames_coalesced == 50 - len(seen)


def test_talk_lights_follow_frames(qtbot, wired) -> None:
    bridge, window = wired
    with qtbot.waitSignal(window.frameShown):
        from_engine_thread(lambda: bridge.on_frame(frame(1, agent_speech=True), BASELINE))
    assert window.you_light.state == TalkLight.SPEAKING
    assert window.customer_light.state == TalkLight.QUIET
    for i in range(2, 3 + TALK_HOLD_FRAMES):
        window.show_frame(frame(i, customer_speech=True), BASELINE)
    assert window.you_light.state == TalkLight.QUIET
    assert window.customer_light.state == TalkLight.SPEAKING
    assert "speaking" in window.customer_light.accessibleDescription()


def test_the_customer_light_tells_hold_music_from_talk_and_restarts_with_the_engine(window) -> None:
    music = PartyFrame(-30.0, -30.0, False, None, line_sound=True)
    quiet = PartyFrame(-60.0, -60.0, False, None)
    agent = PartyFrame(-60.0, -60.0, False, None)
    window.show_frame(FeatureFrame(500, 50.0, agent, music), BASELINE)
    assert window.customer_light.state == TalkLight.LINE_SOUND
    assert window.customer_light.accessibleDescription() == "Customer: music or ringing"
    window.show_frame(frame(501, customer_speech=True), BASELINE)
    assert window.customer_light.state == TalkLight.SPEAKING
    for i in range(502, 502 + TALK_HOLD_FRAMES):
        window.show_frame(FeatureFrame(i, i * 0.1, agent, quiet), BASELINE)
    assert window.customer_light.state == TalkLight.QUIET
    # After a restart the frames count from 0 again; old speech must not light anything.
    window.show_status(status("monitoring_stopped"))
    window.show_frame(frame(0), BASELINE)
    assert window.customer_light.state == TalkLight.QUIET
    assert window.you_light.state == TalkLight.QUIET


def test_loudness_is_shown_against_the_baseline_with_the_zone_in_words(window) -> None:
    window.show_status(status("call_started"))
    window.show_frame(frame(1, agent_speech=True, agent_lufs=-22.0, rate=7.0), BASELINE)
    assert window.loudness_meter.value == pytest.approx(8.0)
    assert "raised" in window.loudness_caption.text()
    assert "fast" in window.pace_caption.text()
    window.show_frame(frame(2, agent_speech=True, agent_lufs=-22.0), None)
    assert "learning" in window.loudness_caption.text()
    window.show_frame(frame(3, agent_speech=True, agent_lufs=BASELINE.loudness_lufs - 0.3), BASELINE)
    assert window.loudness_caption.text().startswith("Loudness: +0 dB")


def test_pace_is_not_left_over_after_a_call_or_while_paused(window) -> None:
    window.show_status(status("call_started"))
    window.show_frame(frame(1, agent_speech=True, rate=8.8), BASELINE)
    assert "8.8" in window.pace_caption.text()
    window.show_status(status("call_ended", t_s=30.0))
    window.show_frame(frame(2, rate=8.8), BASELINE)  # the last call's pace, still in the window
    assert "8.8" not in window.pace_caption.text() and window.pace_meter.value is None
    window.set_paused(True)
    assert window.pace_caption.text() == "Pace: paused"
    assert window.loudness_caption.text() == "Loudness: paused"


def test_mic_only_mode_is_shown(window) -> None:
    window.show_status(status("mic_only", "No customer audio"))
    window.show_frame(frame(1, agent_speech=True, mic_only=True), BASELINE)
    assert window.mic_only
    assert window.customer_light.state == TalkLight.OFF
    assert "Mic-only" in window.status_text
    assert "Overtalk" not in window.counts_label.text()


def test_device_lost_shows_what_to_do_and_clears_when_restored(window) -> None:
    detail = "Microphone lost: check the headset is plugged in; retrying every 2 s."
    window.show_status(status("microphone_lost", detail))
    assert "check the headset is plugged in" in window.status_text
    assert window.status_label.isVisible()
    assert window.indicator_state is IndicatorState.DEVICE_PROBLEM
    window.show_status(status("microphone_restored"))
    assert "Microphone lost" not in window.status_text
    assert window.indicator_state is IndicatorState.IDLE


def test_log_and_recording_failures_are_shown_while_they_last(window, announcements) -> None:
    window.show()
    log_failed = "The call log cannot be used (disk full). Coaching goes on without logging."
    recording_failed = "Recording stopped: no space left on device. Coaching goes on."
    window.show_status(status("call_started"))
    window.show_status(status("call_log_failed", log_failed))
    window.show_status(status("recording_failed", recording_failed))
    window.show_status(status("recording_failed", recording_failed))
    assert announcements == [(log_failed, "Polite"), (recording_failed, "Polite")]
    assert log_failed in window.status_text and recording_failed in window.status_text
    assert window.indicator_state is IndicatorState.IN_CALL  # not an audio device problem
    window.show_status(status("call_ended"))
    window.show_status(status("call_started"))
    # The next call is recorded again; the log stays off until monitoring restarts.
    assert recording_failed not in window.status_text and log_failed in window.status_text
    window.show_status(status("monitoring_stopped"))
    assert log_failed not in window.status_text


def test_not_hearing_the_agent_is_a_problem_until_they_are_heard(window, announcements) -> None:
    from models.mic_check import NOT_HEARD_TEXT

    window.show()
    window.show_status(status("agent_not_heard", NOT_HEARD_TEXT))
    window.show_status(status("agent_not_heard", NOT_HEARD_TEXT))
    assert announcements == [(NOT_HEARD_TEXT, "Polite")]  # once, and spoken: it is a problem
    # The window grows to show the whole advice rather than cutting its end off.
    assert window.height() >= window.layout().totalHeightForWidth(window.width())
    assert "Not hearing you" in window.status_text
    assert window.indicator_state is IndicatorState.DEVICE_PROBLEM
    window.show_status(status("agent_heard"))
    assert "Not hearing you" not in window.status_text
    assert window.indicator_state is IndicatorState.IDLE


def test_a_change_of_microphone_level_is_explained(window) -> None:
    from models.baseline import level_shift_text

    window.show_status(status("level_shift", level_shift_text(9.4)))
    assert "9 dB louder" in window.status_text and "Calibrate your voice" in window.status_text
    assert window.indicator_state is IndicatorState.IDLE  # information, not a device problem


def test_call_timer_and_counts_follow_the_call(window) -> None:
    window.show_status(status("call_started", t_s=10.0))
    window.show_frame(frame(724), BASELINE)             # 72.4 s + one hop
    assert window.timer_label.text() == "In call 01:02"
    assert window.windowTitle() == "In call \N{EM DASH} CalmLine"
    window.show_status(status("call_ended", t_s=80.0))
    assert window.timer_label.text().startswith("Last call")


def test_strip_mode_hides_the_details_and_comes_back(qtbot, window) -> None:
    compact_height = window.sizeHint().height()
    qtbot.keyClick(window, "t")
    assert window.strip_mode
    assert not window.pace_meter.isVisibleTo(window)
    assert window.cue_label.isVisibleTo(window) and window.loudness_meter.isVisibleTo(window)
    assert window.sizeHint().height() < compact_height
    window.strip_button.click()
    assert not window.strip_mode and window.pace_meter.isVisibleTo(window)


def test_the_window_does_not_take_focus_on_a_cue(qtbot, wired) -> None:
    bridge, window = wired
    softphone = QWidget()
    softphone.setWindowTitle("Softphone")
    qtbot.addWidget(softphone)
    softphone.show()
    softphone.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is softphone)
    with qtbot.waitSignal(bridge.eventReceived):
        from_engine_thread(lambda: bridge.on_event(LiveEvent(update(EventKind.RAISED_VOICE), 0, 1)))
    assert window.cue_label.text() == "Softer"
    assert QApplication.activeWindow() is softphone
    assert not window.isActiveWindow()
    assert window.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)


def test_passive_window_refuses_focus_until_presented(qtbot, window) -> None:
    assert window.windowFlags() & Qt.WindowType.WindowDoesNotAcceptFocus
    window.set_stay_on_top(True)
    assert window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    window.present()
    assert not window.windowFlags() & Qt.WindowType.WindowDoesNotAcceptFocus
    assert window.windowFlags() & Qt.WindowType.WindowStaysOnTopHint


def test_accessible_names_and_title(window) -> None:
    assert "CalmLine" in window.windowTitle()
    for widget in (window.you_light, window.customer_light, window.cue_label,
                   window.loudness_meter, window.pace_meter, window.timer_label,
                   window.counts_label, window.status_label, window.call_button,
                   window.breathe_button, window.strip_button, window.pin_button,
                   window.more_button):
        assert widget.accessibleName(), widget


def test_keyboard_shortcuts_reach_the_actions(qtbot, window) -> None:
    with qtbot.waitSignal(window.callToggleRequested):
        qtbot.keyClick(window, "c")
    with qtbot.waitSignal(window.breatheRequested):
        qtbot.keyClick(window, "b")
    qtbot.keyClick(window, "p")
    assert window.stays_on_top


def test_tray_works_without_a_system_tray_and_icons_differ_by_shape(qtbot) -> None:
    tray = TrayController(tray_available=False)
    assert not tray.available
    tray.set_state(IndicatorState.DEVICE_PROBLEM)
    assert "problem" in tray.tooltip
    with qtbot.waitSignal(tray.pauseToggled):
        tray.pause_action.trigger()
    images = {s: state_icon(s).pixmap(32, 32).toImage() for s in IndicatorState}
    # Compare alpha masks only: the shapes must differ, whatever the colours.
    masks = {s: bytes(img.convertToFormat(img.Format.Format_Alpha8).constBits())
             for s, img in images.items()}
    assert len(set(masks.values())) == len(IndicatorState)


# -- the app, end to end -------------------------------------------------------------

@pytest.fixture(scope="module")
def short_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.scripted_calls import write_interruptions_call

    return write_interruptions_call(tmp_path_factory.mktemp("live_window"))["call"]


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
def test_the_app_drives_the_window_from_a_fast_replay(qtbot, short_call: Path,
                                                      tmp_path: Path) -> None:
    from ui.app import CalmLineApp

    app = CalmLineApp(short_call, fast=True, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      chime=lambda: None)
    qtbot.addWidget(app.window)
    statuses: list[str] = []
    app.bridge.statusReceived.connect(lambda s: statuses.append(s.kind))
    frames: list[int] = []
    app.window.frameShown.connect(lambda: frames.append(1))
    try:
        with qtbot.waitSignal(app.runner.stopped, timeout=25000) as stopped:
            app.start()
        assert stopped.args == [""]
        assert frames
        assert "call_started" in statuses and "call_ended" in statuses
        assert app.window.counts.get(EventKind.INTERRUPTION) == 2
        assert "Replaying" in app.window.status_text or "replay" in app.window.status_text
        assert "CalmLine" in app.window.windowTitle()
    finally:
        app.shutdown()


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
def test_the_app_replays_the_channels_it_is_told(qtbot, short_call: Path, tmp_path: Path) -> None:
    import soundfile as sf

    from monitor.audio_file import ChannelChoice
    from ui.app import CalmLineApp

    call, sr_hz = sf.read(short_call, dtype="float32")
    four = np.zeros((len(call), 4), np.float32)
    four[:, 3], four[:, 1] = call[:, 0], call[:, 1]  # you on channel 4, the customer on 2
    path = tmp_path / "four.wav"
    sf.write(path, four, sr_hz, subtype="FLOAT")
    app = CalmLineApp(path, fast=True, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False, chime=lambda: None,
                      channels=ChannelChoice(agent_channel=3, customer_channel=1))
    qtbot.addWidget(app.window)
    try:
        with qtbot.waitSignal(app.runner.stopped, timeout=25000) as stopped:
            app.start()
        assert stopped.args == [""]
        assert app.window.counts.get(EventKind.INTERRUPTION) == 2
    finally:
        app.shutdown()


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
def test_pausing_a_replay_holds_it_and_resuming_goes_on_from_there(qtbot, short_call: Path,
                                                                   tmp_path: Path) -> None:
    from ui.app import CalmLineApp

    app = CalmLineApp(short_call, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False, chime=lambda: None)
    qtbot.addWidget(app.window)
    frame_times: list[float] = []
    app.bridge.frameReceived.connect(lambda frame, _baseline: frame_times.append(frame.t_s))
    statuses: list[str] = []
    app.bridge.statusReceived.connect(lambda s: statuses.append(s.kind))
    try:
        app.start()
        qtbot.waitUntil(lambda: len(frame_times) >= 10, timeout=25000)
        app.window.pause_action.trigger()
        assert "paused" in app.window.status_text.lower()
        qtbot.wait(300)  # frames already on their way
        held = len(frame_times)
        qtbot.wait(1000)
        assert len(frame_times) == held and app.runner.running
        app.window.pause_action.trigger()
        qtbot.waitUntil(lambda: len(frame_times) >= held + 5, timeout=10000)
        assert frame_times[held] > frame_times[held - 1]  # the same replay, not from the start
        assert "monitoring_stopped" not in statuses
        assert "this is a recording" in app.window.status_text  # still said after the pause
    finally:
        app.shutdown()


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_termination_signal_ends_the_call_cleanly(short_call: Path, tmp_path: Path,
                                                    signum: int) -> None:
    # Logging out sends SIGTERM, Ctrl-C in a terminal SIGINT: either ends the call as
    # quitting does, rather than leaving it open for the next start to call interrupted.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    store = tmp_path / "data" / "calmline" / "calmline.sqlite3"
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "--replay", str(short_call),
                             "--store", str(store)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _calls_with_status(store, "open"):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        assert _calls_with_status(store, "open") == 1
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _calls_with_status(store, "ended") == 1 and _calls_with_status(store, "open") == 0


def _calls_with_status(store: Path, status: str) -> int:
    if not store.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return db.execute("SELECT COUNT(*) FROM calls WHERE status = ?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def idle_app(qtbot, tmp_path: Path, has_input: bool = True):
    """The app as built at start-up, before it starts monitoring, with its files in ``tmp_path``."""
    from ui.app import CalmLineApp

    app = CalmLineApp(None, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      input_available=lambda: has_input, chime=lambda: None)
    qtbot.addWidget(app.window)
    return app


def test_demo_mode_gives_way_to_a_microphone_chosen_in_settings(qtbot, tmp_path: Path,
                                                                 monkeypatch) -> None:
    app = idle_app(qtbot, tmp_path, has_input=False)
    assert app.feed.demo
    started: list = []
    monkeypatch.setattr(app.runner, "start", started.append)
    record_settings_dialogs(monkeypatch, accept_with=replace(
        app.runner.settings, agent_device="pulse:agent_mic.monitor"))
    app.open_settings()
    # No profile yet: the microphone is set up as a first run would, then monitored.
    shown_wizard(app).reject()
    assert started and started[-1].replay is None and not app.feed.demo
    assert "Demo mode" not in app.window.status_text


def shown_wizard(app):
    """The calibration wizard the app has on screen."""
    from ui.calibration_wizard import CalibrationWizard

    wizard = app._extra_windows.get("wizard")
    assert isinstance(wizard, CalibrationWizard) and wizard.isVisible()
    return wizard


def test_a_microphone_plugged_in_after_a_first_run_in_demo_mode_is_set_up_first(
        qtbot, tmp_path: Path, monkeypatch) -> None:
    input_present = [False]
    app = idle_app(qtbot, tmp_path, has_input=False)
    app._input_available = lambda: input_present[0]
    started: list = []
    monkeypatch.setattr(app.runner, "start", started.append)
    app.set_paused(True)
    input_present[0] = True  # the agent plugs in a headset, then resumes
    app.set_paused(False)
    assert not started  # monitoring waits for the wizard, as on a first run
    wizard = shown_wizard(app)
    qtbot.addWidget(wizard)
    wizard.reject()
    assert started and started[-1].replay is None and not app.feed.demo
    app.set_paused(True)
    app.set_paused(False)
    assert "wizard" not in app._extra_windows and len(started) == 2  # only the once


def test_settings_changed_in_a_call_take_effect_together_when_it_ends(qtbot, tmp_path: Path,
                                                                      monkeypatch) -> None:
    app = idle_app(qtbot, tmp_path)
    started: list = []
    monkeypatch.setattr(app.runner, "start", started.append)
    old_rules = app.window.rules
    new = replace(app.runner.settings, rules=replace(old_rules, raised_voice_lu=8.0))
    record_settings_dialogs(monkeypatch, accept_with=new)
    app.bridge.statusReceived.emit(status("call_started"))
    app.open_settings()
    # The engine keeps the old thresholds until the call ends, so the meters do too.
    assert app.window.rules == old_rules and not started
    assert "apply when this call ends" in app.window.status_text
    app.bridge.statusReceived.emit(status("call_ended", t_s=60.0))
    assert app.window.rules == new.rules and started
    assert "apply when this call ends" not in app.window.status_text


def test_the_review_window_reopened_after_a_settings_change_uses_the_new_thresholds(
        qtbot, tmp_path: Path) -> None:
    from ui.review_window import ReviewWindow

    app = idle_app(qtbot, tmp_path)
    app.open_review()
    first = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ReviewWindow)
                 and w.isVisible())
    qtbot.addWidget(first)
    assert first.rules == app.runner.settings.rules
    app.open_review()
    assert first.isVisible()  # open: brought forward, not replaced
    first.close()
    app.runner.settings = replace(app.runner.settings, rules=replace(
        app.runner.settings.rules, raised_voice_lu=8.0))
    app.open_review()
    second = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ReviewWindow)
                  and w.isVisible())
    qtbot.addWidget(second)
    assert second is not first and second.rules.raised_voice_lu == 8.0


def test_the_history_window_follows_the_call_log(qtbot, tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from models.store import CallMode, CallStore

    store_path = tmp_path / "calls.db"
    app = idle_app(qtbot, tmp_path)

    def log_a_call() -> None:
        with CallStore(store_path) as store:
            store.begin_call(datetime.now(timezone.utc), 0.0, CallMode.TWO_PARTY)

    log_a_call()
    app.open_history()
    history = app._extra_windows["history"]
    qtbot.addWidget(history)
    assert history.model.rowCount() == 1
    log_a_call()  # as the engine logs a call while the window is open
    app.bridge.statusReceived.emit(status("call_ended", t_s=30.0))
    assert history.model.rowCount() == 2
    history.close()
    log_a_call()
    app.open_history()
    assert history.isVisible() and history.model.rowCount() == 3


def test_the_meters_do_not_keep_a_reading_once_monitoring_stops(window) -> None:
    window.show_status(status("call_started"))
    window.show_frame(frame(1, agent_speech=True, agent_lufs=-20.0, rate=6.0), BASELINE)
    window.show_status(status("monitoring_stopped"))
    assert window.loudness_meter.value is None and window.pace_meter.value is None
    assert "LU" not in window.loudness_caption.text() and "6.0" not in window.pace_caption.text()


@pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the call")
def test_start_call_after_a_replay_has_finished_plays_it_again(qtbot, short_call: Path,
                                                               tmp_path: Path) -> None:
    from ui.app import CalmLineApp

    app = CalmLineApp(short_call, fast=True, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False, chime=lambda: None)
    qtbot.addWidget(app.window)
    calls: list[str] = []
    app.bridge.statusReceived.connect(lambda s: calls.append(s.kind) if s.kind == "call_started"
                                      else None)
    try:
        app.start()
        qtbot.waitUntil(lambda: "replay has finished" in app.window.status_text, timeout=60000)
        assert not app.runner.running and len(calls) == 1
        app.window.call_button.click()
        qtbot.waitUntil(lambda: len(calls) == 2, timeout=60000)
        assert "this is a recording" in app.window.status_text
    finally:
        app.shutdown()


def test_first_run_opens_the_calibration_wizard_before_monitoring(qtbot, tmp_path: Path,
                                                                   monkeypatch) -> None:
    from ui.calibration_wizard import CalibrationWizard

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no saved profile
    app = idle_app(qtbot, tmp_path)
    try:
        app.start()
        qtbot.waitUntil(lambda: any(isinstance(w, CalibrationWizard)
                                    for w in QApplication.topLevelWidgets() if w.isVisible()),
                        timeout=15000)
        assert not app.runner.running  # monitoring waits for the wizard
        wizard = next(w for w in QApplication.topLevelWidgets() if isinstance(w, CalibrationWizard))
        assert "CalmLine" in wizard.windowTitle()
        wizard.reject()
        qtbot.waitUntil(lambda: app.runner.running, timeout=15000)
    finally:
        app.shutdown()


def test_review_and_calibration_are_in_the_menu(qtbot) -> None:
    window = LiveWindow(RuleSettings(), passive=False, chime=lambda: None)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.reviewRequested, timeout=1000):
        window.review_action.trigger()
    with qtbot.waitSignal(window.calibrateRequested, timeout=1000):
        window.calibrate_action.trigger()


def test_the_window_keeps_its_width_as_the_counts_grow(qtbot, window: LiveWindow) -> None:
    # "Counts: ..." becomes "This call: ..." and "Last call: ..." as calls come
    # and go; the window beside the softphone must not creep wider with it.
    window.show()
    qtbot.waitExposed(window)
    width = window.width()
    window.show_status(status("call_started"))
    for i, kind in enumerate(EventKind):
        for start_s in range(3):
            window.show_event(LiveEvent(update(kind, start_s=100.0 * i + start_s), 0.0, 1))
    window.show_status(status("call_ended"))
    QApplication.processEvents()
    assert window.counts_label.text().startswith("Last call: Voice 3")
    assert window.timer_label.text().startswith("Last call")
    assert window.width() == width


def test_the_live_window_comes_back_where_it_was_left(qtbot, tmp_path: Path) -> None:
    # Agents place the window beside their softphone once; it must open there
    # again the next day, as the strip and pinned if they left it so.
    from PySide6.QtCore import QSettings

    from ui.app import CalmLineApp

    state = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)

    def make_app() -> CalmLineApp:
        app = CalmLineApp(tmp_path / "call.wav", settings_path=tmp_path / "settings.toml",
                          store_path=tmp_path / "calls.db", tray_available=False,
                          chime=lambda: None, window_state=state)
        qtbot.addWidget(app.window)
        return app

    first = make_app()
    assert not first.window.strip_mode and not first.window.stays_on_top
    first.window.show()
    qtbot.waitExposed(first.window)
    first.window.set_strip_mode(True)
    first.window.set_stay_on_top(True)
    first.window.setGeometry(60, 90, 700, first.window.height())
    placed = first.window.geometry()
    first.shutdown()

    assert (tmp_path / "window.ini").stat().st_mode & 0o777 == 0o600
    second = make_app()
    assert second.window.strip_mode and second.window.stays_on_top
    second.window.show()
    qtbot.waitExposed(second.window)
    assert second.window.geometry() == placed
    second.shutdown()


def test_a_window_never_shown_leaves_the_saved_place_alone(qtbot, tmp_path: Path) -> None:
    # Started hidden (in the tray, say) and quit: Qt's default place is not the agent's choice.
    from PySide6.QtCore import QSettings

    from ui.app import CalmLineApp

    state = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    state.setValue("geometry", b"saved by an earlier run")
    app = CalmLineApp(tmp_path / "call.wav", settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      chime=lambda: None, window_state=state)
    qtbot.addWidget(app.window)
    app.shutdown()
    assert state.value("geometry") == b"saved by an earlier run"
