"""The models parse Mida's documented example answers (copied into fixtures/) and their quirks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.mida.models import (
    Experiment,
    ExperimentList,
    ExperimentResult,
    ExperimentStatus,
    ReportPhase,
    RolloutAnswer,
    ServeAnswer,
    ServingState,
    Timeseries,
    TimeseriesRow,
    VariantResult,
    parse_status,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_list_experiments_status_is_an_integer_code() -> None:
    listing = ExperimentList.model_validate(fixture("list_experiments"))
    assert listing.company_id == 1001
    assert listing.count == 2
    first, second = listing.experiments
    assert (first.test_id, first.test_name) == (1234, "Homepage CTA Button Color Test")
    assert first.status is ExperimentStatus.LIVE
    assert first.is_completed is False
    assert second.status is ExperimentStatus.INACTIVE
    assert second.is_completed is True


def test_list_experiments_serving_variant_id_absent_means_not_serving() -> None:
    listing = ExperimentList.model_validate(fixture("list_experiments"))
    assert all(e.serving_variant_id is None and not e.is_serving for e in listing.experiments)
    row = fixture("list_experiments")["experiments"][0] | {"serving_variant_id": 1, "is_deploy": 0}
    serving = Experiment.model_validate(row)
    assert serving.serving_variant_id == "1"
    assert serving.is_serving
    assert Experiment.model_validate(row | {"serving_variant_id": None}).is_serving is False


def test_result_status_is_a_label_with_a_separate_code() -> None:
    result = ExperimentResult.model_validate(fixture("experiment_result"))
    assert result.status is ExperimentStatus.LIVE
    assert result.status_code == 1
    assert result.days_running == 15
    assert result.report_phase is ReportPhase.PRE_DEPLOY
    assert result.traffic_allocation == 100
    assert result.primary_goal is not None and result.primary_goal.goal_name == "CTA Button Click"


def test_result_serving_fields() -> None:
    result = ExperimentResult.model_validate(fixture("experiment_result"))
    assert result.serving_variant_id == "1"
    assert result.is_serving and result.serving

    not_serving = fixture("experiment_result")
    del not_serving["serving_variant_id"]  # omitted when not serving
    not_serving["is_serving"] = False
    parsed = ExperimentResult.model_validate(not_serving)
    assert parsed.serving_variant_id is None
    assert not parsed.serving


def test_result_control_first_without_improvement() -> None:
    result = ExperimentResult.model_validate(fixture("experiment_result"))
    control, winner = result.variants
    assert control.is_control and control.variant_id == "0"
    assert control.improvement is None
    assert result.control == control
    assert winner.variant_id == "1"
    assert winner.improvement == 25.0
    assert (winner.visitors, winner.conversions, winner.conversion_rate) == (1480, 148, 10.0)
    assert result.variant("1") == winner
    assert result.variant("7") is None


def test_extra_fields_are_ignored() -> None:
    data = fixture("experiment_result")
    data["a_field_from_the_future"] = {"x": 1}
    result = ExperimentResult.model_validate(data)
    assert not hasattr(result, "rpv")  # the totals' revenue figures are not modelled: nothing reads them
    assert not hasattr(result, "a_field_from_the_future")
    # The per-variant revenue is: the statistics read it on a revenue goal.
    assert result.variants[1].revenue_per_visitor_improvement == data["variants"][1]["revenue_per_visitor_improvement"]


def test_numeric_variant_ids_become_strings() -> None:
    details = fixture("experiment_details")["experiment"]
    assert details["variants"][0]["variant_id"] == 1  # the details endpoint sends numbers
    variants = [VariantResult.model_validate(v) for v in details["variants"]]
    assert [v.variant_id for v in variants] == ["1", "2"]
    assert VariantResult.model_validate({"variant_id": 3.0}).variant_id == "3"
    assert TimeseriesRow.model_validate({"variant_id": 0}).variant_id == "0"
    answer = {"success": True, "test_id": 1, "is_serving": True, "serving_variant_id": 2, "traffic_allocation": 5}
    assert ServeAnswer.model_validate(answer).serving_variant_id == "2"


def test_details_experiment_parses_as_an_experiment() -> None:
    experiment = Experiment.model_validate(fixture("experiment_details")["experiment"])
    assert experiment.test_id == 1234
    assert experiment.status is ExperimentStatus.DRAFT


def test_timeseries() -> None:
    series = Timeseries.model_validate(fixture("experiment_timeseries"))
    assert series.count == 2
    control, variant = series.timeseries
    assert (control.variant_id, control.visitors, control.converted, control.conversion) == ("0", 150, 12, 8)
    assert variant.variant_id == "1"
    assert control.created_at == "2024-01-15T00:00:00.000Z"


def test_serve_winner_answer() -> None:
    state = ServingState.model_validate(fixture("serve_winner"))
    assert (state.test_id, state.serving_variant_id, state.traffic_allocation, state.is_serving) == (1234, "1", 25, True)
    assert state.message and state.message.startswith("Winner is now served")


def test_serving_rollout_answer_has_no_variant() -> None:
    state = ServingState.model_validate(fixture("serving_rollout"))
    assert (state.traffic_allocation, state.is_serving, state.serving_variant_id) == (50, True, None)


def test_stop_serving_answer_has_null_variant() -> None:
    state = ServingState.model_validate(fixture("stop_serving"))
    assert state.serving_variant_id is None
    assert state.is_serving is False


def test_update_status_answer() -> None:
    data = fixture("update_status")
    assert parse_status(data["status"]) is ExperimentStatus.LIVE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (9, ExperimentStatus.DRAFT),
        (1, ExperimentStatus.LIVE),
        (0, ExperimentStatus.INACTIVE),
        ("live", ExperimentStatus.LIVE),
        ("Draft", ExperimentStatus.DRAFT),
        ("0", ExperimentStatus.INACTIVE),
        (True, ExperimentStatus.UNKNOWN),
        (5, ExperimentStatus.UNKNOWN),
        ("paused", ExperimentStatus.UNKNOWN),
        (None, ExperimentStatus.UNKNOWN),
    ],
)
def test_status_label_or_code(value: Any, expected: ExperimentStatus) -> None:
    assert parse_status(value) is expected


def test_each_write_answer_needs_the_fields_its_docs_promise() -> None:
    assert ServeAnswer.model_validate(fixture("serve_winner")).traffic_allocation == 25
    assert RolloutAnswer.model_validate(fixture("serving_rollout")).traffic_allocation == 50
    serve, rollout = fixture("serve_winner"), fixture("serving_rollout")
    for field in ("success", "test_id", "is_serving", "serving_variant_id", "traffic_allocation"):
        with pytest.raises(ValidationError):
            ServeAnswer.model_validate({k: v for k, v in serve.items() if k != field})
    with pytest.raises(ValidationError):
        ServeAnswer.model_validate(serve | {"serving_variant_id": None})
    with pytest.raises(ValidationError):
        RolloutAnswer.model_validate({k: v for k, v in rollout.items() if k != "traffic_allocation"})
    with pytest.raises(ValidationError):
        ServingState.model_validate({k: v for k, v in fixture("stop_serving").items() if k != "is_serving"})


@pytest.mark.parametrize(
    "change", [{"success": "true"}, {"is_serving": 1}, {"traffic_allocation": "25"}, {"test_id": "1234"}, {"success": None}]
)
def test_write_answers_are_not_coerced(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ServeAnswer.model_validate(fixture("serve_winner") | change)


def test_a_missing_report_phase_is_the_documented_default() -> None:
    serving = {k: v for k, v in fixture("experiment_result").items() if k != "report_phase"}
    assert ExperimentResult.model_validate(serving).phase(None) is ReportPhase.PRE_DEPLOY
    stopped = serving | {"is_serving": False, "serving_variant_id": None}
    assert ExperimentResult.model_validate(stopped).phase(None) is ReportPhase.ALL_TIME
    assert ExperimentResult.model_validate(stopped).phase(ReportPhase.POST_DEPLOY) is ReportPhase.POST_DEPLOY


def test_an_unknown_report_phase_is_what_was_asked_or_unknown() -> None:
    result = ExperimentResult.model_validate(fixture("experiment_result") | {"report_phase": "lifetime"})
    assert (result.report_phase, result.report_phase_unknown) == (None, "lifetime")
    assert result.phase(ReportPhase.ALL_TIME) is ReportPhase.ALL_TIME
    assert result.phase(None) is None
    echoed = ExperimentResult.model_validate(fixture("experiment_result") | {"report_phase": "post_deploy"})
    assert echoed.phase(None) is ReportPhase.POST_DEPLOY


@pytest.mark.parametrize(
    ("variant", "words"),
    [
        ({"visitors": -1}, "variant 1 has a negative count (-1 visitors, 148 conversions)"),
        ({"conversions": -3}, "variant 1 has a negative count (1480 visitors, -3 conversions)"),
        ({"conversions": 1481}, "variant 1 has more conversions (1481) than visitors (1480)"),
    ],
)
def test_counts_mida_cannot_mean_are_refused(variant: dict[str, Any], words: str) -> None:
    body = fixture("experiment_result")
    body["variants"][1] |= variant
    with pytest.raises(ValidationError) as caught:
        ExperimentResult.model_validate(body)
    assert [(e["loc"], str(e["ctx"]["error"])) for e in caught.value.errors()] == [(("variants", 1), words)]


def test_impossible_totals_are_refused() -> None:
    with pytest.raises(ValidationError, match="more conversions"):
        ExperimentResult.model_validate(fixture("experiment_result") | {"total_conversions": 5000})
    with pytest.raises(ValidationError, match="a negative count"):
        ExperimentResult.model_validate(fixture("experiment_result") | {"total_visitors": -2})
    edge = fixture("experiment_result")
    edge["variants"][0] |= {"visitors": 0, "conversions": 0}
    edge["variants"][1] |= {"conversions": 1480}  # every visitor converted: unlikely, not impossible
    assert ExperimentResult.model_validate(edge).variants[1].conversions == 1480
