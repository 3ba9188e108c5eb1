"""The execution queue (`mida:jobs`): the bot's `StreamQueue` of approved changes to run and cards to
announce.

An approved request is executed from here, not from the coroutine that approved it, so a process
that dies mid-way loses nothing: its unacknowledged entry is claimed by another process after
`stale_after_ms` and reconciled.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.logs import correlation_id
from bot.store.client import AnyRedis
from bot.store.keys import JOBS_STREAM
from bot.store.stream_queue import Entry, StreamQueue

GROUP = "executors"
EXECUTE = "execute"  # run the request against Mida (once)
ANNOUNCE = "announce"  # post or refresh the request's card


@dataclass(frozen=True)
class Job:
    entry_id: str
    team_key: str
    request_id: str
    kind: str = EXECUTE
    correlation_id: str | None = None  # of the Slack request that led to it (bot/logs.py)


class JobQueue:
    def __init__(self, redis: AnyRedis, consumer: str, *, stale_after_ms: int = 60_000) -> None:
        self._queue = StreamQueue(redis, JOBS_STREAM, GROUP, consumer, stale_after_ms=stale_after_ms)

    @property
    def consumer(self) -> str:
        return self._queue.consumer

    @property
    def stale_after_ms(self) -> int:
        return self._queue.stale_after_ms

    async def ensure_group(self) -> None:
        await self._queue.ensure_group()

    async def enqueue(self, team_key: str, request_id: str, kind: str = EXECUTE) -> str:
        fields = {"team": team_key, "request": request_id, "kind": kind}
        cid = correlation_id()
        return await self._queue.add(fields | {"cid": cid} if cid else fields)

    async def next_batch(self, block_ms: int = 1000, count: int = 10) -> list[Job]:
        """New entries for this consumer (blocks up to block_ms)."""
        return [_job(e) for e in await self._queue.next_batch(block_ms=block_ms, count=count)]

    async def claim_stale(self, count: int = 10) -> list[Job]:
        """Entries another consumer took but never acknowledged (it died, or hangs)."""
        return [_job(e) for e in await self._queue.claim_stale(count)]

    async def touch(self, job: Job) -> bool:
        """Tell the other processes this job is still being worked on (resets its idle time).
        False when it is no longer this consumer's (another process took it over)."""
        return await self._queue.touch(job.entry_id)

    async def ack(self, job: Job) -> None:
        await self._queue.done(job.entry_id)

    def release(self, job: Job) -> None:
        """Not done here (it failed, or was deferred): it is claimed again once stale."""
        self._queue.release(job.entry_id)


def _job(entry: Entry) -> Job:
    fields = entry.fields
    return Job(entry.id, fields["team"], fields["request"], fields.get("kind", EXECUTE), fields.get("cid"))
