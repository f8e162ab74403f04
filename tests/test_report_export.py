"""The review report's words: only what the analysis could judge is praised or stated."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from models.events import EventKind
from models.report import AnalysisReport
from models.settings import RuleSettings
from monitor.analysis import analyze_recording
from monitor.audio_file import CallRecording
from tests.audio_fixtures import espeak, have, office_noise
from ui.report_export import (CALM_STRETCH_MIN_S, TOO_LITTLE_SPEECH, build_html,
                              longest_calm_stretch, report_path, summary_rows, what_went_well)
from ui.summary_text import CUE_OFF, clock, format_summary

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the calls")

SR_HZ = 16000


def analyse(path: Path, rules: RuleSettings | None = None) -> AnalysisReport:
    with CallRecording(path) as recording:
        return analyze_recording(recording, rules)


@pytest.fixture(scope="module")
def demo_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ui.demo_call import write_demo_call

    return write_demo_call(tmp_path_factory.mktemp("report") / "demo_call.wav")


@pytest.fixture(scope="module")
def customer_only(demo_call: Path) -> AnalysisReport:
    """The demo call with the agent's (left) channel silent: the wrong channel taken as yours."""
    x, sr = sf.read(demo_call, dtype="float32")
    x[:, 0] = 0.0
    path = demo_call.with_name("customer_only.wav")
    sf.write(path, x, sr)
    return analyse(path)


@pytest.fixture(scope="module")
def noise_only(tmp_path_factory: pytest.TempPathFactory) -> AnalysisReport:
    """30 s of office noise on both channels: nobody speaks."""
    n = 30 * SR_HZ
    path = tmp_path_factory.mktemp("report") / "noise.wav"
    sf.write(path, np.stack([office_noise(n, SR_HZ, seed=1), office_noise(n, SR_HZ, seed=2)], axis=1),
             SR_HZ)
    return analyse(path)


@pytest.mark.parametrize("name", ["noise_only", "customer_only"])
def test_a_recording_without_your_speech_is_not_praised(name: str,
                                                       request: pytest.FixtureRequest) -> None:
    report = request.getfixturevalue(name)
    assert report.summary.agent.talk_s < 1.0 and not report.baseline.calibrated
    assert what_went_well(report) == [TOO_LITTLE_SPEECH]
    page = build_html(report, None)
    assert "calm call" not in page and "stayed calm" not in page and "customer finish" not in page
    assert "No events: too little of your speech" in page
    assert "calm call" not in format_summary(report)


