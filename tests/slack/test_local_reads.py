"""Reads after the ack run in the process that acked while it has room; past that, and for every
write, the work goes through the durable queue, and none of it is lost."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.listeners.commands.mida import is_read
from bot.slack.bodies import bolt_body
from bot.slack.headroom import Headroom, may_run_here
from bot.slack.lazy_queue import LazyQueue, QueuedLazyRunner
from bot.slack.responses import PooledRespond, ResponseSession
from bot.store.keys import LAZY_STREAM
from standins.slack_requests import slash_command


def request(text: str) -> AsyncBoltRequest:
    raw, content_type = slash_command(text)
    return AsyncBoltRequest(body=bolt_body(raw.decode(), content_type), headers={"content-type": content_type})


class Reads:
    """A lazy function marked as a read, that holds until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.done: list[str] = []

        @may_run_here(is_read)
        async def run_mida_command(body: dict) -> None:
            await self.release.wait()
            self.done.append(body["text"])

        self.function = run_mida_command


async def errors(error: Exception, request: AsyncBoltRequest) -> None:
    raise AssertionError(f"unexpected failure: {error!r}")


async def settle(runner: QueuedLazyRunner) -> None:
    """Until every queued write is in Redis, and the reads here have started."""
    await asyncio.gather(*(t for t in runner._pending if t.get_coro().__name__ == "_enqueue"))
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_read_runs_here_and_nothing_is_queued(redis):
    reads, headroom = Reads(), Headroom(slots=4)
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)
    reads.release.set()

    runner.start(reads.function, request("results 1234"))
    await settle(runner)
    while not reads.done:
        await asyncio.sleep(0.01)

    assert reads.done == ["results 1234"]
    assert await redis.xlen(LAZY_STREAM) == 0
    assert headroom.running == 0


async def test_reads_past_the_slots_are_queued_and_none_is_lost(redis):
    reads, headroom = Reads(), Headroom(slots=2)
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)

    for n in range(5):
        runner.start(reads.function, request(f"results {n}"))
    await settle(runner)

    assert headroom.running == 2  # two run here, held
    assert await redis.xlen(LAZY_STREAM) == 3  # the other three wait in Redis
    reads.release.set()
    while len(reads.done) < 2:
        await asyncio.sleep(0.01)
    queue = LazyQueue(redis, "test")
    await queue.ensure_group()
    queued = await queue.next_batch(block_ms=100)
    texts = sorted([*reads.done, *(item.request.body["text"] for item in queued)])
    assert texts == [f"results {n}" for n in range(5)]
    assert headroom.running == 0


async def test_in_plain_serve_reads_past_the_slots_wait_here_in_order_and_none_is_lost(redis):
    reads, headroom = Reads(), Headroom(slots=2, max_waiting=2)
    headroom.waits_here = True  # this process works the queue itself: Redis would add only work
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)

    for n in range(5):
        runner.start(reads.function, request(f"results {1000 + n}"))
    await settle(runner)

    assert (headroom.running, headroom.waiting) == (2, 2)
    assert await redis.xlen(LAZY_STREAM) == 1  # past max_waiting: the queue after all
    reads.release.set()
    while len(reads.done) < 4:
        await asyncio.sleep(0.01)
    assert reads.done == [f"results {1000 + n}" for n in range(4)]  # in arrival order
    assert (headroom.running, headroom.waiting) == (0, 0)


async def test_at_shutdown_the_reads_still_waiting_go_to_the_queue(redis):
    reads, headroom = Reads(), Headroom(slots=1)
    headroom.waits_here = True
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)
    for n in range(3):
        runner.start(reads.function, request(f"results {1000 + n}"))
    await settle(runner)
    assert (headroom.running, headroom.waiting) == (1, 2)
    runner.start(reads.function, request("results 1003"))  # its task has not even started

    await runner.hand_over()

    assert headroom.waiting == 0
    queue = LazyQueue(redis, "test")
    await queue.ensure_group()
    queued = await queue.next_batch(block_ms=100)
    assert [item.request.body["text"] for item in queued] == ["results 1001", "results 1002", "results 1003"]
    reads.release.set()
    while not reads.done:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert reads.done == ["results 1000"] and headroom.running == 0  # the handed over did not run here too


