"""Whether the process that acked has room to do a read's work itself, instead of queueing it.

A read (`/mida results`, `status`, `list`, `audit`) changes nothing: lost in a crash, it costs the
person one answer, and they can ask again. So when this process has room, its work after the ack
runs right here, in a task on the same event loop, sparing the Redis round trip and Bolt's second
dispatch. Writes and approvals never run here: they always go through the durable queue.

"Room" is fewer than `slots` reads running here; past that, reads are queued like the rest (and
worked by a `worker`, or by `serve`'s own consumer later), so the work in flight here stays bounded
and each ack waits behind a few reads' steps at most. The consumer of plain `serve` also waits while
the event loop runs late (a 10 ms timer firing more than `max_lag` late within the last `hold`
seconds: acks are waiting for the CPU), so under overload the backlog waits in Redis and the acks
keep priority over the work after them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Headroom", "may_run_here", "runs_here"]

F = TypeVar("F", bound=Callable[..., Any])
ReadCheck = Callable[[dict], bool]
_MARK = "_mida_read_when"


def may_run_here(is_read: ReadCheck) -> Callable[[F], F]:
    """Mark a lazy function whose work, for the bodies `is_read` accepts, is a read that may run in
    the process that acked (when it has room)."""

    def mark(function: F) -> F:
        setattr(function, _MARK, is_read)
        return function

    return mark


def runs_here(function: Callable[..., Any], body: dict) -> bool:
    """Whether `function`'s work for `body` is a read (see `may_run_here`)."""
    is_read: ReadCheck | None = getattr(function, _MARK, None)
    return is_read is not None and is_read(body)


class Headroom:
    """Counts the reads running in this process and watches how late its event loop runs."""

    def __init__(self, slots: int = 16, *, max_lag: float = 0.025, hold: float = 0.2, tick: float = 0.01) -> None:
        self.slots = slots
        self._max_lag = max_lag
        self._hold = hold
        self._tick = tick
        self._running = 0
        self._late_until = 0.0
        self._watch: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> int:
        return self._running

    def busy(self) -> bool:
        """The loop ran late a moment ago: acks are waiting for the CPU."""
        loop = self._watching()
        return loop.time() < self._late_until

    def try_take(self) -> bool:
        """A slot for one read, if there is room; `release()` it when the read is done."""
        if self._running >= self.slots:
            return False
        self._running += 1
        return True

    def release(self) -> None:
        self._running -= 1

    async def room(self) -> None:
        """Until the loop has stopped running late (for a consumer that must not crowd out acks)."""
        while self.busy():
            await asyncio.sleep(self._tick)

    def late(self) -> None:
        """Count the loop as late now (what the watch does when its timer fires late)."""
        loop = self._watching()
        self._late_until = loop.time() + self._hold

    def _watching(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._watch is None or self._watch.done():
            self._loop = loop
            self._watch = loop.create_task(self._watch_loop())
        return loop

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._tick
            await asyncio.sleep(self._tick)
            if loop.time() - due > self._max_lag:
                self._late_until = loop.time() + self._hold

    async def aclose(self) -> None:
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._watch
        self._watch = None
