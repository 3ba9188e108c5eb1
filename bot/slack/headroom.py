"""Whether the process that acked has room to do a read's work itself, instead of queueing it.

A read (`/mida results`, `status`, `list`, `audit`) changes nothing: lost in a crash, it costs the
person one answer, and they can ask again. So its work after the ack runs right here, in a task on
the same event loop, sparing the Redis round trip and Bolt's second dispatch. Writes and approvals
never run here: they always go through the durable queue.

"Room" is fewer than `slots` reads working here, and fewer than `in_flight` in all. A read that
the watch finds, on time, waiting for Mida's or Slack's answer for half a tick gives its slot to
another meanwhile (`waiting_elsewhere`) and takes one back after, before any read that has not
started, since what it waits for takes no CPU here and Mida may take a second to answer (four
slots held through a 100 ms wait would cap the reads at 40/s). A quicker answer keeps the slot, and
so does any while the loop runs late: under overload with an instant Mida, the few slots are what
keeps the reads from crowding out the acks (freed whatever the loop, they let in more reads: at
twice capacity the acks waited 47-57 ms at p99 where keeping them gave 4-12, bench/README.md).
While the event loop runs late (a 10 ms timer firing more than `max_lag` late `late_ticks` times
within `hold` seconds, the last time within the last `hold` seconds, or once more while it still
counts as late: acks are waiting for the CPU), room is fewer than `busy_slots` reads in all in
plain `serve`, and none with `--no-worker`, whose worker processes have CPUs of their own. Fewer
late ticks are no load: a stall (a collection, the CPU taken by another process or the
hypervisor) makes one, and the requests that arrived during it one more while the loop catches up;
holding the reads back then only made their answers later. Past that, a read waits:
- in this process, in arrival order, when this process works the queue itself (plain `serve`,
  `waits_here`): there, a trip through Redis would only add work for the same CPU (a shutdown hands
  the reads still waiting to the queue, bot.slack.lazy_queue);
- in the queue otherwise (`serve --no-worker`), for a `worker` process to do.
So the work in flight here stays bounded, each ack waits behind a few reads' steps at most, and
under overload the backlog waits while the acks keep priority over the work after them. The
consumer of plain `serve` also waits while the loop runs late (`room`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["Headroom", "holding", "may_run_here", "runs_here", "waiting_elsewhere"]

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


class Slot:
    """The slot of one read running here."""

    def __init__(self, headroom: Headroom) -> None:
        self.headroom = headroom
        self.held = True
        self.away_since = 0.0  # when it began waiting elsewhere, holding the slot still

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.headroom.release()


_SLOT: ContextVar[Slot | None] = ContextVar("mida_read_slot", default=None)


@contextlib.contextmanager
def holding(headroom: Headroom) -> Iterator[Slot]:
    """Around a read's work, in its task, with a slot taken (`try_take`, `turn`): given back after."""
    slot = Slot(headroom)
    token = _SLOT.set(slot)
    try:
        yield slot
    finally:
        _SLOT.reset(token)
        slot.give_back()


@contextlib.asynccontextmanager
async def waiting_elsewhere(*, then_done: bool = False) -> AsyncIterator[None]:
    """Around a wait for Mida or Slack in a read that runs here. A wait the watch finds going on
    for half a tick, while the loop is on time, gives the slot to another read, and one is taken
    back after (`then_done`: the read has nothing left to do here); a quick answer keeps it, so an
    instant Mida counts as work, as it did. Elsewhere (the worker, a write) it changes nothing."""
    slot = _SLOT.get()
    if slot is None or not slot.held:
        yield
        return
    headroom = slot.headroom
    headroom.step_away(slot)
    cancelled = False
    try:
        yield
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        if headroom.step_back(slot) and not (then_done or cancelled):
            await headroom.take_back()
            slot.held = True


