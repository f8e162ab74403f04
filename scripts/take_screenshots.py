#!/usr/bin/env python3
"""Take the README screenshots of CalmLine's windows into ``docs/screenshots/``.

Run it headless, from the repository root, under a virtual X server::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/take_screenshots.py

It needs espeak-ng (the demo call is rendered with it). Nothing of the user's
is touched: the call log, settings, profile and the rendered demo call all
live in a temporary folder (XDG_DATA_HOME, XDG_CONFIG_HOME and XDG_CACHE_HOME
point there), removed at the end. Nothing waits in real time except the
calibration wizard's level page, which meters a few seconds of replayed
speech.

What it shows, and how:

* the live window, compact and as a strip, at about 63 s into the demo call
  (the raised voice): the demo call is run through the same call pipeline as
  live monitoring, and every frame, baseline and event update up to that
  moment is handed to the window as the engine bridge would, with the window's
  clock following the call's time so that cues are held as they would be;
* the same moment in a dark palette (Fusion style), to show light and dark;
* the breathing pacer mid-exercise (its clock moved forward by hand);
* the review window with the demo call analysed and the raised voice selected;
* the history window over a week of calls built from the demo call's real
  summary and events, varied;
* the settings dialog on its Thresholds tab;
* the calibration wizard's microphone level page.

Options: ``--out DIR`` (default ``docs/screenshots``), ``--demo WAV`` to reuse
an already rendered demo call instead of rendering it, ``--only NAME ...`` to
take some shots only.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MAX_PNG_BYTES = 200_000
"""Shots larger than this are scaled down until they fit."""

STRIP_WIDTH_PX = 760
"""Width of the strip shot, px."""

LIVE_SHOT_AFTER_OPEN_S = 1.2
"""The live shots are taken this long after the raised voice was flagged (the cue is held 4 s)."""


# -- a private world ---------------------------------------------------------------------------

def _private_environment() -> Path:
    """Point every per-user folder at a fresh temporary one (before anything reads them)."""
    tmp = Path(tempfile.mkdtemp(prefix="calmline-shots-"))
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state"),
                     ("XDG_RUNTIME_DIR", "runtime")):
        folder = tmp / sub
        folder.mkdir(mode=0o700)
        os.environ[var] = str(folder)
    os.environ["HOME"] = str(tmp / "home")
    (tmp / "home").mkdir()
    # No audio device is wanted here; keep PortAudio from probing a sound server.
    os.environ.setdefault("PULSE_SERVER", "unix:/nonexistent")
    return tmp


TMP = _private_environment()
sys.path.insert(0, str(ROOT))

# Imported after the environment is private (platformdirs and Qt read it).
from PySide6.QtCore import QEventLoop, QSize, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QImage, QPalette, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from models.app_settings import AppSettings  # noqa: E402
from models.baseline import Baseline  # noqa: E402
from models.events import Event, EventKind, EventPhase, EventUpdate  # noqa: E402
from models.frames import FeatureFrame  # noqa: E402
from models.settings import RuleSettings  # noqa: E402
from models.store import CallMode, CallStore, PromptOutcome  # noqa: E402
from models.summary import CallSummary, PartySummary  # noqa: E402
from monitor.audio_file import CallRecording  # noqa: E402
from monitor.devices import InputDevice  # noqa: E402
from monitor.pipeline import CallPipeline  # noqa: E402


# -- helpers -----------------------------------------------------------------------------------

def pump(seconds: float = 0.0) -> None:
    """Let Qt lay out and paint; with ``seconds``, keep the event loop running that long."""
    app = QApplication.instance()
    app.processEvents()
    if seconds > 0:
        loop = QEventLoop()
        QTimer.singleShot(round(seconds * 1000), loop.quit)
        loop.exec()
    app.processEvents()


def wait_until(done: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the event loop until ``done()`` or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        pump(0.05)


def save_shot(widget: QWidget, out: Path, name: str, shots: list[tuple[Path, QSize]]) -> None:
    """Grab a shown widget (its window's client area) and save it as a small PNG."""
    widget.raise_()
    pump(0.15)
    pixmap: QPixmap = widget.grab()
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB32)
    # Grabs are at the device pixel ratio; the README shows them at 1:1.
    image.setDevicePixelRatio(1.0)
    path = out / f"{name}.png"
    scale = 1.0
    while True:
        shown = image if scale == 1.0 else image.scaledToWidth(
            round(image.width() * scale), Qt.TransformationMode.SmoothTransformation)
        # Quality 0 is zlib's strongest compression for PNG in Qt.
        if not shown.save(str(path), "PNG", 0):
            raise SystemExit(f"could not write {path}")
        if path.stat().st_size <= MAX_PNG_BYTES or scale < 0.5:
            break
        scale *= 0.85
    shots.append((path, shown.size()))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{shown.width()}x{shown.height()}, {path.stat().st_size / 1024:.0f} KiB", flush=True)


