"""The models parse Mida's documented example answers (copied into fixtures/) and their quirks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.mida.models import (
    Experiment,
    ExperimentList,
    ExperimentResult,
    ExperimentStatus,
    ReportPhase,
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
    assert not hasattr(result, "rpv")  # documented revenue fields are not modelled either
    assert not hasattr(result, "a_field_from_the_future")
    assert not hasattr(result.variants[1], "revenue_per_visitor_improvement")


def test_numeric_variant_ids_become_strings() -> None:
    details = fixture("experiment_details")["experiment"]
    assert details["variants"][0]["variant_id"] == 1  # the details endpoint sends numbers
    variants = [VariantResult.model_validate(v) for v in details["variants"]]
    assert [v.variant_id for v in variants] == ["1", "2"]
    assert VariantResult.model_validate({"variant_id": 3.0}).variant_id == "3"
    assert TimeseriesRow.model_validate({"variant_id": 0}).variant_id == "0"
    assert ServingState.model_validate({"test_id": 1, "serving_variant_id": 2}).serving_variant_id == "2"


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
