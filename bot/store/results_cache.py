"""A short-lived cache of what the results page is made from, so a channel full of clicks on the same
link reads Mida once (per TTL), whichever bot process each click lands on.

Keys (the workspace's hash tag, like every per-workspace key; see store/keys.py):
  mida:{T}:results-cache:<test_id>        string  JSON of the page's inputs (Mida's answers), TTL `ttl` s
  mida:{T}:results-cache:<test_id>:lock   string  "someone is reading Mida for this page", TTL `lock_ttl` s

`get_or_load` is cache-aside with a single flight: on a miss, one caller takes the lock (SET NX) and
reads Mida; the others wait for its value (polling the cache) instead of reading Mida too. If the
loader fails or the lock holder dies, the lock is freed (or expires) and the next waiter loads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from bot.domain import TeamRef
from bot.store.client import AnyRedis
from bot.store.keys import ws_key
from bot.store.lock import Lock

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0

Loader = Callable[[], Awaitable[tuple[dict[str, Any], bool]]]
"""Returns (payload, cacheable): a partial payload (e.g. the chart's data failed) is shown, not kept."""


class ResultsCache:
    def __init__(
        self,
        redis: AnyRedis,
        ttl: float = DEFAULT_TTL,
        *,
        lock_ttl: float = 25.0,  # longer than one Mida read may take (its client gives up after 20 s)
        wait: float = 22.0,
        poll: float = 0.05,
    ) -> None:
        self._redis = redis
        self._lock = Lock(redis)
        self.ttl = ttl
        self._lock_ttl = lock_ttl
        self._wait = wait
        self._poll = poll

    @staticmethod
    def key(team: TeamRef, test_id: int) -> str:
        return ws_key(team, "results-cache", str(int(test_id)))

    @classmethod
    def lock_key(cls, team: TeamRef, test_id: int) -> str:
        return cls.key(team, test_id) + ":lock"

    async def get(self, team: TeamRef, test_id: int) -> dict[str, Any] | None:
        raw = await self._redis.get(self.key(team, test_id))
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def put(self, team: TeamRef, test_id: int, payload: dict[str, Any]) -> None:
        if self.ttl <= 0:
            return
        await self._redis.set(
            self.key(team, test_id), json.dumps(payload, separators=(",", ":")), px=int(self.ttl * 1000)
        )

    async def invalidate(self, team: TeamRef, test_id: int) -> None:
        """Forget the page's inputs, e.g. right after the bot served, re-rolled or stopped the winner."""
        await self._redis.delete(self.key(team, test_id))

    async def get_or_load(self, team: TeamRef, test_id: int, load: Loader) -> tuple[dict[str, Any], bool]:
        """The cached payload, or the loader's; the flag says whether it came from the cache.
        The loader's exceptions propagate (and nothing is cached). Redis trouble never hides the page:
        without Redis every caller simply loads."""
        if self.ttl <= 0:
            return (await load())[0], False
        try:
            return await self._get_or_load(team, test_id, load)
        except RedisError as err:
            log.warning("results cache unavailable, reading Mida directly", extra={"error": type(err).__name__})
            return (await load())[0], False

    async def _get_or_load(self, team: TeamRef, test_id: int, load: Loader) -> tuple[dict[str, Any], bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        lock = self.lock_key(team, test_id)
        while True:
            cached = await self.get(team, test_id)
            if cached is not None:
                return cached, True
            token = await self._lock.acquire(lock, int(self._lock_ttl * 1000))
            if token is not None:
                try:
                    cached = await self.get(team, test_id)  # filled between our read and our lock
                    if cached is not None:
                        return cached, True
                    payload, cacheable = await load()
                    if cacheable:
                        await self.put(team, test_id, payload)
                    return payload, False
                finally:
                    try:
                        await self._lock.release(lock, token)
                    except RedisError:
                        pass  # it expires on its own
            if loop.time() >= deadline:
                # The holder is slow beyond reason: do not keep the person waiting on it.
                payload, _ = await load()
                return payload, False
            await asyncio.sleep(self._poll)