class Headroom:
    """Counts the reads running in this process, keeps those waiting for room, and watches how late
    its event loop runs."""

    def __init__(
        self,
        slots: int = 4,
        *,
        busy_slots: int | None = None,
        in_flight: int = 200,
        max_waiting: int = 10_000,
        max_lag: float = 0.025,
        hold: float = 0.2,
        late_ticks: int = 3,
        tick: float = 0.01,
        idle_after: float = 0.2,
    ) -> None:
        self.slots = slots
        self.in_flight = in_flight
        self.busy_slots = max(1, slots // 4) if busy_slots is None else busy_slots
        self.max_waiting = max_waiting
        self.waits_here = False  # plain `serve`: set by bot.server
        self._max_lag = max_lag
        self._hold = hold
        self._tick = tick
        self._idle_after = idle_after
        self._asked_until = 0.0  # the watch goes on until then, or while reads run or wait
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._returning: deque[asyncio.Future[None]] = deque()  # reads back from waiting elsewhere
        self.elsewhere = 0  # reads here waiting for Mida or Slack, their slot given up
        self._away: set[Slot] = set()  # reads waiting elsewhere that still hold their slot
        self._late_until = 0.0
        self._late_at: deque[float] = deque(maxlen=late_ticks)  # the last late ticks
        self._watch: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        """Reads in line for a slot: not started yet, or back from waiting elsewhere."""
        return len(self._waiting) + len(self._returning)

    def busy(self) -> bool:
        """The loop ran late a moment ago: acks are waiting for the CPU."""
        loop = self._watching()
        return loop.time() < self._late_until

    def _limit(self) -> int:
        if not self.busy():
            return self.slots
        # Late: with a worker to hand the reads to (`--no-worker`), this process only acks.
        return min(self.slots, self.busy_slots) if self.waits_here else 0

    def _return_limit(self) -> int:
        # Work begun here can go nowhere else: one at a time even while the loop runs late.
        return max(1, self._limit())

    def _room_for_new(self) -> bool:
        if self.busy():
            # Late: the reads waiting elsewhere count too, since each will want the CPU back.
            return self._running + self.elsewhere < self._limit()
        return self._running < self.slots and self._running + self.elsewhere < self.in_flight

    def has_room(self) -> bool:
        """Whether `try_take` would give a slot now."""
        return not self._waiting and not self._returning and self._room_for_new()

    def try_take(self) -> bool:
        """A slot for one read, if there is room and none is waiting for one; `release()` it when
        the read is done."""
        if not self.has_room():
            return False
        self._running += 1
        return True

    def queue_up(self) -> asyncio.Future[None] | None:
        """A place in line for a read without room, if it may wait here rather than in the queue;
        `await headroom.turn(place)`, then `release()` when the read is done."""
        if not (self.waits_here and self.slots > 0 and len(self._waiting) < self.max_waiting):
            return None
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(place)
        self._admit()
        return place

    async def turn(self, place: asyncio.Future[None]) -> None:
        """Until `place` (from `queue_up`) has a slot."""
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self.release()  # given a slot just as it was cancelled
            elif place in self._waiting:
                self._waiting.remove(place)
            raise

    def step_away(self, slot: Slot) -> None:
        """`slot`'s read waits elsewhere from now: the watch frees its slot after half a tick of that."""
        slot.away_since = self._watching().time()
        self._away.add(slot)

    def step_back(self, slot: Slot) -> bool:
        """`slot`'s read is back; whether it gave its slot up meanwhile (then `take_back`)."""
        if slot in self._away:
            self._away.discard(slot)
            return False
        self.elsewhere -= 1
        return True

    def _free_long_waits(self, now: float) -> None:
        for slot in [s for s in self._away if now - s.away_since >= self._tick / 2]:
            self._away.discard(slot)
            slot.give_back()
            self.elsewhere += 1

    async def take_back(self) -> None:
        """A slot again for a read that gave its own back while it waited elsewhere, before any
        read that has not started; `release()` it when the read is done."""
        if not self._returning and self._running < self._return_limit():
            self._running += 1
            return
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._returning.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self.release()
            elif place in self._returning:
                self._returning.remove(place)
            raise

    def leave(self, place: asyncio.Future[None]) -> None:
        """Give up a place in line that has no slot yet (its read is going elsewhere)."""
        if not place.done():
            place.cancel()
        if place in self._waiting:
            self._waiting.remove(place)

    def release(self) -> None:
        self._running -= 1
        self._admit()

    def _admit(self) -> None:
        while self._returning and self._running < self._return_limit():
            self._grant(self._returning.popleft())
        if self._returning:
            return  # those back from elsewhere first
        while self._waiting and self._room_for_new():
            self._grant(self._waiting.popleft())

    def _grant(self, turn: asyncio.Future[None]) -> None:
        if not turn.done():
            self._running += 1
            turn.set_result(None)

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
        self._asked_until = loop.time() + self._idle_after
        if self._loop is not loop or self._watch is None or self._watch.done():
            self._loop = loop
            self._watch = loop.create_task(self._watch_loop())
        return loop

    async def _watch_loop(self) -> None:
        """Ticks while anyone asks and while reads run or wait; an idle process is not woken a
        hundred times a second for nothing (the next question starts the watch again)."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._tick
            await asyncio.sleep(self._tick)
            now = loop.time()
            if now - due > self._max_lag:
                self._late_at.append(now)
                full = len(self._late_at) == self._late_at.maxlen
                if now < self._late_until or (full and now - self._late_at[0] <= self._hold):
                    self._late_until = now + self._hold  # load, not a stall and its catching up
            if now >= self._late_until:  # while late, a read still waiting may be waiting on this loop
                self._free_long_waits(now)
            self._admit()  # the loop has caught up: more of the reads waiting may start
            if not (self._running or self.elsewhere or self._waiting or self._returning) and now > self._asked_until:
                return

    async def aclose(self) -> None:
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._watch
        self._watch = None
