"""Settings dialog, call history and calibration wizard, offscreen with pytest-qt.

Live capture is replaced by replay sources over generated speech, so the wizard
runs its real signal path without a sound card. Nothing here asserts timing.
"""
from __future__ import annotations

import csv
import json
import math
import stat
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDialogButtonBox,
                               QLabel, QPushButton, QWidget, QWizard)

from models.app_settings import AppSettings, load_settings, save_settings
from models.profile import AgentProfile, load_profile, new_profile, save_profile
from models.settings import RuleSettings, SettingsError
from models.events import Event, EventKind, Severity
from models.store import CallMode, CallStore, PromptOutcome
from models.summary import CallSummary, PartySummary
from monitor.audio_file import CallRecording
from monitor.capture import CaptureSource, FileReplaySource
from monitor.devices import DeviceError, InputDevice
from tests.audio_fixtures import have, office_noise, scale_to_dbfs, write_wav
from ui.calibration_wizard import (READING_PROMPT, WAITING_FOR_MIC, CalibrationWizard,
                                   CustomerCheck, Level, LevelMeter, level_verdict,
                                   signal_similarity)
from ui.history_window import (NOT_AVAILABLE, ROLE_CALL_ID, HistoryWindow, TrendBucket, TrendChart,
                               trend_buckets)
from ui.settings_dialog import (LOCK_PREFIX, LOCKED_TOOLTIP, MIC_ONLY_LABEL, SettingsDialog,
                                set_start_at_login)

DEVICES = [
    InputDevice("default", "System default input (follows changes)", "input", True, 2, 48000.0,
                "default"),
    InputDevice("pulse:headset-mic", "USB headset microphone", "microphone", False, 1, 48000.0,
                "PulseAudio"),
    InputDevice("pulse:speakers.monitor", "Monitor of speakers", "monitor", False, 2, 48000.0,
                "PulseAudio"),
]
SR_HZ = 16000
SPEECH_DBFS = -26.0


def devices() -> list[InputDevice]:
    return list(DEVICES)


# --- profile -----------------------------------------------------------------