class Delivery:
    """A replay check that answers when told to."""

    def __init__(self) -> None:
        self.verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.asked = 0

    async def __call__(self) -> bool:
        self.asked += 1
        return await self.verdict


async def test_work_acked_before_its_replay_check_starts_only_on_a_first_delivery(redis):
    reads, headroom = Reads(), Headroom(slots=1)
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)
    reads.release.set()
    first, replay, queued_replay = Delivery(), Delivery(), Delivery()

    runner.start(reads.function, request("results 1"), read=True, first_delivery=first)
    runner.start(reads.function, request("results 2"), read=True, first_delivery=replay)
    runner.start(reads.function, request("serve-winner 1234 1 25"), first_delivery=queued_replay)
    await settle(runner)
    assert (first.asked, replay.asked, queued_replay.asked) == (1, 1, 1)
    assert reads.done == [] and headroom.running == 0  # nothing starts before the check says

    replay.verdict.set_result(False)
    queued_replay.verdict.set_result(False)
    first.verdict.set_result(True)
    while runner._pending:
        await asyncio.sleep(0.01)
    assert reads.done == ["results 1"]
    assert await redis.xlen(LAZY_STREAM) == 0  # the replayed write was not queued either


async def test_a_replay_check_that_fails_starts_nothing_and_the_person_hears_it(redis):
    told: list[Exception] = []

    async def tell(error: Exception, request: AsyncBoltRequest) -> None:
        told.append(error)

    async def broken() -> bool:
        raise ValueError("no answer")

    reads, headroom = Reads(), Headroom(slots=1)
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), tell, headroom)
    reads.release.set()
    runner.start(reads.function, request("results 1234"), read=True, first_delivery=broken)
    while runner._pending:
        await asyncio.sleep(0.01)
    assert [type(e) for e in told] == [ValueError]
    assert reads.done == [] and await redis.xlen(LAZY_STREAM) == 0 and headroom.running == 0


async def test_a_read_whose_replay_check_ends_during_a_hand_over_goes_to_the_queue(redis):
    reads, headroom = Reads(), Headroom(slots=4)
    headroom.waits_here = True
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)
    delivery = Delivery()
    runner.start(reads.function, request("results 1234"), read=True, first_delivery=delivery)
    await settle(runner)

    handing_over = asyncio.create_task(runner.hand_over(finish_within=5))
    await asyncio.sleep(0.05)
    delivery.verdict.set_result(True)
    await asyncio.wait_for(handing_over, timeout=10)

    queue = LazyQueue(redis, "test")
    await queue.ensure_group()
    assert [item.request.body["text"] for item in await queue.next_batch(block_ms=100)] == ["results 1234"]
    reads.release.set()
    await asyncio.sleep(0.05)
    assert reads.done == [] and headroom.running == 0


async def test_while_the_loop_runs_late_a_process_with_workers_to_hand_reads_to_starts_none():
    headroom = Headroom(slots=8, busy_slots=2, hold=5)  # waits_here False: `serve --no-worker`
    assert headroom.try_take()
    headroom.late()
    assert not headroom.try_take()
    headroom.release()
    assert not headroom.try_take()
    await headroom.aclose()


async def test_while_the_loop_runs_late_fewer_reads_start_here():
    headroom = Headroom(slots=8, busy_slots=2, hold=5)
    headroom.waits_here = True  # plain `serve`: the reads must go on here
    assert [headroom.try_take() for _ in range(3)] == [True, True, True]
    headroom.late()
    assert not headroom.try_take()  # 3 running, 2 allowed while late
    for _ in range(3):
        headroom.release()
    assert [headroom.try_take() for _ in range(3)] == [True, True, False]
    await headroom.aclose()


async def test_writes_and_unmarked_work_always_go_through_the_queue(redis):
    reads, headroom = Reads(), Headroom(slots=8)
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, headroom)

    async def handle_approve(body: dict) -> None:
        raise AssertionError("ran in the acking process")

    runner.start(reads.function, request("serve-winner 1234 1 25"))  # a change: the modal, then the queue
    runner.start(reads.function, request("disconnect"))
    runner.start(reads.function, request("audit export"))
    runner.start(handle_approve, request("results 1234"))  # not marked as a read
    await settle(runner)

    assert await redis.xlen(LAZY_STREAM) == 4
    assert reads.done == [] and headroom.running == 0


