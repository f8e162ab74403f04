"""Noticing that the agent's microphone does not pick the agent up."""
from __future__ import annotations

import pytest

from models.mic_check import NOT_HEARD_AFTER_S, AgentHeardCheck
from tests.frame_builder import CallBuilder


def _changes(frames) -> list[tuple[float, str]]:
    check = AgentHeardCheck()
    return [(f.t_s, change) for f in frames if (change := check.push(f)) is not None]


def test_customer_talking_to_a_silent_mic_is_noticed_and_taken_back() -> None:
    call = (CallBuilder().add(20, customer=True).add(5).add(15, customer=True)
            .add(3, 0.0).add(40, customer=True))
    changes = _changes(call.frames)
    # Customer speech adds up across the pause: 20 s + 10 s of the next stretch.
    assert [kind for _, kind in changes] == ["not_heard", "heard", "not_heard"]
    assert changes[0][0] == pytest.approx(NOT_HEARD_AFTER_S + 5.0 - 0.1)
    assert changes[1][0] == pytest.approx(40.0)


def test_an_agent_who_answers_is_never_flagged() -> None:
    call = CallBuilder()
    for _ in range(20):  # a long call of turns, with backchannels inside the customer's
        call.add(8, customer=True).add(0.5, 0.0, customer=True).add(8, customer=True).add(4, 0.0)
    assert _changes(call.frames) == []


def test_mic_only_mode_never_flags() -> None:
    call = CallBuilder(customer=False).add(120)
    assert _changes(call.frames) == []
