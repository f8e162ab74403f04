"""Call segmentation: start on customer speech, end on silence, manual start and stop."""
from __future__ import annotations

import dataclasses
import json

import pytest

from models.call_segmentation import (CallSegmenter, SegmentationSettings, SegmentEvent,
                                      SegmentKind, SegmentReason)
from models.settings import SettingsError
from tests.frame_builder import CallBuilder

STARTED, ENDED = SegmentKind.CALL_STARTED, SegmentKind.CALL_ENDED


def feed(segmenter: CallSegmenter, call: CallBuilder) -> list[SegmentEvent]:
    return [event for frame in call.frames for event in segmenter.push(frame)]


def kinds(events: list[SegmentEvent]) -> list[tuple[SegmentKind, float, SegmentReason]]:
    return [(e.kind, pytest.approx(e.t_s), e.reason) for e in events]  # type: ignore[misc]


def test_starts_at_customer_speech_start_and_ends_at_last_speech_end() -> None:
    call = (CallBuilder().add(5, None).add(3, None, customer=True).add(4, 0.0)
            .add(12, None))
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    events = feed(segmenter, call)
    assert kinds(events) == [(STARTED, 5.0, SegmentReason.CUSTOMER_SPEECH),
                             (ENDED, 12.0, SegmentReason.SILENCE)]
    # Known once 0.3 s of speech was heard and once 10 s of silence had passed.
    assert events[0].decided_s == pytest.approx(5.3)
    assert events[1].decided_s == pytest.approx(22.0)
    assert not segmenter.in_call


def test_a_nine_second_gap_does_not_end_the_call() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(9, None).add(1, 0.0)
            .add(9.9, None))
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    assert kinds(feed(segmenter, call)) == [(STARTED, 0.0, SegmentReason.CUSTOMER_SPEECH)]
    assert segmenter.in_call


def test_hold_music_keeps_a_call_going_and_its_end_counts_as_activity() -> None:
    call = (CallBuilder().add(2, None, customer=True).add(60, None, line_sound=True)
            .add(2, None, customer=True).add(5, None).add(20, None, line_sound=True).add(11, None))
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    # One call through both holds; it ends when the second hold's music stops.
    assert kinds(feed(segmenter, call)) == [(STARTED, 0.0, SegmentReason.CUSTOMER_SPEECH),
                                            (ENDED, 89.0, SegmentReason.SILENCE)]


def test_music_or_ringing_alone_never_starts_a_call() -> None:
    call = CallBuilder().add(30, None, line_sound=True).add(3, 0.0).add(30, None, line_sound=True)
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    assert feed(segmenter, call) == [] and not segmenter.in_call


def test_agent_speech_alone_does_not_start_a_two_party_call() -> None:
    call = CallBuilder().add(5, 0.0).add(1, None).add(5, 0.0)
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    assert feed(segmenter, call) == [] and not segmenter.in_call


def test_short_customer_noises_do_not_start_a_call() -> None:
    # 0.2 s bursts 0.5 s apart: each pause resets the count.
    call = CallBuilder()
    for _ in range(20):
        call.add(0.2, None, customer=True).add(0.5, None)
    assert feed(CallSegmenter(SegmentationSettings(), True), call) == []


def test_short_pauses_inside_starting_speech_are_bridged() -> None:
    call = CallBuilder().add(1, None).add(0.2, None, customer=True).add(0.3, None) \
        .add(0.1, None, customer=True)
    events = feed(CallSegmenter(SegmentationSettings(), True), call)
    assert kinds(events) == [(STARTED, 1.0, SegmentReason.CUSTOMER_SPEECH)]


def test_no_flapping_on_intermittent_speech() -> None:
    call = CallBuilder().add(1, None, customer=True)
    for _ in range(10):
        call.add(0.1, 0.0).add(9.5, None).add(0.1, None, customer=True).add(8, None)
    call.add(10, None)
    events = feed(CallSegmenter(SegmentationSettings(), True), call)
    assert [e.kind for e in events] == [STARTED, ENDED]
    assert events[1].t_s == pytest.approx(call.t_s - 18.0)


def test_after_an_end_a_single_blip_does_not_restart() -> None:
    call = (CallBuilder().add(1, None, customer=True).add(10, None)
            .add(0.1, None, customer=True).add(0.1, 0.0).add(5, None))
    events = feed(CallSegmenter(SegmentationSettings(), True), call)
    assert [e.kind for e in events] == [STARTED, ENDED]


def test_back_to_back_calls() -> None:
    call = (CallBuilder().add(3, None, customer=True).add(10, None)
            .add(2, None).add(3, None, customer=True).add(10, None))
    events = feed(CallSegmenter(SegmentationSettings(), True), call)
    assert kinds(events) == [(STARTED, 0.0, SegmentReason.CUSTOMER_SPEECH),
                             (ENDED, 3.0, SegmentReason.SILENCE),
                             (STARTED, 15.0, SegmentReason.CUSTOMER_SPEECH),
                             (ENDED, 18.0, SegmentReason.SILENCE)]


