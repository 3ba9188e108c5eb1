"""Bolt's lazy listeners, run from a Redis Stream instead of the process that acked.

A listener is split the Bolt way: an ack function that answers Slack at once, and lazy functions
that do the slow part. Bolt hands each lazy function to `start`; here that writes the signed request
to `mida:lazy` and returns. Any bot process (`serve`, or `worker` when the web process runs with
`--no-worker`) reads the stream and re-dispatches the request to its own Bolt app with Bolt's
lazy-only headers, which run just that function. So acking never waits behind slow work, the slow
work can live in another process, and a process that dies mid-way leaves its entry to be claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_utils import build_async_required_kwargs
from slack_bolt.lazy_listener.async_runner import AsyncLazyListenerRunner
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.util.utils import get_arg_names_of_callable, get_name_for_callable

from bot.logs import correlation_id, set_correlation_id
from bot.metrics import LOCAL_WORK, WORK, WORK_SECONDS
from bot.services.errors import BotError
from bot.slack.bodies import bolt_body, request_kind
from bot.slack.headroom import Headroom, holding, runs_here
from bot.store.client import AnyRedis
from bot.store.keys import LAZY_STREAM
from bot.store.stream_queue import Entry, StreamQueue, add_entry

log = logging.getLogger(__name__)

GROUP = "lazy"


ErrorHandler = Callable[[Exception, AsyncBoltRequest], Awaitable[None]]
FirstDelivery = Callable[[], Awaitable[bool]]
"""Whether this is the request's first delivery (False: a replay, whose work must not run again)."""
Place = asyncio.Future[None]


@functools.cache
def _arg_names(function: Callable[..., Awaitable[None]]) -> list[str]:
    """Bolt reads a listener's signature with `inspect` on each call; a listener's never changes."""
    return get_arg_names_of_callable(function)


