from bot.domain import TeamRef, Watch
from bot.store.watches import WatchStore

TEAM, OTHER = TeamRef(team_id="T1"), TeamRef(team_id="T2")


async def test_the_read_budget_is_per_workspace_and_per_minute(redis):
    store = WatchStore(redis)
    minute = 60 * 1_000_000
    assert [await store.take_read(TEAM, 2, now=minute + s) for s in (0, 10, 20)] == [True, True, False]
    assert await store.take_read(OTHER, 2, now=minute + 30) is True  # another workspace's own budget
    assert await store.take_read(TEAM, 2, now=minute + 60) is True  # the next minute
    assert 0 < await redis.ttl(f"mida:{{T1}}:watch-reads:{minute // 60}") <= 120


async def test_swap_says_what_a_condition_was_in_one_step(redis):
    store = WatchStore(redis)
    assert await store.swap(TEAM, 1234, "mismatch", "1") is None
    assert await store.swap(TEAM, 1234, "mismatch", "1") == "1"
    assert await store.swap(TEAM, 1234, "mismatch", "0") == "1"
    assert await store.state(TEAM, 1234) == {"mismatch": "0"}


async def test_a_channel_s_watch_and_the_bot_s_watch_in_a_card_thread_are_apart(redis):
    store = WatchStore(redis)
    channel = Watch(team=TEAM, test_id=1234, channel_id="C1")
    thread = Watch(team=TEAM, test_id=1234, channel_id="C1", thread_ts="1.2", until=10.0)
    assert await store.add(channel) is True and await store.add(channel) is False
    await store.put(thread)
    assert {w.thread_ts for w in await store.for_test(TEAM, 1234)} == {None, "1.2"}
    assert await store.remove(TEAM, channel) is True
    assert [w.thread_ts for w in await store.for_test(TEAM, 1234)] == ["1.2"]
    assert await store.forget_all(TEAM) == [1234]
    assert await store.all(TEAM) == []