def test_profile_round_trip_is_private(tmp_path: Path) -> None:
    profile = new_profile(-24.5, 4.2, -21.0)
    path = save_profile(profile, tmp_path / "data" / "profile.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_profile(path) == profile
    assert profile.baseline.calibrated and profile.baseline.source == "profile"
    assert load_profile(tmp_path / "missing.json") is None


@pytest.mark.parametrize("text, fragment", [
    ("{", "not valid JSON"),
    ('{"schema": "other"}', "not a CalmLine profile"),
    ('{"schema": "calmline.profile/1", "loudness_lufs": 5}', "missing profile value"),
    ('{"schema": "calmline.profile/1", "loudness_lufs": "x", "rate_sps": null, '
     '"speech_level_dbfs": null, "calibrated_at": "2024-05-01T12:00:00+00:00"}', "loudness_lufs"),
    ('{"schema": "calmline.profile/1", "loudness_lufs": -200, "rate_sps": null, '
     '"speech_level_dbfs": null, "calibrated_at": "2024-05-01T12:00:00+00:00"}', "loudness_lufs"),
])
def test_broken_profile_gives_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_profile(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert path.read_text() == text


# --- settings dialog ---------------------------------------------------------

def make_dialog(qtbot, settings: AppSettings = AppSettings(),
                locked: frozenset[str] = frozenset()) -> SettingsDialog:
    dialog = SettingsDialog(settings, locked, device_lister=devices)
    qtbot.addWidget(dialog)
    return dialog


def test_settings_persist_through_dialog_save_and_load(qtbot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot)
    dialog.agent_combo.setCurrentIndex(dialog.agent_combo.findData("pulse:headset-mic"))
    dialog.customer_combo.setCurrentIndex(dialog.customer_combo.findData("pulse:speakers.monitor"))
    dialog.cue_checks["fast_speech_enabled"].setChecked(False)
    dialog.rule_form.editors["raised_voice_lu"].setValue(7.5)
    dialog.rule_form.editors["breathing_max_per_call"].setValue(2)
    dialog.segmentation_form.editors["end_silence_s"].setValue(12.0)
    dialog.recording_check.setChecked(True)
    dialog.retention_spin.setValue(30)
    dialog.sound_check.setChecked(True)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert dialog.result() == dialog.DialogCode.Accepted
    result = dialog.result_settings()
    expected = replace(AppSettings(), agent_device="pulse:headset-mic",
                       customer_device="pulse:speakers.monitor", recording_enabled=True,
                       retention_days=30, cue_sound=True,
                       rules=replace(RuleSettings(), fast_speech_enabled=False,
                                     raised_voice_lu=7.5, breathing_max_per_call=2),
                       segmentation=replace(AppSettings().segmentation, end_silence_s=12.0))
    assert result == expected
    path = save_settings(result, tmp_path / "settings.toml")
    assert load_settings(path) == expected


def test_unchanged_dialog_returns_the_same_settings(qtbot) -> None:
    settings = replace(AppSettings(), agent_device="pulse:gone", customer_device="",
                       rules=replace(RuleSettings(), fast_speech_ratio=1.4,
                                     baseline_adapt_fraction=0.05))
    dialog = make_dialog(qtbot, settings)
    # A device that is not connected is kept, not silently replaced.
    assert "not connected" in dialog.agent_combo.currentText()
    assert dialog.customer_combo.currentText() == MIC_ONLY_LABEL
    assert dialog.result_settings() == settings
    dialog.refresh_devices()
    assert dialog.result_settings() == settings


def test_values_the_boxes_cannot_show_survive_the_dialog(qtbot) -> None:
    # Valid in the settings file, but beyond a box's range or decimals (or a C int).
    settings = replace(AppSettings(), retention_days=5000,
                       rules=replace(RuleSettings(), breathing_cluster_window_s=7200.0,
                                     baseline_adapt_fraction=0.125, monologue_min_s=45.555,
                                     breathing_max_per_call=10**20)).validate()
    dialog = make_dialog(qtbot, settings, locked=frozenset({"general.retention_days"}))
    assert dialog.retention_spin.value() == 5000  # a locked value is shown as it is
    assert dialog.rule_form.editors["breathing_cluster_window_s"].value() == 7200.0
    assert dialog.result_settings() == settings
    dialog.rule_form.editors["monologue_min_s"].setValue(50.0)
    assert dialog.result_settings() == replace(settings, rules=replace(settings.rules,
                                                                       monologue_min_s=50.0))


def test_locked_settings_are_disabled_with_glyph_and_tooltip(qtbot) -> None:
    dialog = make_dialog(qtbot, locked=frozenset({"general.recording_enabled",
                                                  "rules.raised_voice_lu", "segmentation",
                                                  "general.agent_device"}))
    for widget in (dialog.recording_check, dialog.rule_form.editors["raised_voice_lu"],
                   dialog.segmentation_form.editors["end_silence_s"], dialog.agent_combo):
        assert not widget.isEnabled()
        assert widget.toolTip() == LOCKED_TOOLTIP
    assert dialog.recording_check.text().startswith(LOCK_PREFIX)
    assert dialog.rule_form.editors["loud_lu"].isEnabled()
    assert dialog.customer_combo.isEnabled()


def test_invalid_threshold_shows_one_line_and_blocks_ok(qtbot) -> None:
    dialog = make_dialog(qtbot)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.error_text == "" and ok.isEnabled()
    dialog.rule_form.editors["loud_lu"].setValue(3.0)
    # Named as words, not as in the settings file.
    assert "Loud (3.0) must be at least raised voice (6.0)" in dialog.error_text
    assert "_" not in dialog.error_text and "\n" not in dialog.error_text
    assert not ok.isEnabled()
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    with pytest.raises(SettingsError):
        dialog.result_settings()
    dialog.rule_form.editors["loud_lu"].setValue(12.0)
    assert dialog.error_text == "" and ok.isEnabled()


def test_threshold_form_is_generated_from_metadata(qtbot) -> None:
    dialog = make_dialog(qtbot)
    editor = dialog.rule_form.editors["raised_voice_lu"]
    assert editor.suffix() == " dB"  # LU differences are dB; the agent reads dB
    assert "raised voice" in editor.accessibleName()
    assert "default 6.0" in editor.toolTip()
    assert dialog.rule_form.editors["breathing_max_per_call"].suffix() == ""
    assert set(dialog.cue_checks) == {"raised_voice_enabled", "fast_speech_enabled",
                                      "interruption_enabled", "monologue_enabled",
                                      "breathing_prompt_enabled"}


def test_settings_dialog_keyboard_and_names(qtbot) -> None:
    dialog = make_dialog(qtbot)
    show_active(qtbot, dialog)
    assert "CalmLine" in dialog.windowTitle()
    dialog.tabs.setFocus()
    qtbot.keyClick(dialog.tabs, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert dialog.tabs.currentIndex() == 1
    assert_named(dialog)
    # Escape cancels without a mouse.
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert dialog.result() == dialog.DialogCode.Rejected


def test_start_at_login_entry(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("XDG autostart is Linux only")
    path = set_start_at_login(True, tmp_path, ["calmline", "monitor"])
    text = path.read_text()
    assert path == tmp_path / "autostart" / "calmline.desktop"
    assert "Exec=calmline monitor" in text and "Name=CalmLine" in text
    set_start_at_login(False, tmp_path)
    assert not path.exists()
    set_start_at_login(False, tmp_path)


def assert_named(root: QWidget) -> None:
    """Every focusable input has an accessible name or a visible text."""
    for widget in root.findChildren(QWidget):
        if isinstance(widget, (QComboBox, QAbstractSpinBox)) and widget.isEnabled():
            assert widget.accessibleName(), widget.objectName()
        if isinstance(widget, (QPushButton, QCheckBox)):
            assert widget.accessibleName() or widget.text(), widget.objectName()


# --- history -----------------------------------------------------------------

BASE = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


def summary(interruptions: int, raised_s: float, customer: bool = True) -> CallSummary:
    return CallSummary(duration_s=125.0, agent=PartySummary(60.0, 0.48, 4.4),
                       customer=PartySummary(50.0, 0.4, 4.0) if customer else None,
                       overtalk_s=2.0, interruptions=interruptions, raised_voice_s=raised_s,
                       fast_speech_s=0.0, monologues=0, breathing_prompts=1)


def populate(path: Path, starts: list[datetime]) -> list[int]:
    ids = []
    with CallStore(path) as store:
        for n, start in enumerate(starts):
            call_id = store.begin_call(start, n * 1000.0, CallMode.TWO_PARTY)
            store.record_prompt(call_id, start + timedelta(seconds=30), "raised_voice",
                                PromptOutcome.COMPLETED)
            store.end_call(call_id, start + timedelta(seconds=125), n * 1000.0 + 125.0,
                           summary(n % 3, 2.0 * n))
            ids.append(call_id)
    return ids


def show_active(qtbot, window: QWidget) -> None:
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()


def make_history(qtbot, path: Path, **kwargs) -> HistoryWindow:
    window = HistoryWindow(path, **kwargs)
    qtbot.addWidget(window)
    return window


def test_history_lists_calls_newest_first(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "log" / "calmline.sqlite3"
    populate(path, [BASE, BASE + timedelta(hours=1), BASE + timedelta(days=1)])
    window = make_history(qtbot, path)
    assert "CalmLine" in window.windowTitle()
    table_model = window.model
    assert table_model.rowCount() == 3
    headers = [table_model.headerData(c, Qt.Orientation.Horizontal)
               for c in range(table_model.columnCount())]
    assert headers == ["Date", "Duration", "Talk share", "Interruptions", "Raised voice", "Pace",
                       "Prompts"]
    first = [table_model.index(0, c).data() for c in range(table_model.columnCount())]
    assert first[0].startswith(f"{(BASE + timedelta(days=1)).astimezone():%Y-%m-%d}")
    assert first[1:] == ["2:05", "48 %", "2", "4 s", "4.4 syl/s", "1"]
    # A call that ends while the window is open appears on refresh.
    populate(path, [BASE + timedelta(days=2)])
    window.refresh()
    assert table_model.rowCount() == 4


def test_history_tells_when_each_breathing_exercise_started(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        call_id = store.begin_call(BASE, 0.0, CallMode.TWO_PARTY)
        offered = store.record_prompt(call_id, BASE + timedelta(seconds=20), "raised_voice")
        store.update_prompt_outcome(offered, PromptOutcome.STARTED, BASE + timedelta(seconds=31))
        store.update_prompt_outcome(offered, PromptOutcome.COMPLETED,
                                    BASE + timedelta(seconds=101))
        declined = store.record_prompt(call_id, BASE + timedelta(minutes=3), "interruption")
        store.update_prompt_outcome(declined, PromptOutcome.DISMISSED,
                                    BASE + timedelta(minutes=3, seconds=5))
        by_hand = store.record_prompt(call_id, BASE + timedelta(minutes=5), "manual",
                                      PromptOutcome.STARTED)
        store.update_prompt_outcome(by_hand, PromptOutcome.STOPPED,
                                    BASE + timedelta(minutes=5, seconds=40))
        store.record_prompt(call_id, BASE + timedelta(minutes=7), "raised_voice",
                            PromptOutcome.STARTED)
    window = make_history(qtbot, path)
    cell = window.model.index(0, 6)
    assert cell.data() == "4"

    def clock(offset: timedelta) -> str:
        return f"{(BASE + offset).astimezone():%H:%M:%S}"

    assert cell.data(Qt.ItemDataRole.ToolTipRole).splitlines() == [
        f"Offered at {clock(timedelta(seconds=20))} after a raised voice, started at "
        f"{clock(timedelta(seconds=31))}, completed at {clock(timedelta(seconds=101))}",
        f"Offered at {clock(timedelta(minutes=3))} after interruptions, not taken",
        f"Started by you at {clock(timedelta(minutes=5))}, stopped early at "
        f"{clock(timedelta(minutes=5, seconds=40))}",
        f"Offered at {clock(timedelta(minutes=7))} after a raised voice, started at "
        f"{clock(timedelta(minutes=7))}, under way"]


def test_history_shows_interrupted_and_open_calls(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        store.begin_call(BASE, 0.0, CallMode.MIC_ONLY)
    window = make_history(qtbot, path)
    assert window.model.rowCount() == 1
    assert "(in progress)" in window.model.index(0, 0).data()
    window.select_call(window.model.index(0, 0).data(Qt.ItemDataRole.UserRole + 1))
    assert not window.delete_button.isEnabled()


def test_an_interrupted_call_shows_what_is_known_of_its_length_in_full(qtbot, tmp_path: Path) -> None:
    # A crash leaves a call open; the next start closes it at the last thing logged,
    # which is only a lower bound of its length, and nothing at all without events.
    path = tmp_path / "calmline.sqlite3"
    with CallStore(path) as store:
        store.begin_call(BASE, 10.0, CallMode.TWO_PARTY)
        with_event = store.begin_call(BASE + timedelta(hours=1), 100.0, CallMode.TWO_PARTY)
        store.add_event(with_event, Event(EventKind.INTERRUPTION, 150.0, 165.0, 1.0, 1.0,
                                          Severity.LOW), BASE + timedelta(hours=1, minutes=1))
    CallStore(path, recover=True).close()
    window = make_history(qtbot, path)
    window.resize(420, 300)
    show_active(qtbot, window)
    newest, oldest = (window.model.index(row, 1) for row in (0, 1))
    assert newest.data() == "\N{GREATER-THAN OR EQUAL TO} 1:05"
    assert "At least" in newest.data(Qt.ItemDataRole.ToolTipRole)
    assert oldest.data() == NOT_AVAILABLE
    date = window.model.index(0, 0)
    assert date.data().endswith("(interrupted)")
    # The whole date and status fit their column, even in a narrow window.
    width = window.table.fontMetrics().horizontalAdvance(date.data())
    assert window.table.columnWidth(0) >= width


def test_delete_removes_the_row_after_confirmation(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    ids = populate(path, [BASE, BASE + timedelta(hours=2)])
    answers = [False, True]
    questions: list[str] = []

    def confirm(parent: QWidget, question: str) -> bool:
        questions.append(question)
        return answers.pop(0)

    window = make_history(qtbot, path, confirm=confirm)
    show_active(qtbot, window)
    assert window.select_call(ids[0])
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    assert window.model.rowCount() == 2 and questions
    qtbot.mouseClick(window.delete_button, Qt.MouseButton.LeftButton)
    assert window.model.rowCount() == 1
    with CallStore(path, read_only=True) as store:
        assert [c.id for c in store.calls()] == [ids[1]]
    assert "Deleted" in window.status_label.text()


def test_export_writes_csv_and_json(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE, BASE + timedelta(days=1)])
    targets = [tmp_path / "out" / "calls.csv", tmp_path / "out" / "calls.json", None]
    (tmp_path / "out").mkdir()
    window = make_history(qtbot, path,
                          choose_save_path=lambda parent, caption, name, flt: targets.pop(0))
    calls_csv, events_csv, prompts_csv = window.export_csv()
    assert events_csv == tmp_path / "out" / "calls-events.csv"
    with calls_csv.open() as stream:
        assert len(list(csv.DictReader(stream))) == 2
    assert events_csv.exists()
    with prompts_csv.open() as stream:  # the breathing offers, as in the JSON
        assert [row["outcome"] for row in csv.DictReader(stream)] == ["completed", "completed"]
    json_path = window.export_json()
    document = json.loads(json_path.read_text())
    assert len(document["calls"]) == 2 and document["calls"][0]["prompts"]
    assert window.export_json() is None  # cancelled


def test_history_before_any_call_is_logged(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    window = make_history(qtbot, path)
    assert window.model.rowCount() == 0 and "No calls logged yet" in window.status_label.text()
    assert not path.exists()  # reading never creates the log
    path.touch()  # the engine has created it and is setting it up
    window.refresh()
    assert "No calls logged yet" in window.status_label.text()
    assert not window.export_csv_button.isEnabled()


def test_csv_export_asks_before_replacing_the_files_beside_the_one_chosen(qtbot,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE])
    out = tmp_path / "out"
    out.mkdir()
    (out / "report-events.csv").write_text("my own notes\n")
    (out / "report.csv").write_text("chosen without its suffix: the dialog never asked\n")
    questions: list[str] = []
    answers = [False, True]

    def confirm(parent: QWidget, question: str) -> bool:
        questions.append(question)
        return answers.pop(0)

    window = make_history(qtbot, path, confirm=confirm,
                          choose_save_path=lambda parent, caption, name, flt: out / "report")
    assert window.export_csv() is None
    assert "report.csv and report-events.csv already exist" in questions[0]
    assert (out / "report-events.csv").read_text() == "my own notes\n"
    assert "nothing was replaced" in window.status_label.text()
    calls_csv, events_csv, _ = window.export_csv()
    assert calls_csv == out / "report.csv" and events_csv.read_text().startswith("call_id,")


def test_export_over_the_call_log_is_refused(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE, BASE + timedelta(days=1)])
    window = make_history(qtbot, path, choose_save_path=lambda parent, caption, name, flt: path)
    assert window.export_json() is None
    assert "is the call log itself" in window.status_label.text()
    with CallStore(path, read_only=True) as store:
        assert len(store.calls()) == 2


def test_export_can_be_limited_to_the_selected_call(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE, BASE + timedelta(days=1)])
    names: list[str] = []

    def choose(parent, caption, name, flt):
        names.append(name)
        return tmp_path / name

    window = make_history(qtbot, path, choose_save_path=choose)
    assert window.selected_only.isEnabled() and not window.selected_only.isChecked()
    selected = window.selected_call_id()
    window.selected_only.setChecked(True)
    document = json.loads(window.export_json().read_text())
    assert [call["id"] for call in document["calls"]] == [selected]
    calls_csv, _, _ = window.export_csv()
    with calls_csv.open() as stream:
        assert [int(row["id"]) for row in csv.DictReader(stream)] == [selected]
    assert names == [f"calmline-call-{selected}.json", f"calmline-call-{selected}.csv"]
    assert "Exported 1 call to" in window.status_label.text()


def test_trend_buckets_by_day_and_shift(tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    # A night shift: 22:00 to 04:00 local spans two days but is one shift.
    local = datetime(2024, 5, 6, 22, 0).astimezone()
    populate(path, [local, local + timedelta(hours=3), local + timedelta(hours=6),
                    local + timedelta(hours=30)])
    with CallStore(path, read_only=True) as store:
        records = store.calls()
    by_day = trend_buckets(records)
    by_shift = trend_buckets(records, per_shift=True)
    assert [b.calls for b in by_day] == [1, 2, 1]
    assert [b.calls for b in by_shift] == [3, 1]
    assert by_shift[0].interruptions_per_call == pytest.approx((0 + 1 + 2) / 3)
    assert by_shift[0].raised_voice_s_per_call == pytest.approx((0 + 2 + 4) / 3)
    assert trend_buckets([]) == []


@pytest.mark.parametrize("days", [0, 1, 400])
def test_trend_chart_paints_any_number_of_days(qtbot, days: int) -> None:
    chart = TrendChart()
    qtbot.addWidget(chart)
    start = datetime(2024, 1, 1).astimezone()
    chart.set_buckets([TrendBucket(start + timedelta(days=d), f"{d}", 3, d % 4, 1.5 * (d % 7))
                       for d in range(days)])
    chart.resize(640, 320)
    image = chart.grab().toImage()
    assert not image.isNull()
    assert chart.accessibleDescription()
    # Something was drawn: the image is not one flat colour.
    pixels = {image.pixel(x, y) for x in range(0, 640, 7) for y in range(0, 320, 7)}
    assert len(pixels) > 1


def end_calls(path: Path, calls: list[tuple[datetime, CallSummary]]) -> None:
    with CallStore(path) as store:
        for n, (start, totals) in enumerate(calls):
            mode = CallMode.TWO_PARTY if totals.customer is not None else CallMode.MIC_ONLY
            call_id = store.begin_call(start, n * 1000.0, mode)
            store.end_call(call_id, start + timedelta(seconds=125), n * 1000.0 + 125.0, totals)


def test_trend_leaves_mic_only_calls_out_of_the_interruptions(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    day = datetime(2024, 5, 6, 9, 0).astimezone()
    # Day 1 mixes a two-party call with a mic-only one; day 2 is mic-only;
    # day 3 has a two-party call without any interruption.
    end_calls(path, [(day, summary(4, 10.0)), (day + timedelta(hours=1), summary(0, 20.0, False)),
                     (day + timedelta(days=1), summary(0, 6.0, False)),
                     (day + timedelta(days=2), summary(0, 0.0))])
    with CallStore(path, read_only=True) as store:
        buckets = trend_buckets(store.calls())
    assert [b.calls for b in buckets] == [2, 1, 1]
    assert [b.interruptions_per_call for b in buckets] == [4.0, None, 0.0]
    # Raised voice is measured on the agent's side, so mic-only calls count there.
    assert [b.raised_voice_s_per_call for b in buckets] == [15.0, 6.0, 0.0]
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.resize(640, 320)
    chart.set_buckets(buckets)
    layout = chart.chart_layout()
    # Nothing measured is a gap; a real zero is still a visible bar.
    gap, zero = layout.bars[1], layout.bars[2]
    assert gap is None and zero is not None and zero.height() > 0
    assert layout.bars[0].height() > zero.height()
    assert not chart.grab().toImage().isNull()
    chart.set_buckets(buckets[:2])
    assert "interruptions not measured" in chart.accessibleDescription()


@pytest.mark.parametrize("per_shift", [False, True])
def test_trend_axis_labels_never_overlap(qtbot, tmp_path: Path, per_shift: bool) -> None:
    path = tmp_path / "calmline.sqlite3"
    # Two shifts a day for two months, at uneven times.
    start = datetime(2024, 10, 1, 9, 0).astimezone()
    populate(path, [start + timedelta(hours=12 * n + (n * 37) % 180 / 60) for n in range(120)])
    with CallStore(path, read_only=True) as store:
        buckets = trend_buckets(store.calls(limit=500), per_shift=per_shift)
    chart = TrendChart()
    qtbot.addWidget(chart)
    chart.set_buckets(buckets)
    for width in range(300, 1301, 7):
        chart.resize(width, 320)
        layout = chart.chart_layout()
        boxes = [box for _, box in layout.labels]
        texts = [text for text, _ in layout.labels]
        assert texts[0] == layout.visible[-1].label, width  # the newest is always labelled
        plot = layout.panels[0]
        for box in boxes:
            assert plot.left() <= box.left() and box.right() <= plot.right(), width
        # Newest first: each label ends, with room to spare, before the next one starts.
        for right, left in zip(boxes, boxes[1:]):
            assert left.right() < right.left(), (width, texts)
        step = plot.width() / len(layout.visible)
        index = {b.label: i for i, b in enumerate(layout.visible)}
        for text, box in layout.labels:
            centre = plot.left() + (index[text] + 0.5) * step
            assert box.left() <= centre <= box.right(), (width, text)  # under its own bar


def test_history_opens_wide_enough_for_every_column(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE + timedelta(hours=7 * n) for n in range(40)])
    with CallStore(path) as store:
        store.begin_call(BASE + timedelta(days=30), 1e6, CallMode.TWO_PARTY)  # "(in progress)"
    window = make_history(qtbot, path)
    show_active(qtbot, window)
    table = window.table
    assert table.verticalScrollBar().isVisible()
    assert not table.horizontalScrollBar().isVisible()
    assert table.horizontalHeader().length() <= table.viewport().width()
    available = window.screen().availableGeometry()
    assert window.width() <= available.width() and window.height() <= available.height()


def test_refresh_keeps_the_selection_and_the_sort(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    ids = populate(path, [BASE + timedelta(hours=5 * n) for n in range(6)])
    window = make_history(qtbot, path)
    window.table.sortByColumn(4, Qt.SortOrder.AscendingOrder)  # raised voice, least first
    assert window.select_call(ids[3])
    populate(path, [BASE + timedelta(days=3)])
    window.refresh()
    assert window.selected_call_id() == ids[3]
    header = window.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (
        4, Qt.SortOrder.AscendingOrder)
    assert raised_voice_in_table_order(window) == sorted(raised_voice_in_table_order(window))
    assert window.model.rowCount() == 7


def raised_voice_in_table_order(window: HistoryWindow) -> list[float]:
    by_id = {row.record.id: row.record.summary.raised_voice_s for row in window.model.rows()}
    return [by_id[window.model.index(row, 0).data(ROLE_CALL_ID)]
            for row in range(window.model.rowCount())]


def test_sorting_the_table_keeps_the_selected_call_selected(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    ids = populate(path, [BASE + timedelta(hours=5 * n) for n in range(6)])
    window = make_history(qtbot, path)
    assert window.select_call(ids[1])
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        window.table.sortByColumn(4, order)
        assert window.selected_call_id() == ids[1]
        current = window.table.currentIndex()
        assert current.data(ROLE_CALL_ID) == ids[1]
    assert raised_voice_in_table_order(window) == sorted(raised_voice_in_table_order(window),
                                                         reverse=True)
    window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert [window.model.index(row, 0).data(ROLE_CALL_ID)
            for row in range(window.model.rowCount())] == ids[::-1]


def test_history_keyboard_order_and_names(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "calmline.sqlite3"
    populate(path, [BASE])
    window = make_history(qtbot, path)
    show_active(qtbot, window)
    window.table.setFocus()
    seen = []
    for _ in range(7):
        qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Tab)
        seen.append(window.focusWidget())
    assert window.delete_button in seen and window.export_csv_button in seen
    assert window.grouping in seen
    assert window.table.accessibleName() == "Calls"
    assert window.chart.accessibleName() == "Trend chart"
    assert_named(window)


# --- calibration wizard ------------------------------------------------------

AGENT_TEXT = ("Thank you for calling. Let me look into that for you. Could you tell me your "
              "account number and the date the problem started? I can see the line status "
              "here, and an engineer is available tomorrow morning between eight and twelve. "
              "Is there anything else I can help you with today?")
CUSTOMER_TEXT = ("Hello, I am calling about my internet connection. It has been down since "
                 "Monday, and I work from home, so I really need it fixed soon.")


def speech_file(tmp_path: Path, name: str, text: str, voice: str, repeats: int) -> Path:
    from tests.audio_fixtures import espeak
    x = scale_to_dbfs(espeak(text, 160, SR_HZ, voice), SPEECH_DBFS)
    gap = np.zeros(SR_HZ // 3, np.float32)
    y = np.concatenate([np.concatenate((x, gap)) for _ in range(repeats)])
    y = y + office_noise(y.size, SR_HZ, -62.0, seed=len(name))
    return write_wav(tmp_path / name, y, SR_HZ)


def replay_factory(files: dict[str, Path], fast_roles: frozenset[str],
                   opened: list[str]) -> Callable[[str, str], CaptureSource]:
    def factory(spec: str, role: str) -> CaptureSource:
        opened.append(f"{role}:{spec}")
        return FileReplaySource(CallRecording(files[spec]), fast=role in fast_roles
                                and spec != "same", role=role)
    return factory


needs_espeak = pytest.mark.skipif(not have("espeak-ng"), reason="needs espeak-ng")


def test_level_verdict_and_similarity() -> None:
    assert level_verdict(-math.inf, False) is Level.TOO_QUIET
    assert level_verdict(-25.0, False) is Level.GOOD
    assert level_verdict(-25.0, True) is Level.TOO_LOUD
    assert level_verdict(-3.0, False) is Level.TOO_LOUD
    rng = np.random.default_rng(1)
    a = rng.standard_normal(SR_HZ * 3)
    b = rng.standard_normal(SR_HZ * 3)
    shifted = np.concatenate((np.zeros(800), a))[: a.size]
    assert signal_similarity(a, b, SR_HZ) < 0.1
    assert signal_similarity(a, -0.3 * shifted, SR_HZ) > 0.9
    assert signal_similarity(a, np.zeros(10), SR_HZ) == 0.0


def run_to(qtbot, wizard: CalibrationWizard, page: QWidget) -> None:
    wizard.next()
    assert wizard.currentPage() is page


@needs_espeak
def test_wizard_runs_through_and_saves_a_plausible_profile(qtbot, tmp_path: Path) -> None:
    files = {"mic": speech_file(tmp_path, "agent.wav", AGENT_TEXT, "en-us", 3),
             "softphone": speech_file(tmp_path, "customer.wav", CUSTOMER_TEXT, "en-gb+f3", 2)}
    opened: list[str] = []
    here = [InputDevice("mic", "Headset", "microphone", True, 1, 16000.0, "test"),
                    InputDevice("softphone", "Softphone output", "monitor", False, 1, 16000.0,
                                "test")]
    profile_path = tmp_path / "data" / "profile.json"
    wizard = CalibrationWizard(AppSettings(agent_device="mic"),
                               source_factory=replay_factory(files, frozenset({"microphone"}),
                                                             opened),
                               device_lister=lambda: list(here),
                               profile_path=profile_path, poll_interval_ms=20)
    qtbot.addWidget(wizard)
    show_active(qtbot, wizard)
    assert "CalmLine" in wizard.windowTitle()
    devices_page = wizard.devices_page
    devices_page.customer_combo.setCurrentIndex(devices_page.customer_combo.findData("softphone"))
    assert_named(wizard)

    run_to(qtbot, wizard, wizard.level_page)
    qtbot.waitUntil(lambda: wizard.level_page.verdict is Level.GOOD, timeout=30000)
    assert wizard.level_page.verdict_label.text().startswith("Good")

    run_to(qtbot, wizard, wizard.customer_page)
    assert not wizard.level_page.sources  # the level page let go of the microphone
    qtbot.waitUntil(lambda: wizard.customer_page.check is CustomerCheck.DISTINCT, timeout=30000)
    assert wizard.customer_page.isComplete()

    run_to(qtbot, wizard, wizard.baseline_page)
    assert not wizard.baseline_page.isComplete()
    wizard.baseline_page.start_button.setFocus()
    qtbot.keyClick(wizard.baseline_page.start_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: wizard.profile is not None
                    or wizard.baseline_page.start_button.isEnabled(), timeout=120000)
    profile = wizard.profile
    assert profile is not None, wizard.baseline_page.status_label.text()
    assert wizard.baseline_page.isComplete()
    assert -32.0 < profile.loudness_lufs < -18.0
    assert profile.rate_sps is not None and 3.0 < profile.rate_sps < 6.5
    assert profile.speech_level_dbfs is not None and -35.0 < profile.speech_level_dbfs < -10.0
    assert not profile_path.exists()  # saved on Finish, not before
    assert wizard.result_settings().customer_device == "softphone"
    assert opened[0] == "microphone:mic"
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert wizard.result() == QWizard.DialogCode.Accepted
    assert load_profile(profile_path) == profile
    assert not any(page.sources for page in wizard.live_pages)


@needs_espeak
def test_wizard_warns_when_customer_side_is_the_microphone(qtbot, tmp_path: Path) -> None:
    agent = speech_file(tmp_path, "agent.wav", AGENT_TEXT, "en-us", 1)
    files = {"mic": agent, "loop": agent}
    here = [InputDevice("mic", "Headset", "microphone", True, 1, 16000.0, "test"),
            InputDevice("loop", "Looks like a monitor", "monitor", False, 1, 16000.0, "test")]
    wizard = CalibrationWizard(AppSettings(agent_device="mic", customer_device="loop"),
                               source_factory=replay_factory(files, frozenset(), []),
                               device_lister=lambda: list(here),
                               profile_path=tmp_path / "profile.json", poll_interval_ms=20)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.customer_page
    qtbot.waitUntil(lambda: wizard.customer_page.check is CustomerCheck.SAME_AS_MIC,
                    timeout=30000)
    assert "seems to be your microphone" in wizard.customer_page.result_label.text()
    assert not wizard.customer_page.isComplete()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.reject()
    assert not any(page.sources for page in wizard.live_pages)


def test_wizard_mic_only_skips_the_customer_check(qtbot, tmp_path: Path) -> None:
    wizard = CalibrationWizard(AppSettings(agent_device="default", customer_device=""),
                               source_factory=lambda spec, role: pytest.fail("no audio needed"),
                               device_lister=devices, profile_path=tmp_path / "p.json")
    qtbot.addWidget(wizard)
    wizard.customer_page.initializePage()
    assert wizard.customer_page.check is CustomerCheck.MIC_ONLY
    assert wizard.customer_page.isComplete()
    # As in models.rules and the live window: only the customer-independent cues remain.
    text = wizard.customer_page.result_label.text()
    assert "interruption and monologue cues are off" in text
    assert "raised voice and fast speech are still coached" in text


def test_saved_profile_is_a_profile_baseline(tmp_path: Path) -> None:
    profile = AgentProfile(-23.0, None, None, datetime(2024, 5, 1, tzinfo=timezone.utc))
    assert profile.baseline.rate_sps is None and profile.baseline.loudness_lufs == -23.0


TWO_MICS = [InputDevice("mic", "Headset", "microphone", True, 1, 16000.0, "test"),
            InputDevice("mic2", "Laptop microphone", "microphone", False, 1, 16000.0, "test"),
            InputDevice("softphone", "Softphone output", "monitor", False, 1, 16000.0, "test")]


def noise_file(tmp_path: Path, name: str, level_dbfs: float) -> Path:
    return write_wav(tmp_path / name, office_noise(SR_HZ * 5, SR_HZ, level_dbfs, seed=3), SR_HZ)


def make_wizard(qtbot, settings: AppSettings, factory: Callable[[str, str], CaptureSource],
                profile_path: Path) -> CalibrationWizard:
    wizard = CalibrationWizard(settings, source_factory=factory,
                               device_lister=lambda: list(TWO_MICS), profile_path=profile_path,
                               poll_interval_ms=20)
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def click(wizard: CalibrationWizard, which: QWizard.WizardButton) -> None:
    button = wizard.button(which)
    assert button.isVisible() and button.isEnabled()
    button.click()


def test_baseline_page_is_usable_after_back_and_next(qtbot, tmp_path: Path) -> None:
    # Room noise only: the measurement never completes, as when Back interrupts it.
    files = {"mic": noise_file(tmp_path, "room.wav", -70.0)}
    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device=""),
                         replay_factory(files, frozenset(), []), tmp_path / "profile.json")
    page = wizard.baseline_page
    for _ in range(3):
        click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentPage() is page
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.sources and not page.start_button.isEnabled()
    assert page.status_label.text().startswith("Listening")

    click(wizard, QWizard.WizardButton.BackButton)
    assert not page.sources
    click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentPage() is page
    assert page.start_button.isEnabled() and page.start_button.text() == "&Start"
    assert page.status_label.text() == "" and page.progress.value() == 0
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.sources and page.status_label.text().startswith("Listening")
    wizard.reject()
    assert not any(p.sources for p in wizard.live_pages)


def test_level_page_forgets_an_earlier_visit(qtbot, tmp_path: Path) -> None:
    files = {"mic": noise_file(tmp_path, "room.wav", -70.0)}
    replay = replay_factory(files, frozenset(), [])
    failures = [DeviceError("device busy")]

    def factory(spec: str, role: str) -> CaptureSource:
        if failures:
            raise failures.pop()
        return replay(spec, role)

    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device=""), factory,
                         tmp_path / "profile.json")
    click(wizard, QWizard.WizardButton.NextButton)
    page = wizard.level_page
    assert "device busy" in page.verdict_label.text()
    click(wizard, QWizard.WizardButton.BackButton)
    click(wizard, QWizard.WizardButton.NextButton)
    assert page.sources and page.verdict_label.text() == WAITING_FOR_MIC
    assert page.meter.format() == "silence"


def test_customer_page_meter_starts_from_silence_on_return(qtbot, tmp_path: Path) -> None:
    files = {"mic": noise_file(tmp_path, "room.wav", -70.0),
             "softphone": noise_file(tmp_path, "line.wav", -25.0)}
    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device="softphone"),
                         replay_factory(files, frozenset({"customer audio"}), []),
                         tmp_path / "profile.json")
    page = wizard.customer_page
    click(wizard, QWizard.WizardButton.NextButton)
    click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentPage() is page
    qtbot.waitUntil(lambda: page.meter.format() != "silence", timeout=30000)
    click(wizard, QWizard.WizardButton.BackButton)
    click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.currentPage() is page and page.sources
    assert page.meter.format() == "silence"


def assert_fully_shown(label: QLabel, window: QWidget) -> None:
    """The label is on screen with room for all its wrapped lines."""
    assert label.isVisible()
    assert label.heightForWidth(label.width()) <= label.height(), label.text()
    top_left = label.mapTo(window, label.rect().topLeft())
    bottom_right = label.mapTo(window, label.rect().bottomRight())
    assert window.rect().contains(top_left) and window.rect().contains(bottom_right)


def test_reading_prompt_is_fully_visible(qtbot, tmp_path: Path) -> None:
    def no_devices(spec: str, role: str) -> CaptureSource:
        raise DeviceError("no sound card here")

    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device=""), no_devices,
                         tmp_path / "profile.json")
    page = wizard.baseline_page
    for _ in range(3):
        click(wizard, QWizard.WizardButton.NextButton)
    assert READING_PROMPT in page.prompt_label.text()
    subtitle = next(label for label in wizard.findChildren(QLabel)
                    if label.text() == page.subTitle())
    # At the default size, and at the smallest the user can make it.
    for size in (wizard.size(), wizard.minimumSize()):
        wizard.resize(size)
        qtbot.waitUntil(lambda: wizard.size() == size)
        assert_fully_shown(page.prompt_label, wizard)
        assert_fully_shown(subtitle, wizard)


def measured_wizard(qtbot, tmp_path: Path, profile_path: Path) -> CalibrationWizard:
    """A mic-only wizard on its baseline page with the baseline measured."""
    speech = speech_file(tmp_path, "agent.wav", AGENT_TEXT, "en-us", 3)
    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device=""),
                         replay_factory({"mic": speech, "mic2": speech},
                                        frozenset({"microphone"}), []),
                         profile_path)
    for _ in range(3):
        click(wizard, QWizard.WizardButton.NextButton)
    page = wizard.baseline_page
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.profile is not None or page.start_button.isEnabled(),
                    timeout=120000)
    assert wizard.profile is not None, page.status_label.text()
    return wizard