@pytest.fixture(scope="module")
def short_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 8 s of agent speech in 40 s: heard, but under the 15 s that calibrate a baseline."""
    speech = espeak("Thank you for calling. Let me look up your account, it will only take a "
                    "moment. Could you give me the number on your card please?", sr_hz=SR_HZ)
    agent = np.zeros(40 * SR_HZ, dtype=np.float32)
    agent[SR_HZ:SR_HZ + len(speech)] = speech
    path = tmp_path_factory.mktemp("report") / "short_agent.wav"
    sf.write(path, np.stack([agent, np.zeros_like(agent)], axis=1), SR_HZ)
    return path


def test_an_uncalibrated_baseline_is_neither_praised_nor_shown(short_agent: Path) -> None:
    report = analyse(short_agent)
    assert report.summary.agent.talk_s >= 5.0 and not report.baseline.calibrated
    assert np.isfinite(report.baseline.loudness_lufs)  # a running median, not a baseline
    good = " ".join(what_went_well(report))
    assert "stayed calm" not in good and "normal level" not in good
    # The customer never spoke: there was nobody to let finish.
    assert "customer finish" not in good and "conversation" not in good
    assert "Your baseline loudness" not in dict(summary_rows(report))
    assert "calm call" not in build_html(report, None)


def test_mic_only_praises_no_turn_taking(demo_call: Path) -> None:
    x, sr = sf.read(demo_call, dtype="float32")
    path = demo_call.with_name("agent_only.wav")
    sf.write(path, x[:, 0], sr)
    report = analyse(path)
    assert report.summary.customer is None and report.baseline.calibrated
    good = " ".join(what_went_well(report))
    assert "interruptions" not in good and "floor" not in good
    assert "Your baseline loudness" in dict(summary_rows(report))


def test_a_call_that_ends_with_your_voice_raised_does_not_praise_bringing_it_down(
        demo_call: Path) -> None:
    x, sr = sf.read(demo_call, dtype="float32")
    path = demo_call.with_name("ends_raised.wav")
    sf.write(path, x[: round(63.5 * sr)], sr)  # cut off 2 s into the raised voice
    report = analyse(path)
    raised = [e for e in report.events if e.kind is EventKind.RAISED_VOICE]
    assert raised and raised[-1].end_s == pytest.approx(report.duration_s, abs=0.1)
    assert "brought it back down" not in " ".join(what_went_well(report))
    # Brought down before the end, it is praised.
    assert "brought it back down" in " ".join(what_went_well(analyse(demo_call)))


def test_a_call_with_nothing_judged_and_no_events_points_to_the_timeline(short_agent: Path) -> None:
    report = analyse(short_agent, RuleSettings(fast_speech_enabled=False))
    assert not report.events
    good = what_went_well(report)
    assert len(good) == 1 and "events below" not in good[0] and "timeline" in good[0]


def test_the_calm_stretch_starts_once_your_voice_is_learnt(demo_call: Path) -> None:
    report = analyse(demo_call)
    # 15 s of the agent's speech come first; no raised voice could be noticed before.
    assert report.calibrated_at_s is not None and report.calibrated_at_s >= 15.0
    first_event_s = min(e.start_s for e in report.events)
    assert first_event_s >= 30.0  # quiet from the start, but all of it while still learning
    start, end = longest_calm_stretch(report)
    assert report.calibrated_at_s <= start < end <= report.duration_s
    good = " ".join(what_went_well(report))
    if end - start >= CALM_STRETCH_MIN_S:
        assert f"({clock(start)} to {clock(end)})" in good
    else:
        assert "stayed calm" not in good


def test_cues_turned_off_are_neither_counted_nor_praised(demo_call: Path) -> None:
    rules = RuleSettings(raised_voice_enabled=False, interruption_enabled=False)
    report = analyse(demo_call, rules)
    assert "turned off in settings: the raised-voice and interruption cues; they are not counted" \
        in report.notes
    rows = dict(summary_rows(report))
    assert rows["Interruptions"] == CUE_OFF and rows["Raised voice"] == CUE_OFF
    text = format_summary(report)
    assert f"Interruptions  {CUE_OFF}" in text and f"Raised voice   {CUE_OFF}" in text
    good = " ".join(what_went_well(report))
    assert "stayed calm" not in good and "normal level" not in good
    assert "let the customer finish" not in good.lower()
    page = build_html(report, None)
    assert "calm call" not in page


def test_the_report_says_which_file_and_channel_each_party_came_from(demo_call: Path,
                                                                     tmp_path: Path) -> None:
    audio, sr_hz = sf.read(demo_call, dtype="float32")
    mine, theirs = tmp_path / "mine.wav", tmp_path / "theirs & co.wav"
    sf.write(mine, audio[:, 0], sr_hz)
    sf.write(theirs, audio[:, 1], sr_hz)
    with CallRecording(mine, customer_path=theirs) as recording:
        report = analyze_recording(recording, RuleSettings())
    page = build_html(report, None)
    assert "You: mine.wav:1; customer: theirs &amp; co.wav:1 (file:channel)" in page


@pytest.mark.parametrize("kind, chosen, written", [
    ("html", "call.html", "call.html"), ("html", "Call.HTM", "Call.HTM"),
    ("html", "call.pdf", "call.html"), ("html", "call", "call.html"),
    ("html", "call.v2", "call.v2.html"), ("html", "call.pdf.txt", "call.pdf.txt.html"),
    ("pdf", "call.PDF", "call.PDF"), ("pdf", "call.htm", "call.pdf"),
    ("pdf", "call.html", "call.pdf"), ("pdf", "call.wav", "call.wav.pdf"),
    # Only the last ending is replaced: what is left is the name the user meant.
    ("html", "call.html.pdf", "call.html"), ("html", "call.HTM.pdf", "call.HTM"),
    ("pdf", "call.pdf.html", "call.pdf"), ("html", "call.pdf.pdf", "call.pdf.html")])
def test_a_report_goes_under_a_name_of_its_format(kind: str, chosen: str, written: str) -> None:
    folder = Path("/reports")
    assert report_path(folder / chosen, kind) == folder / written
