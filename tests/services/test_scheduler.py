from bot.services.scheduler import Scheduler
from bot.store.keys import LEGACY_FOLLOWUPS
from bot.store.schedule import FOLLOWUP, Schedule

import pytest


async def test_due_items_go_to_their_kind_s_handler_which_says_when_next(redis):
    schedule = Schedule(redis, lease_seconds=60)
    scheduler = Scheduler(schedule)
    seen: list[tuple[str, str, float]] = []

    async def once(payload: str, now: float) -> float | None:
        seen.append(("once", payload, now))
        return None

    async def every_hour(payload: str, now: float) -> float | None:
        seen.append(("hourly", payload, now))
        return now + 3600

    scheduler.register("once", once)
    scheduler.register("hourly", every_hour)
    await schedule.add("once", {"a": 10.0})
    await schedule.add("hourly", {"b": 10.0})
    await schedule.add("unknown", {"c": 10.0})

    assert await scheduler.run_due(now=100.0) == 2
    assert sorted(seen) == [("hourly", "b", 100.0), ("once", "a", 100.0)]
    assert await schedule.due_at("once", "a") is None
    assert await schedule.due_at("hourly", "b") == 3700.0
    # A kind nobody here handles stays, claimed, for a process that knows it.
    assert await schedule.due_at("unknown", "c") == 160.0


async def test_a_failing_item_comes_back_after_its_lease(redis):
    schedule = Schedule(redis, lease_seconds=60)
    scheduler = Scheduler(schedule)
    calls: list[float] = []

    async def flaky(payload: str, now: float) -> float | None:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("Mida is down")
        return None

    scheduler.register("flaky", flaky)
    await schedule.add("flaky", {"x": 10.0})
    assert await scheduler.run_due(now=100.0) == 0
    assert await scheduler.run_due(now=150.0) == 0  # still leased
    assert await scheduler.run_due(now=161.0) == 1
    assert calls == [100.0, 161.0] and await schedule.due_at("flaky", "x") is None


async def test_the_first_run_adopts_an_earlier_version_s_schedule(redis):
    await redis.zadd(LEGACY_FOLLOWUPS, {"T1|r1|1234|1": 10.0})
    scheduler = Scheduler(Schedule(redis))
    handled: list[str] = []

    async def post(payload: str, now: float) -> float | None:
        handled.append(payload)
        return None

    scheduler.register(FOLLOWUP, post)
    assert await scheduler.run_due(now=100.0) == 1
    assert handled == ["T1|r1|1234|1"]


def test_one_handler_per_kind(redis):
    scheduler = Scheduler(Schedule(redis))

    async def handler(payload: str, now: float) -> float | None:
        return None

    scheduler.register("k", handler)
    with pytest.raises(ValueError):
        scheduler.register("k", handler)