def dark_palette() -> QPalette:
    """A plain dark palette for the Fusion style."""
    pal = QPalette()
    window, base, text = QColor(0x2b, 0x2d, 0x30), QColor(0x1e, 0x1f, 0x22), QColor(0xe6, 0xe6, 0xe6)
    disabled = QColor(0x80, 0x80, 0x80)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: base, QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: disabled, QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(0x3c, 0x3f, 0x41), QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(0xff, 0x6b, 0x6b),
        QPalette.ColorRole.Light: QColor(0x4a, 0x4d, 0x50), QPalette.ColorRole.Midlight: QColor(0x3f, 0x42, 0x45),
        QPalette.ColorRole.Mid: QColor(0x5a, 0x5d, 0x60), QPalette.ColorRole.Dark: QColor(0x18, 0x19, 0x1b),
        QPalette.ColorRole.Shadow: QColor(0x0a, 0x0a, 0x0a),
        QPalette.ColorRole.Highlight: QColor(0x3d, 0x8e, 0xe0),
        QPalette.ColorRole.HighlightedText: QColor(0xff, 0xff, 0xff),
        QPalette.ColorRole.Link: QColor(0x6c, 0xb4, 0xff),
    }
    for role, colour in roles.items():
        pal.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return pal


class FakeClock:
    """A settable monotonic clock, in seconds."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryPromptLog:
    """A breathing-prompt log that keeps nothing (the pacer shot needs no call log)."""

    def __init__(self) -> None:
        self._next = 0

    def record(self, trigger: str, call_id: int | None,
               outcome: PromptOutcome = PromptOutcome.SHOWN) -> Hashable:
        self._next += 1
        return self._next

    def update(self, key: Hashable, outcome: PromptOutcome) -> None:
        pass


class SilentStream:
    """An output stream that plays nothing (so the review window finds a "device")."""

    def __init__(self, sr_hz: int, channels: int, callback: object) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


DEVICES = [
    InputDevice("pulse:headset-mic", "USB headset microphone", "microphone", True, 1, 48000.0,
                "PulseAudio"),
    InputDevice("pulse:softphone.monitor", "Monitor of Softphone output", "monitor", False, 2,
                48000.0, "PulseAudio"),
    InputDevice("pulse:laptop-mic", "Built-in microphone", "microphone", False, 2, 48000.0,
                "PulseAudio"),
]


# -- the demo call, run as the engine would --------------------------------------------------

@dataclass
class LiveStep:
    """What the engine hands the window for one hop."""

    frame: FeatureFrame
    baseline: Baseline
    updates: list[EventUpdate]


@dataclass
class DemoRun:
    """The demo call, hop by hop, and its totals."""

    steps: list[LiveStep]
    events: list[Event]
    summary: CallSummary


def run_demo(path: Path, rules: RuleSettings) -> DemoRun:
    """Run the demo call through the call pipeline, keeping each hop's baseline and updates."""
    recording = CallRecording(path)
    pipeline = CallPipeline(recording.agent_sr_hz, recording.customer_sr_hz, rules,
                            record_frames=False)
    session = pipeline.session
    steps: list[LiveStep] = []

    def consume(frames: list[FeatureFrame]) -> None:
        for frame in frames:
            steps.append(LiveStep(frame, session.baseline, session.push(frame)))

    try:
        for agent, customer in recording.blocks(1.0):
            consume(pipeline.extractor.process(agent, customer))
        consume(pipeline.extractor.flush())
    finally:
        close = getattr(recording, "close", None)
        if close is not None:
            close()
    if steps:
        steps[-1].updates.extend(session.finish())
    return DemoRun(steps, list(session.events), session.result())


