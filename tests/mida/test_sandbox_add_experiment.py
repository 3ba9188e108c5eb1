"""The sandbox's control API adds an experiment, as someone would in Mida's dashboard."""

from __future__ import annotations

import httpx
import pytest

from standins.sandbox import API_KEY, SandboxServer

US = "/us/v2/project/sandbox-project"


def test_an_added_experiment_is_listed_and_has_its_variants_numbers(mida_sandbox: SandboxServer) -> None:
    added = mida_sandbox.add_experiment(
        1300, [("Control", 1000, 80), ("Blue", 990, 99), ("Green", 1010, 70)], test_name="Colours", days_running=12
    )
    assert added["variants"] == [
        {"variant_id": "0", "name": "Control", "visitors": 1000, "conversions": 80},
        {"variant_id": "1", "name": "Blue", "visitors": 990, "conversions": 99},
        {"variant_id": "2", "name": "Green", "visitors": 1010, "conversions": 70},
    ]
    with httpx.Client(base_url=mida_sandbox.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as api:
        listed = api.get(f"{US}/experiments").json()["experiments"]
        assert [e["test_name"] for e in listed if e["test_id"] == 1300] == ["Colours"]
        result = api.get(f"{US}/experiment/1300/result", params={"report_phase": "pre_deploy"}).json()
    assert [(v["name"], v["visitors"], v["conversions"]) for v in result["variants"]] == [
        ("Control", 1000, 80), ("Blue", 990, 99), ("Green", 1010, 70)
    ]
    assert result["days_running"] == 12


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"test_id": 1234, "variants": [{"name": "A"}]}, 409, "Experiment 1234 already exists"),
        ({"test_id": 1301, "variants": []}, 400, "variants must be a non-empty list of {name, visitors, conversions}"),
        ({"test_id": 1301, "variants": [{"name": "A", "visitors": -1}]}, 400,
         "visitors and conversions must be non-negative integers"),
        ({"test_id": "1301", "variants": [{"name": "A"}]}, 400, "test_id must be a positive integer"),
        ({"test_id": 1301, "project_key": "nope", "variants": [{"name": "A"}]}, 400, "Unknown project_key"),
    ],
)
def test_a_bad_experiment_is_refused_and_nothing_is_added(mida_sandbox: SandboxServer, body, status, error) -> None:
    response = httpx.post(mida_sandbox.base_url + "/_sandbox/experiments", json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert httpx.get(mida_sandbox.base_url + "/_sandbox/experiments/1301").status_code == 404
