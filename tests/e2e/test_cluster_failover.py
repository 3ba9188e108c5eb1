"""On a Redis Cluster, the master that holds the workspace's slot is killed (SIGKILL) while the
worker runs an approved change, and the cluster promotes its replica: the change still ends
exactly once (one serve-winner write in Mida, one `executed` audit entry) with the right card.

The cluster is this test's own (it loses a node), three masters with one replica each on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.views.cards import RECONCILED
from standins.bot_server import InProcessBot, bot_env
from standins.flows import connect_workspace
from standins.people import TEAM
from standins.redis_cluster import LoopbackCluster, cluster_support
from standins.waiting import wait_until
from tests.e2e.helpers import (
    approve,
    assert_executed_once,
    card_text,
    client_for,
    final_card,
    request_record,
    request_serve,
    serve_writes,
)


@pytest.fixture
def cluster() -> Iterator[LoopbackCluster]:
    reason = cluster_support()
    if reason is not None:
        pytest.skip(f"no Redis Cluster for the tests: {reason}")
    own = LoopbackCluster().start()
    yield own
    own.stop()


@pytest.fixture
def cluster_bot(cluster, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    env = bot_env(
        redis_url=cluster.url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
        LOG_LEVEL="INFO", MIDA_JOB_STALE_AFTER_MS="1500", MIDA_WORKER_SWEEP_SECONDS="0.2",
        MIDA_READ_TIMEOUT_SECONDS="5", MIDA_TOTAL_TIMEOUT_SECONDS="8",
    )
    server = InProcessBot(env).start()
    yield server
    server.stop()


def test_a_master_killed_while_the_worker_runs_the_change_ends_it_once(cluster, cluster_bot, slack_api, mida_sandbox):
    client = client_for(cluster_bot, slack_api)
    connect_workspace(client, slack_api)
    request_id = request_serve(client, slack_api)
    redis = cluster.client()
    request_key = f"mida:{{{TEAM}}}:req:{request_id}"
    wait_until(lambda: redis.hget(request_key, "f:message_ts"), what="the card's ts recorded")
    master = cluster.master_of(request_key)
    replica = cluster.replica_of(master)
    mida_sandbox.clear_requests()

    # Mida holds the write for a while; the master of the workspace's slot dies meanwhile.
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", latency=1.5, times=1)
    approve(client, request_id)
    wait_until(lambda: serve_writes(mida_sandbox), what="the write reaching Mida")
    assert redis.hget(request_key, "status") == b"executing"
    cluster.wait_synced(master)  # what the bot wrote so far is on the replica (in ms on loopback)
    cluster.kill(master)
    cluster.wait_promoted(replica)

    card = final_card(slack_api, "Done", timeout=30)
    after = cluster.client()
    # Whether the worker recorded its own answer (once the replica took over) or a successor read
    # the experiment back depends on when the failover completes; either way one write, and the
    # card says which.
    record = request_record(after, request_id)
    assert record["status"] == "succeeded"
    reconciled = bool(record["outcome"]["reconciled"])
    assert (RECONCILED in card_text(card)) is reconciled
    assert_executed_once(after, mida_sandbox, request_id, reconciled=reconciled)
    state = mida_sandbox.experiment(1234)
    assert (state["serving_variant_id"], state["traffic_allocation"]) == ("1", 25)