def feed_live_window(window: object, run: DemoRun, clock: FakeClock) -> float:
    """Play the demo call into a live window up to just after the raised voice is flagged.

    Returns the stream time of the last frame shown.
    """
    from monitor.engine import LiveEvent, StatusChange

    opened = next((s.frame.t_s for s in run.steps for u in s.updates
                   if u.event.kind is EventKind.RAISED_VOICE and u.phase is EventPhase.OPEN), None)
    if opened is None:
        raise SystemExit("the demo call flagged no raised voice: cannot take the live shots")
    stop_s = opened + LIVE_SHOT_AFTER_OPEN_S
    first_speech = next(s.frame.t_s for s in run.steps
                        if s.frame.agent.speech or (s.frame.customer and s.frame.customer.speech))
    wall0 = datetime(2025, 3, 14, 10, 12, tzinfo=timezone.utc).timestamp()
    clock0 = clock.now
    call_started = False
    last_t = 0.0
    for step in run.steps:
        t = step.frame.t_s
        if t > stop_s:
            break
        clock.now = clock0 + t
        if not call_started and t >= first_speech:
            window.show_status(StatusChange("call_started", t, wall0 + t, call_id=1))
            call_started = True
        window.show_frame(step.frame, step.baseline)
        for update in step.updates:
            window.show_event(LiveEvent(update, wall0 + t, 1))
        last_t = t
        if step.frame.index % 50 == 0:
            QApplication.processEvents()
    # Let the window's own cue timer tick at the final time (the clock stands still now).
    pump(0.3)
    return last_t


# -- the shots --------------------------------------------------------------------------------

def shot_live(out: Path, run: DemoRun, shots: list, dark: bool = False) -> None:
    from ui.live_window import LiveWindow

    app = QApplication.instance()
    saved_palette = app.palette()
    saved_style = app.style().name()
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    try:
        clock = FakeClock()
        window = LiveWindow(RuleSettings(), passive=False, chime=lambda: None, clock=clock)
        window.show()
        pump()
        t = feed_live_window(window, run, clock)
        pump()
        cue = window.current_cue
        print(f"  live window at {t:.1f} s: cue {cue.phrase if cue else None!r}; "
              f"{window.counts_label.text()}", flush=True)
        if dark:
            save_shot(window, out, "live-window-dark", shots)
        else:
            save_shot(window, out, "live-window", shots)
            window.set_strip_mode(True)
            pump(0.1)
            # A little wider than its smallest, as an agent would leave it beside the
            # softphone: at its size hint the loudness bar covers the word "raised".
            window.resize(STRIP_WIDTH_PX, window.height())
            pump(0.1)
            save_shot(window, out, "live-strip", shots)
        window.hide()
        window.deleteLater()
    finally:
        if dark:
            app.setPalette(saved_palette)
            app.setStyle(saved_style)
    pump()