class QueuedLazyRunner(AsyncLazyListenerRunner):
    """Queues each lazy function in `mida:lazy`; a read (`bot.slack.headroom.may_run_here`) runs in
    this process instead when `headroom` says there is room."""

    reads_request_only = True  # start() copies out body and headers, or runs on the acked request itself

    def __init__(
        self, redis: AnyRedis, logger: logging.Logger, on_error: ErrorHandler, headroom: Headroom | None = None
    ) -> None:
        self.logger = logger
        self._redis = redis
        self._on_error = on_error
        self._headroom = headroom
        self._pending: set[asyncio.Future[None]] = set()
        self._handing_over = False
        # Reads waiting here for room: what to queue instead if the process stops first.
        self._waiting: dict[asyncio.Task[Any], tuple[Callable[..., Awaitable[None]], AsyncBoltRequest, Place]] = {}

    async def run(
        self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest, *, where: str = "queue"
    ) -> None:
        """Run a lazy function (dequeued, or `where="here"`: in the process that acked) with Bolt's
        arguments; a failure goes to `on_error` (which tells the person), as it would have in the
        listener itself."""
        kwargs = build_async_required_kwargs(
            logger=self.logger,
            required_arg_names=_arg_names(function),
            request=request,
            response=None,
            this_func=function,
        )
        kind, started = request_kind(request.body), time.perf_counter()
        outcome = "ok"
        try:
            await function(**kwargs)
        except Exception as err:
            outcome = "handled_error" if isinstance(err, BotError) else "unexpected_error"
            await self._on_error(err, request)
        finally:
            seconds = time.perf_counter() - started
            WORK.labels(kind, outcome).inc()
            WORK_SECONDS.labels(kind).observe(seconds)
            log.info(
                "work after the ack done",
                extra={
                    "fn": get_name_for_callable(function),
                    "where": where,
                    "kind": kind,
                    "outcome": outcome,
                    "ms": round(seconds * 1000, 1),
                },
            )

    def start(
        self,
        function: Callable[..., Awaitable[None]],
        request: AsyncBoltRequest,
        *,
        read: bool | None = None,
        first_delivery: FirstDelivery | None = None,
    ) -> None:
        """`read`: whether the work is a read, when the caller has already told (else asked of
        `function`, see bot.slack.headroom.may_run_here). `first_delivery`: for a request acked
        before its replay check (bot.web.slack_events), asked first; a replay's work is not started."""
        if first_delivery is not None:
            self._track(asyncio.ensure_future(self._start_if_first(function, request, read, first_delivery)))
            return
        # Bolt calls this synchronously, after the ack function has started: either task runs once
        # the ack is on its way (SignallingAck yields first).
        headroom = self._headroom_for(function, request, read)
        if headroom is not None and headroom.try_take():
            # The request the ack was dispatched with: its context has been through the middleware
            # and authorize already, which is what a second dispatch from the queue would redo.
            self._track(asyncio.ensure_future(self._run_here(headroom, function, request)))
        else:
            self._start_without_slot(function, request, headroom)

    def _start_without_slot(
        self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest, headroom: Headroom | None
    ) -> None:
        """A read waits here for a slot (when it may), anything else goes to the queue."""
        place = headroom.queue_up() if headroom is not None else None
        if headroom is not None and place is not None:
            task = asyncio.ensure_future(self._wait_then_run_here(headroom, place, function, request))
            self._waiting[task] = (function, request, place)
        else:
            task = asyncio.ensure_future(self._enqueue(get_name_for_callable(function), request))
        self._track(task)

    def _headroom_for(
        self, function: Callable[..., Awaitable[None]], request: AsyncBoltRequest, read: bool | None
    ) -> Headroom | None:
        """The headroom to ask for a slot, for a read; None: the work goes to the queue."""
        if read is None:
            read = runs_here(function, request.body)
        return self._headroom if read and not self._handing_over else None

    def _track(self, task: asyncio.Future[None]) -> None:
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _start_if_first(
        self,
        function: Callable[..., Awaitable[None]],
        request: AsyncBoltRequest,
        read: bool | None,
        first_delivery: FirstDelivery,
    ) -> None:
        try:
            first = await first_delivery()
        except Exception as err:  # not knowing whether it is a replay, do nothing, and say so
            await self._on_error(err, request)
            return
        if not first:
            log.info("a replayed request: its work is not started again", extra={"kind": request_kind(request.body)})
            return
        headroom = self._headroom_for(function, request, read)
        if headroom is not None and headroom.try_take():
            await self._run_here(headroom, function, request, acked=True)  # in this task: no second wait for the loop
        else:
            self._start_without_slot(function, request, headroom)

    async def _run_here(
        self,
        headroom: Headroom,
        function: Callable[..., Awaitable[None]],
        request: AsyncBoltRequest,
        *,
        acked: bool = False,
    ) -> None:
        """With a slot taken. `acked`: the ack's answer has gone out already."""
        LOCAL_WORK.inc()
        with holding(headroom):
            if not acked:
                await asyncio.sleep(0)  # the ack's answer goes out first
            await self.run(function, request, where="here")

    async def _wait_then_run_here(
        self,
        headroom: Headroom,
        place: asyncio.Future[None],
        function: Callable[..., Awaitable[None]],
        request: AsyncBoltRequest,
    ) -> None:
        try:
            await headroom.turn(place)
        finally:
            self._waiting.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        await self._run_here(headroom, function, request)

    async def hand_over(self, *, finish_within: float = 10.0) -> None:
        """Queue the reads still waiting for room here, so that stopping the process (a deploy)
        does not lose them: whichever process works the queue next answers them. The work already
        running here (and the entries being queued) get `finish_within` seconds to end before the
        process closes its connections under them."""
        headroom = self._headroom
        if headroom is None:
            return
        self._handing_over = True  # what starts from now on goes to the queue
        waiting = list(self._waiting.items())
        self._waiting.clear()
        for task, (_, _, place) in waiting:
            task.cancel()
            headroom.leave(place)  # out of the line, even for a task that never started
        for task, (function, request, _) in waiting:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._enqueue(get_name_for_callable(function), request)
        deadline = asyncio.get_running_loop().time() + finish_within
        while self._pending:  # a replay check ending now starts its work (queued) as another task
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            await asyncio.wait(list(self._pending), timeout=remaining)

    async def _enqueue(self, name: str, request: AsyncBoltRequest) -> None:
        headers = {k: v for k, v in request.headers.items() if not k.startswith("x-slack-bolt-lazy")}
        entry = {"fn": name, "body": request.raw_body, "headers": json.dumps(headers)}
        cid = correlation_id()  # the task was started with the ack's context
        if cid:
            entry["cid"] = cid
        if request.mode == "socket_mode":  # Bolt keeps no raw body for an envelope's payload
            entry |= {"body": json.dumps(request.body), "mode": "socket_mode"}
        try:
            await add_entry(self._redis, LAZY_STREAM, entry)
        except Exception as err:
            # Acked, but the work cannot be queued (Redis down): the person hears it, nothing changed.
            log.warning("could not queue the work after an ack", extra={"fn": name, "error": type(err).__name__})
            await self._on_error(err, request)


