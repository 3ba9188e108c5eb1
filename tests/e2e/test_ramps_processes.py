"""Ramps across real `python -m bot serve` processes: two of them still send each step once, and a
process killed (SIGKILL) while Mida holds a step's write is taken over by another, which reads
back before writing."""

from __future__ import annotations

import time

import pytest

from bot.views import ids
from standins.people import ADMIN, ALICE, BOB, CHANNEL, TEAM
from standins.flows import connect, open_change_modal, submit_change
from tests.e2e.helpers import client_for
from tests.e2e.test_ramps import good_numbers, rollout_writes
from standins.bot_server import bot_env
from standins.slack_requests import BotClient
from standins.waiting import wait_until


@pytest.fixture
def env(clean_redis, redis_url, slack_api, mida_sandbox) -> dict[str, str]:
    return bot_env(
        redis_url=redis_url,
        slack_api_url=slack_api.api_url,
        mida_api_url=mida_sandbox.api_url,
        LOG_LEVEL="INFO",
        MIDA_RAMP_MIN_INTERVAL_SECONDS="1",
        MIDA_WORKER_SWEEP_SECONDS="0.3",
        MIDA_JOB_STALE_AFTER_MS="1500",
        MIDA_READ_TIMEOUT_SECONDS="5",
        MIDA_TOTAL_TIMEOUT_SECONDS="8",
    )


def ramp_state(clean_redis, ramp_id: str) -> dict:
    import json

    body = clean_redis.hget(f"mida:{{{TEAM}}}:ramp:{ramp_id}".encode(), b"body")
    return json.loads(body) if body else {}


def start_ramp(client: BotClient, slack_api, text: str) -> str:
    assert connect(client, slack_api).status_code == 200
    slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ADMIN)
    slack_api.clear()
    view = open_change_modal(client, slack_api, text, user=ALICE)
    assert "errors" not in submit_change(client, view, reason="ramp it").text
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and not c.get("thread_ts"))[-1]
    request_id = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)["elements"][0]["value"]
    assert client.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL).status_code == 200
    return request_id


def test_two_processes_send_each_step_once(env, processes, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    first, _second = processes(env), processes(env)
    ramp_id = start_ramp(client_for(first, slack_api), slack_api, "ramp 1234 1 10,25,50 every 2s")
    wait_until(lambda: ramp_state(clean_redis, ramp_id).get("state") == "done", timeout=40, what="the ramp done")
    time.sleep(1)  # room for a duplicate to show itself
    assert rollout_writes(mida_sandbox) == [
        ("serve-winner", {"variant_id": "1", "traffic_allocation": 10}),
        ("serving-rollout", {"traffic_allocation": 25}),
        ("serving-rollout", {"traffic_allocation": 50}),
    ]
    assert [s["index"] for s in ramp_state(clean_redis, ramp_id)["done"]] == [0, 1, 2]


def test_a_process_killed_during_a_step_s_write_is_taken_over_without_a_blind_repost(
    env, processes, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    first = processes(env)
    mida_sandbox.fault(method="PATCH", path_contains="/serving-rollout", latency=30, times=1)
    ramp_id = start_ramp(client_for(first, slack_api), slack_api, "ramp 1234 1 10,25 every 2s")
    wait_until(
        lambda: any(w[0] == "serving-rollout" for w in rollout_writes(mida_sandbox)), timeout=20, what="step 2 held by Mida"
    )
    first.kill()
    assert mida_sandbox.experiment(1234)["traffic_allocation"] == 10  # the held write never completed
    held_at = len(mida_sandbox.requests())

    processes(env)
    wait_until(lambda: ramp_state(clean_redis, ramp_id).get("state") == "done", timeout=40, what="the ramp done")
    assert mida_sandbox.experiment(1234)["traffic_allocation"] == 25
    after = mida_sandbox.requests()[held_at:]
    patches = [i for i, r in enumerate(after) if r["path"].endswith("/serving-rollout")]
    reads = [i for i, r in enumerate(after) if r["method"] == "GET" and r["path"].endswith("/experiment/1234/result")]
    assert len(patches) == 1 and reads and reads[0] < patches[0]  # read back, then the one write
    assert [s["index"] for s in ramp_state(clean_redis, ramp_id)["done"]] == [0, 1]