def shot_pacer(out: Path, shots: list) -> None:
    from models.breathing_patterns import fullness_at, pattern_by_name, phase_at, total_duration_s
    from ui.breathing_pacer import BreathingPacer

    pattern = pattern_by_name("resonance")
    duration = total_duration_s(pattern)
    # Mid-exercise, part-way through a breath in, with the shape well grown.
    elapsed = next(t / 10 for t in range(round(duration * 4), round(duration * 10))
                   if phase_at(pattern, t / 10).phase.kind == "in"
                   and 0.6 <= fullness_at(pattern, t / 10) <= 0.7)
    clock = FakeClock()
    pacer = BreathingPacer(MemoryPromptLog(), clock=clock)
    pacer.resize(pacer.sizeHint().expandedTo(QSize(380, 480)))
    pacer.show()
    pacer.start("resonance")
    clock.now += elapsed
    pacer.refresh()
    print(f"  pacer at {elapsed:.1f} s of {duration:.0f} s", flush=True)
    save_shot(pacer, out, "breathing-pacer", shots)
    pacer.stop()
    pacer.hide()
    pacer.deleteLater()
    pump()


def shot_review(out: Path, demo: Path, store_path: Path, shots: list) -> None:
    from ui.review_window import ReviewWindow

    window = ReviewWindow(settings=RuleSettings(), stream_factory=SilentStream,
                          store_path=store_path)
    results: list[bool] = []
    window.analysis_finished.connect(results.append)
    window.resize(1180, 820)
    window.show()
    window.open_file(demo)
    wait_until(lambda: bool(results), 180.0, "the review analysis")
    if not results[0] or window.report is None:
        raise SystemExit(f"the review analysis failed: {window.message}")
    events = window.report.events
    index = next((i for i, e in enumerate(events) if e.kind is EventKind.RAISED_VOICE), 0)
    window.jump_to_event(index)
    window.event_list.setFocus()
    pump(0.2)
    save_shot(window, out, "review-window", shots)
    window.close()
    window.deleteLater()
    pump()


