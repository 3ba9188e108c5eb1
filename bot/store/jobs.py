"""The execution queue: a Redis Stream with one consumer group that every bot process reads.

An approved request is executed from here, not from the coroutine that approved it, so a process
that dies mid-way loses nothing: its unacknowledged entry is claimed by another process after
`stale_after_ms` and reconciled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from redis.exceptions import ResponseError

from bot.store.client import AnyRedis, StreamEntries

JOBS_STREAM = "mida:jobs"
GROUP = "executors"

# Reset the idle time of an entry this consumer holds, so no other process takes it over while it
# is still being worked on. An entry already taken over by another consumer is left alone.
# KEYS: the stream. ARGV: group, consumer, entry id.
_TOUCH = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
"""


EXECUTE = "execute"  # run the request against Mida (once)
ANNOUNCE = "announce"  # post or refresh the request's card


@dataclass(frozen=True)
class Job:
    entry_id: str
    team_key: str
    request_id: str
    kind: str = EXECUTE


class JobQueue:
    def __init__(self, redis: AnyRedis, consumer: str, *, stale_after_ms: int = 60_000) -> None:
        self._redis = redis
        self.consumer = consumer
        self._stale_after_ms = stale_after_ms
        self._touch = redis.register_script(_TOUCH)

    @property
    def stale_after_ms(self) -> int:
        return self._stale_after_ms

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(JOBS_STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def enqueue(self, team_key: str, request_id: str, kind: str = EXECUTE) -> str:
        entry = await self._redis.xadd(
            JOBS_STREAM, {"team": team_key, "request": request_id, "kind": kind}, maxlen=100_000, approximate=True
        )
        return entry.decode() if isinstance(entry, bytes) else entry

    async def next_batch(self, block_ms: int = 1000, count: int = 10) -> list[Job]:
        """New entries for this consumer (blocks up to block_ms)."""
        answer = await self._redis.xreadgroup(GROUP, self.consumer, {JOBS_STREAM: ">"}, count=count, block=block_ms)
        streams = cast(list[tuple[bytes, StreamEntries]], answer or [])
        return [_job(entry_id, fields) for _, entries in streams for entry_id, fields in entries]

    async def claim_stale(self, count: int = 10) -> list[Job]:
        """Entries another consumer took but never acknowledged (it died, or hangs)."""
        _, entries, *_ = await self._redis.xautoclaim(
            JOBS_STREAM, GROUP, self.consumer, min_idle_time=self._stale_after_ms, start_id="0-0", count=count
        )
        return [_job(entry_id, fields) for entry_id, fields in entries if fields]

    async def touch(self, job: Job) -> bool:
        """Tell the other processes this job is still being worked on (resets its idle time).
        False when it is no longer this consumer's (another process took it over)."""
        return bool(await self._touch(keys=[JOBS_STREAM], args=[GROUP, self.consumer, job.entry_id]))

    async def ack(self, job: Job) -> None:
        await self._redis.xack(JOBS_STREAM, GROUP, job.entry_id)
        await self._redis.xdel(JOBS_STREAM, job.entry_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _job(entry_id: bytes | str, fields: dict) -> Job:
    decoded = {_text(k): _text(v) for k, v in fields.items()}
    return Job(_text(entry_id), decoded["team"], decoded["request"], decoded.get("kind", EXECUTE))
