"""One due-time schedule for every periodic thing: request expiry, follow-ups, and whatever a
feature registers next (ramp steps, watches).

One global sorted set, `mida:due`, holds "<kind>|<payload>" members scored by when each is due.
Every bot process claims what is due in one Lua script that pushes each claimed member's score
forward by a lease, so two processes never take the same item, and one that dies mid-way only
delays it by the lease. `done` removes an item only if it still carries the claim's score: an item
scheduled again meanwhile (by its handler or by anyone) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from bot.store.client import AnyRedis, text
from bot.store.keys import DUE_SCHEDULE, LEGACY_EXPIRY, LEGACY_FOLLOWUPS, MEMBER_SEP

EXPIRE = "expire"  # payload: "<T>|<request id>"
FOLLOWUP = "followup"  # payload: see store/followups.py
RAMP = "ramp"  # payload: "<T>|<ramp id>" (the ramp's next step)
WATCH = "watch"  # payload: "<T>|<test_id>" (the next read of a watched experiment)
# The sorted sets earlier versions scheduled these in, and the kind each one's members are.
LEGACY = {LEGACY_EXPIRY: EXPIRE, LEGACY_FOLLOWUPS: FOLLOWUP}

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""

# Remove (or move to ARGV[2], when given) only while the member still has the claim's score.
_SETTLE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class DueItem:
    kind: str
    payload: str
    claimed_until: float  # the lease: the score the item carries while this claim holds

    @property
    def member(self) -> str:
        return member_of(self.kind, self.payload)


def member_of(kind: str, payload: str) -> str:
    if not kind or MEMBER_SEP in kind:
        raise ValueError("a schedule kind must be non-empty and contain no separator")
    return f"{kind}{MEMBER_SEP}{payload}"


class Schedule:
    def __init__(self, redis: AnyRedis, *, lease_seconds: float = 300) -> None:
        self._redis = redis
        self._lease = lease_seconds
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)

    @property
    def lease_seconds(self) -> float:
        return self._lease

    async def add(self, kind: str, items: dict[str, float], *, only_new: bool = False) -> None:
        """Schedule payloads at their due times (epoch seconds); `only_new` keeps existing times."""
        if items:
            members = {member_of(kind, payload): due for payload, due in items.items()}
            await self._redis.zadd(DUE_SCHEDULE, members, nx=only_new)

    async def remove(self, kind: str, *payloads: str) -> int:
        if not payloads:
            return 0
        return int(await self._redis.zrem(DUE_SCHEDULE, *[member_of(kind, p) for p in payloads]))

    async def count(self, kind: str) -> int:
        """How many items of `kind` are scheduled. Walks this one sorted set with ZSCAN (kinds share
        it): for the metrics at scrape time, not for a hot path."""
        found = 0
        async for _ in self._redis.zscan_iter(DUE_SCHEDULE, match=member_of(kind, "*"), count=1000):
            found += 1
        return found

    async def due_at(self, kind: str, payload: str) -> float | None:
        score = await self._redis.zscore(DUE_SCHEDULE, member_of(kind, payload))
        return None if score is None else float(score)

    async def claim(self, now: float, limit: int = 50) -> list[DueItem]:
        """What is due, each item to this caller only until `now + lease`."""
        until = now + self._lease
        members = await self._claim(keys=[DUE_SCHEDULE], args=[repr(float(now)), repr(until), limit])
        items = []
        for raw in cast(list[bytes], members):
            kind, _, payload = text(raw).partition(MEMBER_SEP)
            items.append(DueItem(kind, payload, until))
        return items

    async def done(self, item: DueItem) -> bool:
        """Finished with a claimed item. False when it was scheduled again meanwhile (kept)."""
        return bool(await self._settle(keys=[DUE_SCHEDULE], args=[item.member, repr(item.claimed_until), ""]))

    async def again_at(self, item: DueItem, when: float) -> bool:
        """Run a claimed item again at `when` instead. False when it was rescheduled meanwhile."""
        return bool(
            await self._settle(keys=[DUE_SCHEDULE], args=[item.member, repr(item.claimed_until), repr(float(when))])
        )

    async def adopt(self, legacy_key: str, kind: str, batch: int = 500) -> int:
        """Move the members of a sorted set from before this schedule (the old `mida:expiry` and
        `mida:followups`) into it, keeping their due times. Safe to repeat and to run from several
        processes: an item already here keeps its time."""
        moved = 0
        while True:
            chunk = cast(list[tuple[bytes, float]], await self._redis.zrange(legacy_key, 0, batch - 1, withscores=True))
            if not chunk:
                return moved
            await self._redis.zadd(DUE_SCHEDULE, {member_of(kind, text(m)): s for m, s in chunk}, nx=True)
            await self._redis.zrem(legacy_key, *[m for m, _ in chunk])
            moved += len(chunk)