def populate_store(store_path: Path, run: DemoRun) -> int:
    """A week of calls: the demo call's real summary and events, varied from call to call."""
    base = run.summary
    events = run.events
    # Fixed dates, so the shot does not change from run to run: two working weeks.
    local = datetime.now().astimezone().tzinfo
    monday = datetime(2025, 3, 10, tzinfo=local)
    # (day from Monday 10 March, start hour, scale of stress, duration factor) per call:
    # rough days early on, calmer ones later.
    plan = [
        (0, 9.2, 1.6, 1.3), (0, 10.1, 1.2, 0.9), (0, 13.5, 2.0, 1.6), (0, 15.0, 1.0, 1.0),
        (1, 9.5, 1.3, 1.1), (1, 11.0, 1.5, 1.4), (1, 14.2, 0.8, 0.8),
        (2, 9.1, 1.0, 1.2), (2, 10.4, 1.2, 0.7), (2, 16.0, 0.6, 1.0),
        (3, 9.8, 0.7, 1.1), (3, 12.5, 1.4, 0.9), (3, 14.8, 0.5, 1.3), (3, 16.3, 0.8, 0.6),
        (4, 9.3, 0.4, 1.0), (4, 11.2, 0.9, 1.5), (4, 15.6, 0.3, 0.8),
        (7, 8.7, 0.5, 1.2), (7, 9.6, 0.2, 0.9), (7, 10.9, 1.0, 1.1),
    ]
    stream_s = 0.0
    with CallStore(store_path) as store:
        for n, (day, hour, stress, length) in enumerate(plan):
            started = (monday + timedelta(days=day, hours=int(hour),
                                          minutes=round((hour % 1) * 60))).astimezone(timezone.utc)
            duration = round(base.duration_s * length, 1)
            mode = CallMode.MIC_ONLY if n == 8 else CallMode.TWO_PARTY
            call_id = store.begin_call(started, stream_s, mode)
            # Keep the demo call's events, thinned or repeated with the call's stress.
            kept: list[Event] = []
            for e in events:
                if mode is CallMode.MIC_ONLY and e.kind in (EventKind.INTERRUPTION,
                                                            EventKind.MONOLOGUE):
                    continue
                copies = math.floor(stress) + (1 if (n * 7 + len(kept)) % 10 < (stress % 1) * 10
                                               else 0)
                for c in range(copies):
                    shift = c * base.duration_s * 0.37
                    start = min(e.start_s * length + shift, duration - 2.0)
                    span = e.end_s - e.start_s
                    if e.kind in (EventKind.RAISED_VOICE, EventKind.FAST_SPEECH):
                        span *= 0.5 + 0.4 * stress + 0.1 * (n % 4)
                    kept.append(replace(e, start_s=stream_s + start,
                                        end_s=stream_s + min(start + span, duration)))
            kept.sort(key=lambda e: e.start_s)
            for e in kept:
                at = started + timedelta(seconds=e.end_s - stream_s)
                if e.kind is EventKind.BREATHING_PROMPT:
                    store.record_update(call_id, EventUpdate(EventPhase.CLOSE, e), at)
                    prompt = store.record_prompt(call_id, at, "raised_voice")
                    outcome = (PromptOutcome.COMPLETED, PromptOutcome.DISMISSED,
                               PromptOutcome.STARTED)[n % 3]
                    if outcome is not PromptOutcome.DISMISSED:
                        store.update_prompt_outcome(prompt, PromptOutcome.STARTED, at)
                    store.update_prompt_outcome(prompt, outcome, at + timedelta(seconds=70))
                else:
                    store.record_update(call_id, EventUpdate(EventPhase.OPEN, e), at)
                    store.record_update(call_id, EventUpdate(EventPhase.CLOSE, e), at)

            def count(kind: EventKind) -> int:
                return sum(1 for e in kept if e.kind is kind)

            def seconds(kind: EventKind) -> float:
                return sum(e.end_s - e.start_s for e in kept if e.kind is kind)

            share = min(0.8, base.agent.talk_share * (0.8 + 0.08 * stress + 0.05 * (n % 5)))
            agent = PartySummary(share * duration, share,
                                 None if base.agent.rate_sps is None
                                 else base.agent.rate_sps * (0.9 + 0.05 * (n % 5)))
            customer = (None if mode is CallMode.MIC_ONLY or base.customer is None else
                        PartySummary(base.customer.talk_s * length,
                                     base.customer.talk_s * length / duration,
                                     base.customer.rate_sps))
            summary = CallSummary(
                duration_s=duration, agent=agent, customer=customer,
                overtalk_s=0.0 if customer is None else base.overtalk_s * max(stress, 0.2),
                interruptions=count(EventKind.INTERRUPTION),
                raised_voice_s=seconds(EventKind.RAISED_VOICE),
                fast_speech_s=seconds(EventKind.FAST_SPEECH),
                monologues=count(EventKind.MONOLOGUE),
                breathing_prompts=count(EventKind.BREATHING_PROMPT))
            store.end_call(call_id, started + timedelta(seconds=duration),
                           stream_s + duration, summary)
            stream_s += duration + 600.0
    return len(plan)


def shot_history(out: Path, store_path: Path, run: DemoRun, shots: list) -> None:
    from ui.history_window import HistoryWindow

    calls = populate_store(store_path, run)
    window = HistoryWindow(store_path)
    window.resize(1100, 800)
    window.show()
    pump(0.2)
    print(f"  history: {calls} calls; {window.status_label.text()}", flush=True)
    save_shot(window, out, "history-window", shots)
    window.close()
    window.deleteLater()
    pump()


def shot_settings(out: Path, shots: list) -> None:
    from ui.settings_dialog import SettingsDialog

    settings = AppSettings(agent_device=DEVICES[0].name, customer_device=DEVICES[1].name)
    dialog = SettingsDialog(settings, device_lister=lambda: list(DEVICES))
    thresholds = next(i for i in range(dialog.tabs.count())
                      if dialog.tabs.tabText(i).replace("&", "") == "Thresholds")
    dialog.tabs.setCurrentIndex(thresholds)
    dialog.resize(dialog.sizeHint().expandedTo(QSize(720, 800)))
    dialog.show()
    pump(0.1)
    save_shot(dialog, out, "settings-thresholds", shots)
    dialog.reject()
    dialog.deleteLater()
    pump()


