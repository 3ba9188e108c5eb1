import asyncio

from bot.domain import TeamRef
from bot.store.followups import Followup, FollowupStore
from bot.store.keys import DUE_SCHEDULE
from bot.store.schedule import FOLLOWUP, Schedule

TEAM = TeamRef(team_id="T0001")


async def test_due_followups_are_claimed_once_even_by_concurrent_workers(redis):
    schedule = Schedule(redis, lease_seconds=300)
    store = FollowupStore(redis, schedule)
    await store.schedule(TEAM, "req1", 1234, [1, 24, 168], start=1000.0)

    claims = await asyncio.gather(*(schedule.claim(now=1000 + 3600 * 25) for _ in range(10)))
    claimed = [Followup.parse(item.payload) for batch in claims for item in batch]
    assert sorted(f.hours for f in claimed) == [1.0, 24.0]  # each once; the 7-day one is not due

    # Not done within the lease: it comes back after the lease, for another process to finish.
    assert await schedule.claim(now=1000 + 3600 * 25 + 10) == []
    again = await schedule.claim(now=1000 + 3600 * 25 + 301)
    assert sorted(Followup.parse(i.payload).hours for i in again) == [1.0, 24.0]
    for item in again:
        assert item.kind == FOLLOWUP
        await schedule.done(item)
        await store.forget(Followup.parse(item.payload))
    assert [f.hours for f, _ in await store.scheduled(TEAM, 1234)] == [168.0]


async def test_cancel_removes_what_is_left_for_that_experiment_only(redis):
    schedule = Schedule(redis)
    store = FollowupStore(redis, schedule)
    await store.schedule(TEAM, "req1", 1234, [1, 24], start=0.0)
    await store.schedule(TEAM, "req2", 999, [1], start=0.0)
    assert await store.cancel(TEAM, 1234) == 2
    assert await store.scheduled(TEAM, 1234) == []
    assert [Followup.parse(i.payload).test_id for i in await schedule.claim(now=10_000)] == [999]
    assert await redis.zcard(DUE_SCHEDULE) == 1


def test_payload_round_trip_with_enterprise_team_key():
    f = Followup("E1:T1", "abc_DEF-1", 42, 0.5)
    assert Followup.parse(f.payload.encode()) == f
