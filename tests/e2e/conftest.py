"""Fixtures of the end-to-end tests that start real bot processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from standins.bot_server import BotProcess
from standins.redis_server import ThrowawayRedis


@pytest.fixture
def own_redis() -> Iterator[ThrowawayRedis]:
    """A Redis for this test alone, for one that holds its writes (CLIENT PAUSE), which would stall
    any other test sharing it."""
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], BotProcess]]:
    """Start bot processes; every one is stopped at the end of the test."""
    started: list[BotProcess] = []

    def start(env: dict[str, str]) -> BotProcess:
        bot = BotProcess(env, tmp_path / f"bot-{len(started)}.log").start()
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()
    for bot in started:
        output = bot.output()
        assert "Traceback" not in output, output[-4000:]
