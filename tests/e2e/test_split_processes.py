"""`serve --no-worker` acks, does reads itself while it has room, and queues the rest; `worker`
does the rest. Until a worker runs, nothing is lost: the work waits in Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.store.client import redis_client
from bot.store.rules import RulesStore
from standins.bot_server import SIGNING_SECRET, BotProcess, WorkerProcess, bot_env
from standins.flows import connect, submit_change
from standins.people import ALICE, CHANNEL, introduce
from standins.slack_requests import BotClient


@pytest.mark.cluster
def test_the_web_process_only_acks_and_the_worker_does_the_work(
    clean_redis, redis_url, slack_api, mida_sandbox, tmp_path
):
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    web = BotProcess(env, tmp_path / "web.log", args=("--no-worker",)).start()
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        slack = BotClient(web.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        introduce(slack_api)
        worker.start()
        assert connect(slack, slack_api).status_code == 200  # connect checks Mida before its ack
        worker.stop()

        # No worker: a read is done by the web process itself, which has room for it...
        assert slack.command("results 1234", user_id=ALICE).status_code == 200
        answer = slack_api.wait_for_response("cmd", timeout=15)[-1]
        assert "Homepage CTA Button Color Test" in json.dumps(answer)
        assert clean_redis.xlen("mida:lazy") == 0

        # ...but a change is acked at once and its work waits in Redis until a worker runs.
        async def policy_off() -> None:
            client = redis_client(redis_url, max_connections=4)
            await RulesStore(client).save(TeamRef(team_id="T0001"), None, ChannelRules(mode=ApprovalMode.OFF), [])
            await client.aclose()

        asyncio.run(policy_off())
        opened = len(slack_api.calls("views.open"))
        assert slack.command("serve-winner 1234 1 20", user_id=ALICE, channel_id=CHANNEL).status_code == 200
        time.sleep(1.0)
        assert len(slack_api.calls("views.open")) == opened
        assert clean_redis.xlen("mida:lazy") == 1

        # A whole serve, with the web process acking and the worker doing everything else.
        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        update = slack_api.wait_for("views.update", timeout=15)[-1]
        submit_change(slack, slack_api.view(update["view_id"]), variant="1", rollout="20")
        slack_api.wait_for("chat.update", predicate=lambda c: "succeeded" in json.dumps(c.params).lower(), timeout=15)
        assert len([w for w in mida_sandbox.writes() if w["path"].endswith("/serve-winner")]) == 1
    finally:
        worker.stop()
        web.stop()


def test_with_no_room_for_reads_a_read_waits_in_redis_for_a_worker(clean_redis, redis_url, slack_api, mida_sandbox,
                                                                    tmp_path):
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                  MIDA_LOCAL_READS="0")
    web = BotProcess(env, tmp_path / "web.log", args=("--no-worker",)).start()
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        slack = BotClient(web.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        introduce(slack_api)
        worker.start()
        assert connect(slack, slack_api).status_code == 200
        worker.stop()

        assert slack.command("results 1234", user_id=ALICE).status_code == 200
        time.sleep(1.0)
        assert slack_api.responses("cmd") == []
        assert clean_redis.xlen("mida:lazy") == 1

        worker = WorkerProcess(env, tmp_path / "worker2.log").start()
        answer = slack_api.wait_for_response("cmd", timeout=15)[-1]
        assert "Homepage CTA Button Color Test" in json.dumps(answer)
    finally:
        worker.stop()
        web.stop()