@dataclass(frozen=True)
class LazyItem:
    entry_id: str
    request: AsyncBoltRequest
    correlation_id: str | None = None


def _item(entry: Entry) -> LazyItem:
    entry_id, decoded = entry.id, entry.fields
    headers = json.loads(decoded["headers"])
    headers["x-slack-bolt-lazy-only"] = ["1"]
    headers["x-slack-bolt-lazy-function-name"] = [decoded["fn"]]
    cid = decoded.get("cid")
    if decoded.get("mode") == "socket_mode":
        request = AsyncBoltRequest(body=json.loads(decoded["body"]), headers=headers, mode="socket_mode")
        return LazyItem(entry_id, request, cid)
    # Entries queued before bodies were normalised on arrival still hold the raw form.
    content_type = (headers.get("content-type") or [""])[0].split(";")[0] or None
    body = bolt_body(decoded["body"], content_type)
    return LazyItem(entry_id, AsyncBoltRequest(body=body, headers=headers), cid)


class LazyQueue:
    """The consuming side: every process that works the queue reads it with one consumer group."""

    def __init__(self, redis: AnyRedis, consumer: str, *, stale_after_ms: int = 30_000) -> None:
        self._queue = StreamQueue(redis, LAZY_STREAM, GROUP, consumer, stale_after_ms=stale_after_ms)

    async def ensure_group(self) -> None:
        await self._queue.ensure_group()

    async def next_batch(self, block_ms: int = 1000, count: int = 20) -> list[LazyItem]:
        return [_item(e) for e in await self._queue.next_batch(block_ms=block_ms, count=count)]

    async def claim_stale(self, count: int = 20) -> list[LazyItem]:
        return [_item(e) for e in await self._queue.claim_stale(count)]

    async def done(self, item: LazyItem) -> None:
        await self._queue.done(item.entry_id)


async def run_lazy(bolt: AsyncApp, queue: LazyQueue, item: LazyItem) -> None:
    """Run one queued lazy function through Bolt (its middleware, authorize and kwargs), under the
    correlation id of the request that queued it (each item runs in a task of its own)."""
    set_correlation_id(item.correlation_id)
    try:
        await bolt.async_dispatch(item.request)
    except Exception:
        log.exception("work after an ack failed")
    await queue.done(item)


class LazyConsumer:
    """Works the lazy queue: new entries at once, and entries a dead process left behind."""

    # The work is mostly waiting on Mida and Slack: enough slots for rate × Mida's latency
    # (100 requests/s at 2 s each), and fewer than the Redis connections (bot/deps.py).
    # `headroom`: in a process that also acks (`serve`), wait while its loop runs late, so that the
    # acks come first and the backlog waits in Redis.
    def __init__(
        self,
        queue: LazyQueue,
        bolt: AsyncApp,
        *,
        concurrency: int = 200,
        block_ms: int = 1000,
        headroom: Headroom | None = None,
    ) -> None:
        self._queue = queue
        self._bolt = bolt
        self._headroom = headroom
        self._slots = asyncio.Semaphore(concurrency)
        self._block_ms = block_ms
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None  # `run`'s own
        self._reading = False  # `run` is waiting for new entries
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        self._task = asyncio.current_task()
        rounds = 0
        while not self._stopping.is_set():
            try:
                await self._queue.ensure_group()
                if self._headroom is not None:
                    await self._headroom.room()
                self._reading = True
                try:
                    items = await self._queue.next_batch(block_ms=self._block_ms)
                finally:
                    self._reading = False
                rounds += 1
                if rounds % 30 == 0 or not items:
                    items += await self._queue.claim_stale()
                for item in items:  # the queue never hands out twice what is running here
                    await self._slots.acquire()
                    if self._headroom is not None:
                        await self._headroom.room()
                    task = asyncio.create_task(self._run_one(item))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # Redis down or restarting: wait, then go on
                log.warning("lazy queue unavailable; retrying", extra={"error": type(err).__name__})
                await asyncio.sleep(1.0)

    async def _run_one(self, item: LazyItem) -> None:
        try:
            await run_lazy(self._bolt, self._queue, item)
        finally:
            self._slots.release()

    async def stop(self, timeout: float = 30) -> None:
        """Until the round under way has started what it took from the queue (a batch read just
        before, or that Redis held until after, is still worked on), and all of that is done; a
        wait for new entries is cut short."""
        self._stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._task is not None and not self._task.done():
            if self._reading:
                self._task.cancel()  # no new entries: what it took and has not read stays pending, for another
            await asyncio.wait([self._task], timeout=timeout)
        while self._running and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._running), timeout=remaining)
