"""MidaClient against the sandbox over real HTTP: paths, bodies, errors, retries, breaker, secrecy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from bot.mida.client import BreakerPolicy, MidaClient, MidaProject, RetryPolicy, Timeouts
from bot.mida.errors import (
    MidaAnswerUnreadable,
    MidaBadRequest,
    MidaBadResponse,
    MidaConflict,
    MidaError,
    MidaNotFound,
    MidaOutcomeUnknown,
    MidaRateLimited,
    MidaServerError,
    MidaUnauthorized,
    MidaUnavailable,
)
from bot.mida.models import ExperimentStatus, ReportPhase
from standins.sandbox import API_KEY, EU_API_KEY, EU_PROJECT_KEY, PROJECT_KEY, SandboxServer

TIMEOUTS = Timeouts(connect=0.5, read=0.3, write=0.5, pool=0.5, total=3.0)
RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02, retry_after_cap=0.5)
NO_BREAKER = BreakerPolicy(failures=1000, pause=0.2)


@pytest.fixture
async def client(mida_sandbox: SandboxServer) -> AsyncIterator[MidaClient]:
    client = MidaClient(mida_sandbox.api_url, timeouts=TIMEOUTS, retry=RETRY, breaker=NO_BREAKER)
    yield client
    await client.aclose()


@pytest.fixture
def project(client: MidaClient) -> MidaProject:
    return client.project(PROJECT_KEY, "us", API_KEY)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- every method


async def test_list_experiments(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    listing = await project.list_experiments(limit=20, offset=0)
    assert [e.test_id for e in listing.experiments] == [1234, 1235, 1236, 1237, 1238, 1239, *range(1240, 1254)]
    by_id = {e.test_id: e for e in listing.experiments}
    assert by_id[1234].status is ExperimentStatus.LIVE
    assert by_id[1235].status is ExperimentStatus.INACTIVE and by_id[1235].is_completed
    assert by_id[1236].status is ExperimentStatus.DRAFT
    assert by_id[1237].serving_variant_id == "1"
    assert by_id[1234].serving_variant_id is None
    (request,) = mida_sandbox.requests()
    assert request["method"] == "GET"
    assert request["path"] == "/us/v2/project/sandbox-project/experiments"
    assert request["query"] == {"limit": "20", "offset": "0"}
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"


async def test_check_credentials(project: MidaProject, client: MidaClient, mida_sandbox: SandboxServer) -> None:
    await project.check_credentials()
    assert mida_sandbox.requests()[-1]["query"]["limit"] == "1"
    with pytest.raises(MidaUnauthorized, match="Invalid or missing API key"):
        await client.project(PROJECT_KEY, "us", "mida_sk_wrong").check_credentials()
    with pytest.raises(MidaUnauthorized):  # right key, wrong region
        await client.project(PROJECT_KEY, "eu", API_KEY).check_credentials()
    with pytest.raises(MidaUnauthorized):  # another project's key
        await client.project(PROJECT_KEY, "us", EU_API_KEY).check_credentials()
    await client.project(EU_PROJECT_KEY, "eu", EU_API_KEY).check_credentials()


async def test_template_without_region_is_used_as_is(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(mida_sandbox.base_url + "/v2/", timeouts=TIMEOUTS, retry=RETRY)
    try:
        listing = await client.project(EU_PROJECT_KEY, "eu", EU_API_KEY).list_experiments()
    finally:
        await client.aclose()
    assert {e.test_id for e in listing.experiments} == {2001, 2002}
    assert mida_sandbox.requests()[-1]["path"] == "/v2/project/sandbox-eu/experiments"


async def test_get_result(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    result = await project.get_result(1234)
    assert result.test_name == "Homepage CTA Button Color Test"
    assert result.status is ExperimentStatus.LIVE and result.days_running == 15
    assert not result.serving
    control, winner = result.variants
    assert control.is_control and control.improvement is None
    assert winner.improvement == 25.0
    assert "report_phase" not in mida_sandbox.requests()[-1]["query"]


async def test_get_result_report_phase(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    pre = await project.get_result(1237)
    assert pre.report_phase is ReportPhase.PRE_DEPLOY
    assert pre.serving_variant_id == "1" and pre.traffic_allocation == 50
    post = await project.get_result(1237, ReportPhase.POST_DEPLOY)
    assert post.report_phase is ReportPhase.POST_DEPLOY
    assert mida_sandbox.requests()[-1]["query"] == {"report_phase": "post_deploy"}
    assert post.total_visitors != pre.total_visitors


async def test_get_timeseries(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    series = await project.get_timeseries(1237, ReportPhase.POST_DEPLOY)
    assert series.test_id == 1237 and series.count == len(series.timeseries) > 0
    assert {row.variant_id for row in series.timeseries} == {"0", "1"}
    request = mida_sandbox.requests()[-1]
    assert request["path"].endswith("/experiment/1237/timeseries")
    assert request["query"] == {"report_phase": "post_deploy"}


async def test_serve_winner_sends_exactly_the_documented_body(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    state = await project.serve_winner(1234, "1", 25.0)
    assert (state.test_id, state.serving_variant_id, state.traffic_allocation, state.is_serving) == (1234, "1", 25, True)
    (write,) = mida_sandbox.writes()
    assert write["method"] == "POST"
    assert write["path"] == "/us/v2/project/sandbox-project/experiment/1234/serve-winner"
    assert write["json"] == {"variant_id": "1", "traffic_allocation": 25}
    assert type(write["json"]["traffic_allocation"]) is int
    assert write["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert write["headers"]["content-type"] == "application/json"
    assert API_KEY not in write["path"] and not write["query"]


async def test_serve_winner_fractional_rollout(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    state = await project.serve_winner(1238, "1", 12.5)
    assert state.traffic_allocation == 12.5
    assert mida_sandbox.writes()[0]["json"] == {"variant_id": "1", "traffic_allocation": 12.5}


async def test_serve_winner_without_rollout_keeps_midas(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.set_experiment(1238, traffic_allocation=40)
    state = await project.serve_winner(1238, "2")
    assert (state.serving_variant_id, state.traffic_allocation) == ("2", 40)
    assert mida_sandbox.writes()[0]["json"] == {"variant_id": "2"}


async def test_update_serving_rollout(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    state = await project.update_serving_rollout(1237, 80)
    assert state.traffic_allocation == 80 and state.is_serving
    (write,) = mida_sandbox.writes()
    assert write["method"] == "PATCH"
    assert write["path"].endswith("/experiment/1237/serving-rollout")
    assert write["json"] == {"traffic_allocation": 80}
    assert (await project.get_result(1237)).traffic_allocation == 80


async def test_stop_serving(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    state = await project.stop_serving(1237)
    assert state.serving_variant_id is None and state.is_serving is False
    (write,) = mida_sandbox.writes()
    assert write["path"].endswith("/experiment/1237/stop-serving")
    assert write["json"] == {}
    assert not (await project.get_result(1237)).serving


# ------------------------------------------------------------------------------- documented errors


async def test_documented_errors_carry_midas_text(project: MidaProject, client: MidaClient, mida_sandbox: SandboxServer) -> None:
    with pytest.raises(MidaConflict) as conflict:
        await project.serve_winner(1237, "1", 100)
    assert conflict.value.message == "Experiment is already serving a winner"
    assert conflict.value.status == 409
    with pytest.raises(MidaConflict, match="Experiment is a draft and cannot serve"):
        await project.serve_winner(1236, "1", 100)
    with pytest.raises(MidaBadRequest) as bad:
        await project.serve_winner(1234, "9", 100)
    assert bad.value.status == 400 and "variant" in bad.value.message
    with pytest.raises(MidaBadRequest):
        await project.serve_winner(1234, "1", 101)
    with pytest.raises(MidaConflict, match="Experiment is not currently serving a winner"):
        await project.update_serving_rollout(1234, 50)
    with pytest.raises(MidaConflict, match="Experiment is not currently serving a winner"):
        await project.stop_serving(1234)
    with pytest.raises(MidaNotFound, match="Experiment not found"):
        await project.get_result(9999)
    with pytest.raises(MidaNotFound, match="Experiment not found"):  # the EU project's experiment
        await project.get_timeseries(2001)
    with pytest.raises(MidaUnauthorized, match="Invalid or missing API key"):
        await client.project(PROJECT_KEY, "us", "nope").get_result(1234)
    # 4xx answers are final: each call above was sent exactly once
    assert len(mida_sandbox.requests()) == 9
    assert len(mida_sandbox.writes()) == 6


async def test_error_text_falls_back_to_the_reason_phrase(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/result", status=418, error="")
    with pytest.raises(MidaError) as caught:
        await project.get_result(1234)
    assert caught.value.status == 418 and caught.value.message == "I'm a Teapot"


@contextlib.asynccontextmanager
async def answering(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A server on loopback answering every request with `handler`; yields its URL template."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/{{region}}/v2"
    finally:
        await runner.cleanup()


async def test_non_json_error_and_bad_2xx_bodies() -> None:
    answers = {
        "/experiments": (502, "<html>bad gateway</html>"),
        "/result": (200, "not json"),
        "/timeseries": (200, json.dumps({"success": True, "timeseries": "nope"})),
        "/serve-winner": (200, json.dumps(["not", "an", "object"])),
    }

    async def handler(request: web.Request) -> web.Response:
        status, text = next(a for suffix, a in answers.items() if request.path.endswith(suffix))
        return web.Response(status=status, text=text)

    async with answering(handler) as url:
        client = MidaClient(url, timeouts=TIMEOUTS, retry=RetryPolicy(attempts=1), breaker=NO_BREAKER)
        project = client.project("p", "us", API_KEY)
        try:
            with pytest.raises(MidaServerError) as server_error:
                await project.list_experiments()
            assert server_error.value.message == "Bad Gateway" and server_error.value.status == 502
            with pytest.raises(MidaBadResponse):
                await project.get_result(1)
            with pytest.raises(MidaBadResponse):
                await project.get_timeseries(1)
            with pytest.raises(MidaAnswerUnreadable):
                await project.serve_winner(1, "1", 100)
        finally:
            await client.aclose()


async def test_a_write_answered_unreadably_has_an_unknown_outcome_and_is_not_resent(
    project: MidaProject, mida_sandbox: SandboxServer
) -> None:
    mida_sandbox.fault(path_contains="/serve-winner", answer_text="<html>OK</html>", times=1)
    with pytest.raises(MidaAnswerUnreadable) as caught:
        await project.serve_winner(1234, "1", 25)
    assert isinstance(caught.value, MidaOutcomeUnknown)
    assert caught.value.message == "Mida answered 200 with a body that is not JSON"
    mida_sandbox.fault(path_contains="/serving-rollout", answer_omit=["traffic_allocation"], times=1)
    with pytest.raises(MidaAnswerUnreadable) as caught:
        await project.update_serving_rollout(1234, 40)
    assert caught.value.message == "Mida's answer is not what its docs describe (fields: traffic_allocation)"
    assert len(mida_sandbox.writes()) == 2
    assert mida_sandbox.experiment(1234)["traffic_allocation"] == 40  # both were applied


async def test_a_read_with_impossible_counts_is_a_bad_response(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(path_contains="/result", answer_merge={"variants": [{}, {"conversions": 9999}]}, times=1)
    with pytest.raises(MidaBadResponse) as caught:
        await project.get_result(1234)
    assert not isinstance(caught.value, MidaOutcomeUnknown)
    assert caught.value.message == (
        "Mida's answer has numbers that cannot be right (variant 1 has more conversions (9999) than visitors (1480))"
    )


async def test_project_key_is_url_quoted() -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"success": True, "count": 0, "experiments": []})

    async with answering(handler) as url:
        client = MidaClient(url)
        try:
            await client.project("a/b c?d", "eu", API_KEY).list_experiments()
        finally:
            await client.aclose()
    assert seen == ["/eu/v2/project/a%2Fb%20c%3Fd/experiments?limit=50&offset=0"]


# ------------------------------------------------------------------------------- retries: reads


async def test_read_429_with_retry_after_then_success(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", path_contains="/result", status=429, retry_after=0.2, times=1)
    result = await project.get_result(1234)
    assert result.test_id == 1234
    first, second = mida_sandbox.requests(path_contains="/result")
    assert second["at"] - first["at"] >= 0.19  # waited as told


async def test_read_429_every_time_ends_rate_limited(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", status=429, retry_after=0.05, error="Too many requests, slow down")
    with pytest.raises(MidaRateLimited) as caught:
        await project.list_experiments()
    assert caught.value.retry_after == 0.05
    assert caught.value.message == "Too many requests, slow down"
    assert len(mida_sandbox.requests()) == 3


async def test_read_5xx_retried(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", status=503, times=2)
    assert (await project.list_experiments()).count == 21
    assert len(mida_sandbox.requests()) == 3
    mida_sandbox.clear_requests()
    mida_sandbox.fault(method="GET", status=500, error="Internal error")
    with pytest.raises(MidaServerError, match="Internal error"):
        await project.list_experiments()
    assert len(mida_sandbox.requests()) == 3


async def test_read_dropped_connection_retried(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", drop="before_apply", times=1)
    assert (await project.get_result(1234)).test_id == 1234
    assert len(mida_sandbox.requests()) == 2


async def test_read_slower_than_read_timeout_retried_then_unavailable(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="GET", latency=1.0)
    with pytest.raises(MidaUnavailable) as caught:
        await project.get_result(1234)
    assert "3 attempts" in caught.value.message
    assert len(mida_sandbox.requests()) == 3


async def test_total_deadline_bounds_retries(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(mida_sandbox.api_url, timeouts=Timeouts(read=0.3, total=0.5),
                        retry=RetryPolicy(attempts=10, backoff=0.01), breaker=NO_BREAKER)
    mida_sandbox.fault(method="GET", latency=1.0)
    try:
        with pytest.raises(MidaUnavailable):
            await client.project(PROJECT_KEY, "us", API_KEY).get_result(1234)
    finally:
        await client.aclose()
    assert 1 <= len(mida_sandbox.requests()) <= 2


async def test_retry_after_beyond_the_deadline_is_not_waited_for(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(mida_sandbox.api_url, timeouts=Timeouts(total=1.0),
                        retry=RetryPolicy(retry_after_cap=5.0), breaker=NO_BREAKER)
    mida_sandbox.fault(method="GET", status=429, retry_after=3)
    try:
        with pytest.raises(MidaRateLimited):
            await client.project(PROJECT_KEY, "us", API_KEY).list_experiments()
    finally:
        await client.aclose()
    assert len(mida_sandbox.requests()) == 1


# ------------------------------------------------------------------------------- retries: writes


async def test_write_dropped_after_apply_is_outcome_unknown_and_not_resent(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", drop="after_apply")
    with pytest.raises(MidaOutcomeUnknown):
        await project.serve_winner(1234, "1", 25)
    assert len(mida_sandbox.writes()) == 1
    mida_sandbox.clear_faults()
    after = await project.get_result(1234)  # what the bot does next: read it back
    assert after.serving_variant_id == "1" and after.traffic_allocation == 25


async def test_write_dropped_before_apply_is_outcome_unknown_too(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="PATCH", drop="before_apply")
    with pytest.raises(MidaOutcomeUnknown):
        await project.update_serving_rollout(1237, 75)
    assert len(mida_sandbox.writes()) == 1
    assert mida_sandbox.experiment(1237)["traffic_allocation"] == 50


async def test_write_timeout_is_outcome_unknown_and_not_resent(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="POST", latency=1.0)
    with pytest.raises(MidaOutcomeUnknown):
        await project.stop_serving(1237)
    assert len(mida_sandbox.writes()) == 1


async def test_write_5xx_is_not_retried(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="POST", status=503, retry_after=0.01, error="Service unavailable")
    with pytest.raises(MidaServerError, match="Service unavailable"):
        await project.serve_winner(1234, "1", 100)
    assert len(mida_sandbox.writes()) == 1


async def test_write_429_is_retried(project: MidaProject, mida_sandbox: SandboxServer) -> None:
    mida_sandbox.fault(method="POST", status=429, retry_after=0.05, times=1)
    state = await project.serve_winner(1234, "1", 100)
    assert state.is_serving
    assert len(mida_sandbox.writes()) == 2


async def test_write_to_nothing_listening_is_retried_then_unavailable(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(f"http://127.0.0.1:{free_port()}/{{region}}/v2", timeouts=TIMEOUTS, retry=RETRY, breaker=NO_BREAKER)
    try:
        with pytest.raises(MidaUnavailable) as caught:
            await client.project(PROJECT_KEY, "us", API_KEY).serve_winner(1234, "1", 100)
    finally:
        await client.aclose()
    assert "ClientConnectorError" in caught.value.message and "3 attempts" in caught.value.message
    assert mida_sandbox.writes() == []


# ------------------------------------------------------------------------------- circuit breaker


async def test_breaker_opens_fails_fast_then_half_opens(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(mida_sandbox.api_url, timeouts=TIMEOUTS, retry=RetryPolicy(attempts=1),
                        breaker=BreakerPolicy(failures=3, pause=0.3))
    project = client.project(PROJECT_KEY, "us", API_KEY)
    other = client.project(EU_PROJECT_KEY, "eu", EU_API_KEY)
    try:
        mida_sandbox.fault(method="GET", path_contains="sandbox-project", status=500)
        for _ in range(3):
            with pytest.raises(MidaServerError):
                await project.list_experiments()
        with pytest.raises(MidaUnavailable) as caught:
            await project.get_result(1234)
        assert caught.value.message == "Mida has not answered the last 3 calls; calls are paused for 1 s"
        with pytest.raises(MidaUnavailable):
            await client.project(PROJECT_KEY, "us", API_KEY).stop_serving(1237)  # same project, new handle
        assert len(mida_sandbox.requests()) == 3  # failed fast: nothing sent
        assert (await other.list_experiments()).count == 2  # another project is not affected

        await asyncio.sleep(0.35)  # half-open: one trial goes through, fails, and the breaker reopens
        with pytest.raises(MidaServerError):
            await project.list_experiments()
        with pytest.raises(MidaUnavailable):
            await project.list_experiments()
        assert len(mida_sandbox.requests(path_contains="sandbox-project")) == 4

        mida_sandbox.clear_faults()
        await asyncio.sleep(0.35)
        assert (await project.list_experiments()).count == 21  # the trial succeeds: closed again
        assert (await project.get_result(1234)).test_id == 1234
        assert len(mida_sandbox.requests(path_contains="sandbox-project")) == 6
    finally:
        await client.aclose()


async def test_breaker_ignores_4xx_answers(mida_sandbox: SandboxServer) -> None:
    client = MidaClient(mida_sandbox.api_url, timeouts=TIMEOUTS, retry=RetryPolicy(attempts=1),
                        breaker=BreakerPolicy(failures=2, pause=30))
    project = client.project(PROJECT_KEY, "us", API_KEY)
    try:
        mida_sandbox.fault(method="GET", status=500, times=1)
        with pytest.raises(MidaServerError):
            await project.list_experiments()
        for _ in range(3):
            with pytest.raises(MidaNotFound):
                await project.get_result(4040)
        mida_sandbox.fault(method="GET", status=500, times=1)
        with pytest.raises(MidaServerError):  # 1 outage, a 4xx in between resets: not open yet
            await project.list_experiments()
        assert (await project.list_experiments()).count == 21
    finally:
        await client.aclose()


# ------------------------------------------------------------------------------- secrecy and logs


async def test_api_key_never_in_logs_messages_or_reprs(
    mida_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp", "bot.mida.client"):  # even with aiohttp's own logging on
        caplog.set_level(logging.DEBUG, logger=name)
    client = MidaClient(mida_sandbox.api_url, timeouts=TIMEOUTS, retry=RETRY, breaker=BreakerPolicy(failures=2, pause=5))
    project = client.project(PROJECT_KEY, "us", API_KEY)
    errors: list[BaseException] = []

    async def attempt(call) -> None:  # type: ignore[no-untyped-def]
        try:
            await call
        except MidaError as exc:
            errors.append(exc)

    try:
        await project.list_experiments()
        await project.serve_winner(1234, "1", 30)
        await attempt(project.serve_winner(1234, "1", 30))  # 409
        await attempt(project.get_result(4040))  # 404
        await attempt(client.project(PROJECT_KEY, "eu", API_KEY).get_result(1234))  # 401
        mida_sandbox.fault(method="GET", status=429, retry_after=0.01, times=3)
        await attempt(project.get_timeseries(1234))  # rate limited
        mida_sandbox.fault(method="POST", drop="after_apply", times=1)
        await attempt(project.stop_serving(1234))  # outcome unknown
        mida_sandbox.fault(method="GET", latency=1)
        await attempt(project.get_result(1234))  # unavailable
        await attempt(project.get_result(1234))  # breaker open
    finally:
        await client.aclose()
    kinds = {type(e) for e in errors}
    assert kinds == {MidaConflict, MidaNotFound, MidaUnauthorized, MidaRateLimited, MidaOutcomeUnknown, MidaUnavailable}
    assert caplog.records, "the client logs its calls"
    assert API_KEY not in caplog.text
    assert "mida_sk_" not in caplog.text
    for record in caplog.records:
        assert API_KEY not in repr(record.__dict__)
    for exc in errors:
        chain = [exc, exc.__cause__, exc.__context__]
        assert all(API_KEY not in str(e) and API_KEY not in repr(e) for e in chain if e is not None)
        assert API_KEY not in repr(vars(exc))
    assert API_KEY not in repr(project) and API_KEY not in str(project) and API_KEY not in repr(client)


async def test_one_log_line_per_attempt_with_structured_fields(
    project: MidaProject, mida_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mida_sandbox.fault(method="GET", status=503, times=1)
    await project.get_result(1234)
    records = [r for r in caplog.records if r.name == "bot.mida.client"]
    assert [(r.method, r.path, r.status, r.attempt) for r in records] == [  # type: ignore[attr-defined]
        ("GET", "/project/sandbox-project/experiment/1234/result", 503, 1),
        ("GET", "/project/sandbox-project/experiment/1234/result", 200, 2),
    ]
    assert all(isinstance(r.duration, float) for r in records)  # type: ignore[attr-defined]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]  # an answered read: DEBUG
    caplog.clear()
    await project.serve_winner(1234, "1", 30)
    assert [r.levelno for r in caplog.records if r.name == "bot.mida.client"] == [logging.INFO]  # a write: INFO
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]  # one line per attempt: the bot's


async def test_get_metrics_reads_the_secondary_metrics_and_its_documented_errors(
    client: MidaClient, project: MidaProject, mida_sandbox: SandboxServer
) -> None:
    metrics = await project.get_metrics(1250, ReportPhase.PRE_DEPLOY)
    assert [d.metric_key for d in metrics.metric_definitions] == ["add_to_cart", "newsletter"]
    assert [(r.variant_id, r.total, r.results) for r in metrics.metrics] == [
        ("0", 2000, {1: 600.0, 2: 200.0}), ("1", 2000, {1: 640.0, 2: 150.0})
    ]
    assert mida_sandbox.requests(path_contains="/metrics")[-1]["query"] == {"report_phase": "pre_deploy"}
    with pytest.raises(MidaNotFound):
        await project.get_metrics(4040)
    mida_sandbox.fault(path_contains="/metrics", status=400, error="breakdown_by is not supported", times=1)
    with pytest.raises(MidaBadRequest):
        await project.get_metrics(1250)
    with pytest.raises(MidaUnauthorized):
        await client.project(PROJECT_KEY, "us", "wrong-key-123456").get_metrics(1250)
    mida_sandbox.fault(path_contains="/metrics", answer_merge={"metrics": [{"total": -3}]}, times=1)
    with pytest.raises(MidaBadResponse):
        await project.get_metrics(1250)
