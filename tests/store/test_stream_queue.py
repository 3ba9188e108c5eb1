"""The one stream queue, on a real Redis: hand-out, take-over after the stale time, touch, and never
handing out twice in one process what it is still working on."""

import asyncio

from bot.store.stream_queue import StreamQueue

STREAM = "mida:test-queue"


async def queues(redis, stale_ms=50):
    a = StreamQueue(redis, STREAM, "g", "a", stale_after_ms=stale_ms)
    b = StreamQueue(redis, STREAM, "g", "b", stale_after_ms=stale_ms)
    await a.ensure_group()
    await b.ensure_group()  # BUSYGROUP is fine
    return a, b


async def test_an_entry_goes_to_one_consumer_and_is_taken_over_when_stale(redis):
    a, b = await queues(redis)
    entry_id = await a.add({"x": "1"})
    got = await a.next_batch(block_ms=10, count=10)
    assert [(e.id, e.fields) for e in got] == [(entry_id, {"x": "1"})]
    assert await b.next_batch(block_ms=10, count=10) == []
    await asyncio.sleep(0.1)
    taken = await b.claim_stale(10)
    assert [e.id for e in taken] == [entry_id]
    assert await a.touch(entry_id) is False  # b has it now
    await b.done(entry_id)
    assert await redis.xlen(STREAM) == 0


async def test_touch_keeps_it_and_the_holder_is_not_handed_it_twice(redis):
    a, b = await queues(redis)
    entry_id = await a.add({"x": "1"})
    [entry] = await a.next_batch(block_ms=10, count=10)
    await asyncio.sleep(0.1)
    assert await a.touch(entry.id) is True
    assert await b.claim_stale(10) == []  # touched: not stale
    await asyncio.sleep(0.1)
    assert await a.claim_stale(10) == []  # stale, but a is still working on it
    a.release(entry.id)
    await asyncio.sleep(0.1)  # the claim above reset its idle time
    assert [e.id for e in await a.claim_stale(10)] == [entry_id]  # given up here: claimed again
