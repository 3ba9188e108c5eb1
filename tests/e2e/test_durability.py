"""Durable execution: a bot process killed (SIGKILL) at any moment after Slack got its ack loses
nothing, and nothing is done twice. Another process — or the same one restarted — takes the job
over from the queue (XAUTOCLAIM after MIDA_JOB_STALE_AFTER_MS) and finishes it, or reconciles it by
reading the experiment back when the write may already have reached Mida.

Each test ends with: exactly one serve-winner write recorded by the sandbox, the request succeeded
(reconciled when the write was made by the dead process), the card saying so, one `executed` entry
in the audit log.

The processes are real `python -m bot serve` subprocesses, with the queue's timings shortened
through their environment (MIDA_JOB_STALE_AFTER_MS, MIDA_WORKER_SWEEP_SECONDS).
"""

from __future__ import annotations

import time

import pytest

from bot.views.cards import RECONCILED
from standins.bot_server import bot_env
from standins.flows import connect_workspace
from standins.people import BOB, TEAM
from standins.waiting import wait_until
from tests.e2e.helpers import (
    approve,
    assert_executed_once,
    audit_events,
    card_text,
    client_for,
    final_card,
    request_record,
    request_serve,
    result_reads,
    serve_writes,
)

STALE_MS = 1500  # a job untouched this long is taken over
SWEEP_S = 0.2


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def env(clean_redis, redis_url, slack_api, mida_sandbox) -> dict[str, str]:
    return bot_env(
        redis_url=redis_url,
        slack_api_url=slack_api.api_url,
        mida_api_url=mida_sandbox.api_url,
        LOG_LEVEL="INFO",
        MIDA_JOB_STALE_AFTER_MS=str(STALE_MS),
        MIDA_WORKER_SWEEP_SECONDS=str(SWEEP_S),
        MIDA_READ_TIMEOUT_SECONDS="5",
        MIDA_TOTAL_TIMEOUT_SECONDS="8",
    )


@pytest.fixture
def pending_request(env, processes, slack_api, mida_sandbox, clean_redis):
    """A first process, connected, with Alice's serve request waiting for approval."""
    first = processes(env)
    client = client_for(first, slack_api)
    connect_workspace(client, slack_api)
    request_id = request_serve(client, slack_api)
    mida_sandbox.clear_requests()
    card_key = f"mida:{{{TEAM}}}:req:{request_id}".encode()
    wait_until(lambda: clean_redis.hget(card_key, b"f:message_ts"), what="the card's ts recorded")
    return first, client, request_id


# ----------------------------------------------------------------------------- the kills


def test_killed_after_the_ack_before_the_mida_write(pending_request, env, processes, slack_api, mida_sandbox, clean_redis):
    """The process dies while reading the experiment back before writing: nothing reached Mida, so
    the process that takes over reads it back itself and writes — once."""
    first, client, request_id = pending_request
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", latency=30, times=1)
    approve(client, request_id)
    wait_until(lambda: result_reads(mida_sandbox), what="the read-back before the write")
    assert request_record(clean_redis, request_id)["status"] == "executing"
    first.kill()
    assert serve_writes(mida_sandbox) == []

    processes(env)  # a second process takes the job over
    card = final_card(slack_api, "Done")
    assert_executed_once(clean_redis, mida_sandbox, request_id, reconciled=False)
    assert f"<@{BOB}>" in card_text(card)


def test_killed_during_the_mida_write(pending_request, env, processes, slack_api, mida_sandbox, clean_redis):
    """The process dies while Mida holds its write (the sandbox's latency fault). The sandbox, like a
    server that applies a request only once it has handled it in full, drops a write whose client
    vanished: nothing changed in Mida. The process that takes over must not assume either way: it
    reads the experiment back, finds it unchanged, and only then writes — one applied change."""
    first, client, request_id = pending_request
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", latency=30, times=1)
    approve(client, request_id)
    wait_until(lambda: serve_writes(mida_sandbox), what="the write reaching Mida")
    first.kill()
    reads_before = len(result_reads(mida_sandbox))
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None

    processes(env)
    card = final_card(slack_api, "Done")
    assert RECONCILED not in card_text(card)
    record = wait_until(lambda: (r := request_record(clean_redis, request_id))["status"] == "succeeded" and r)
    assert record["outcome"]["mida_status"] == 200
    # The held write never completed; the successor read back before its own, which was applied.
    requests = mida_sandbox.requests()
    posts = [i for i, r in enumerate(requests) if r["path"].endswith("/serve-winner")]
    reads = [i for i, r in enumerate(requests) if r["method"] == "GET" and r["path"].endswith("/experiment/1234/result")]
    assert len(posts) == 2 and len(reads) > reads_before
    assert any(posts[0] < i < posts[1] for i in reads)
    state = mida_sandbox.experiment(1234)
    assert (state["serving_variant_id"], state["traffic_allocation"]) == ("1", 25)
    time.sleep(0.5)
    events = audit_events(clean_redis)
    assert events.count("executed") == 1 and events.count("failed") == 0, events


