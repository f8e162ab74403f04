"""The agent's baseline: calibration by median, slow clamped adaptation, profiles."""
from __future__ import annotations

import math
from statistics import median

import pytest

from models.baseline import Baseline, BaselineTracker, LevelWatch
from models.frames import PartyFrame
from models.rules import CallRules
from models.settings import RuleSettings
from models.events import EventKind
from tests.frame_builder import BASE_LUFS, PROFILE, CallBuilder, closed, run

SETTINGS = RuleSettings()


def speech(lufs: float, rate_sps: float | None = None) -> PartyFrame:
    return PartyFrame(lufs, lufs, True, rate_sps)


SILENCE = PartyFrame(None, None, False, None)


def test_nothing_before_the_agent_speaks() -> None:
    tracker = BaselineTracker(SETTINGS)
    for _ in range(50):
        tracker.push(SILENCE, raised=False)
    baseline = tracker.baseline
    assert math.isnan(baseline.loudness_lufs) and not baseline.calibrated
    assert baseline.rate_sps is None and baseline.source == "calibrated"


def test_calibration_is_the_median_of_the_first_15_s_of_speech() -> None:
    # Skewed levels with loud outliers: the median ignores them where a mean would not.
    levels = [-31.0, -30.0, -29.0, -30.5, -12.0] * 30  # 150 speech hops = 15 s
    tracker = BaselineTracker(SETTINGS)
    for i, lufs in enumerate(levels):
        tracker.push(speech(lufs), raised=False)
        tracker.push(SILENCE, raised=False)  # pauses do not count towards the 15 s
        baseline = tracker.baseline
        assert baseline.calibrated is (i == len(levels) - 1)
    assert tracker.baseline == Baseline(median(levels), None, True, "calibrated")
    # Later speech only moves it through adaptation blocks, not by re-estimating.
    for _ in range(50):
        tracker.push(speech(-20.0), raised=False)
    assert tracker.baseline.loudness_lufs == median(levels)


def test_provisional_baseline_while_calibrating() -> None:
    tracker = BaselineTracker(SETTINGS)
    for lufs in (-32.0, -30.0, -28.0):
        tracker.push(speech(lufs), raised=False)
    assert tracker.baseline == Baseline(-30.0, None, False, "calibrated")


def test_rate_calibrates_from_hops_that_carry_a_rate() -> None:
    tracker = BaselineTracker(SETTINGS)
    for _ in range(100):  # the rate estimate is not ready yet
        tracker.push(speech(-30.0), raised=False)
    for i in range(150):
        tracker.push(speech(-30.0, 4.0 + (i % 3) * 0.5), raised=False)
    baseline = tracker.baseline
    assert baseline.rate_sps == pytest.approx(4.5)


def test_raised_hops_are_ignored() -> None:
    tracker = BaselineTracker(SETTINGS, PROFILE)
    for _ in range(600):
        tracker.push(speech(BASE_LUFS + 15.0, 8.0), raised=True)
    assert tracker.baseline == PROFILE


def test_adaptation_is_slow_and_clamped() -> None:
    tracker = BaselineTracker(SETTINGS, PROFILE)
    # 60 s of speech 10 LU up that nobody flagged: 6 blocks, each moving at most 0.5 LU.
    previous = BASE_LUFS
    for _block in range(6):
        for _ in range(100):
            tracker.push(speech(BASE_LUFS + 10.0), raised=False)
        current = tracker.baseline.loudness_lufs
        assert 0.0 < current - previous <= SETTINGS.baseline_max_step_lu + 1e-9
        previous = current


def test_adaptation_follows_a_lasting_small_shift() -> None:
    tracker = BaselineTracker(SETTINGS, PROFILE)
    for _ in range(100 * 60):  # 10 min of speech 2 LU up, 4.4 sps instead of 4.0
        tracker.push(speech(BASE_LUFS + 2.0, 4.4), raised=False)
    baseline = tracker.baseline
    assert baseline.loudness_lufs == pytest.approx(BASE_LUFS + 2.0, abs=0.2)
    assert baseline.rate_sps == pytest.approx(4.4, abs=0.05)
    assert baseline.source == "profile"


def test_long_raised_episode_after_calibration_barely_moves_the_baseline() -> None:
    call = CallBuilder().add(15, 0.0).add(60, 10.0).add(5, 0.0)
    r = CallRules(SETTINGS)
    run(r, call.frames)
    assert r.baseline.calibrated
    assert r.baseline.loudness_lufs == pytest.approx(BASE_LUFS, abs=0.1)


def test_profile_is_used_at_once() -> None:
    tracker = BaselineTracker(SETTINGS, Baseline(-25.0, 4.2, True, "calibrated"))
    assert tracker.baseline == Baseline(-25.0, 4.2, True, "profile")


