"""The sandbox's statistics cases: Get Experiment Result carries what the engine reads (engine,
threshold, MAB, weights, paused arms, revenue) and Get Experiment Metrics the secondary metrics,
field by field as Mida's docs show them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.domain import Evidence
from bot.mida.models import ExperimentResult
from bot.services.evidence import analysis_of
from standins.sandbox import API_KEY, SandboxServer

US = "/us/v2/project/sandbox-project"


@pytest.fixture
def api(mida_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mida_sandbox.base_url, headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=5, verify=False) as client:
        yield client


def result(api: httpx.Client, test_id: int, **params: Any) -> dict[str, Any]:
    response = api.get(f"{US}/experiment/{test_id}/result", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def verdict(api: httpx.Client, test_id: int) -> str:
    analysis = analysis_of(Evidence.from_result(ExperimentResult.model_validate(result(api, test_id))))
    assert analysis is not None
    return analysis.verdict.kind


@pytest.mark.parametrize(
    ("test_id", "engine", "threshold", "kind"),
    [
        (1234, "bayesian", 95, "winner"),
        (1240, "bayesian", 95, "too_early"),
        (1241, "frequentist", 95, "too_early"),
        (1242, "frequentist", 95, "winner"),
        (1243, "frequentist", 95, "control_better"),
        (1251, "bayesian", 90, "winner"),
        (1252, "bayesian", 99, "too_early"),
        (1253, "frequentist", 90, "winner"),
        (1254, "frequentist", 99, "too_early"),
    ],
)
def test_each_case_in_its_engine_and_threshold(api, test_id, engine, threshold, kind) -> None:
    body = result(api, test_id)
    assert (body["stats_engine"], body["confidence_threshold_percent"]) == (engine, threshold)
    assert verdict(api, test_id) == kind


def test_weights_mab_and_paused_arms(api) -> None:
    three = result(api, 1245)
    assert [v["traffic_weight"] for v in three["variants"]] == [33.33, 33.33, 33.33]
    assert three["is_mab"] is False and three["distribution_mode"] == "equal"
    mab = result(api, 1247)
    assert mab["is_mab"] is True and mab["distribution_mode"] == "mab"
    assert [v["traffic_weight"] for v in mab["variants"]] == [None, None]
    paused = result(api, 1248)
    assert [(v["traffic_weight"], v["variant_status"]) for v in paused["variants"]] == [
        (50, "active"), (50, "active"), (0, "paused")
    ]
    assert paused["variants"][2]["visitors"] == 400  # its visitors are kept


def test_sample_ratio_mismatch_case(api) -> None:
    body = result(api, 1244)
    assert [(v["visitors"], v["traffic_weight"]) for v in body["variants"]] == [(10000, 50), (9000, 50)]


def test_revenue_goal_as_in_the_docs_example(api) -> None:
    body = result(api, 1249)
    assert body["has_revenue"] is True and body["currency"] == "USD"
    assert body["total_revenue"] == 12450.0 and body["rpv"] == 4.18
    control, red = body["variants"]
    assert (control["revenue"], control["rpv"], control["orders"]) == (5800.0, 3.87, 120)
    assert (red["revenue"], red["rpv"], red["revenue_per_visitor_improvement"]) == (6650.0, 4.49, 16.2)  # the docs divide rounded RPVs (16.02)
    assert "revenue" not in result(api, 1234)["variants"][0] and result(api, 1234)["has_revenue"] is False


def test_secondary_metrics(api) -> None:
    response = api.get(f"{US}/experiment/1250/metrics")
    assert response.status_code == 200
    body = response.json()
    assert body["metric_count"] == 2 and body["count"] == 2
    assert [d["metric_key"] for d in body["metric_definitions"]] == ["add_to_cart", "newsletter"]
    assert body["metrics"] == [
        {"variant_id": "0", "total": 2000, "result_1": 600, "result_2": 200},
        {"variant_id": "1", "total": 2000, "result_1": 640, "result_2": 150},
    ]
    one = api.get(f"{US}/experiment/1250/metrics", params={"metric_keys": "newsletter,nope"}).json()
    assert [d["metric_key"] for d in one["metric_definitions"]] == ["newsletter"]
    assert one["metrics"][1] == {"variant_id": "1", "total": 2000, "result_1": 150}
    assert one["warnings"] == ["Metric nope is not attached to this experiment"]
    assert api.get(f"{US}/experiment/1234/metrics").json()["metric_definitions"] == []
    assert api.get(f"{US}/experiment/1250/metrics", params={"breakdown_by": "device"}).status_code == 400
    assert api.get(f"{US}/experiment/4040/metrics").status_code == 404
    assert httpx.get(api.base_url.join(f"{US}/experiment/1250/metrics")).status_code == 401


def test_add_experiment_takes_every_statistics_field(mida_sandbox: SandboxServer, api) -> None:
    mida_sandbox.add_experiment(
        1400,
        [
            {"name": "Control", "visitors": 900, "conversions": 90, "weight": 60, "revenue": 900.0, "metrics": [30]},
            {"name": "B", "visitors": 600, "conversions": 66, "weight": 40, "revenue": 700.0, "metrics": [12]},
            {"name": "Old", "visitors": 50, "conversions": 5, "paused": True},
        ],
        stats_engine="frequentist",
        confidence_threshold_percent=99,
        metrics=[{"metric_key": "signup", "name": "Signup"}],
    )
    body = result(api, 1400)
    assert (body["stats_engine"], body["confidence_threshold_percent"], body["has_revenue"]) == ("frequentist", 99, True)
    assert [v["traffic_weight"] for v in body["variants"]] == [60, 40, 0]
    assert body["distribution_mode"] == "custom"
    metrics = api.get(f"{US}/experiment/1400/metrics").json()
    assert [r["result_1"] for r in metrics["metrics"]] == [30, 12, 0]
    mida_sandbox.add_experiment(1401, [("Control", 10, 1), ("B", 10, 2)], is_mab=True)
    assert [v["traffic_weight"] for v in result(api, 1401)["variants"]] == [None, None]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"stats_engine": "sequential"}, 'stats_engine must be "bayesian" or "frequentist"'),
        ({"confidence_threshold_percent": 100}, "confidence_threshold_percent must be a number between 0 and 100"),
        ({"variants": [{"name": "A", "weight": 120}]}, "weight must be a number between 0 and 100"),
        ({"variants": [{"name": "A", "revenue": -1}]}, "revenue must be a non-negative number"),
        ({"metrics": [{"name": "no key"}]}, "metrics must be a list of {metric_key, name}"),
    ],
)
def test_add_experiment_refuses_bad_statistics_fields(mida_sandbox: SandboxServer, fields, error) -> None:
    body = {"test_id": 1402, "variants": [{"name": "A"}, {"name": "B"}], **fields}
    response = httpx.post(mida_sandbox.base_url + "/_sandbox/experiments", json=body)
    assert response.status_code == 400 and response.json()["error"] == error
