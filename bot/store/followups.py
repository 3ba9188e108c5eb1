"""Follow-ups after a winner is served: the post-deploy numbers posted in the card's thread later.

One global sorted set (`mida:followups`, scored by when each is due) is worked by every bot
process. Claiming pushes the score forward by a lease in one Lua script, so two processes never
take the same follow-up, and one that dies mid-way only delays it by the lease; `done` removes it.
Each workspace also keeps the members it scheduled per experiment (`mida:{T}:followups:<test_id>`),
so stopping serving can cancel the rest, and the set of those experiments (`mida:{T}:followups`),
so an uninstall finds them all without listing keys.

The global set and a workspace's sets are in different slots, so scheduling is two steps: the
global entry first, then the workspace's sets. A crash in between leaves a follow-up that runs but
cannot be cancelled early; when it comes due, the sweep drops it if its request is gone or the
workspace is no longer connected (an uninstall), and posts it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import TeamRef
from bot.store.client import AnyRedis
from bot.store.keys import scope_key, ws_key

FOLLOWUPS = "mida:followups"

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


@dataclass(frozen=True)
class Followup:
    team_key: str
    request_id: str
    test_id: int
    hours: float

    @property
    def member(self) -> str:
        return f"{self.team_key}|{self.request_id}|{self.test_id}|{self.hours:g}"

    @classmethod
    def parse(cls, member: bytes | str) -> Followup:
        text = member.decode() if isinstance(member, bytes) else member
        team_key, request_id, test_id, hours = text.rsplit("|", 3)
        return cls(team_key, request_id, int(test_id), float(hours))


class FollowupStore:
    def __init__(self, redis: AnyRedis, *, lease_seconds: float = 300) -> None:
        self._redis = redis
        self._lease = lease_seconds
        self._claim = redis.register_script(_CLAIM)

    def _per_test(self, team: TeamRef, test_id: int) -> str:
        return ws_key(team, "followups", str(test_id))

    async def schedule(self, team: TeamRef, request_id: str, test_id: int, hours: list[float], start: float) -> None:
        items = [Followup(team.key, request_id, test_id, h) for h in hours]
        if not items:
            return
        await self._redis.zadd(FOLLOWUPS, {f.member: start + f.hours * 3600 for f in items})
        key, index = self._per_test(team, test_id), ws_key(team, "followups")
        # The later schedule outlives the earlier ones (the same policy hours), so its TTL fits both.
        ttl = int(max(hours) * 3600 + self._lease * 2 + 86400)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, *[f.member for f in items])
            pipe.expire(key, ttl)
            pipe.sadd(index, str(test_id))
            pipe.expire(index, ttl)
            await pipe.execute()

    async def cancel(self, team: TeamRef, test_id: int) -> int:
        key = self._per_test(team, test_id)
        members = await self._redis.smembers(key)
        removed = await self._redis.zrem(FOLLOWUPS, *members) if members else 0
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.srem(ws_key(team, "followups"), str(test_id))
            await pipe.execute()
        return int(removed)

    async def cancel_all(self, team: TeamRef) -> int:
        """Every follow-up the workspace scheduled (an uninstall). Returns how many were removed."""
        removed = 0
        for raw in await self._redis.smembers(ws_key(team, "followups")):
            removed += await self.cancel(team, int(raw))
        await self._redis.delete(ws_key(team, "followups"))
        return removed

    async def claim_due(self, now: float, limit: int = 20) -> list[Followup]:
        members = await self._claim(keys=[FOLLOWUPS], args=[repr(now), repr(now + self._lease), limit])
        return [Followup.parse(m) for m in members]

    async def done(self, followup: Followup) -> None:
        await self._redis.zrem(FOLLOWUPS, followup.member)
        await self._redis.srem(scope_key(followup.team_key, "followups", str(followup.test_id)), followup.member)

    async def scheduled(self, team: TeamRef, test_id: int) -> list[tuple[Followup, float]]:
        members = await self._redis.smembers(self._per_test(team, test_id))
        out = []
        for member in members:
            score = await self._redis.zscore(FOLLOWUPS, member)
            if score is not None:
                out.append((Followup.parse(member), float(score)))
        return sorted(out, key=lambda pair: pair[1])
