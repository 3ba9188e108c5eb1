import asyncio

from bot.store.lock import Lock


async def test_one_holder_at_a_time_and_only_the_holder_releases(redis):
    lock = Lock(redis)
    token = await lock.acquire("mida:{T1}:x:lock", 10_000)
    assert token is not None
    assert await lock.acquire("mida:{T1}:x:lock", 10_000) is None
    assert await lock.release("mida:{T1}:x:lock", "someone-else") is False
    assert await redis.get("mida:{T1}:x:lock") == token.encode()
    assert await lock.release("mida:{T1}:x:lock", token) is True
    assert await redis.exists("mida:{T1}:x:lock") == 0


async def test_an_expired_lock_taken_by_another_is_not_released_by_the_first(redis):
    lock = Lock(redis)
    first = await lock.acquire("mida:{T1}:y:lock", 50)
    await asyncio.sleep(0.1)
    second = await lock.acquire("mida:{T1}:y:lock", 10_000)
    assert first is not None and second is not None
    assert await lock.release("mida:{T1}:y:lock", first) is False
    assert await redis.get("mida:{T1}:y:lock") == second.encode()
