"""Follow-ups after a winner is served: the post-deploy numbers posted in the card's thread later.

One global sorted set (`mida:followups`, scored by when each is due) is worked by every bot
process. Claiming pushes the score forward by a lease in one Lua script, so two processes never
take the same follow-up, and one that dies mid-way only delays it by the lease; `done` removes it.
Each workspace also keeps the members it scheduled per experiment, so stopping serving can cancel
the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.domain import TeamRef
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
    def __init__(self, redis: aioredis.Redis, *, lease_seconds: float = 300) -> None:
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
        key = self._per_test(team, test_id)
        await self._redis.sadd(key, *[f.member for f in items])
        await self._redis.expire(key, int(max(hours) * 3600 + self._lease * 2 + 86400))

    async def cancel(self, team: TeamRef, test_id: int) -> int:
        key = self._per_test(team, test_id)
        members = await self._redis.smembers(key)
        removed = await self._redis.zrem(FOLLOWUPS, *members) if members else 0
        await self._redis.delete(key)
        return int(removed)

    async def claim_due(self, now: float, limit: int = 20) -> list[Followup]:
        members = await self._claim(keys=[FOLLOWUPS], args=[repr(now), repr(now + self._lease), limit])
        return [Followup.parse(m) for m in members]

    async def done(self, followup: Followup) -> None:
        await self._redis.zrem(FOLLOWUPS, followup.member)
        await self._redis.srem(
            scope_key(followup.team_key, "followups", str(followup.test_id)), followup.member
        )

    async def scheduled(self, team: TeamRef, test_id: int) -> list[tuple[Followup, float]]:
        members = await self._redis.smembers(self._per_test(team, test_id))
        out = []
        for member in members:
            score = await self._redis.zscore(FOLLOWUPS, member)
            if score is not None:
                out.append((Followup.parse(member), float(score)))
        return sorted(out, key=lambda pair: pair[1])

