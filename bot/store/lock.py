"""One short Redis lock for everything that takes turns: `SET key token NX PX ttl`, released by a
script that deletes the key only while it still holds this holder's token (a lock that expired and
was taken by someone else is left to them)."""

from __future__ import annotations

import secrets

from bot.store.client import AnyRedis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Lock:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._release = redis.register_script(_RELEASE)

    async def acquire(self, key: str, ttl_ms: int) -> str | None:
        """The holder's token, or None when someone else holds the lock."""
        token = secrets.token_hex(16)
        return token if await self._redis.set(key, token, nx=True, px=ttl_ms) else None

    async def release(self, key: str, token: str) -> bool:
        """False when the lock was no longer this holder's."""
        return bool(await self._release(keys=[key], args=[token]))
