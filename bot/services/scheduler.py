"""The one due-time scheduler: every periodic thing registers a handler for its kind of schedule
item (request expiry, follow-ups; next, ramp steps and watches), and every process's worker runs
`run_due`. Each due item goes to one process at a time (claimed under a lease, `store/schedule.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.store.schedule import LEGACY, DueItem, Schedule

log = logging.getLogger(__name__)

Handler = Callable[[str, float], Awaitable[float | None]]
"""Called with the item's payload and the time it was claimed; returns when the item is due
again, or None when it is finished. An exception leaves it claimed: it comes back after the lease."""


class Scheduler:
    def __init__(self, schedule: Schedule) -> None:
        self._schedule = schedule
        self._handlers: dict[str, Handler] = {}
        self._adopted = False

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        self._handlers[kind] = handler

    async def adopt_legacy(self) -> int:
        """Move what earlier versions scheduled in their own sorted sets into the one schedule."""
        moved = 0
        for key, kind in LEGACY.items():
            moved += await self._schedule.adopt(key, kind)
        if moved:
            log.info("moved items from an earlier version's schedule", extra={"items": moved})
        return moved

    async def run_due(self, now: float | None = None, limit: int = 50) -> int:
        """Run what is due; returns how many items were handled (finished or rescheduled)."""
        if not self._adopted:  # once per process, when Redis first answers
            await self.adopt_legacy()
            self._adopted = True
        at = time.time() if now is None else now
        handled = 0
        for item in await self._schedule.claim(at, limit):
            if await self._run(item, at):
                handled += 1
        return handled

    async def _run(self, item: DueItem, now: float) -> bool:
        handler = self._handlers.get(item.kind)
        if handler is None:
            # A kind a newer version of the bot schedules: left for a process that knows it.
            log.warning("no handler for a due item; left for later", extra={"kind": item.kind})
            return False
        try:
            again = await handler(item.payload, now)
        except asyncio.CancelledError:
            raise
        except (RedisConnectionError, RedisTimeoutError, OSError):
            raise  # the worker pauses and retries; the item comes back after its lease
        except Exception:
            log.exception("a due item failed; it runs again after its lease", extra={"kind": item.kind})
            return False
        if again is None:
            await self._schedule.done(item)
        else:
            await self._schedule.again_at(item, again)
        return True