@needs_espeak
def test_cancel_after_done_keeps_the_previous_profile(qtbot, tmp_path: Path) -> None:
    profile_path = tmp_path / "profile.json"
    previous = new_profile(-30.0, 3.5, -32.0)
    save_profile(previous, profile_path)
    wizard = measured_wizard(qtbot, tmp_path, profile_path)
    assert wizard.baseline_page.status_label.text().startswith("\N{CHECK MARK} Done")
    assert "Press Finish to save" in wizard.baseline_page.status_label.text()
    assert wizard.profile != previous and load_profile(profile_path) == previous
    click(wizard, QWizard.WizardButton.CancelButton)
    assert wizard.result() == QWizard.DialogCode.Rejected
    assert load_profile(profile_path) == previous


@needs_espeak
def test_measured_baseline_is_kept_for_the_same_microphone_only(qtbot, tmp_path: Path) -> None:
    profile_path = tmp_path / "profile.json"
    wizard = measured_wizard(qtbot, tmp_path, profile_path)
    page, profile = wizard.baseline_page, wizard.profile
    click(wizard, QWizard.WizardButton.BackButton)
    click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.profile == profile and page.status_label.text().startswith("\N{CHECK MARK}")
    assert page.start_button.isEnabled() and page.start_button.text() == "&Start again"
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()

    # Another microphone has another level: the old measurement no longer applies.
    for _ in range(3):
        click(wizard, QWizard.WizardButton.BackButton)
    combo = wizard.devices_page.agent_combo
    combo.setCurrentIndex(combo.findData("mic2"))
    for _ in range(3):
        click(wizard, QWizard.WizardButton.NextButton)
    assert wizard.profile is None and page.progress.value() == 0
    assert page.start_button.isEnabled() and page.status_label.text() == ""
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    click(wizard, QWizard.WizardButton.CancelButton)
    assert not profile_path.exists()


