"""Follow-ups after a winner is served: the post-deploy numbers posted in the card's thread later.

Each follow-up is an item of the due-time schedule (`store/schedule.py`, kind `followup`), worked
by every bot process. Each workspace also keeps the follow-ups it scheduled per experiment
(`mida:{T}:followups:<test_id>`), so stopping serving can cancel the rest, and the set of those
experiments (`mida:{T}:followups`), so an uninstall finds them all without listing keys.

The schedule and a workspace's sets are in different slots, so scheduling is two steps: the
schedule first, then the workspace's sets. A crash in between leaves a follow-up that runs but
cannot be cancelled early; when it comes due, it is dropped if its request is gone or the
workspace is no longer connected (an uninstall), and posted otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import TeamRef
from bot.store.client import AnyRedis, text
from bot.store.keys import scope_key, ws_key
from bot.store.schedule import FOLLOWUP, Schedule


@dataclass(frozen=True)
class Followup:
    team_key: str
    request_id: str
    test_id: int
    hours: float

    @property
    def payload(self) -> str:
        return f"{self.team_key}|{self.request_id}|{self.test_id}|{self.hours:g}"

    @classmethod
    def parse(cls, payload: bytes | str) -> Followup:
        text = payload.decode() if isinstance(payload, bytes) else payload
        team_key, request_id, test_id, hours = text.rsplit("|", 3)
        return cls(team_key, request_id, int(test_id), float(hours))


class FollowupStore:
    def __init__(self, redis: AnyRedis, schedule: Schedule) -> None:
        self._redis = redis
        self._schedule = schedule

    def _per_test(self, team: TeamRef, test_id: int) -> str:
        return ws_key(team, "followups", str(test_id))

    async def schedule(self, team: TeamRef, request_id: str, test_id: int, hours: list[float], start: float) -> None:
        items = [Followup(team.key, request_id, test_id, h) for h in hours]
        if not items:
            return
        await self._schedule.add(FOLLOWUP, {f.payload: start + f.hours * 3600 for f in items})
        key, index = self._per_test(team, test_id), ws_key(team, "followups")
        # The later schedule outlives the earlier ones (the same policy hours), so its TTL fits both.
        ttl = int(max(hours) * 3600 + self._schedule.lease_seconds * 2 + 86400)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, *[f.payload for f in items])
            pipe.expire(key, ttl)
            pipe.sadd(index, str(test_id))
            pipe.expire(index, ttl)
            await pipe.execute()

    async def cancel(self, team: TeamRef, test_id: int) -> int:
        key = self._per_test(team, test_id)
        payloads = [text(p) for p in await self._redis.smembers(key)]
        removed = await self._schedule.remove(FOLLOWUP, *payloads)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.srem(ws_key(team, "followups"), str(test_id))
            await pipe.execute()
        return removed

    async def cancel_all(self, team: TeamRef) -> int:
        """Every follow-up the workspace scheduled (an uninstall). Returns how many were removed."""
        removed = 0
        for raw in await self._redis.smembers(ws_key(team, "followups")):
            removed += await self.cancel(team, int(raw))
        await self._redis.delete(ws_key(team, "followups"))
        return removed

    async def forget(self, followup: Followup) -> None:
        """A follow-up that was posted or dropped leaves its experiment's set."""
        await self._redis.srem(scope_key(followup.team_key, "followups", str(followup.test_id)), followup.payload)

    async def scheduled(self, team: TeamRef, test_id: int) -> list[tuple[Followup, float]]:
        payloads = await self._redis.smembers(self._per_test(team, test_id))
        out = []
        for raw in payloads:
            followup = Followup.parse(raw)
            due = await self._schedule.due_at(FOLLOWUP, followup.payload)
            if due is not None:
                out.append((followup, due))
        return sorted(out, key=lambda pair: pair[1])
