import asyncio

import pytest

from bot.store.keys import DUE_SCHEDULE, LEGACY_EXPIRY, LEGACY_FOLLOWUPS
from bot.store.schedule import EXPIRE, FOLLOWUP, Schedule


async def test_each_due_item_is_claimed_by_one_caller_until_its_lease_runs_out(redis):
    schedule = Schedule(redis, lease_seconds=60)
    await schedule.add("step", {f"p{i}": 100.0 + i for i in range(10)})
    await schedule.add("step", {"later": 500.0})

    claims = await asyncio.gather(*(schedule.claim(now=200.0, limit=3) for _ in range(6)))
    claimed = [item.payload for batch in claims for item in batch]
    assert sorted(claimed) == sorted(f"p{i}" for i in range(10))  # each once, "later" not due
    assert await schedule.claim(now=259.0) == []
    assert sorted(i.payload for i in await schedule.claim(now=260.0)) == sorted(claimed)  # lease over


async def test_done_and_again_at_leave_an_item_scheduled_anew_meanwhile(redis):
    schedule = Schedule(redis, lease_seconds=60)
    await schedule.add("step", {"a": 10.0, "b": 10.0, "c": 10.0})
    a, b, c = sorted(await schedule.claim(now=20.0), key=lambda i: i.payload)

    assert await schedule.done(a) is True
    assert await schedule.due_at("step", "a") is None

    await schedule.add("step", {"b": 1000.0})  # someone schedules it again while it is claimed
    assert await schedule.done(b) is False
    assert await schedule.due_at("step", "b") == 1000.0

    assert await schedule.again_at(c, 500.0) is True
    assert await schedule.due_at("step", "c") == 500.0
    assert await schedule.again_at(c, 600.0) is False  # that claim is spent


async def test_kinds_share_one_set_and_payloads_may_hold_the_separator(redis):
    schedule = Schedule(redis)
    await schedule.add(EXPIRE, {"E1:T1|req1": 5.0})
    await schedule.add(FOLLOWUP, {"T1|req1|1234|24": 6.0})
    items = await schedule.claim(now=10.0)
    assert [(i.kind, i.payload) for i in items] == [(EXPIRE, "E1:T1|req1"), (FOLLOWUP, "T1|req1|1234|24")]
    assert await redis.zcard(DUE_SCHEDULE) == 2
    with pytest.raises(ValueError):
        await schedule.add("bad|kind", {"x": 1.0})


async def test_only_new_keeps_the_time_already_scheduled(redis):
    schedule = Schedule(redis)
    await schedule.add("step", {"x": 5.0})
    await schedule.add("step", {"x": 9.0}, only_new=True)
    assert await schedule.due_at("step", "x") == 5.0


async def test_what_an_earlier_version_scheduled_is_adopted_with_its_times(redis):
    await redis.zadd(LEGACY_EXPIRY, {"T1|req1": 50.0, "T1|req2": 60.0})
    await redis.zadd(LEGACY_FOLLOWUPS, {"T1|req1|1234|1": 70.0})
    schedule = Schedule(redis)
    await schedule.add(EXPIRE, {"T1|req2": 99.0})  # already moved by another process: kept

    assert await schedule.adopt(LEGACY_EXPIRY, EXPIRE, batch=1) == 2
    assert await schedule.adopt(LEGACY_FOLLOWUPS, FOLLOWUP) == 1
    assert await schedule.adopt(LEGACY_EXPIRY, EXPIRE) == 0
    assert not await redis.exists(LEGACY_EXPIRY, LEGACY_FOLLOWUPS)
    assert await schedule.due_at(EXPIRE, "T1|req1") == 50.0
    assert await schedule.due_at(EXPIRE, "T1|req2") == 99.0
    assert await schedule.due_at(FOLLOWUP, "T1|req1|1234|1") == 70.0


async def test_count_counts_one_kind(redis):
    schedule = Schedule(redis)
    assert await schedule.count(EXPIRE) == 0
    await schedule.add(EXPIRE, {f"T1|r{i}": 100.0 + i for i in range(1500)})  # more than one ZSCAN page
    await schedule.add(FOLLOWUP, {"T1|r1|1234|24": 50.0})
    assert await schedule.count(EXPIRE) == 1500
    assert await schedule.count(FOLLOWUP) == 1