def test_profile_without_rate_calibrates_the_rate() -> None:
    tracker = BaselineTracker(SETTINGS, Baseline(-25.0, None, True, "profile"))
    for _ in range(150):
        tracker.push(speech(-25.0, 5.0), raised=False)
    assert tracker.baseline == Baseline(-25.0, 5.0, True, "profile")


@pytest.mark.parametrize("profile", [Baseline(-25.0, None, False, "calibrated"),
                                     Baseline(math.nan, None, True, "profile")])
def test_unusable_profile_is_refused(profile: Baseline) -> None:
    with pytest.raises(ValueError, match="calibrated"):
        BaselineTracker(SETTINGS, profile)


# --- a change of microphone level (another headset, a moved boom, the input volume)

def _speech_turns(call: CallBuilder, seconds: float, lu: float) -> CallBuilder:
    """Agent turns of 6 s with 2 s pauses at ``lu`` (with +-2 LU of syllable-to-syllable spread)."""
    while seconds > 0:
        call.add(min(6.0, seconds), [lu - 2.0, lu, lu + 2.0, lu]).add(2.0)
        seconds -= 6.0
    return call


def test_a_louder_microphone_stops_the_raised_voice_cues_within_the_window() -> None:
    # A profile from the old headset; the new one is 9 dB hotter. Before, every
    # hop read as raised and was kept out of adaptation: cues for the whole shift.
    call = _speech_turns(CallBuilder(), 600, 9.0)
    r = CallRules(SETTINGS, PROFILE)
    updates = run(r, call.frames)
    shifts = r.level_shifts
    assert len(shifts) == 1
    assert shifts[0].shift_lu == pytest.approx(9.0, abs=0.5)
    assert r.baseline.loudness_lufs == pytest.approx(BASE_LUFS + 9.0, abs=0.5)
    assert r.baseline.source == "calibrated"
    speech_before_s = sum(f.agent.speech for f in call.frames if f.t_s < shifts[0].t_s) * 0.1
    assert speech_before_s <= SETTINGS.baseline_shift_window_s + 5.0
    raised = closed(updates, EventKind.RAISED_VOICE)
    assert raised and max(e.end_s for e in raised) <= shifts[0].t_s + 1.0


def test_a_quieter_microphone_is_followed_too() -> None:
    call = _speech_turns(CallBuilder(), 300, -12.0)
    r = CallRules(SETTINGS, PROFILE)
    run(r, call.frames)
    # Slow adaptation has covered part of the way by the time the window is full.
    assert len(r.level_shifts) == 1 and r.level_shifts[0].shift_lu <= -SETTINGS.baseline_shift_lu
    assert r.baseline.loudness_lufs == pytest.approx(BASE_LUFS - 12.0, abs=0.5)
    # A raised voice after the change is measured from the new level.
    call2 = _speech_turns(CallBuilder(), 20, -12.0)
    call2.add(3, -3.0)
    r2 = CallRules(SETTINGS, r.baseline)
    assert len(closed(run(r2, call2.frames), EventKind.RAISED_VOICE)) == 1


def test_raised_voice_episodes_are_not_a_level_change() -> None:
    # An angry stretch: a minute of raised speech out of every 90 s, then calm.
    call = _speech_turns(CallBuilder(), 30, 0.0)
    for _ in range(5):
        _speech_turns(call, 60, 10.0)
        _speech_turns(call, 30, 0.0)
    r = CallRules(SETTINGS, PROFILE)
    updates = run(r, call.frames)
    assert r.level_shifts == []
    assert r.baseline.loudness_lufs == pytest.approx(BASE_LUFS, abs=0.5)
    assert len(closed(updates, EventKind.RAISED_VOICE)) >= 5


def test_short_calls_add_up_to_the_window_through_a_shared_watch() -> None:
    # Live monitoring shares one watch between calls; each call here has 30 s of speech.
    watch = LevelWatch(SETTINGS)
    baseline, shifts = PROFILE, []
    for _call in range(4):
        r = CallRules(SETTINGS, baseline, level_watch=watch)
        run(r, _speech_turns(CallBuilder(), 30, 9.0).frames)
        baseline, shifts = r.baseline, shifts + r.level_shifts
    assert len(shifts) == 1
    assert baseline.loudness_lufs == pytest.approx(BASE_LUFS + 9.0, abs=0.5)


def test_level_shift_settings_are_checked() -> None:
    from models.settings import SettingsError

    with pytest.raises(SettingsError, match="baseline_shift_share"):
        RuleSettings(baseline_shift_share=0.5).validate()
    with pytest.raises(SettingsError, match="baseline_shift_window_s"):
        RuleSettings(baseline_shift_window_s=0.0).validate()
