"""`/healthz`: the process is up. `/readyz`: it can reach Redis, so it can do its work (and, when
the bot started an embedded Redis, says so: it is for trying the bot on one machine)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from bot.store.client import AnyRedis


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def readyz(redis: AnyRedis, embedded: dict[str, str] | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    about = {"embedded_redis": embedded} if embedded is not None else {}

    async def handler(_: web.Request) -> web.Response:
        try:
            await redis.ping()
        except (RedisError, OSError):
            return web.json_response({"ok": False, "redis": "unreachable", **about}, status=503)
        return web.json_response({"ok": True, "redis": "ok", **about})

    return handler
