"""The logs of the real processes (`serve --no-worker` and `worker`, at DEBUG) in both formats: with
LOG_FORMAT=json every line is one JSON object with level, logger, message and the `extra=` fields;
in both, one correlation id follows a command from the web process's ack through the lazy queue to
the worker's line and its Mida call (and a confirmed change through the execution queue to its
execution); and no secret is in either."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.store.client import redis_client
from bot.store.rules import RulesStore
from standins.people import ALICE, CHANNEL, TEAM
from standins.flows import open_change_modal, submit_change
from tests.e2e.test_durability import connect_workspace, final_card
from standins.bot_server import BOT_TOKEN, ENCRYPTION_KEY, SIGNING_SECRET, BotProcess, WorkerProcess, bot_env
from standins.sandbox import API_KEY
from standins.slack_requests import BotClient

TEXT_CID = re.compile(r"correlation_id='([0-9a-f]{16})'")


def run_results_command(tmp_path, env, slack_api, *, then_serve: bool = False) -> tuple[str, str]:
    """Connect, then `/mida results 1234` (and, `then_serve`, a serve-winner that needs no approval);
    the two processes' whole output once they stopped."""
    web = BotProcess(env, tmp_path / "web.log", args=("--no-worker",)).start()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        slack = BotClient(web.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        connect_workspace(slack, slack_api)
        assert slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL).status_code == 200
        slack_api.wait_for_response("cmd", predicate=lambda r: "Homepage CTA" in json.dumps(r), timeout=15)
        if then_serve:
            asyncio.run(policy_off(env["REDIS_URL"]))
            view = open_change_modal(slack, slack_api, "serve-winner 1234 1 20")
            assert "errors" not in submit_change(slack, view, variant="1", rollout="20").text
            final_card(slack_api, "Done")
    finally:
        worker.stop()
        web.stop()
    return web.output(), worker.output()


async def policy_off(redis_url: str) -> None:
    client = redis_client(redis_url, max_connections=4)
    await RulesStore(client).save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF), [])
    await client.aclose()


def assert_no_secret(output: str) -> None:
    for secret in (API_KEY, BOT_TOKEN, SIGNING_SECRET, ENCRYPTION_KEY):
        for form in {secret, json.dumps(secret)[1:-1]}:
            assert form not in output


@pytest.fixture
def env(clean_redis, redis_url, slack_api, mida_sandbox):
    # Reads through the queue, so the results command's lines show the id crossing to the worker.
    return bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                   MIDA_LOCAL_READS="0")


def test_json_lines_and_one_correlation_id_from_the_ack_to_the_mida_call(tmp_path, env, slack_api):
    web_out, worker_out = run_results_command(tmp_path, {**env, "LOG_FORMAT": "json"}, slack_api, then_serve=True)
    lines = {}
    for name, output in (("web", web_out), ("worker", worker_out)):
        records = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
        assert records and all(isinstance(r, dict) and {"time", "level", "logger", "message"} <= set(r) for r in records)
        assert any(r["level"] == "DEBUG" for r in records)
        lines[name] = records
    acks = [r for r in lines["web"] if r["message"] == "Slack request acked" and r["kind"] == "command"]
    assert len(acks) == 3  # connect, results, serve-winner
    cid = acks[1]["correlation_id"]
    assert len({a["correlation_id"] for a in acks}) == 3
    assert isinstance(acks[1]["ms"], float)  # an `extra=` field, as a JSON number

    work = [r for r in lines["worker"] if r["message"] == "work after the ack done" and r.get("correlation_id") == cid]
    assert [(r["logger"], r["kind"], r["outcome"]) for r in work] == [("bot.slack.lazy_queue", "command", "ok")]
    mida = [r for r in lines["worker"] if r["logger"] == "bot.mida.client" and r.get("correlation_id") == cid]
    assert mida and mida[0]["method"] == "GET" and mida[0]["status"] == 200
    assert mida[0]["path"].endswith("/experiment/1234/result")

    # The confirm modal's submission queues the execution (mida:jobs) with its correlation id.
    submitted = [r for r in lines["web"] if r["message"] == "Slack request acked" and r["kind"] == "view"][-1]
    cid = submitted["correlation_id"]
    mine = [r for r in lines["worker"] if r.get("correlation_id") == cid]
    assert any(r["message"] == "change executed" and r["status"] == "succeeded" for r in mine)
    assert any(r["logger"] == "bot.mida.client" and r["path"].endswith("/serve-winner") for r in mine)
    assert_no_secret(web_out + worker_out)


def test_text_lines_carry_the_same_correlation_id(tmp_path, env, slack_api):
    web_out, worker_out = run_results_command(tmp_path, env, slack_api)  # LOG_FORMAT unset: text
    assert not web_out.lstrip().startswith("{")
    acks = [line for line in web_out.splitlines() if "Slack request acked" in line and "kind='command'" in line]
    assert len(acks) == 2
    match = TEXT_CID.search(acks[-1])
    assert match is not None
    cid = match[1]
    mine = [line for line in worker_out.splitlines() if f"correlation_id='{cid}'" in line]
    assert any("work after the ack done" in line for line in mine)
    assert any("bot.mida.client" in line and "/experiment/1234/result -> 200" in line for line in mine)
    assert_no_secret(web_out + worker_out)