def test_wizard_speaks_plainly_not_in_lufs(qtbot, tmp_path: Path) -> None:
    # An agent on their first day cannot read "-22 LUFS": the level bar and the
    # result say in words how their voice arrives and what was learnt.
    meter = LevelMeter("Microphone level")
    qtbot.addWidget(meter)
    for lufs, words in ((-math.inf, "silence"), (-52.0, "very quiet"), (-22.0, "clear"),
                        (-3.0, "very loud")):
        meter.show_lufs(lufs)
        assert meter.format() == words and meter.accessibleDescription() == words
    wizard = make_wizard(qtbot, AppSettings(agent_device="mic", customer_device=""),
                         lambda spec, role: None, tmp_path / "profile.json")
    wizard.baseline_page._show_done(new_profile(-18.6, 5.2, -20.0))
    text = wizard.baseline_page.status_label.text()
    assert "LUFS" not in text and "-18.6" not in text
    assert "5.2 syllables a second" in text and "Press Finish to save" in text
    wizard.baseline_page._show_done(new_profile(-18.6, None, -20.0))
    assert wizard.baseline_page.status_label.text().endswith(
        "how loud you normally speak, and judges a raised voice against it. Press Finish to save it.")


def test_escape_closes_the_history_window(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "log" / "calmline.sqlite3"
    populate(path, [BASE, BASE + timedelta(hours=1)])
    window = make_history(qtbot, path)
    show_active(qtbot, window)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Escape)
    assert not window.isVisible()
