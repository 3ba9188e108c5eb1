"""Plain `serve` keeps the reads it has no room for in the process, in line; stopping it (a deploy)
hands those still in line to the Redis queue, where whichever process works the queue answers them
(the stopping process's own consumer, while it drains, or the next process); the read already
running is let finish before the process closes its connections."""

from __future__ import annotations

import json
import time

import redis as sync_redis

from standins.bot_server import SIGNING_SECRET, bot_env
from standins.flows import connect_workspace
from standins.people import ALICE, CHANNEL
from standins.slack_requests import BotClient
from tests.e2e.test_metrics import scrape, value


def queued(log: str) -> int:
    """Work after an ack done from the Redis queue, by the log's lines."""
    return sum("work after the ack done" in line and "where='queue'" in line for line in log.splitlines())


def test_reads_waiting_in_line_at_a_shutdown_are_answered_by_the_next_process(
    clean_redis, redis_url, slack_api, mida_sandbox, processes
):
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                  MIDA_LOCAL_READS_IN_FLIGHT="1")
    first = processes(env)
    slack = BotClient(first.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
    connect_workspace(slack, slack_api)
    mida_sandbox.fault(method="GET", path_contains="/result", latency=3.0, times=1)  # the one read under way

    for n in range(3):
        answer = slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL,
                               response_url=slack_api.response_url(f"read-{n}"))
        assert answer.status_code == 200 and not answer.text.strip()
    time.sleep(0.5)
    assert clean_redis.xlen("mida:lazy") == 0  # the two without room wait in the process, not in Redis
    samples = scrape(first.url)  # ...and an operator sees them there
    assert value(samples, "mida_slack_local_reads", state="waiting_elsewhere") == 1  # for Mida
    assert value(samples, "mida_slack_local_reads", state="waiting") == 2
    queued_before = queued(first.output())

    first.stop()  # SIGTERM, as a deploy does
    second = processes(env)
    for n in (0, 1, 2):  # the one running at the SIGTERM was let finish
        (message,) = slack_api.wait_for_response(f"read-{n}", timeout=15)
        assert "Homepage CTA Button Color Test" in json.dumps(message)
    assert queued(first.output()) + queued(second.output()) - queued_before == 2  # the two in line, through Redis
    assert clean_redis.xlen("mida:lazy") == 0


def test_reads_whose_replay_check_redis_holds_at_a_shutdown_are_each_answered_once(
    own_redis, slack_api, mida_sandbox, processes
):
    """The checks answer only once the process is stopping, so the reads go to the queue, where
    the stopping process's own consumer may take them (its round held by Redis too): what it took
    is finished before it closes its connections (the fixture fails on any traceback)."""
    env = bot_env(redis_url=own_redis.url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    first = processes(env)
    slack = BotClient(first.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
    connect_workspace(slack, slack_api)
    store = sync_redis.Redis.from_url(own_redis.url)
    store.execute_command("CLIENT", "PAUSE", "3000", "WRITE")  # the replay check is a write, so is XREADGROUP

    for n in range(3):
        answer = slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL,
                               response_url=slack_api.response_url(f"held-{n}"))
        assert answer.status_code == 200 and not answer.text.strip()
    time.sleep(0.5)
    first.stop()  # SIGTERM while Redis still holds the checks
    processes(env)
    for n in range(3):
        (message,) = slack_api.wait_for_response(f"held-{n}", timeout=15)
        assert "Homepage CTA Button Color Test" in json.dumps(message)
    time.sleep(1)
    assert all(len(slack_api.responses(f"held-{n}")) == 1 for n in range(3))  # none twice
