"""Watches and what they last said, per workspace (one slot):
  mida:{T}:watches                   hash    "<test_id>|<channel>[|<thread ts>]" -> Watch JSON
  mida:{T}:watch-state:<test_id>     hash    condition -> the value last seen or said (see services/watches.py)
  mida:{T}:watch-reads:<minute>      string  Mida reads the watches made that minute, with a TTL
Each experiment's poll is an item of the due-time schedule (kind `watch`, payload "<T>|<test_id>").
"""

from __future__ import annotations

import time

from bot.domain import TeamRef, Watch
from bot.store.client import AnyRedis, text
from bot.store.keys import ws_key

# Set a condition's value and return the one it had (nil if none), in one step.
_SWAP = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return old
"""


class WatchStore:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._swap = redis.register_script(_SWAP)

    @staticmethod
    def _state(team: TeamRef, test_id: int) -> str:
        return ws_key(team, "watch-state", str(test_id))

    async def add(self, watch: Watch) -> bool:
        """True when the channel was not watching the experiment yet."""
        return bool(await self._redis.hsetnx(ws_key(watch.team, "watches"), watch.key, watch.model_dump_json()))

    async def put(self, watch: Watch) -> None:
        await self._redis.hset(ws_key(watch.team, "watches"), watch.key, watch.model_dump_json())

    async def remove(self, team: TeamRef, watch: Watch) -> bool:
        return bool(await self._redis.hdel(ws_key(team, "watches"), watch.key))

    async def all(self, team: TeamRef) -> list[Watch]:
        raw = await self._redis.hvals(ws_key(team, "watches"))
        return sorted((Watch.model_validate_json(v) for v in raw), key=lambda w: (w.test_id, w.channel_id))

    async def for_test(self, team: TeamRef, test_id: int) -> list[Watch]:
        return [w for w in await self.all(team) if w.test_id == test_id]

    async def swap(self, team: TeamRef, test_id: int, condition: str, value: str) -> str | None:
        old = await self._swap(keys=[self._state(team, test_id)], args=[condition, value])
        return None if old is None else text(old)

    async def state(self, team: TeamRef, test_id: int) -> dict[str, str]:
        raw = await self._redis.hgetall(self._state(team, test_id))
        return {text(k): text(v) for k, v in raw.items()}

    async def forget_state(self, team: TeamRef, test_id: int, *conditions: str) -> None:
        if conditions:
            await self._redis.hdel(self._state(team, test_id), *conditions)
        else:
            await self._redis.delete(self._state(team, test_id))

    async def take_read(self, team: TeamRef, per_minute: int, now: float | None = None) -> bool:
        """Count one Mida read against the workspace's budget; False when this minute's is spent."""
        minute = int((time.time() if now is None else now) // 60)
        key = ws_key(team, "watch-reads", str(minute))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            used, _ = await pipe.execute()
        return int(used) <= per_minute

    async def forget_all(self, team: TeamRef) -> list[int]:
        """Every watch of the workspace and what they said; returns the experiments that were watched."""
        tests = sorted({w.test_id for w in await self.all(team)})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(ws_key(team, "watches"))
            for test_id in tests:
                pipe.delete(self._state(team, test_id))
            await pipe.execute()
        return tests
