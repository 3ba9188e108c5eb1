from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from bot.config import Settings
from tests.support.bot_server import SIGNING_SECRET, InProcessBot, bot_env
from tests.support.redis_server import redis_for_tests
from tests.support.sandbox import mida_sandbox  # noqa: F401  (fixture)
from tests.support.slack_api import slack_api  # noqa: F401  (fixture)
from tests.support.slack_requests import BotClient


def caller_setting(name: str) -> bool:
    return name in Settings.model_fields or name == "PORT" or name.startswith(("SLACK_", "MIDA_"))


@pytest.fixture(scope="session", autouse=True)
def hermetic_settings() -> Iterator[None]:
    """The bot under test gets only the settings its test gives: none of the caller's environment
    (a REDIS_URL, a SLACK_CLIENT_ID, LOG_LEVEL...) and no `.env` file. The Redis to test against
    is the one exception, read already (tests/support/redis_server.py)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if caller_setting(n)]:
            mp.delenv(name)
        mp.setitem(Settings.model_config, "env_file", None)
        yield


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_for_tests() as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the test database, emptied before each test."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=False)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def clean_redis(redis_url: str) -> Iterator[sync_redis.Redis]:
    """A sync client on the test database, emptied before each test (for sync e2e tests)."""
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def bot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:  # noqa: F811
    """The bot's web app on a loopback port, wired to the Slack stand-in, the Mida sandbox and Redis."""
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def slack(bot, slack_api) -> BotClient:  # noqa: F811
    """Sends requests to the bot signed as Slack signs them."""
    return BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
