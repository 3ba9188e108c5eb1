"""A Mida that takes its time does not hold reads back: a read waiting for Mida's answer gives its
slot in the process to another meanwhile (bot.slack.headroom.waiting_elsewhere), so with one slot
(`MIDA_LOCAL_READS=1`) four `/mida results` all ask Mida at once instead of one after another."""

from __future__ import annotations

import json
import time

from standins.bot_server import SIGNING_SECRET, bot_env
from standins.flows import connect_workspace
from standins.people import ALICE, CHANNEL
from standins.slack_requests import BotClient
from standins.waiting import wait_until
from tests.e2e.test_metrics import scrape, value

READS = 4


def test_reads_waiting_for_a_slow_mida_do_not_wait_for_each_other(
    clean_redis, redis_url, slack_api, mida_sandbox, processes
):
    bot = processes(bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                            MIDA_LOCAL_READS="1"))
    slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("setup"))
    connect_workspace(slack, slack_api)
    mida_sandbox.clear_requests()
    latency = 4.0
    mida_sandbox.fault(method="GET", path_contains="/result", latency=latency, times=READS)
    answers_from = time.monotonic() + latency

    for n in range(READS):
        answer = slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL,
                               response_url=slack_api.response_url(f"read-{n}"))
        assert answer.status_code == 200 and not answer.text.strip()
    wait_until(lambda: len(mida_sandbox.requests("GET", "/experiment/1234/result")) >= READS, timeout=latency / 2,
               what="every read asked Mida")  # one slot held through Mida's wait: only one would have
    samples = scrape(bot.url)
    assert time.monotonic() < answers_from, "the machine was too slow for this test to tell"
    assert value(samples, "mida_slack_local_reads", state="waiting_elsewhere") == READS
    assert value(samples, "mida_slack_local_reads", state="running") == 0
    assert value(samples, "mida_slack_local_reads", state="waiting") == 0

    for n in range(READS):
        (message,) = slack_api.wait_for_response(f"read-{n}", timeout=latency + 10)
        assert "Homepage CTA Button Color Test" in json.dumps(message)
    assert len(mida_sandbox.requests("GET", "/experiment/1234/result")) == READS  # one each, none twice
    assert clean_redis.xlen("mida:lazy") == 0  # all of them here, none through the queue
