"""Ramps in Redis, compare-and-set by version so that processes acting at once never lose a step.

Per workspace (one slot):
  mida:{T}:ramp:<id>             hash    body (Ramp JSON), version (integer, +1 per write)
  mida:{T}:ramps                 set     every ramp id of the workspace (the list, the Home tab, uninstall)
  mida:{T}:ramp-of:<test_id>     string  the id of the experiment's ramp that is not finished yet
One experiment has at most one unfinished ramp: `create` refuses a second.
"""

from __future__ import annotations

from typing import cast

from bot.domain import Ramp, TeamRef
from bot.store.client import AnyRedis, text
from bot.store.keys import ws_key

_CREATE = """
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'version', 1)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""

# KEYS: ramp, ramp-of. ARGV: expected version, body, finished ("1" frees the experiment), id
_UPDATE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'version', tonumber(ARGV[1]) + 1)
if ARGV[3] == '1' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
return 1
"""


class RampStore:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._update = redis.register_script(_UPDATE)

    @staticmethod
    def _key(team: TeamRef, ramp_id: str) -> str:
        return ws_key(team, "ramp", ramp_id)

    @staticmethod
    def _active_key(team: TeamRef, test_id: int) -> str:
        return ws_key(team, "ramp-of", str(test_id))

    async def create(self, ramp: Ramp) -> bool:
        """False when the experiment already has an unfinished ramp (or the id is taken)."""
        keys = [self._key(ramp.team, ramp.id), ws_key(ramp.team, "ramps"), self._active_key(ramp.team, ramp.test_id)]
        return bool(await self._create(keys=keys, args=[ramp.id, ramp.model_dump_json()]))

    async def get(self, team: TeamRef, ramp_id: str) -> tuple[Ramp, str] | None:
        """The ramp and its version (for `update`)."""
        fields = cast(dict[bytes, bytes], await self._redis.hgetall(self._key(team, ramp_id)))
        if not fields:
            return None
        return Ramp.model_validate_json(fields[b"body"]), text(fields[b"version"])

    async def update(self, ramp: Ramp, version: str) -> bool:
        """Write `ramp` if nobody wrote it since `version` was read."""
        keys = [self._key(ramp.team, ramp.id), self._active_key(ramp.team, ramp.test_id)]
        finished = "1" if ramp.state.is_final else "0"
        return bool(await self._update(keys=keys, args=[version, ramp.model_dump_json(), finished, ramp.id]))

    async def active_for(self, team: TeamRef, test_id: int) -> str | None:
        found = await self._redis.get(self._active_key(team, test_id))
        return text(found) if found is not None else None

    async def all(self, team: TeamRef) -> list[Ramp]:
        ramps = []
        for raw in await self._redis.smembers(ws_key(team, "ramps")):
            got = await self.get(team, text(raw))
            if got is not None:
                ramps.append(got[0])
        return sorted(ramps, key=lambda r: r.created_at, reverse=True)

    async def forget_all(self, team: TeamRef) -> int:
        """Every ramp of the workspace (an uninstall). Returns how many there were."""
        ramps = await self.all(team)
        keys = [self._key(team, r.id) for r in ramps] + [self._active_key(team, r.test_id) for r in ramps]
        async with self._redis.pipeline(transaction=True) as pipe:
            if keys:
                pipe.delete(*keys)
            pipe.delete(ws_key(team, "ramps"))
            await pipe.execute()
        return len(ramps)
