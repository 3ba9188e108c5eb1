from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from bot.config import Settings
from standins.bot_server import SIGNING_SECRET, InProcessBot, bot_env
from standins.flows import connect_workspace
from standins.redis_cluster import LoopbackCluster, cluster_support
from standins.redis_server import redis_for_tests
from standins.sandbox import SandboxServer
from standins.slack_api import SlackStandIn
from standins.slack_requests import BotClient


def caller_setting(name: str) -> bool:
    return name in Settings.model_fields or name == "PORT" or name.startswith(("SLACK_", "MIDA_"))


@pytest.fixture(scope="session", autouse=True)
def hermetic_settings() -> Iterator[None]:
    """The bot under test gets only the settings its test gives: none of the caller's environment
    (a REDIS_URL, a SLACK_CLIENT_ID, LOG_LEVEL...) and no `.env` file. The Redis to test against
    is the one exception, read already (standins/redis_server.py)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if caller_setting(n)]:
            mp.delenv(name)
        mp.setitem(Settings.model_config, "env_file", None)
        yield


SINGLE, CLUSTER = "single", "cluster"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `cluster` run twice: on a single Redis and on a three-master Redis Cluster."""
    if "redis_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("cluster"):
        metafunc.parametrize("redis_backend", [SINGLE, CLUSTER], indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", SINGLE)


@pytest.fixture(scope="session")
def single_redis_url() -> Iterator[str]:
    with redis_for_tests() as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LoopbackCluster]:
    reason = cluster_support()
    if reason is not None:
        pytest.skip(f"no Redis Cluster for the tests: {reason}")
    cluster = LoopbackCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, redis_backend: str) -> str:
    """The bot's REDIS_URL: a database of a single Redis, or ONE node of the cluster."""
    if redis_backend == CLUSTER:
        return request.getfixturevalue("redis_cluster").url
    return request.getfixturevalue("single_redis_url")


def _flush(request: pytest.FixtureRequest, redis_backend: str) -> None:
    if redis_backend == CLUSTER:
        request.getfixturevalue("redis_cluster").flush()  # every master


@pytest.fixture
async def redis(request: pytest.FixtureRequest, redis_url: str, redis_backend: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the test database, emptied before each test."""
    if redis_backend == CLUSTER:
        _flush(request, redis_backend)
        client = AsyncRedisCluster.from_url(redis_url)
    else:
        client = aioredis.Redis.from_url(redis_url, decode_responses=False)
        await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clean_redis(request: pytest.FixtureRequest, redis_url: str, redis_backend: str) -> Iterator[sync_redis.Redis]:
    """A sync client on the test database, emptied before each test (for sync e2e tests)."""
    if redis_backend == CLUSTER:
        _flush(request, redis_backend)
        client = RedisCluster.from_url(redis_url)
    else:
        client = sync_redis.Redis.from_url(redis_url)
        client.flushdb()
    yield client
    client.close()


@pytest.fixture
def slack_api() -> Iterator[SlackStandIn]:
    """A started Slack Web API stand-in, stopped after the test."""
    standin = SlackStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def mida_sandbox() -> Iterator[SandboxServer]:
    """The Mida sandbox on a loopback port, stopped after the test."""
    server = SandboxServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    """The bot's web app on a loopback port, wired to the Slack stand-in, the Mida sandbox and Redis."""
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def slack(bot, slack_api) -> BotClient:
    """Sends requests to the bot signed as Slack signs them."""
    return BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))


@pytest.fixture
def connected(bot, slack, slack_api, mida_sandbox):
    """The bot, its workspace connected by the admin through the real modal; the stand-ins' records
    emptied once the admin's private "connected" has arrived (so it cannot land in a test's calls)."""
    connect_workspace(slack, slack_api)
    mida_sandbox.clear_requests()
    return bot
