"""Coaching rules on synthetic feature frames."""
from __future__ import annotations

import dataclasses

import pytest

from models.baseline import Baseline
from models.events import EventKind, EventPhase, Severity
from models.rules import CallRules
from models.settings import RuleSettings
from tests.frame_builder import BASE_LUFS, PROFILE, CallBuilder, closed, opened, run

K = EventKind


def rules(customer: bool = True, baseline: Baseline | None = PROFILE,
          **settings: object) -> CallRules:
    return CallRules(RuleSettings(**settings), baseline,  # type: ignore[arg-type]
                     customer_present=customer)


# --- raised voice

def test_normal_variation_of_3_lu_does_not_fire() -> None:
    call = CallBuilder().add(2, 0.0).add(10, 3.0).add(2, 0.0)
    assert run(rules(), call.frames) == []


@pytest.mark.parametrize(("lu", "severity"), [(6.0, Severity.LOW), (12.0, Severity.MEDIUM),
                                              (20.0, Severity.HIGH)])
def test_raised_voice_for_2_s_is_graded_by_vocal_effort(lu: float, severity: Severity) -> None:
    call = CallBuilder().add(2, 0.0).add(2, lu).add(3, 0.0)
    [event] = closed(run(rules(), call.frames), K.RAISED_VOICE)
    assert event.severity is severity
    assert event.start_s == pytest.approx(2.0) and event.end_s == pytest.approx(4.0)
    assert event.value == pytest.approx(lu) and event.threshold == 6.0


def test_raised_voice_shorter_than_minimum_does_not_fire() -> None:
    call = CallBuilder().add(2, 0.0).add(1.4, 9.0).add(3, 0.0)
    assert run(rules(), call.frames) == []


def test_open_at_confirmation_and_close_after_the_gap() -> None:
    call = CallBuilder().add(2, 0.0).add(3, 8.0).add(3, 0.0)
    updates = run(rules(), call.frames)
    raised = [(i, u) for i, u in updates if u.event.kind is K.RAISED_VOICE]
    assert [(i, u.phase) for i, u in raised] == [(34, EventPhase.OPEN), (54, EventPhase.CLOSE)]
    opening, closing = raised[0][1].event, raised[1][1].event
    # Onset 2.0 s + 1.5 s: confirmed at the end of hop 34; closed once 0.5 s of gap has passed.
    assert opening.start_s == pytest.approx(2.0) and opening.end_s == pytest.approx(3.5)
    assert closing.start_s == pytest.approx(2.0) and closing.end_s == pytest.approx(5.0)


def test_level_hovering_around_the_threshold_is_one_episode() -> None:
    hovering = [7.0, 5.0, 6.5, 4.5, None, 5.5, 7.5, 4.2, None, None]
    call = CallBuilder().add(2, 0.0).add(2, 7.0).add(12, hovering).add(3, 0.0)
    updates = run(rules(), call.frames)
    assert [u.phase for _, u in updates if u.event.kind is K.RAISED_VOICE] == \
        [EventPhase.OPEN, EventPhase.CLOSE]


def test_short_pauses_do_not_end_an_episode_but_a_long_one_does() -> None:
    call = (CallBuilder().add(2, 0.0).add(2, 8.0).add(0.4, None).add(2, 8.0)
            .add(1.0, None).add(2, 8.0).add(2, 0.0))
    events = closed(run(rules(), call.frames), K.RAISED_VOICE)
    assert [(e.start_s, e.end_s) for e in events] == [pytest.approx((2.0, 6.4)),
                                                      pytest.approx((7.4, 9.4))]


def test_raised_voice_waits_for_calibration() -> None:
    # Loud from the first word: nothing to compare with yet. 5 s of +10 LU in 15 s of
    # speech leave the median at the normal level.
    call = CallBuilder().add(5, 10.0).add(10, 0.0).add(3, 8.0).add(2, 0.0)
    r = rules(baseline=None)
    [event] = closed(run(r, call.frames), K.RAISED_VOICE)
    assert event.start_s == pytest.approx(15.0)
    assert r.baseline.loudness_lufs == pytest.approx(BASE_LUFS)


