"""One stream queue for all the work that must survive the process doing it: a Redis Stream read
by one consumer group that every bot process joins.

- `next_batch` hands out new entries; `claim_stale` takes over entries another consumer took and
  stopped touching (it died, or hangs) after `stale_after_ms`;
- `touch` keeps an entry that is still being worked on from being taken over;
- `done` acknowledges and deletes it; `release` gives up on it here (it is claimed again later).

An entry this process is already working on is never handed out to it a second time (a long wait
for a free slot, or a re-claim of its own entry, would otherwise run it twice here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from redis.exceptions import ResponseError

from bot.store.client import AnyRedis, StreamEntries, text

# Reset the idle time of an entry this consumer holds, so no other process takes it over while it
# is still being worked on. An entry already taken over by another consumer is left alone.
# KEYS: the stream. ARGV: group, consumer, entry id.
_TOUCH = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


async def add_entry(redis: AnyRedis, stream: str, fields: Mapping[str, str | bytes], *, maxlen: int = 100_000) -> str:
    """Append to a queue's stream (what a producer that reads nothing needs)."""
    entry_id = await redis.xadd(stream, dict(fields), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
    return text(entry_id)


async def backlog(redis: AnyRedis, stream: str, now: float) -> tuple[int, float]:
    """How many entries the queue holds (done ones are deleted) and the age in seconds of the
    oldest, from its id's timestamp (0 when empty)."""
    length = await redis.xlen(stream)
    first = cast(StreamEntries, await redis.xrange(stream, "-", "+", count=1))
    if not first:
        return int(length), 0.0
    added_ms = int(text(first[0][0]).split("-", 1)[0])
    return int(length), max(now - added_ms / 1000, 0.0)


@dataclass(frozen=True)
class Entry:
    id: str
    fields: dict[str, str]


class StreamQueue:
    def __init__(
        self, redis: AnyRedis, stream: str, group: str, consumer: str, *, stale_after_ms: int, maxlen: int = 100_000
    ) -> None:
        self._redis = redis
        self.stream = stream
        self._group = group
        self.consumer = consumer
        self.stale_after_ms = stale_after_ms
        self._maxlen = maxlen
        self._touch = redis.register_script(_TOUCH)
        self._held: set[str] = set()

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self._group, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def add(self, fields: Mapping[str, str | bytes]) -> str:
        return await add_entry(self._redis, self.stream, fields, maxlen=self._maxlen)

    async def next_batch(self, *, block_ms: int, count: int) -> list[Entry]:
        answer = await self._redis.xreadgroup(
            self._group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        streams = cast(list[tuple[bytes, StreamEntries]], answer or [])
        return self._hold([entry for _, entries in streams for entry in entries])

    async def claim_stale(self, count: int) -> list[Entry]:
        _, entries, *_ = await self._redis.xautoclaim(
            self.stream, self._group, self.consumer, min_idle_time=self.stale_after_ms, start_id="0-0", count=count
        )
        return self._hold([(entry_id, fields) for entry_id, fields in entries if fields])

    async def touch(self, entry_id: str) -> bool:
        """False when the entry is no longer this consumer's (another process took it over)."""
        return bool(await self._touch(keys=[self.stream], args=[self._group, self.consumer, entry_id]))

    async def done(self, entry_id: str) -> None:
        await self._redis.xack(self.stream, self._group, entry_id)
        await self._redis.xdel(self.stream, entry_id)
        self._held.discard(entry_id)

    def release(self, entry_id: str) -> None:
        """Stop working on it here without acknowledging: it is claimed again once stale."""
        self._held.discard(entry_id)

    def _hold(self, raw: StreamEntries) -> list[Entry]:
        fresh = []
        for entry_id, fields in raw:
            entry = Entry(text(entry_id), {text(k): text(v) for k, v in fields.items()})
            if entry.id not in self._held:
                self._held.add(entry.id)
                fresh.append(entry)
        return fresh
