"""`/mida results` starts its Mida reads beside its replay check and its workspace read, with the
workspace this process read last (bot.app._reading_workspace). Those reads may make the answer come
sooner; they must never make it different: the answer waits for the replay check, and comes from the
workspace as read now, wherever it was changed.

Each test runs the bot on a Redis of its own (`own_redis`): one of them holds its writes.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis as sync_redis

from bot.domain import Person, Region, TeamRef, Workspace
from bot.store.crypto import SecretBox
from bot.store.workspaces import WorkspaceStore
from standins.bot_server import ENCRYPTION_KEY, SIGNING_SECRET, InProcessBot, bot_env
from standins.flows import connect_workspace
from standins.people import ALICE, CHANNEL, TEAM
from standins.sandbox import EU_API_KEY, EU_PROJECT_KEY, EU_REGION
from standins.slack_requests import BotClient
from standins.waiting import wait_until


@pytest.fixture
def setup(own_redis, slack_api, mida_sandbox):  # type: ignore[no-untyped-def]
    bot = InProcessBot(
        bot_env(redis_url=own_redis.url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    ).start()
    try:
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("setup"))
        connect_workspace(slack, slack_api)
        yield slack
    finally:
        bot.stop()


def ask(slack, slack_api, text: str, name: str) -> None:  # type: ignore[no-untyped-def]
    answer = slack.command(text, user_id=ALICE, channel_id=CHANNEL, response_url=slack_api.response_url(name))
    assert answer.status_code == 200 and answer.text == ""


def answered(slack, slack_api, text: str, name: str) -> str:  # type: ignore[no-untyped-def]
    ask(slack, slack_api, text, name)
    (message,) = slack_api.wait_for_response(name, timeout=10)
    return json.dumps(message)


def result_reads(mida_sandbox, test_id: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return mida_sandbox.requests("GET", f"/experiment/{test_id}/result")


def test_the_answer_waits_for_the_replay_check_the_reads_do_not(setup, own_redis, slack_api, mida_sandbox):
    slack = setup
    assert "Homepage" in answered(slack, slack_api, "results 1234", "first")  # this process has read the workspace
    mida_sandbox.clear_requests()
    held_for = 3.0
    store = sync_redis.Redis.from_url(own_redis.url)
    store.execute_command("CLIENT", "PAUSE", str(int(held_for * 1000)), "WRITE")  # the replay check is a write
    held_until = time.monotonic() + held_for
    ask(slack, slack_api, "results 1234", "second")
    wait_until(lambda: result_reads(mida_sandbox, 1234), timeout=held_for / 2, what="the read started")
    assert slack_api.responses("second") == []  # no answer before the check has said "first delivery"
    assert time.monotonic() < held_until, "the machine was too slow for this test to tell"
    (message,) = slack_api.wait_for_response("second", timeout=10)
    assert "Homepage" in json.dumps(message)
    assert len(result_reads(mida_sandbox, 1234)) == 1  # the early read was the answer's: not read twice
    assert len(mida_sandbox.requests("GET", "/experiment/1234/metrics")) == 1


def test_a_workspace_reconnected_elsewhere_is_answered_from_its_new_project(setup, own_redis, slack_api, mida_sandbox):
    """The early reads are made with the US project this process read a moment ago; another process
    has reconnected the workspace to the EU project since: the answer is the EU project's."""
    slack = setup
    assert "Homepage" in answered(slack, slack_api, "results 1234", "first")

    async def reconnect() -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(own_redis.url)
        store = WorkspaceStore(client, SecretBox([ENCRYPTION_KEY]))
        await store.save(
            Workspace(
                team=TeamRef(team_id=TEAM),
                project_key=EU_PROJECT_KEY,
                region=Region(EU_REGION),
                api_key=EU_API_KEY,
                connected_by=Person(user_id=ALICE, team_id=TEAM),
                connected_at=time.time(),
            )
        )
        await client.aclose()

    asyncio.run(reconnect())
    mida_sandbox.clear_requests()
    message = answered(slack, slack_api, "results 2001", "after")
    assert "EU Homepage Hero Image" in message and EU_PROJECT_KEY in message
    eu_reads = [r for r in result_reads(mida_sandbox, 2001) if EU_PROJECT_KEY in r["path"]]
    assert len(eu_reads) == 1


def test_a_workspace_disconnected_elsewhere_gets_no_results(setup, own_redis, slack_api, mida_sandbox):
    slack = setup
    assert "Homepage" in answered(slack, slack_api, "results 1234", "first")

    async def disconnect() -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(own_redis.url)
        assert await WorkspaceStore(client, SecretBox([ENCRYPTION_KEY])).delete(TeamRef(team_id=TEAM))
        await client.aclose()

    asyncio.run(disconnect())
    message = answered(slack, slack_api, "results 1234", "after")
    assert "not connected to Mida" in message and "Homepage" not in message
