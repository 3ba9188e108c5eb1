"""`/healthz` and `/readyz` on an aiohttp test server: ready only while Redis answers."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.web.health import healthz, readyz


async def get(app: web.Application, path: str) -> tuple[int, dict]:
    async with TestClient(TestServer(app)) as client:
        answer = await client.get(path)
        return answer.status, await answer.json()


def app_with(redis, embedded: dict[str, str] | None = None) -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(redis, embedded))
    return app


async def test_ready_while_redis_answers(redis) -> None:
    assert await get(app_with(redis), "/readyz") == (200, {"ok": True, "redis": "ok"})
    assert await get(app_with(redis), "/healthz") == (200, {"ok": True})


async def test_not_ready_without_redis_but_still_alive() -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    try:
        assert await get(app_with(dead), "/readyz") == (503, {"ok": False, "redis": "unreachable"})
        assert await get(app_with(dead), "/healthz") == (200, {"ok": True})
    finally:
        await dead.aclose()


async def test_an_embedded_redis_is_named_either_way(redis) -> None:
    about = {"url": "redis://127.0.0.1:6390/0", "data": "/tmp/mida"}
    assert await get(app_with(redis, about), "/readyz") == (200, {"ok": True, "redis": "ok", "embedded_redis": about})
    dead = aioredis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    try:
        status, body = await get(app_with(dead, about), "/readyz")
        assert status == 503 and body["embedded_redis"] == about
    finally:
        await dead.aclose()
