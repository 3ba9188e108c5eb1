from bot.domain import TeamRef
from bot.store.dedupe import Dedupe


async def test_first_time_only_once(redis):
    d = Dedupe(redis)
    assert await d.first_time("T1", "evt-1", 60) is True
    assert await d.first_time("T1", "evt-1", 60) is False
    assert await d.first_time("T2", "evt-1", 60) is True
    assert await d.first_time(TeamRef(team_id="T1"), "evt-1", 60) is False
    assert await d.first_time("T1", "evt-2", 60) is True


async def test_tokens_expire(redis):
    d = Dedupe(redis)
    assert await d.first_time("T1", "tok", 30)
    keys = [k async for k in redis.scan_iter(match=b"mida:{T1}:dedupe:*")]
    assert len(keys) == 1 and 0 < await redis.ttl(keys[0]) <= 30
    await redis.delete(keys[0])  # as if the TTL ran out
    assert await d.first_time("T1", "tok", 30) is True


async def test_long_tokens_are_hashed_but_still_distinct(redis):
    d = Dedupe(redis)
    a, b = "x" * 500 + "a", "x" * 500 + "b"
    assert await d.first_time("T1", a, 60)
    assert await d.first_time("T1", b, 60)
    assert not await d.first_time("T1", a, 60)
    async for key in redis.scan_iter(match=b"mida:*"):
        assert len(key) < 200


async def test_concurrent_first_time_has_one_winner(redis):
    import asyncio

    d = Dedupe(redis)
    results = await asyncio.gather(*(d.first_time("T1", "click-1", 60) for _ in range(20)))
    assert results.count(True) == 1