def test_disabled_cue_gives_no_event_and_no_prompt() -> None:
    call = CallBuilder().add(2, 0.0).add(3, 15.0).add(3, 0.0)
    assert run(rules(raised_voice_enabled=False), call.frames) == []


# --- fast speech

def test_fast_for_the_baseline_but_under_the_floor_does_not_fire() -> None:
    # 5.2 sps is 30 % over a 4.0 sps baseline, but under the 5.5 sps floor.
    call = CallBuilder().add(10, 0.0, rate_sps=5.2)
    assert run(rules(), call.frames) == []


def test_fast_speech_counts_speech_time_only() -> None:
    call = (CallBuilder().add(1, 0.0, rate_sps=4.0).add(2, 0.0, rate_sps=6.0).add(1, None)
            .add(3, 0.0, rate_sps=6.0).add(2, 0.0, rate_sps=4.0))
    updates = run(rules(), call.frames)
    [(index, opening)] = opened(updates, K.FAST_SPEECH)
    # 2 s of fast speech, a 1 s pause, then 2 s more: 4 s of speech at the end of hop 59.
    assert index == 59 and opening.event.end_s == pytest.approx(6.0)
    [event] = closed(updates, K.FAST_SPEECH)
    assert (event.start_s, event.end_s) == pytest.approx((1.0, 7.0))
    assert event.value == pytest.approx(6.0) and event.threshold == pytest.approx(5.5)


def test_fast_speech_is_relative_to_the_agents_own_pace() -> None:
    brisk = Baseline(BASE_LUFS, 5.0, calibrated=True, source="profile")
    call = CallBuilder().add(10, 0.0, rate_sps=6.0)
    assert run(rules(baseline=brisk), call.frames) == []  # threshold 1.25 * 5.0 = 6.25
    [event] = closed(run(rules(baseline=brisk), CallBuilder().add(10, 0.0, rate_sps=6.5).frames),
                     K.FAST_SPEECH)
    assert event.threshold == pytest.approx(6.25)


def test_lagging_rate_after_a_pause_does_not_open_a_second_episode() -> None:
    # The rate averages recent speech: after the pause it decays from the fast stretch.
    decaying = [None] * 30 + [7.5 - 0.05 * i for i in range(50)]
    call = CallBuilder().add(5, 0.0, rate_sps=7.5)
    for rate in decaying:
        call.add(0.1, None if rate is None else 0.0, rate_sps=rate)
    call.add(2, None).add(5, 0.0, rate_sps=7.0)  # the pace came down, so this one counts
    events = closed(run(rules(), call.frames), K.FAST_SPEECH)
    assert [e.start_s for e in events] == pytest.approx([0.0, 15.0])


def test_a_candidate_that_lapses_does_not_block_the_fast_speech_after_it() -> None:
    # One hop just under the threshold drops the unconfirmed candidate; the pace that stays
    # fast afterwards was never reported, so it must not have to come down first.
    call = (CallBuilder().add(1, 0.0, rate_sps=6.0).add(0.1, 0.0, rate_sps=5.4)
            .add(5, 0.0, rate_sps=6.0).add(2, 0.0, rate_sps=4.0))
    [event] = closed(run(rules(), call.frames), K.FAST_SPEECH)
    assert (event.start_s, event.end_s) == pytest.approx((1.1, 6.1))


def test_fast_speech_shorter_than_minimum_does_not_fire() -> None:
    call = CallBuilder().add(3.9, 0.0, rate_sps=7.0).add(3, 0.0, rate_sps=4.0)
    assert run(rules(), call.frames) == []


# --- interruptions and overtalk

def test_agent_cutting_in_mid_turn_is_an_interruption() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(2, 0.0, customer=True)
            .add(2, None, customer=True).add(2, None))
    r = rules()
    updates = run(r, call.frames)
    [(index, _)] = opened(updates, K.INTERRUPTION)
    assert index == 29  # 1 s of overlap from 2.0 s
    [event] = closed(updates, K.INTERRUPTION)
    assert (event.start_s, event.end_s) == pytest.approx((2.0, 4.0))
    assert event.value == pytest.approx(2.0) and event.threshold == 1.0
    assert r.overtalk_s == pytest.approx(2.0)