def test_killed_after_the_write_before_recording_it(pending_request, env, processes, slack_api, mida_sandbox, clean_redis):
    """Mida applied the write but the connection broke before its answer, and the process died
    while reading the experiment back to learn the outcome: nothing was recorded. The process that
    takes over reconciles by reading back; one write in all."""
    first, client, request_id = pending_request
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", drop="after_apply", times=1)
    # The first read (before writing) passes; the second (the reconciliation) hangs.
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", times=1)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", latency=30, times=1)
    approve(client, request_id)
    wait_until(lambda: len(result_reads(mida_sandbox)) == 2, what="the reconciliation read-back")
    assert len(serve_writes(mida_sandbox)) == 1
    assert request_record(clean_redis, request_id)["status"] == "executing"
    first.kill()

    processes(env)
    card = final_card(slack_api, RECONCILED)
    assert "Done" in card_text(card)
    assert_executed_once(clean_redis, mida_sandbox, request_id, reconciled=True)


def test_the_same_process_restarted_finishes_the_job(pending_request, env, processes, slack_api, mida_sandbox, clean_redis):
    """Killed before the write, then started again (a new pid, so a new consumer): the restarted
    process takes over the dead one's job."""
    first, client, request_id = pending_request
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", latency=30, times=1)
    approve(client, request_id)
    wait_until(lambda: result_reads(mida_sandbox), what="the read-back before the write")
    first.kill()
    first.start()  # same port, same environment
    final_card(slack_api, "Done")
    assert_executed_once(clean_redis, mida_sandbox, request_id, reconciled=False)


def test_a_slow_write_is_not_taken_over_from_a_live_process(pending_request, env, processes, slack_api, mida_sandbox, clean_redis):
    """A job is taken over only from a dead process: while one process waits on a slow Mida write
    for longer than MIDA_JOB_STALE_AFTER_MS, a second process running beside it must not take the
    job and post the change again."""
    first, client, request_id = pending_request
    processes(env)  # a second process, sweeping for stale jobs
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", latency=STALE_MS / 1000 * 2.5, times=1)
    approve(client, request_id)
    final_card(slack_api, "Done", timeout=20)
    record = assert_executed_once(clean_redis, mida_sandbox, request_id, reconciled=False)
    assert record["outcome"]["mida_status"] == 200


def test_a_job_taken_by_a_process_that_died_before_starting_it(env, processes, slack_api, mida_sandbox, clean_redis, redis_url):
    """The job was delivered to a process that died before it claimed the request (still approved).
    The successor runs it normally: when the experiment already changed in Mida meanwhile, the
    request is superseded — not mistaken for a write of ours that got lost."""
    import asyncio

    import redis.asyncio as aioredis

    from bot.domain import Person, TeamRef
    from bot.store.jobs import JobQueue
    from bot.store.requests import RequestStore

    first = processes(env)
    client = client_for(first, slack_api)
    connect_workspace(client, slack_api)
    request_id = request_serve(client, slack_api)
    card_key = f"mida:{{{TEAM}}}:req:{request_id}".encode()
    wait_until(lambda: clean_redis.hget(card_key, b"f:message_ts"), what="the card's ts recorded")
    first.kill()

    async def approve_into_a_dead_consumer() -> None:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            team = TeamRef(team_id=TEAM)
            result = await RequestStore(redis).approve(team, request_id, Person(user_id=BOB, team_id=TEAM), time.time())
            assert result.code.value == "approved"
            dead = JobQueue(redis, consumer="host-that-died-1")
            await dead.ensure_group()
            await dead.enqueue(team.key, request_id)
            assert [job.request_id for job in await dead.next_batch(block_ms=100)] == [request_id]
        finally:
            await redis.aclose()

    asyncio.run(approve_into_a_dead_consumer())
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=25)  # done in Mida's dashboard
    mida_sandbox.clear_requests()

    processes(env)
    final_card(slack_api, "Superseded")
    record = wait_until(lambda: (r := request_record(clean_redis, request_id))["status"] not in ("approved", "executing") and r)
    assert record["status"] == "superseded"
    assert serve_writes(mida_sandbox) == []
    assert audit_events(clean_redis)[-1] == "superseded"