def test_times_are_configurable() -> None:
    settings = SegmentationSettings(start_min_speech_s=1.0, end_silence_s=4.0)
    call = (CallBuilder().add(0.9, None, customer=True).add(1, None)
            .add(1, None, customer=True).add(3.9, None).add(0.1, 0.0).add(4, None))
    events = feed(CallSegmenter(settings, True), call)
    assert kinds(events) == [(STARTED, 1.9, SegmentReason.CUSTOMER_SPEECH),
                             (ENDED, 6.9, SegmentReason.SILENCE)]


def test_mic_only_uses_agent_speech_and_a_longer_gap() -> None:
    call = (CallBuilder(customer=False).add(2, None).add(0.5, 0.0).add(1, None)
            .add(3, 0.0).add(20, None).add(2, 0.0).add(30, None))
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=False)
    events = feed(segmenter, call)
    # 0.5 s of agent speech is not enough; 20 s of silence does not end it.
    assert kinds(events) == [(STARTED, 3.5, SegmentReason.AGENT_SPEECH),
                             (ENDED, 28.5, SegmentReason.SILENCE)]
    assert events[1].decided_s == pytest.approx(58.5)


def test_mic_only_ignores_customer_frames_and_two_party_requires_them() -> None:
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    with pytest.raises(ValueError, match="no customer features"):
        segmenter.push(CallBuilder(customer=False).add(0.1, 0.0).frames[0])


def test_manual_start_and_stop() -> None:
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    feed(segmenter, CallBuilder().add(2, 0.0))
    assert kinds(segmenter.start_manual(2.0)) == [(STARTED, 2.0, SegmentReason.MANUAL)]
    assert segmenter.in_call and segmenter.start_manual(2.5) == []
    assert kinds(segmenter.stop_manual(3.0)) == [(ENDED, 3.0, SegmentReason.MANUAL)]
    assert not segmenter.in_call and segmenter.stop_manual(3.5) == []


def test_manual_start_ends_on_silence_counted_from_the_start() -> None:
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    segmenter.start_manual(0.0)
    frames = CallBuilder().add(10, None).frames
    assert [e for f in frames[:-1] for e in segmenter.push(f)] == [] and segmenter.in_call
    assert kinds(segmenter.push(frames[-1])) == [(ENDED, 0.0, SegmentReason.SILENCE)]


def test_manual_stop_mid_speech_holds_off_until_the_speech_dies_down() -> None:
    call = (CallBuilder().add(5, None, customer=True)
            # The customer keeps talking after the stop, with pauses.
            .add(5, None, customer=True).add(2, None).add(3, None, customer=True)
            .add(9, None).add(1, None, customer=True)
            # After 10 s of silence the next customer speech starts a new call.
            .add(10, None).add(1, None, customer=True))
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    before, after = call.frames[:50], call.frames[50:]
    assert [e.kind for f in before for e in segmenter.push(f)] == [STARTED]
    assert kinds(segmenter.stop_manual(5.0)) == [(ENDED, 5.0, SegmentReason.MANUAL)]
    events = [e for f in after for e in segmenter.push(f)]
    assert kinds(events) == [(STARTED, 35.0, SegmentReason.CUSTOMER_SPEECH)]


def test_manual_start_overrides_the_hold_off() -> None:
    segmenter = CallSegmenter(SegmentationSettings(), customer_present=True)
    segmenter.start_manual(0.0)
    segmenter.stop_manual(1.0)
    assert [e.kind for e in segmenter.start_manual(1.5)] == [STARTED]


def test_settings_validation_and_round_trip() -> None:
    settings = SegmentationSettings()
    assert settings.validate() is settings
    for f in dataclasses.fields(SegmentationSettings):
        assert f.metadata["unit"] == "s" and f.metadata["help"].endswith("."), f.name
    assert settings.end_silence_s == 10.0
    assert settings.mic_only_end_silence_s > settings.end_silence_s
    data = json.loads(json.dumps(SegmentationSettings(end_silence_s=8.0).to_dict()))
    assert SegmentationSettings.from_dict(data) == SegmentationSettings(end_silence_s=8.0)
    assert SegmentationSettings.from_dict({"end_silence_s": 12}).end_silence_s == 12.0


@pytest.mark.parametrize(("changes", "words"), [
    ({"end_silence_s": 0.0}, "end_silence_s (0.0) must be greater than 0"),
    ({"start_min_speech_s": float("nan")}, "start_min_speech_s must be a finite number"),
    ({"mic_only_end_silence_s": 0.4}, "mic_only_end_silence_s (0.4) must be longer than"),
    ({"end_silence_s": True}, "end_silence_s must be a finite number"),
])
def test_invalid_settings_are_named(changes: dict[str, object], words: str) -> None:
    with pytest.raises(SettingsError) as info:
        CallSegmenter(SegmentationSettings(**changes), True)  # type: ignore[arg-type]
    assert str(info.value).startswith(words) and "\n" not in str(info.value)


def test_from_dict_names_unknown_keys() -> None:
    with pytest.raises(SettingsError, match="unknown settings: a, b"):
        SegmentationSettings.from_dict({"b": 1, "a": 2})
