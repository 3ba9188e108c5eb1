"""`/healthz`: the process is up. `/readyz`: it can reach Redis, so it can do its work."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def readyz(redis: aioredis.Redis):  # type: ignore[no-untyped-def]
    async def handler(_: web.Request) -> web.Response:
        try:
            await redis.ping()
        except (RedisError, OSError):
            return web.json_response({"ok": False, "redis": "unreachable"}, status=503)
        return web.json_response({"ok": True, "redis": "ok"})

    return handler
