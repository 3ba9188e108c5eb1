"""`GET /metrics` scraped over HTTP from the running bot after real flows, parsed with
prometheus_client's own parser: the counters moved by what happened, in the process that did it
(the web process acks, the worker does the rest and serves its own metrics on MIDA_METRICS_PORT),
the gauges read Redis at scrape time, and no id or secret is in any of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from standins.people import ADMIN, ALICE, BOB, CAROL, CHANNEL, TEAM
from standins.flows import set_policy_off
from tests.e2e.test_durability import approve, audit_events, connect_workspace, final_card, request_serve
from tests.e2e.test_faults import confirm_serve, fast_env, final_event
from standins.bot_server import (
    BOT_TOKEN,
    ENCRYPTION_KEY,
    SIGNING_SECRET,
    BotProcess,
    InProcessBot,
    WorkerProcess,
    bot_env,
)
from standins.redis_server import free_port
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.slack_requests import BotClient
from standins.waiting import wait_until

RESULT = "/project/{project_key}/experiment/{test_id}/result"
SERVE = "/project/{project_key}/experiment/{test_id}/serve-winner"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def assert_no_id_or_secret(text: str, *ids: str) -> None:
    samples = parse(text)
    label_values = {v for _, labels in samples for _, v in labels}
    for forbidden in (TEAM, ADMIN, ALICE, BOB, CAROL, CHANNEL, PROJECT_KEY, "1234", *ids):
        assert not any(forbidden in v for v in label_values), f"{forbidden!r} is a label value"
    for forbidden in (TEAM, ALICE, BOB, PROJECT_KEY, API_KEY, BOT_TOKEN, SIGNING_SECRET, ENCRYPTION_KEY, *ids):
        assert forbidden not in text, f"{forbidden!r} is in the metrics"
    assert all(n.startswith(("mida_slack_", "python_", "process_")) for n, _ in samples)


def test_the_web_process_and_the_worker_each_serve_their_metrics(
    clean_redis, redis_url, slack_api, mida_sandbox, tmp_path
):
    """The Procfile shape: the web process acks, the worker works; the backlog and its age while no
    worker runs; pending approvals before and after the approval; executions, Mida calls by route
    and status, and a Slack rate limit counted where they happened."""
    worker_port = free_port()
    env = bot_env(
        redis_url=redis_url,
        slack_api_url=slack_api.api_url,
        mida_api_url=mida_sandbox.api_url,
        MIDA_METRICS_PORT=str(worker_port),
        MIDA_LOCAL_READS="0",  # the read below goes through the queue, so the backlog shows
    )
    worker_url = f"http://127.0.0.1:{worker_port}"
    web = BotProcess(env, tmp_path / "web.log", args=("--no-worker",)).start()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        slack = BotClient(web.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        connect_workspace(slack, slack_api)
        worker.stop()

        # No worker: the command's work waits in the lazy queue, and its age grows.
        assert slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL).status_code == 200
        time.sleep(1.2)
        waiting = scrape(web.url)
        assert value(waiting, "mida_slack_queue_length", queue="lazy") == 1
        assert value(waiting, "mida_slack_queue_oldest_entry_age_seconds", queue="lazy") >= 1.0
        assert value(waiting, "mida_slack_queue_length", queue="jobs") == 0

        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        wait_until(lambda: _answers(worker_url + "/readyz"), what="the worker's metrics port")
        answer = slack_api.wait_for_response("cmd", timeout=15)[-1]
        assert "Homepage CTA Button Color Test" in json.dumps(answer)

        slack_api.rate_limit("chat.postMessage", retry_after=0, times=1)  # the card's first post
        request_id = request_serve(slack, slack_api)
        for url in (web.url, worker_url):
            assert value(scrape(url), "mida_slack_approvals_pending") == 1
        approve(slack, request_id)
        wait_until(lambda: "executed" in audit_events(clean_redis), what="the approved change")
        final_card(slack_api, "Done")
        wait_until(
            lambda: value(scrape(worker_url), "mida_slack_queue_length", queue="jobs") == 0, what="the jobs done"
        )

        web_text = httpx.get(f"{web.url}/metrics", timeout=10).text
        worker_text = httpx.get(f"{worker_url}/metrics", timeout=10).text
        assert httpx.get(f"{worker_url}/healthz", timeout=10).status_code == 200
    finally:
        worker.stop()
        web.stop()

    at_web, at_worker = parse(web_text), parse(worker_text)
    # The web process acked everything: connect, results and serve-winner; two modal
    # submissions; the approval click.
    assert value(at_web, "mida_slack_acks_total", kind="command") == 3
    assert value(at_web, "mida_slack_acks_total", kind="view") == 2
    assert value(at_web, "mida_slack_acks_total", kind="action") == 1
    assert value(at_web, "mida_slack_ack_seconds_count", kind="command") == 3
    assert value(at_web, "mida_slack_ack_seconds_bucket", kind="command", le="+Inf") == 3
    assert value(at_web, "mida_slack_work_total") == 0  # --no-worker: no work after the ack here
    assert value(at_web, "mida_slack_acks_total") == value(at_web, "mida_slack_ack_seconds_count")
    # The connect modal is checked against Mida before its ack, in the web process.
    assert value(at_web, "mida_slack_mida_requests_total", method="GET", status="200") >= 1

    # The second worker did results, serve-winner's modal, the card, the approval and the execution.
    assert value(at_worker, "mida_slack_acks_total") == 0
    assert value(at_worker, "mida_slack_work_total", kind="command", outcome="ok") == 2
    assert value(at_worker, "mida_slack_work_total", outcome="unexpected_error") == 0
    assert value(at_worker, "mida_slack_work_seconds_count") == value(at_worker, "mida_slack_work_total")
    assert value(at_worker, "mida_slack_executions_total", outcome="succeeded", reconciled="false") == 1
    assert value(at_worker, "mida_slack_executions_total") == 1
    assert value(at_web, "mida_slack_executions_total") == 0
    assert value(at_worker, "mida_slack_mida_requests_total", method="POST", route=SERVE, status="200") == 1
    assert value(at_worker, "mida_slack_mida_requests_total", method="GET", route=RESULT, status="200") >= 2
    assert value(at_worker, "mida_slack_mida_request_seconds_count", method="POST", route=SERVE) == 1
    assert value(at_worker, "mida_slack_mida_breakers", state="closed") == 1
    assert value(at_worker, "mida_slack_mida_breakers", state="open") == 0
    assert value(at_worker, "mida_slack_slack_api_rate_limited_total", method="chat.postMessage") == 1
    assert value(at_worker, "mida_slack_slack_api_requests_total", method="chat.postMessage") >= 2
    assert value(at_worker, "mida_slack_slack_api_errors_total") == 0
    for samples in (at_web, at_worker):
        assert value(samples, "mida_slack_approvals_pending") == 0
        assert value(samples, "mida_slack_queue_length", queue="lazy") == 0
        assert value(samples, "mida_slack_queue_oldest_entry_age_seconds", queue="jobs") == 0
    for text in (web_text, worker_text):
        assert_no_id_or_secret(text, request_id)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def fbot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    server = InProcessBot(fast_env(redis_url, slack_api, mida_sandbox)).start()
    yield server
    server.stop()


def test_failed_and_reconciled_executions_a_slack_error_and_an_open_breaker_are_counted(
    fbot, slack_api, mida_sandbox, clean_redis
):
    """One process doing everything (plain `serve`); the counters are the test process's own, so
    the test compares them before and after."""
    slack = BotClient(fbot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
    connect_workspace(slack, slack_api)
    set_policy_off(fbot)
    before = scrape(fbot.url)

    # Mida answers 500 to the write: failed, settled by reading the experiment back.
    submit = confirm_serve(slack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", status=500, error="Internal error", times=1)
    submit()
    final_card(slack_api, "Failed")
    assert final_event(clean_redis)["event"] == "failed"
    # The answer to the next write is lost after Mida applied it: succeeded, reconciled.
    slack_api.clear()
    submit = confirm_serve(slack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", drop="after_apply", times=1)
    submit()
    wait_until(lambda: audit_events(clean_redis).count("executed") == 1, what="the reconciled execution")
    executed = scrape(fbot.url)
    assert delta(executed, before, "mida_slack_executions_total", outcome="failed", reconciled="true") == 1
    assert delta(executed, before, "mida_slack_executions_total", outcome="succeeded", reconciled="true") == 1
    assert delta(executed, before, "mida_slack_executions_total") == 2
    assert delta(executed, before, "mida_slack_mida_requests_total", route=SERVE, status="500") == 1
    assert delta(executed, before, "mida_slack_mida_requests_total", route=SERVE, status="no_answer") == 1

    # Slack refuses to publish the Home tab once.
    slack_api.fail("views.publish", "not_enabled", times=1)
    slack.event({"type": "app_home_opened", "user": ALICE, "channel": "D0001", "tab": "home"})
    slack_api.wait_for("views.publish")
    errors = wait_until(
        lambda: delta(s := scrape(fbot.url), before, "mida_slack_slack_api_errors_total", error="not_enabled") and s,
        what="the Slack error counted",
    )
    assert delta(errors, before, "mida_slack_slack_api_errors_total", method="views.publish", error="not_enabled") == 1
    assert delta(errors, before, "mida_slack_acks_total", kind="event") == 1

    # A dead Mida: five failed results open the project's breaker.
    mida_sandbox.fault(method="GET", status=503)
    for n in range(1, 6):
        slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL)
        slack_api.wait_for_response("cmd", count=n, timeout=10)
    tripped = scrape(fbot.url)
    assert value(tripped, "mida_slack_mida_breakers", state="open") == 1
    assert value(tripped, "mida_slack_mida_breakers", state="closed") == 0
    assert delta(tripped, before, "mida_slack_mida_breaker_opened_total") == 1
    assert delta(tripped, before, "mida_slack_mida_requests_total", method="GET", route=RESULT, status="503") >= 5
    assert_no_id_or_secret(httpx.get(f"{fbot.url}/metrics", timeout=10).text)