def test_backchannel_is_not_an_interruption() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(0.8, 0.0, customer=True)
            .add(3, None, customer=True).add(2, None))
    r = rules()
    assert closed(run(r, call.frames), K.INTERRUPTION) == []
    assert r.overtalk_s == pytest.approx(0.8)


@pytest.mark.parametrize("customer_lead_s", [0.0, 0.2])
def test_starting_before_or_with_the_customer_is_not_an_interruption(
        customer_lead_s: float) -> None:
    call = CallBuilder().add(1, None)
    if customer_lead_s:
        call.add(customer_lead_s, None, customer=True)
    call.add(3, 0.0, customer=True).add(2, None)
    assert closed(run(rules(), call.frames), K.INTERRUPTION) == []


def test_agent_already_talking_when_customer_joins_is_not_an_interruption() -> None:
    call = CallBuilder().add(2, 0.0).add(2, 0.0, customer=True).add(2, None, customer=True)
    r = rules()
    assert closed(run(r, call.frames), K.INTERRUPTION) == []
    assert r.overtalk_s == pytest.approx(2.0)


def test_overtalk_totals_every_overlap() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(0.8, 0.0, customer=True)
            .add(3, None, customer=True).add(1.5, 0.0, customer=True).add(3, None)
            .add(1, 0.0).add(0.7, 0.0, customer=True).add(2, None))
    r = rules()
    run(r, call.frames)
    assert r.overtalk_s == pytest.approx(3.0)


# --- monologue

def test_monologue_opens_at_45_s() -> None:
    call = CallBuilder().add(50, 0.0)
    updates = run(rules(), call.frames)
    [(index, opening)] = opened(updates, K.MONOLOGUE)
    assert index == 449 and opening.event.value == pytest.approx(45.0)
    [event] = closed(updates, K.MONOLOGUE)
    assert (event.start_s, event.end_s, event.value) == pytest.approx((0.0, 50.0, 50.0))
    assert event.threshold == 45.0


def test_customer_turn_resets_the_monologue() -> None:
    call = CallBuilder().add(30, 0.0).add(2, None, customer=True).add(30, 0.0)
    assert closed(run(rules(), call.frames), K.MONOLOGUE) == []


def test_backchannel_does_not_reset_the_monologue() -> None:
    call = CallBuilder().add(20, 0.0).add(0.5, None, customer=True).add(30, 0.0)
    [event] = closed(run(rules(), call.frames), K.MONOLOGUE)
    assert (event.start_s, event.end_s) == pytest.approx((0.0, 50.5))


def test_long_silence_ends_the_monologue() -> None:
    call = CallBuilder().add(30, 0.0).add(6, None).add(30, 0.0)
    assert closed(run(rules(), call.frames), K.MONOLOGUE) == []


# --- breathing prompt

def raised_burst(call: CallBuilder, lu: float = 8.0, quiet_s: float = 30.0) -> CallBuilder:
    """3 s of raised voice, then ``quiet_s`` of silence."""
    return call.add(3, lu).add(quiet_s, None)


def test_breathing_prompt_follows_a_raised_voice_episode() -> None:
    call = raised_burst(CallBuilder().add(2, 0.0), lu=13.0)
    updates = run(rules(), call.frames)
    kinds = [(u.phase, u.event.kind) for _, u in updates]
    assert kinds == [(EventPhase.OPEN, K.RAISED_VOICE), (EventPhase.CLOSE, K.RAISED_VOICE),
                     (EventPhase.CLOSE, K.BREATHING_PROMPT)]
    raised, prompt = updates[1][1].event, updates[2][1].event
    assert updates[1][0] == updates[2][0]  # offered on the hop the episode closed
    assert prompt.start_s == prompt.end_s == raised.end_s
    assert prompt.value == 1.0 and prompt.threshold == 0.0 and prompt.severity is Severity.MEDIUM


