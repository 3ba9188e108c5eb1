"""Checking Mida's 2xx answer to a write against the change it was asked to make."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import Action, Change
from bot.mida.models import RolloutAnswer, ServeAnswer, ServingState
from bot.services.write_answers import contradictions, describe

SERVE = Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25)
ROLLOUT = Change(action=Action.UPDATE_ROLLOUT, test_id=1237, rollout=75)
STOP = Change(action=Action.STOP_SERVING, test_id=1237)


def serve_answer(**change: Any) -> ServeAnswer:
    body = {"success": True, "test_id": 1234, "serving_variant_id": "1", "traffic_allocation": 25, "is_serving": True}
    return ServeAnswer.model_validate(body | change)


def rollout_answer(**change: Any) -> RolloutAnswer:
    return RolloutAnswer.model_validate({"success": True, "test_id": 1237, "traffic_allocation": 75, "is_serving": True} | change)


def stop_answer(**change: Any) -> ServingState:
    return ServingState.model_validate({"success": True, "test_id": 1237, "serving_variant_id": None, "is_serving": False} | change)


def test_answers_that_agree_have_no_contradiction() -> None:
    assert contradictions(SERVE, serve_answer()) == []
    assert contradictions(SERVE, serve_answer(traffic_allocation=25.0)) == []
    assert contradictions(ROLLOUT, rollout_answer()) == []
    assert contradictions(STOP, stop_answer()) == []
    assert contradictions(STOP, stop_answer(serving_variant_id="")) == []  # an empty id is no id


@pytest.mark.parametrize(
    ("change", "answer", "expected"),
    [
        (SERVE, serve_answer(success=False), ["success: false"]),
        (SERVE, serve_answer(is_serving=False), ["is_serving: false"]),
        (SERVE, serve_answer(serving_variant_id="0"), ["serving_variant_id 0, not 1"]),
        (SERVE, serve_answer(traffic_allocation=100), ["traffic_allocation 100, not 25"]),
        (SERVE, serve_answer(test_id=999), ["test_id 999, not 1234"]),
        (
            SERVE,
            serve_answer(success=False, is_serving=False, traffic_allocation=12.5),
            ["success: false", "is_serving: false", "traffic_allocation 12.5, not 25"],
        ),
        (ROLLOUT, rollout_answer(traffic_allocation=50), ["traffic_allocation 50, not 75"]),
        (ROLLOUT, rollout_answer(is_serving=False), ["is_serving: false"]),
        (ROLLOUT, rollout_answer(success=False), ["success: false"]),
        (STOP, stop_answer(is_serving=True), ["is_serving: true"]),
        (STOP, stop_answer(serving_variant_id="1"), ["serving_variant_id 1, not null"]),
        (STOP, stop_answer(success=False), ["success: false"]),
    ],
)
def test_each_contradiction_is_named(change: Change, answer: ServingState, expected: list[str]) -> None:
    assert contradictions(change, answer) == expected


def test_describe_quotes_midas_message() -> None:
    assert describe(["success: false"], "Rollout refused by a rule") == 'success: false; its message: "Rollout refused by a rule"'
    assert describe(["is_serving: false", "success: false"], "  ") == "is_serving: false; success: false"
    assert describe(["success: false"], "x" * 400) == 'success: false; its message: "' + "x" * 300 + '"'
