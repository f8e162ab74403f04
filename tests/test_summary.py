"""Per-call summary, accumulated frame by frame, and how its times are written."""
from __future__ import annotations

import pytest

from models.frames import HOP_S
from models.rules import CallRules
from models.settings import RuleSettings
from models.summary import CallSummary, PartySummary, SummaryAccumulator
from tests.frame_builder import PROFILE, CallBuilder, run
from ui.summary_text import clock


def summarise(call: CallBuilder, customer: bool = True) -> tuple[CallSummary, CallRules]:
    rules = CallRules(RuleSettings(), PROFILE, customer_present=customer)
    acc = SummaryAccumulator(HOP_S, customer)
    for frame in call.frames:
        acc.push(frame)
    run(rules, call.frames)
    return acc.result(rules.events), rules


def test_talk_rate_and_event_totals() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(2, 0.0, rate_sps=4.0, customer=True)
            .add(1, None, customer=True).add(3, 9.0, rate_sps=5.0).add(2, None))
    summary, rules = summarise(call)
    assert summary.duration_s == pytest.approx(10.0)
    # Median rate over speech hops: 20 hops at 4.0 sps, 30 at 5.0 sps.
    assert summary.agent == PartySummary(pytest.approx(5.0), pytest.approx(0.5), 5.0)
    assert summary.customer == PartySummary(pytest.approx(5.0), pytest.approx(0.5), 4.0)
    assert summary.overtalk_s == pytest.approx(rules.overtalk_s) == pytest.approx(2.0)
    assert summary.interruptions == 1
    assert summary.raised_voice_s == pytest.approx(3.0)
    assert summary.breathing_prompts == 1
    assert (summary.fast_speech_s, summary.monologues) == (0.0, 0)


def test_mic_only_summary_has_no_customer() -> None:
    summary, _ = summarise(CallBuilder(customer=False).add(5, 0.0), customer=False)
    assert summary.customer is None and summary.overtalk_s == 0.0
    assert summary.agent.talk_share == pytest.approx(1.0) and summary.agent.rate_sps is None


def test_empty_call() -> None:
    summary = SummaryAccumulator(HOP_S, True).result([])
    assert summary.duration_s == 0.0 and summary.agent.talk_share == 0.0
    assert summary.agent.rate_sps is None and summary.interruptions == 0


@pytest.mark.parametrize("seconds, text", [
    (0.0, "0:00.0"), (0.04, "0:00.0"), (9.96, "0:10.0"),
    (59.94, "0:59.9"), (59.96, "1:00.0"), (59.97, "1:00.0"),  # never "0:60.0"
    (73.1, "1:13.1"), (119.96, "2:00.0"),
    (3599.94, "59:59.9"), (3599.96, "1:00:00"),  # rounds up into the hour format, not "60:00.0"
    (3600.0, "1:00:00"), (3661.4, "1:01:01"), (3719.6, "1:02:00"), (7199.6, "2:00:00"),
    (-0.04, "0:00.0"), (-5.0, "-0:05.0"), (-59.97, "-1:00.0"),
])
def test_clock_rounds_before_it_splits_minutes_and_seconds(seconds: float, text: str) -> None:
    assert clock(seconds) == text