async def test_no_slots_means_every_read_is_queued(redis):
    reads = Reads()
    runner = QueuedLazyRunner(redis, logging.getLogger("test"), errors, Headroom(slots=0))
    reads.release.set()

    runner.start(reads.function, request("results 1234"))
    await settle(runner)

    assert await redis.xlen(LAZY_STREAM) == 1 and reads.done == []


def test_which_commands_are_reads():
    def body(text: str) -> dict:
        return request(text).body

    assert [is_read(body(t)) for t in ("results 1234", "status", "list", "audit", "audit 1234")] == [True] * 5
    writes = ("serve-winner 1234 1 25", "rollout 1234 1 50", "stop-serving 1234", "connect", "settings",
              "disconnect", "audit export", "results", "nonsense")
    assert [is_read(body(t)) for t in writes] == [False] * len(writes)


async def test_the_watch_stops_when_nothing_is_asked_and_starts_again_when_something_is():
    headroom = Headroom(slots=2, tick=0.005, idle_after=0.05)
    assert headroom.try_take()
    watch = headroom._watch
    assert watch is not None
    await asyncio.sleep(0.2)
    assert not watch.done()  # a read is running: its slot must be given back to someone waiting
    headroom.release()
    await asyncio.wait_for(watch, timeout=5)  # idle: no more ticks
    assert headroom.try_take()
    assert headroom._watch is not None and not headroom._watch.done()
    headroom.release()
    await headroom.aclose()


async def _stall() -> None:  # the loop blocked, as by a long collection or the CPU taken away
    await asyncio.sleep(0.02)
    time.sleep(0.2)
    await asyncio.sleep(0.02)


async def test_a_stall_and_its_catching_up_are_not_load_a_third_late_tick_soon_after_is():
    headroom = Headroom(slots=4, tick=0.005, max_lag=0.1, hold=1.0)
    assert headroom.try_take()  # the watch runs while a read does
    await _stall()
    assert not headroom.busy()  # on time again: the reads go on here
    await _stall()
    assert not headroom.busy()  # the requests that arrived during a stall, caught up with
    await _stall()
    assert headroom.busy()  # late three times within `hold`: the acks are waiting for the CPU
    headroom.release()
    await headroom.aclose()


async def test_one_late_tick_while_late_keeps_the_loop_counted_late():
    headroom = Headroom(slots=4, tick=0.005, max_lag=0.1, hold=1.0)
    assert headroom.try_take()
    headroom.late()  # late until `hold` from now
    await asyncio.sleep(0.5)
    await _stall()  # one late tick, within the hold
    await asyncio.sleep(0.55)  # past the first hold, within the one the late tick began
    assert headroom.busy()
    headroom.release()
    await headroom.aclose()


async def test_a_late_loop_holds_the_consumer_back_until_it_catches_up():
    headroom = Headroom(hold=0.05)
    await headroom.room()  # not late: at once
    headroom.late()
    waiting = asyncio.create_task(headroom.room())
    await asyncio.sleep(0)
    assert not waiting.done()
    await asyncio.wait_for(waiting, timeout=10)
    await headroom.aclose()


async def test_the_pooled_respond_posts_what_bolts_respond_posts(slack_api):
    sessions = ResponseSession()
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    for _name, respond in (("bolt", AsyncRespond(response_url=slack_api.response_url("bolt"))),
                          ("pooled", PooledRespond(response_url=slack_api.response_url("pooled"), sessions=sessions))):
        await respond(text="hi", blocks=blocks, response_type="ephemeral", replace_original=False)
        await respond({"text": "whole", "response_type": "in_channel"})
    assert slack_api.responses("pooled") == slack_api.responses("bolt")
    assert len(slack_api.responses("pooled")) == 2
    first = sessions.get()
    await PooledRespond(response_url=slack_api.response_url("pooled"), sessions=sessions)(text="again")
    assert sessions.get() is first  # one session for the process
    await sessions.aclose()