def test_breathing_prompt_cooldown() -> None:
    call = CallBuilder()
    for quiet_s in (36.0, 60.0, 30.0):  # episodes end at 3 s, 42 s (in the cooldown), 105 s
        raised_burst(call, quiet_s=quiet_s)
    r = rules()
    prompts = closed(run(r, call.frames), K.BREATHING_PROMPT)
    assert [p.start_s for p in prompts] == pytest.approx([3.0, 105.0])
    assert len([e for e in r.events if e.kind is K.RAISED_VOICE]) == 3


def test_breathing_prompt_cap_per_call() -> None:
    call = CallBuilder()
    for _ in range(4):
        raised_burst(call, quiet_s=100.0)
    assert len(closed(run(rules(breathing_max_per_call=2), call.frames), K.BREATHING_PROMPT)) == 2


def interruption(call: CallBuilder, quiet_s: float) -> CallBuilder:
    """The customer talks for 3 s, the agent cuts in after 1 s for 1.5 s, then quiet."""
    return (call.add(1, None, customer=True).add(1.5, 0.0, customer=True)
            .add(0.5, None, customer=True).add(quiet_s, None))


@pytest.mark.parametrize(("n", "quiet_s", "prompts"), [(3, 5.0, 1), (2, 5.0, 0), (3, 80.0, 0)])
def test_breathing_prompt_after_a_cluster_of_interruptions(n: int, quiet_s: float,
                                                           prompts: int) -> None:
    call = CallBuilder()
    for _ in range(n):
        interruption(call, quiet_s)
    updates = run(rules(), call.frames)
    interruptions = closed(updates, K.INTERRUPTION)
    assert len(interruptions) == n
    found = closed(updates, K.BREATHING_PROMPT)
    assert len(found) == prompts
    if prompts:
        assert found[0].value == 3.0 and found[0].start_s == interruptions[-1].end_s


def test_a_cluster_window_shorter_than_one_interruption_is_no_crash() -> None:
    # 0.5 s is a valid window, and each interruption here lasts longer than that.
    call = CallBuilder()
    for _ in range(3):
        interruption(call, 5.0)
    updates = run(rules(breathing_cluster_window_s=0.5, breathing_cluster_n=2), call.frames)
    assert len(closed(updates, K.INTERRUPTION)) == 3
    assert closed(updates, K.BREATHING_PROMPT) == []


# --- modes and life cycle

def test_mic_only_mode_turns_customer_rules_off() -> None:
    call = CallBuilder(customer=False).add(2, 0.0).add(3, 8.0).add(50, 0.0)
    r = rules(customer=False)
    updates = run(r, call.frames)
    assert {u.event.kind for _, u in updates} == {K.RAISED_VOICE, K.BREATHING_PROMPT}
    assert r.overtalk_s == 0.0


def test_missing_customer_features_are_an_error() -> None:
    frame = CallBuilder(customer=False).add(0.1, 0.0).frames[0]
    with pytest.raises(ValueError, match="frame 0"):
        rules().push(frame)


def test_finish_closes_open_episodes_and_ends_the_stream() -> None:
    call = CallBuilder().add(2, 0.0).add(3, 8.0)
    r = rules()
    updates = run(r, call.frames)
    assert updates[-2][0] is None and updates[-2][1].event.kind is K.RAISED_VOICE
    assert updates[-2][1].event.end_s == pytest.approx(5.0)
    assert r.finish() == []
    with pytest.raises(RuntimeError):
        r.push(dataclasses.replace(call.frames[-1], index=len(call.frames)))


def test_events_are_ordered_by_start() -> None:
    call = CallBuilder().add(10, 0.0).add(3, 8.0).add(40, 0.0)
    r = rules()
    run(r, call.frames)
    assert [e.kind for e in r.events] == [K.MONOLOGUE, K.RAISED_VOICE, K.BREATHING_PROMPT]
    assert [e.start_s for e in r.events] == sorted(e.start_s for e in r.events)
