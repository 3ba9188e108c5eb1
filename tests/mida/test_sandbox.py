"""The sandbox behaves as Mida's docs say: auth, state machine, documented errors, phases, faults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.mida.sandbox import SandboxState, banner, start_sandbox
from standins.sandbox import API_KEY, EU_API_KEY, SandboxServer

US = "/us/v2/project/sandbox-project"
EU = "/eu/v2/project/sandbox-eu"


@pytest.fixture
def api(mida_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mida_sandbox.base_url, headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=5, verify=False) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


# ------------------------------------------------------------------------------- auth and routing


def test_auth_header_forms(api: httpx.Client) -> None:
    url = f"{US}/experiments"
    ok(api.get(url))
    for headers in ({"x-api-key": API_KEY}, {"api-key": API_KEY}, {"Authorization": f"bearer {API_KEY}"}):
        ok(httpx.get(api.base_url.join(url), headers=headers))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"x-api-key": EU_API_KEY}, {"Authorization": API_KEY}):
        assert error(httpx.get(api.base_url.join(url), headers=headers), 401) == "Invalid or missing API key"


def test_region_prefixes(api: httpx.Client) -> None:
    ok(api.get("/v2/project/sandbox-project/experiments"))  # no region: any
    assert error(api.get("/eu/v2/project/sandbox-project/experiments"), 401) == "Invalid or missing API key"
    eu = {"Authorization": f"Bearer {EU_API_KEY}"}
    assert [e["test_id"] for e in ok(api.get(f"{EU}/experiments", headers=eu))["experiments"]] == [2001, 2002]
    ok(api.get("/v2/project/sandbox-eu/experiments", headers=eu))
    error(api.get("/us/v2/project/sandbox-eu/experiments", headers=eu), 401)
    error(api.get("/ap/v2/project/sandbox-project/experiments"), 404)
    error(api.get("/us/v2/project/unknown-project/experiments"), 401)


def test_test_id_must_be_numeric_and_in_the_project(api: httpx.Client) -> None:
    for suffix in ("", "/result", "/timeseries"):
        assert error(api.get(f"{US}/experiment/abc{suffix}"), 400) == "Invalid test_id"
        assert error(api.get(f"{US}/experiment/9999{suffix}"), 404) == "Experiment not found"
        assert error(api.get(f"{US}/experiment/2001{suffix}"), 404) == "Experiment not found"  # the EU project's
    error(api.post(f"{US}/experiment/abc/serve-winner", json={"variant_id": "1"}), 400)
    error(api.post(f"{US}/experiment/2001/stop-serving", json={}), 404)


# ------------------------------------------------------------------------------- reads


def test_list_experiments(api: httpx.Client) -> None:
    body = ok(api.get(f"{US}/experiments"))
    assert body["company_id"] == 1001 and body["count"] == 21  # 6 stories and 15 statistics cases
    rows = {e["test_id"]: e for e in body["experiments"]}
    assert {i: e["status"] for i, e in rows.items()} == {1234: 1, 1235: 0, 1236: 9, 1237: 1, 1238: 1, 1239: 1} | {
        i: 1 for i in range(1240, 1255)
    }
    assert rows[1235]["is_completed"] == 1 and rows[1234]["is_completed"] == 0
    assert rows[1237]["serving_variant_id"] == "1"
    assert [i for i, e in rows.items() if "serving_variant_id" in e] == [1237]
    page = ok(api.get(f"{US}/experiments", params={"limit": 2, "offset": 2}))
    assert [e["test_id"] for e in page["experiments"]] == [1236, 1237] and page["count"] == 2
    assert ok(api.get(f"{US}/experiments", params={"limit": 100000}))["count"] == 21
    error(api.get(f"{US}/experiments", params={"limit": "many"}), 400)
    error(api.get(f"{US}/experiments", params={"limit": 0}), 400)


def test_details(api: httpx.Client) -> None:
    experiment = ok(api.get(f"{US}/experiment/1238"))["experiment"]
    assert experiment["status"] == 1 and experiment["serving_variant_id"] is None
    assert [v["variant_id"] for v in experiment["variants"]] == [0, 1, 2]
    assert experiment["configuration"]["traffic_allocation"] == 100
    assert ok(api.get(f"{US}/experiment/1237"))["experiment"]["serving_variant_id"] == "1"


def test_result_shape_and_quirks(api: httpx.Client) -> None:
    body = ok(api.get(f"{US}/experiment/1234/result"))
    assert (body["status"], body["status_code"], body["days_running"]) == ("live", 1, 15)
    assert "serving_variant_id" not in body and body["is_serving"] is False
    assert body["report_phase"] == "all_time" and body["traffic_allocation"] == 100
    control, variant = body["variants"]
    assert control["is_control"] and control["variant_id"] == "0" and "improvement" not in control
    assert (variant["conversion_rate"], variant["improvement"]) == (10.0, 25.0)
    assert body["total_visitors"] == control["visitors"] + variant["visitors"] == 2980

    lifts = [v.get("improvement") for v in ok(api.get(f"{US}/experiment/1238/result"))["variants"]]
    assert lifts[0] is None and lifts[1] > 0 > lifts[2]
    small = ok(api.get(f"{US}/experiment/1239/result"))
    assert small["days_running"] == 2 and small["total_visitors"] < 100
    draft = ok(api.get(f"{US}/experiment/1236/result"))
    assert (draft["status"], draft["status_code"], draft["total_visitors"]) == ("draft", 9, 0)
    assert all("improvement" not in v for v in draft["variants"])
    done = ok(api.get(f"{US}/experiment/1235/result"))
    assert done["status"] == "inactive" and done["end_date"] is not None and done["days_running"] == 30


def test_report_phase_switches_numbers(api: httpx.Client) -> None:
    url = f"{US}/experiment/1237/result"
    default = ok(api.get(url))
    assert default["report_phase"] == "pre_deploy"  # the documented default while serving
    assert default["serving_variant_id"] == "1" and default["is_serving"] and default["traffic_allocation"] == 50
    pre = ok(api.get(url, params={"report_phase": "pre_deploy"}))
    post = ok(api.get(url, params={"report_phase": "post_deploy"}))
    all_time = ok(api.get(url, params={"report_phase": "all_time"}))
    assert pre["variants"] == default["variants"]
    assert post["report_phase"] == "post_deploy"
    visitors = {p["report_phase"]: [v["visitors"] for v in p["variants"]] for p in (pre, post, all_time)}
    assert visitors["pre_deploy"] == [2600, 2620]
    assert visitors["all_time"] == [a + b for a, b in zip(visitors["pre_deploy"], visitors["post_deploy"])]
    control, served = visitors["post_deploy"]
    assert served > control > 0  # mostly the served variant, but every variant has rows
    error(api.get(url, params={"report_phase": "later"}), 400)


def test_timeseries_phases(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    url = f"{US}/experiment/1237/timeseries"
    served_day = mida_sandbox.experiment(1237)["served_at"][:10]
    result = {p: ok(api.get(f"{US}/experiment/1237/result", params={"report_phase": p})) for p in ("pre_deploy", "post_deploy", "all_time")}
    for phase in ("pre_deploy", "post_deploy", "all_time"):
        body = ok(api.get(url, params={"report_phase": phase}))
        rows = body["timeseries"]
        assert body["count"] == len(rows) > 0
        assert {r["variant_id"] for r in rows} == {"0", "1"}
        assert sum(r["visitors"] for r in rows) == result[phase]["total_visitors"]
        assert sum(r["converted"] for r in rows) == result[phase]["total_conversions"]
        assert set(rows[0]) >= {"variant_id", "visitors", "converted", "conversion", "created_at"}
        days = [r["created_at"][:10] for r in rows]
        if phase == "pre_deploy":
            assert max(days) == served_day
        if phase == "post_deploy":
            assert min(days) == served_day and len(set(days)) == 4
    assert ok(api.get(url))["report_phase"] == "pre_deploy"
    assert ok(api.get(f"{US}/experiment/1236/timeseries"))["timeseries"] == []  # a draft has no data
    never_served = ok(api.get(f"{US}/experiment/1234/timeseries", params={"report_phase": "post_deploy"}))
    assert never_served["timeseries"] == []


# ------------------------------------------------------------------------------- the serving state machine


def test_serve_rollout_stop(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    exp = f"{US}/experiment/1234"
    served = api.post(f"{exp}/serve-winner", json={"variant_id": "1", "traffic_allocation": 25})
    assert served.json() == {
        "success": True,
        "test_id": 1234,
        "serving_variant_id": "1",
        "traffic_allocation": 25,
        "is_serving": True,
        "message": "Winner is now served to eligible traffic at the configured rollout percentage on the same experiment.",
    }
    assert mida_sandbox.experiment(1234)["served_at"] is not None
    again = api.post(f"{exp}/serve-winner", json={"variant_id": "0", "traffic_allocation": 25})
    assert error(again, 409) == "Experiment is already serving a winner"
    result = ok(api.get(f"{exp}/result"))
    assert (result["serving_variant_id"], result["is_serving"], result["traffic_allocation"]) == ("1", True, 25)
    assert result["report_phase"] == "pre_deploy"
    listed = {e["test_id"]: e for e in ok(api.get(f"{US}/experiments"))["experiments"]}
    assert listed[1234]["serving_variant_id"] == "1"

    rollout = ok(api.patch(f"{exp}/serving-rollout", json={"traffic_allocation": 60.5}))
    assert rollout == {"success": True, "test_id": 1234, "traffic_allocation": 60.5, "is_serving": True,
                       "message": "Serving rollout percentage updated."}
    assert ok(api.get(f"{exp}/result"))["traffic_allocation"] == 60.5

    stopped = ok(api.post(f"{exp}/stop-serving"))  # no body at all is fine too
    assert stopped["serving_variant_id"] is None and stopped["is_serving"] is False
    result = ok(api.get(f"{exp}/result"))
    assert "serving_variant_id" not in result and result["is_serving"] is False
    assert error(api.post(f"{exp}/stop-serving", json={}), 409) == "Experiment is not currently serving a winner"
    assert error(api.patch(f"{exp}/serving-rollout", json={"traffic_allocation": 10}), 409) == (
        "Experiment is not currently serving a winner"
    )
    ok(api.post(f"{exp}/serve-winner", json={"serving_variant_id": 0}))  # the alias; numbers accepted
    assert mida_sandbox.experiment(1234)["serving_variant_id"] == "0"


def test_serve_keeps_the_allocation_when_omitted(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.set_experiment(1238, traffic_allocation=30)
    body = ok(api.post(f"{US}/experiment/1238/serve-winner", json={"variant_id": "2"}))
    assert (body["serving_variant_id"], body["traffic_allocation"]) == ("2", 30)


def test_serve_winner_bad_requests(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    url = f"{US}/experiment/1234/serve-winner"
    assert error(api.post(url, json={}), 400) == "Missing variant_id"
    assert error(api.post(url, json={"traffic_allocation": 50}), 400) == "Missing variant_id"
    assert "variant_id" in error(api.post(url, json={"variant_id": "7"}), 400)
    for allocation in (-1, 100.5, "50", True, None):
        assert "traffic_allocation" in error(api.post(url, json={"variant_id": "1", "traffic_allocation": allocation}), 400)
    error(api.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400)
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None
    ok(api.post(url, json={"variant_id": "1", "traffic_allocation": 0}))  # 0 and 100 are in range


def test_draft_cannot_serve(api: httpx.Client) -> None:
    response = api.post(f"{US}/experiment/1236/serve-winner", json={"variant_id": "1"})
    assert error(response, 409) == "Experiment is a draft and cannot serve"


def test_rollout_bad_requests(api: httpx.Client) -> None:
    url = f"{US}/experiment/1237/serving-rollout"
    for body in ({}, {"traffic_allocation": "x"}, {"traffic_allocation": 101}, {"traffic_allocation": False}):
        assert "traffic_allocation" in error(api.patch(url, json=body), 400)


def test_update_status(api: httpx.Client) -> None:
    url = f"{US}/experiment/1234/status"
    assert ok(api.patch(url, json={"status": 0})) == {"success": True, "test_id": 1234, "status": 0}
    assert ok(api.get(f"{US}/experiment/1234/result"))["status"] == "inactive"
    ok(api.patch(url, json={"status": 9}))
    ok(api.patch(url, json={"status": 1}))
    error(api.patch(url, json={"status": 9}), 400)  # back to draft only from inactive
    for status in (5, "live", True, None):
        assert error(api.patch(url, json={"status": status}), 400) == "Invalid status value — must be 0, 1, or 9"


async def test_concurrent_serves_apply_once(mida_sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient(base_url=mida_sandbox.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as api:
        responses = await asyncio.gather(*(
            api.post(f"{US}/experiment/1234/serve-winner", json={"variant_id": str(i % 2), "traffic_allocation": i})
            for i in range(20)
        ))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 19
    winner = next(r.json() for r in responses if r.status_code == 200)
    state = mida_sandbox.experiment(1234)
    assert (state["serving_variant_id"], state["traffic_allocation"]) == (winner["serving_variant_id"], winner["traffic_allocation"])


# ------------------------------------------------------------------------------- control API


def test_requests_are_recorded(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    api.get(f"{US}/experiments", params={"limit": 5})
    api.post(f"{US}/experiment/1234/serve-winner", json={"variant_id": "1", "traffic_allocation": 10},
             headers={"X-Extra": "yes"})
    api.get(f"{US}/experiment/abc/result")
    listed, write, bad = mida_sandbox.requests()
    assert (listed["method"], listed["path"], listed["query"], listed["json"]) == ("GET", f"{US}/experiments", {"limit": "5"}, None)
    assert write["json"] == {"variant_id": "1", "traffic_allocation": 10}
    assert write["headers"]["authorization"] == f"Bearer {API_KEY}" and write["headers"]["x-extra"] == "yes"
    assert listed["at"] <= write["at"] <= bad["at"]
    assert mida_sandbox.writes() == [write]
    assert mida_sandbox.requests(method="get", path_contains="/result") == [bad]
    mida_sandbox.clear_requests()
    assert mida_sandbox.requests() == []


def test_faults_apply_times_and_are_recorded(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", path_contains="/result", status=503, retry_after=2, times=2)
    url = f"{US}/experiment/1234/result"
    first = api.get(url)
    assert error(first, 503) == "Service Unavailable" and first.headers["retry-after"] == "2"
    ok(api.get(f"{US}/experiments"))  # another path: not faulted, and does not use up a time
    error(api.get(url), 503)
    ok(api.get(url))
    assert len(mida_sandbox.requests(path_contains="/result")) == 3

    mida_sandbox.fault(method="POST", status=500, error="Database is on fire", times=1)
    assert error(api.post(f"{US}/experiment/1234/stop-serving"), 500) == "Database is on fire"
    ok(api.post(f"{US}/experiment/1237/stop-serving"))  # one time only


def test_fault_until_cleared_and_drops(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/experiments", status=502)
    for _ in range(3):
        error(api.get(f"{US}/experiments"), 502)
    mida_sandbox.clear_faults()
    ok(api.get(f"{US}/experiments"))

    mida_sandbox.fault(method="POST", drop="before_apply", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"{US}/experiment/1234/serve-winner", json={"variant_id": "1"})
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None
    mida_sandbox.fault(method="POST", drop="after_apply", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"{US}/experiment/1234/serve-winner", json={"variant_id": "1"})
    assert mida_sandbox.experiment(1234)["serving_variant_id"] == "1"
    assert len(mida_sandbox.writes()) == 2


def test_fault_latency(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", latency=0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        api.get(f"{US}/experiments", timeout=0.1)
    ok(api.get(f"{US}/experiments", timeout=0.1))


def test_fault_changes_the_answer_of_an_applied_write(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/serve-winner", answer_merge={"success": False, "serving_variant_id": "0"}, times=1)
    body = api.post(f"{US}/experiment/1234/serve-winner", json={"variant_id": "1", "traffic_allocation": 25}).json()
    assert (body["success"], body["serving_variant_id"], body["traffic_allocation"]) == (False, "0", 25)
    assert mida_sandbox.experiment(1234)["serving_variant_id"] == "1"  # applied all the same

    mida_sandbox.fault(path_contains="/stop-serving", answer_text="<html>Bad gateway</html>", times=1)
    answer = api.post(f"{US}/experiment/1234/stop-serving")
    assert answer.status_code == 200 and answer.text == "<html>Bad gateway</html>"
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None


def test_fault_answers_a_write_without_applying_it(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/serving-rollout", apply=False, answer_omit=["is_serving"], times=1)
    body = ok(api.patch(f"{US}/experiment/1237/serving-rollout", json={"traffic_allocation": 80}))
    assert body["traffic_allocation"] == 80 and "is_serving" not in body
    assert mida_sandbox.experiment(1237)["traffic_allocation"] == 50
    ok(api.patch(f"{US}/experiment/1237/serving-rollout", json={"traffic_allocation": 80}))
    assert mida_sandbox.experiment(1237)["traffic_allocation"] == 80


def test_fault_changes_the_numbers_of_a_result(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/result", answer_merge={"variants": [{}, {"visitors": -4}]}, answer_omit=["report_phase"])
    body = ok(api.get(f"{US}/experiment/1234/result"))
    assert [v["visitors"] for v in body["variants"]] == [1500, -4]
    assert body["variants"][1]["name"] == "Variant 1 — Red CTA Button" and "report_phase" not in body
    error(api.get(f"{US}/experiment/9999/result"), 404)  # errors are left alone


def test_bad_fault_is_refused(mida_sandbox: SandboxServer) -> None:
    for fault in ({"drop": "sometimes"}, {"times": 0}, {"status": "bad"}, {"colour": "red"},
                  {"answer_merge": [1]}, {"answer_omit": "report_phase"}, {"answer_text": 3}, {"apply": "no"},
                  {"status": 500, "apply": False}, {"status": 500, "answer_text": "x"}):
        with pytest.raises(httpx.HTTPStatusError):
            mida_sandbox.fault(**fault)


def test_dashboard_changes_and_reset(api: httpx.Client, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=30)
    result = ok(api.get(f"{US}/experiment/1234/result"))
    assert (result["serving_variant_id"], result["traffic_allocation"]) == ("1", 30)
    mida_sandbox.set_experiment(1237, serving_variant_id=None)
    assert "serving_variant_id" not in ok(api.get(f"{US}/experiment/1237/result"))
    mida_sandbox.set_experiment(1238, status=0)
    assert ok(api.get(f"{US}/experiment/1238/result"))["status"] == "inactive"
    with pytest.raises(httpx.HTTPStatusError):
        mida_sandbox.set_experiment(1238, serving_variant_id="9")
    with pytest.raises(httpx.HTTPStatusError):
        mida_sandbox.set_experiment(4040, status=1)

    mida_sandbox.fault(status=500)
    mida_sandbox.reset()
    assert mida_sandbox.requests() == []
    rows = {e["test_id"]: e for e in ok(api.get(f"{US}/experiments"))["experiments"]}
    assert "serving_variant_id" not in rows[1234] and rows[1237]["serving_variant_id"] == "1" and rows[1238]["status"] == 1


# ------------------------------------------------------------------------------- entry points


async def test_start_sandbox_and_banner() -> None:
    runner, state = await start_sandbox("127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/v2/project/sandbox-eu/experiments",
                                        headers={"x-api-key": EU_API_KEY})
        assert response.json()["count"] == 2
        assert len(state.requests) == 1
    finally:
        await runner.cleanup()
    text = banner("127.0.0.1", 8765, SandboxState.seeded())
    assert "MIDA_API_URL=http://127.0.0.1:8765/{region}/v2" in text
    for key in ("sandbox-project", API_KEY, "sandbox-eu", EU_API_KEY):
        assert key in text