def shot_wizard(out: Path, demo: Path, shots: list) -> None:
    import numpy as np
    import soundfile as sf

    from monitor.capture import FileReplaySource
    from ui.calibration_wizard import CalibrationWizard, Level

    # The agent's side of the demo call, from their first words: a microphone to meter.
    audio, sr = sf.read(demo, dtype="float32")
    mic_path = TMP / "mic.wav"
    sf.write(mic_path, np.ascontiguousarray(audio[round(8.0 * sr):, 0]), sr, subtype="PCM_16")

    def source_factory(spec: str, role: str) -> FileReplaySource:
        return FileReplaySource(CallRecording(mic_path), fast=False, role=role)

    wizard = CalibrationWizard(AppSettings(agent_device=DEVICES[0].name,
                                           customer_device=DEVICES[1].name),
                               source_factory=source_factory,
                               device_lister=lambda: list(DEVICES),
                               profile_path=TMP / "profile.json", poll_interval_ms=50)
    wizard.resize(640, 300)
    wizard.show()
    pump(0.1)
    wizard.next()
    page = wizard.level_page
    wait_until(lambda: page.verdict is Level.GOOD and page.meter.value() > 20, 20.0,
               "the level page to hear speech")
    # Catch the meter while a word is under way, not in a gap between words.
    deadline = time.monotonic() + 5.0
    while page.meter.value() < 32 and time.monotonic() < deadline:
        pump(0.02)
    save_shot(wizard, out, "calibration-level", shots)
    wizard.reject()
    wizard.deleteLater()
    pump()


SHOTS = ("live", "dark", "pacer", "review", "history", "settings", "wizard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--demo", type=Path, help="an already rendered demo call (WAV)")
    parser.add_argument("--only", nargs="+", choices=SHOTS, default=list(SHOTS))
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    from ui.app import make_application

    app = make_application([sys.argv[0]])
    if app.platformName() not in ("xcb", "wayland"):
        print(f"note: Qt platform is {app.platformName()!r}; run under xvfb-run for real "
              "window rendering", file=sys.stderr)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    shots: list[tuple[Path, QSize]] = []
    try:
        demo = args.demo
        if demo is None:
            from ui.demo_call import default_demo_path, write_demo_call

            print("rendering the demo call with espeak-ng ...", flush=True)
            demo = write_demo_call(default_demo_path())
        rules = RuleSettings()
        run = None
        if {"live", "dark", "history"} & set(args.only):
            print("running the demo call through the call pipeline ...", flush=True)
            run = run_demo(demo, rules)
            print(f"  {len(run.steps)} frames, events: "
                  + ", ".join(f"{e.kind.value}@{e.start_s:.1f}" for e in run.events), flush=True)
        store_path = TMP / "data" / "calmline" / "calmline.sqlite3"
        store_path.parent.mkdir(parents=True, exist_ok=True)
        if "live" in args.only:
            print("live window ...", flush=True)
            shot_live(out, run, shots)
        if "dark" in args.only:
            print("live window, dark palette ...", flush=True)
            shot_live(out, run, shots, dark=True)
        if "pacer" in args.only:
            print("breathing pacer ...", flush=True)
            shot_pacer(out, shots)
        if "history" in args.only:
            print("history window ...", flush=True)
            shot_history(out, store_path, run, shots)
        if "review" in args.only:
            print("review window ...", flush=True)
            shot_review(out, demo, store_path, shots)
        if "settings" in args.only:
            print("settings dialog ...", flush=True)
            shot_settings(out, shots)
        if "wizard" in args.only:
            print("calibration wizard ...", flush=True)
            shot_wizard(out, demo, shots)
    finally:
        if args.keep_temp:
            print(f"temporary folder kept: {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    print(f"{len(shots)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
