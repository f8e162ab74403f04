"""Breathing exercise: patterns and timing, the painted pacer, the quiet offer and its log.

No test waits on real time: the pacer and the offer read an injected clock,
which the tests move by hand before calling ``refresh()``.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from models.breathing_patterns import (BOX, MAX_SESSION_S, MIN_SESSION_S, PATTERNS,
                                       PHYSIOLOGICAL_SIGH, RESONANCE, TOP_UP_FROM, BreathPhase,
                                       BreathingPattern, cycle_count, fullness_at,
                                       pattern_by_name, phase_at, phase_count,
                                       total_duration_s)
from models.store import CallMode, CallStatus, CallStore, PromptOutcome, StoreError
from models.summary import CallSummary, PartySummary
from ui.breathing_pacer import (MANUAL_TRIGGER, OFFER_EXPIRES_S, SILENCE_BEFORE_OFFER_S,
                                BreathingOffer, BreathingPacer, LoggedPrompt, StorePromptLog)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SUMMARY = CallSummary(
    duration_s=120.0, agent=PartySummary(60.0, 0.5, 4.5), customer=None, overtalk_s=0.0,
    interruptions=0, raised_voice_s=4.0, fast_speech_s=0.0, monologues=0, breathing_prompts=1)


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.t = start_s

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class MemoryLog:
    """A PromptLog that keeps every change in a list, to check the order."""

    def __init__(self) -> None:
        self.rows: dict[int, list[str]] = {}
        self.triggers: dict[int, tuple[str, int | None]] = {}

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> int:
        key = len(self.rows) + 1
        self.rows[key] = [outcome.value]
        self.triggers[key] = (trigger, call_id)
        return key

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        assert isinstance(key, int)
        self.rows[key].append(outcome.value)


class FailingLog:
    """A PromptLog whose store is gone: every write fails."""

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> int:
        raise StoreError("cannot record the breathing prompt: disk I/O error")

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        raise StoreError("cannot update the breathing prompt: disk I/O error")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def pacer(qtbot, clock: FakeClock, log: MemoryLog) -> BreathingPacer:
    widget = BreathingPacer(log, clock=clock)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def offer(qtbot, clock: FakeClock, log: MemoryLog) -> BreathingOffer:
    widget = BreathingOffer(log, clock=clock)
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "log" / "calmline.sqlite3"


def run_to_end(pacer: BreathingPacer, clock: FakeClock, step_s: float = 0.5) -> list[str]:
    """Tick the pacer through its session; returns the phase texts seen, in order, once each."""
    seen: list[str] = []
    for _ in range(int(pacer.session_duration_s() / step_s) + 2):
        clock.advance(step_s)
        pacer.refresh()
        phase = phase_label(pacer).text()
        if not seen or seen[-1] != phase:
            seen.append(phase)
    return seen


def label_named(widget: QWidget, name: str) -> QLabel:
    matches = [label for label in widget.findChildren(QLabel) if label.accessibleName() == name]
    assert len(matches) == 1, f"one label called {name!r}"
    return matches[0]


def button_named(widget: QWidget, name: str) -> QPushButton:
    matches = [b for b in widget.findChildren(QPushButton) if b.accessibleName() == name]
    assert len(matches) == 1, f"one button called {name!r}"
    return matches[0]


def phase_label(pacer: BreathingPacer) -> QLabel:
    return label_named(pacer, "Breathing phase")


# --- patterns


def test_three_patterns_with_the_documented_timings() -> None:
    assert [p.name for p in PATTERNS] == ["box", "resonance", "physiological_sigh"]
    assert [(ph.kind, ph.duration_s) for ph in BOX.phases] == [
        ("in", 4.0), ("hold", 4.0), ("out", 4.0), ("hold", 4.0)]
    # About six breaths a minute.
    assert 60.0 / RESONANCE.cycle_s == pytest.approx(6.0, abs=0.5)
    kinds = [ph.kind for ph in PHYSIOLOGICAL_SIGH.phases]
    assert kinds == ["in", "in_top_up", "out"]
    inhale, top_up, exhale = PHYSIOLOGICAL_SIGH.phases
    assert top_up.duration_s < inhale.duration_s
    assert exhale.duration_s > inhale.duration_s + top_up.duration_s


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_sessions_run_one_to_two_minutes_in_whole_cycles(pattern: BreathingPattern) -> None:
    assert MIN_SESSION_S <= pattern.total_s <= MAX_SESSION_S
    total = total_duration_s(pattern)
    assert MIN_SESSION_S <= total <= MAX_SESSION_S
    assert total == pytest.approx(cycle_count(pattern) * pattern.cycle_s)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_phase_text_says_what_to_do(pattern: BreathingPattern) -> None:
    wording = {"in": "Breathe in", "in_top_up": "Breathe in", "hold": "Hold",
               "out": "Breathe out"}
    for phase in pattern.phases:
        assert phase.prompt.startswith(wording[phase.kind])


def test_cycle_count_stays_within_the_session_limits() -> None:
    assert cycle_count(BOX, 120.0) * BOX.cycle_s <= MAX_SESSION_S  # 7.5 cycles rounds down
    assert cycle_count(BOX, 10.0) * BOX.cycle_s >= MIN_SESSION_S
    assert cycle_count(RESONANCE, 60.0) == 6


def test_phase_at_walks_box_breathing() -> None:
    assert phase_at(BOX, 0.0) == (BOX.phases[0], 0.0, 0)
    phase, progress, cycle = phase_at(BOX, 2.0)
    assert (phase.kind, progress, cycle) == ("in", 0.5, 0)
    # A phase owns its start: at exactly 4 s the first hold begins.
    phase, progress, cycle = phase_at(BOX, 4.0)
    assert phase is BOX.phases[1] and progress == 0.0
    phase, progress, cycle = phase_at(BOX, 13.0)
    assert phase is BOX.phases[3] and progress == pytest.approx(0.25)
    phase, progress, cycle = phase_at(BOX, 16.0 * 3 + 9.0)
    assert (phase.kind, cycle) == ("out", 3) and progress == pytest.approx(0.25)


def test_phase_at_handles_negative_and_awkward_times() -> None:
    assert phase_at(RESONANCE, -3.0) == (RESONANCE.phases[0], 0.0, 0)
    # Steps of 0.1 s do not add up exactly; progress must still stay in range
    # and cycles must only ever move forward by one.
    last_cycle = 0
    for tenth in range(2000):
        _, progress, cycle = phase_at(PHYSIOLOGICAL_SIGH, tenth * 0.1)
        assert 0.0 <= progress <= 1.0
        assert cycle in (last_cycle, last_cycle + 1)
        last_cycle = cycle
    assert last_cycle == int(199.9 // PHYSIOLOGICAL_SIGH.cycle_s)


def test_phase_count_counts_seconds_up_from_one() -> None:
    assert [phase_count(phase_at(BOX, t)) for t in (0.0, 0.9, 1.0, 3.99)] == [1, 1, 2, 4]
    assert phase_count(phase_at(PHYSIOLOGICAL_SIGH, 3.5)) == 1  # the one-second top-up


def test_fullness_grows_holds_and_shrinks() -> None:
    assert fullness_at(BOX, 0.0) == 0.0
    assert 0.0 < fullness_at(BOX, 1.0) < fullness_at(BOX, 3.0) < 1.0
    assert fullness_at(BOX, 5.0) == pytest.approx(1.0)   # holding full
    assert fullness_at(BOX, 10.0) < fullness_at(BOX, 9.0)
    assert fullness_at(BOX, 14.0) == pytest.approx(0.0)  # holding empty
    # The sigh's first inhale stops short; the top-up fills the rest.
    assert fullness_at(PHYSIOLOGICAL_SIGH, 3.0) == pytest.approx(TOP_UP_FROM)
    assert fullness_at(PHYSIOLOGICAL_SIGH, 3.5) == pytest.approx((TOP_UP_FROM + 1.0) / 2.0)
    assert fullness_at(PHYSIOLOGICAL_SIGH, 4.0) == pytest.approx(1.0)


def test_repeated_equal_phases_keep_their_place() -> None:
    hold = BreathPhase("hold", 2.0, "Hold")
    pattern = BreathingPattern("twin", "Twin", "Two equal holds.",
                               (BreathPhase("in", 3.0, "Breathe in"), hold,
                                BreathPhase("out", 3.0, "Breathe out"), hold), 60.0)
    assert fullness_at(pattern, 4.0) == pytest.approx(1.0)
    assert fullness_at(pattern, 9.0) == pytest.approx(0.0)


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        BreathPhase("gasp", 1.0, "Gasp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than 0"):
        BreathPhase("in", 0.0, "Breathe in")
    with pytest.raises(ValueError, match="60 to 120"):
        BreathingPattern("long", "Long", "", (BreathPhase("in", 4.0, "Breathe in"),), 300.0)
    with pytest.raises(ValueError, match="start with"):
        BreathingPattern("odd", "Odd", "", (BreathPhase("out", 4.0, "Breathe out"),), 60.0)
    with pytest.raises(KeyError, match="box"):
        pattern_by_name("square")


# --- the pacer


def test_pacer_completes_with_a_fake_clock(qtbot, pacer: BreathingPacer, clock: FakeClock,
                                           log: MemoryLog) -> None:
    with qtbot.waitSignal(pacer.started) as started:
        pacer.start("resonance")
    assert started.args == ["resonance"]
    assert pacer.running
    assert phase_label(pacer).text() == "Breathe in"

    completed: list[bool] = []
    dismissed: list[bool] = []
    pacer.completed.connect(lambda: completed.append(True))
    pacer.stopped.connect(lambda: dismissed.append(True))
    seen = run_to_end(pacer, clock)

    assert completed == [True] and dismissed == []
    assert not pacer.running
    assert seen[:3] == ["Breathe in", "Breathe out", "Breathe in"]
    assert seen[-1] == "Well done"
    assert log.rows == {1: ["started", "completed"]}
    assert log.triggers[1] == (MANUAL_TRIGGER, None)


def test_pacer_shows_each_phase_as_text_and_counts(pacer: BreathingPacer,
                                                   clock: FakeClock) -> None:
    pacer.start("box")
    expected = ["Breathe in", "Hold", "Breathe out", "Hold"]
    for second, words in zip((1.5, 5.5, 9.5, 13.5), expected):
        clock.t = 1000.0 + second
        pacer.refresh()
        assert phase_label(pacer).text() == words
        assert label_named(pacer, "Count").text() == "2"
    assert "Breath 1 of 5" in label_named(pacer, "Session progress").text()
    clock.t = 1000.0 + 16.5
    pacer.refresh()
    assert "Breath 2 of 5" in label_named(pacer, "Session progress").text()


def test_phase_changes_are_spoken_to_screen_readers_once_each(pacer: BreathingPacer,
                                                              clock: FakeClock,
                                                              announcements) -> None:
    pacer.refresh()
    assert announcements == []  # "Ready when you are" is not worth interrupting anyone for
    pacer.start("box")
    for tenth in range(15, 170):  # the first breath, refreshed as the animation does
        clock.t = 1000.0 + tenth / 10
        pacer.refresh()
    assert announcements == [(words, "Polite") for words in
                             ("Breathe in", "Hold", "Breathe out", "Hold", "Breathe in")]


def test_pauses_do_not_count(pacer: BreathingPacer, clock: FakeClock, log: MemoryLog) -> None:
    pacer.start("physiological_sigh")
    clock.advance(10.0)
    pacer.pause()
    assert pacer.paused and phase_label(pacer).text() == "Paused"
    clock.advance(600.0)
    pacer.refresh()
    assert pacer.elapsed_s() == pytest.approx(10.0)
    pacer.resume()
    clock.advance(5.0)
    assert pacer.elapsed_s() == pytest.approx(15.0)
    clock.advance(pacer.session_duration_s())
    pacer.refresh()
    assert log.rows[1] == ["started", "completed"]


def test_stop_and_close_dismiss_and_log_once(qtbot, pacer: BreathingPacer, clock: FakeClock,
                                             log: MemoryLog) -> None:
    pacer.start()
    clock.advance(20.0)
    with qtbot.waitSignal(pacer.stopped):
        pacer.stop()
    pacer.close()  # nothing under way any more: no second dismissal
    assert log.rows == {1: ["started", "stopped"]}


def test_closing_after_completion_is_not_a_dismissal(pacer: BreathingPacer, clock: FakeClock,
                                                     log: MemoryLog) -> None:
    pacer.start("resonance")
    clock.advance(pacer.session_duration_s())
    pacer.refresh()
    pacer.close()
    assert log.rows == {1: ["started", "completed"]}


def test_starting_again_dismisses_the_session_under_way(pacer: BreathingPacer,
                                                        log: MemoryLog) -> None:
    pacer.start("box")
    pacer.start("resonance")
    assert pacer.pattern is RESONANCE
    assert log.rows == {1: ["started", "stopped"], 2: ["started"]}


def test_pacer_keyboard_space_and_escape(qtbot, pacer: BreathingPacer, clock: FakeClock,
                                         log: MemoryLog) -> None:
    pacer.show()
    qtbot.waitExposed(pacer)
    qtbot.keyClick(pacer, Qt.Key.Key_Space)
    assert pacer.running
    clock.advance(3.0)
    qtbot.keyClick(pacer, Qt.Key.Key_Space)
    assert pacer.paused
    qtbot.keyClick(pacer, Qt.Key.Key_Space)
    assert pacer.running
    with qtbot.waitSignal(pacer.stopped):
        qtbot.keyClick(pacer, Qt.Key.Key_Escape)
    assert not pacer.isVisible()
    assert log.rows == {1: ["started", "stopped"]}


def test_pacer_keyboard_reaches_every_control(qtbot, pacer: BreathingPacer) -> None:
    pacer.show()
    qtbot.waitExposed(pacer)
    start = button_named(pacer, "Start")
    # Space on the focused start button starts, like Space anywhere in the pacer.
    qtbot.keyClick(start, Qt.Key.Key_Space)
    assert pacer.running
    assert start.text() == start.accessibleName() == "Pause"
    stop = button_named(pacer, "Stop the exercise")
    qtbot.keyClick(stop, Qt.Key.Key_Return)
    assert not pacer.running and not pacer.paused
    focusable = [w for w in (start, stop) if w.focusPolicy() & Qt.FocusPolicy.TabFocus]
    assert focusable == [start, stop]


def test_pattern_picker_is_locked_during_a_session(pacer: BreathingPacer) -> None:
    picker = pacer.findChild(QComboBox)
    assert picker.accessibleName() == "Breathing pattern"
    picker.setCurrentIndex(2)
    assert pacer.pattern is PHYSIOLOGICAL_SIGH
    assert label_named(pacer, "Pattern description").text() == PHYSIOLOGICAL_SIGH.description
    pacer.start()
    assert pacer.pattern is PHYSIOLOGICAL_SIGH and not picker.isEnabled()


def test_pacer_names_title_and_scaling(qtbot, pacer: BreathingPacer) -> None:
    assert "CalmLine" in pacer.windowTitle()
    assert pacer.accessibleName()
    # Direct children: the combo box's own popup parts are Qt's business.
    for widget in pacer.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
        assert widget.accessibleName(), f"{type(widget).__name__} has no accessible name"
    # The phase is written larger than the body text, relative to the user's font.
    assert phase_label(pacer).font().pointSizeF() > pacer.font().pointSizeF()
    pacer.show()
    qtbot.waitExposed(pacer)
    pacer.grab()  # paints the guide without error in the current palette


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.name)
def test_guide_is_painted_in_the_palettes_colours(qtbot, pacer: BreathingPacer,
                                                  clock: FakeClock,
                                                  pattern: BreathingPattern) -> None:
    pacer.resize(pacer.sizeHint())
    pacer.show()
    qtbot.waitExposed(pacer)
    pacer.start(pattern.name)
    clock.advance(3.0)  # well into the first inhale: the shape covers the centre
    pacer.refresh()
    [canvas] = [w for w in pacer.findChildren(QWidget) if w.accessibleName() == "Breathing guide"]
    centres = []
    for highlight in (QColor("#1565c0"), QColor("#ffb300")):
        palette = QPalette(pacer.palette())
        palette.setColor(QPalette.ColorRole.Highlight, highlight)
        pacer.setPalette(palette)
        image = canvas.grab().toImage()
        centres.append(image.pixelColor(image.width() // 2, image.height() // 2))
    # Light or dark, the shape takes the theme's accent rather than a fixed colour.
    assert centres[0] != centres[1]


# --- the offer


def test_offer_waits_while_the_agent_speaks(offer: BreathingOffer, clock: FakeClock,
                                            log: MemoryLog) -> None:
    offer.set_agent_speaking(True)
    offer.offer("raised_voice", 7)
    for _ in range(40):  # twenty seconds of speech, frames every half second
        clock.advance(0.5)
        offer.set_agent_speaking(True)
    assert offer.queued and not offer.isVisible() and log.rows == {}

    offer.set_agent_speaking(False)
    clock.advance(SILENCE_BEFORE_OFFER_S / 2)
    offer.set_agent_speaking(False)
    assert not offer.isVisible()  # a breath between sentences is not a pause
    offer.set_agent_speaking(True)
    clock.advance(SILENCE_BEFORE_OFFER_S)
    offer.refresh()
    assert not offer.isVisible()

    offer.set_agent_speaking(False)
    clock.advance(SILENCE_BEFORE_OFFER_S)
    offer.refresh()
    assert offer.showing and offer.isVisible()
    assert log.rows == {1: ["shown"]} and log.triggers[1] == ("raised_voice", 7)


def test_offer_appears_at_once_after_the_call(offer: BreathingOffer, log: MemoryLog) -> None:
    offer.set_agent_speaking(True)
    offer.offer("interruption", 3)
    offer.call_ended()
    assert offer.showing and log.rows == {1: ["shown"]}


def test_offer_is_spoken_to_screen_readers_when_it_appears(offer: BreathingOffer,
                                                           announcements) -> None:
    offer.offer("interruption", 3)
    assert announcements == []
    offer.call_ended()
    assert len(announcements) == 1
    message, politeness = announcements[0]
    assert message.startswith("A minute to breathe?") and politeness == "Polite"


def test_offer_does_not_steal_focus(qtbot, offer: BreathingOffer, clock: FakeClock) -> None:
    offer.offer("raised_voice", None)
    clock.advance(SILENCE_BEFORE_OFFER_S)
    offer.refresh()
    qtbot.waitExposed(offer)
    assert offer.isWindow()
    assert offer.windowModality() == Qt.WindowModality.NonModal
    assert offer.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    # The offscreen platform activates every window it shows, so whether the
    # softphone keeps focus cannot be watched here. What the desktop platforms
    # (xcb, Windows, macOS) read is this flag on the native window.
    assert offer.windowHandle().property("_q_showWithoutActivating") is True


def test_declining_logs_dismissed(qtbot, offer: BreathingOffer, log: MemoryLog) -> None:
    offer.offer("raised_voice", None)
    offer.call_ended()
    with qtbot.waitSignal(offer.dismissed):
        qtbot.mouseClick(button_named(offer, "Not now"), Qt.MouseButton.LeftButton)
    assert not offer.isVisible()
    assert log.rows == {1: ["shown", "dismissed"]}


def test_escape_on_the_offer_is_not_now(qtbot, offer: BreathingOffer, log: MemoryLog) -> None:
    offer.offer("raised_voice", None)
    offer.call_ended()
    qtbot.keyClick(button_named(offer, "Start the breathing exercise"), Qt.Key.Key_Escape)
    assert log.rows == {1: ["shown", "dismissed"]}


def test_an_offer_not_taken_expires(qtbot, offer: BreathingOffer, clock: FakeClock,
                                    log: MemoryLog) -> None:
    offer.offer("interruption", 2)
    offer.call_ended()
    clock.advance(OFFER_EXPIRES_S - 1.0)
    offer.refresh()
    assert offer.showing
    with qtbot.waitSignal(offer.dismissed):
        clock.advance(1.0)
        offer.refresh()
    assert not offer.isVisible()
    assert log.rows == {1: ["shown", "dismissed"]}


def test_further_offers_wait_their_turn_and_are_dropped(offer: BreathingOffer,
                                                         log: MemoryLog) -> None:
    offer.offer("raised_voice", 1)
    offer.offer("interruption", 1)
    offer.call_ended()
    offer.offer("raised_voice", 1)
    assert log.rows == {1: ["shown"]}
    offer.decline()
    offer.offer("raised_voice", 2)
    offer.call_ended()
    assert log.rows == {1: ["shown", "dismissed"], 2: ["shown"]}


def test_offer_keyboard_start(qtbot, offer: BreathingOffer, log: MemoryLog) -> None:
    offer.offer("raised_voice", None)
    offer.call_ended()
    start = button_named(offer, "Start the breathing exercise")
    with qtbot.waitSignal(offer.start_requested) as requested:
        qtbot.keyClick(start, Qt.Key.Key_Return)
    prompt = requested.args[0]
    assert isinstance(prompt, LoggedPrompt) and prompt.trigger == "raised_voice"
    assert not offer.isVisible()


def test_offer_names_and_title(offer: BreathingOffer) -> None:
    assert "CalmLine" in offer.windowTitle()
    assert offer.accessibleName()
    for widget in offer.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
        assert widget.accessibleName(), f"{type(widget).__name__} has no accessible name"
    texts = {label.text() for label in offer.findChildren(QLabel)}
    assert "A minute to breathe?" in texts
    assert {b.text() for b in offer.findChildren(QPushButton)} == {"Start", "Not now"}


def read_aloud(widget: QWidget) -> str:
    """What a screen reader gets for a widget: its accessible name and description."""
    from PySide6.QtGui import QAccessible

    iface = QAccessible.queryAccessibleInterface(widget)
    return " ".join(iface.text(role) for role in (QAccessible.Text.Name,
                                                   QAccessible.Text.Value,
                                                   QAccessible.Text.Description))


def test_screen_readers_read_what_the_labels_say(pacer: BreathingPacer, offer: BreathingOffer,
                                                 clock: FakeClock) -> None:
    pacer.start("box")
    clock.advance(5.0)  # the first hold, second count
    pacer.refresh()
    assert "Hold" in read_aloud(phase_label(pacer))
    assert "2" in read_aloud(label_named(pacer, "Count"))
    assert "Breath 1 of 5" in read_aloud(label_named(pacer, "Session progress"))
    assert BOX.description in read_aloud(label_named(pacer, "Pattern description"))
    offer.offer("raised_voice", None)
    offer.call_ended()
    assert "A minute to breathe?" in read_aloud(label_named(offer, "Offer"))
    assert "settle" in read_aloud(label_named(offer, "Offer details"))


def test_a_failing_log_never_stops_the_exercise(qtbot, pacer: BreathingPacer, clock: FakeClock,
                                                caplog) -> None:
    broken = BreathingOffer(FailingLog(), clock=clock)
    qtbot.addWidget(broken)
    broken.offer("raised_voice", None)
    broken.call_ended()
    assert broken.showing
    taken: list[LoggedPrompt] = []
    broken.start_requested.connect(taken.append)
    broken.accept()
    pacer.start(prompt=taken[0])
    clock.advance(pacer.session_duration_s())
    pacer.refresh()
    assert not pacer.running
    assert "not logged" in caplog.text


# --- the call log


def store_with_a_call(path: Path) -> int:
    with CallStore(path) as store:
        return store.begin_call(NOW, 0.0, CallMode.TWO_PARTY)


def ticking_wall_clock() -> Iterator[datetime]:
    moment = NOW
    while True:
        moment += timedelta(seconds=1)
        yield moment


def test_offer_taken_and_completed_is_logged_in_the_call_log(qtbot, store_path: Path,
                                                             clock: FakeClock) -> None:
    call_id = store_with_a_call(store_path)
    wall = ticking_wall_clock()
    prompt_log = StorePromptLog(store_path, now=lambda: next(wall))
    try:
        offer = BreathingOffer(prompt_log, clock=clock)
        pacer = BreathingPacer(prompt_log, clock=clock)
        qtbot.addWidget(offer)
        qtbot.addWidget(pacer)
        offer.start_requested.connect(lambda prompt: pacer.start("box", prompt=prompt))

        offer.offer("raised_voice", call_id)
        clock.advance(SILENCE_BEFORE_OFFER_S)
        offer.refresh()
        with CallStore(store_path, read_only=True) as reader:
            assert [p.outcome for p in reader.prompts(call_id)] == [PromptOutcome.SHOWN]

        offer.accept()
        with CallStore(store_path, read_only=True) as reader:
            assert [p.outcome for p in reader.prompts(call_id)] == [PromptOutcome.STARTED]

        with qtbot.waitSignal(pacer.completed):
            run_to_end(pacer, clock)
    finally:
        prompt_log.close()

    with CallStore(store_path, read_only=True) as reader:
        rows = reader.prompts(call_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.trigger, row.outcome, row.call_id) == ("raised_voice", PromptOutcome.COMPLETED,
                                                       call_id)
    assert row.updated_at > row.at


def test_offer_expiry_is_logged_as_dismissed(qtbot, store_path: Path, clock: FakeClock) -> None:
    call_id = store_with_a_call(store_path)
    prompt_log = StorePromptLog(store_path)
    try:
        offer = BreathingOffer(prompt_log, clock=clock)
        qtbot.addWidget(offer)
        offer.offer("interruption", call_id)
        offer.call_ended()
        clock.advance(OFFER_EXPIRES_S)
        offer.refresh()
    finally:
        prompt_log.close()
    with CallStore(store_path, read_only=True) as reader:
        assert [(p.trigger, p.outcome) for p in reader.prompts(call_id)] == [
            ("interruption", PromptOutcome.DISMISSED)]


def test_manual_exercise_is_logged_from_started(qtbot, store_path: Path,
                                                clock: FakeClock) -> None:
    prompt_log = StorePromptLog(store_path)
    try:
        pacer = BreathingPacer(prompt_log, clock=clock)
        qtbot.addWidget(pacer)
        pacer.start("physiological_sigh")
        with CallStore(store_path, read_only=True) as reader:
            assert [(p.trigger, p.outcome) for p in reader.prompts(None)] == [
                (MANUAL_TRIGGER, PromptOutcome.STARTED)]
        clock.advance(pacer.session_duration_s())
        pacer.refresh()
    finally:
        prompt_log.close()
    with CallStore(store_path, read_only=True) as reader:
        assert [(p.trigger, p.outcome) for p in reader.prompts(None)] == [
            (MANUAL_TRIGGER, PromptOutcome.COMPLETED)]


def test_prompt_log_opened_at_start_up_leaves_the_engines_calls_alone(qtbot, store_path: Path,
                                                                     clock: FakeClock) -> None:
    # The app opens the prompt log before the engine's writing store; both then
    # write side by side (WAL), and the engine's open call stays open.
    prompt_log = StorePromptLog(store_path)
    try:
        with CallStore(store_path) as engine_store:
            call_id = engine_store.begin_call(NOW, 0.0, CallMode.MIC_ONLY)
            offer = BreathingOffer(prompt_log, clock=clock)
            qtbot.addWidget(offer)
            offer.offer("raised_voice", call_id)
            offer.call_ended()
            offer.decline()
            engine_store.end_call(call_id, NOW + timedelta(minutes=2), 120.0, SUMMARY)
    finally:
        prompt_log.close()
    with CallStore(store_path, read_only=True) as reader:
        assert reader.call(call_id).status is CallStatus.ENDED
        assert [p.outcome for p in reader.prompts(call_id)] == [PromptOutcome.DISMISSED]


# -- the app's part: one offer at a time, never over an exercise ---------------------------

@pytest.fixture
def app(qtbot, tmp_path: Path):
    from ui.app import CalmLineApp

    app = CalmLineApp(None, settings_path=tmp_path / "settings.toml",
                      store_path=tmp_path / "calls.db", tray_available=False,
                      input_available=lambda: True, chime=lambda: None)
    qtbot.addWidget(app.window)
    yield app
    for window in list(app._extra_windows.values()) + [app._offer]:
        if window is not None:
            window.close()


def breathing_prompt_closed():
    from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
    from monitor.engine import LiveEvent

    event = Event(EventKind.BREATHING_PROMPT, 60.0, 60.0, 1.0, 1.0, Severity.LOW)
    return LiveEvent(EventUpdate(EventPhase.CLOSE, event), 0.0, None)


def logged_outcomes(app) -> list[tuple[str, list[str]]]:
    with CallStore(app._store_path, read_only=True) as store:
        return [(p.trigger, p.outcome.value) for p in store.prompts(None)]


def show_offer(app) -> None:
    from monitor.engine import StatusChange

    app.bridge.eventReceived.emit(breathing_prompt_closed())
    app.bridge.statusReceived.emit(StatusChange("call_ended", 90.0, 0.0, ""))
    assert app._offer.showing


def test_no_offer_appears_over_an_exercise_under_way(app) -> None:
    app.breathe_now()
    app.bridge.eventReceived.emit(breathing_prompt_closed())
    assert app._offer is None or not (app._offer.queued or app._offer.showing)
    assert logged_outcomes(app) == [(MANUAL_TRIGGER, "started")]


def test_breathe_while_an_offer_is_shown_takes_the_offer(app) -> None:
    show_offer(app)
    app.breathe_now()
    assert not app._offer.showing and app._extra_windows["pacer"].running
    assert logged_outcomes(app) == [("raised_voice", "started")]  # one row, not a manual one too


def test_an_offer_left_from_the_last_call_goes_when_the_next_call_starts(app) -> None:
    from monitor.engine import StatusChange

    show_offer(app)
    app.bridge.statusReceived.emit(StatusChange("call_started", 120.0, 0.0, ""))
    assert not app._offer.showing
    assert logged_outcomes(app) == [("raised_voice", "dismissed")]
    show_offer(app)  # so the new call's own offer can appear
    assert logged_outcomes(app)[-1] == ("raised_voice", "shown")


def test_starting_an_exercise_in_the_pacer_drops_a_queued_offer(app) -> None:
    app.bridge.eventReceived.emit(breathing_prompt_closed())
    assert app._offer.queued
    pacer = app._extra_window("pacer")
    pacer.start()
    assert not app._offer.queued and not app._offer.showing
    assert logged_outcomes(app) == [(MANUAL_TRIGGER, "started")]


def test_taking_the_offer_brings_an_open_pacer_forward(app, monkeypatch) -> None:
    # A pacer left open after an earlier exercise may sit behind the softphone.
    pacer = app._extra_window("pacer")
    pacer.show()
    calls: list[str] = []
    monkeypatch.setattr(pacer, "raise_", lambda: calls.append("raise"))
    monkeypatch.setattr(pacer, "activateWindow", lambda: calls.append("activate"))
    show_offer(app)
    app._offer.accept()
    assert pacer.running and calls == ["raise", "activate"]
    assert logged_outcomes(app) == [("raised_voice", "started")]
