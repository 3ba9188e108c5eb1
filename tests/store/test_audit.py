from bot.domain import Action, AuditEntry, AuditEvent, Change, Person, TeamRef
from bot.store.audit import AuditLog
from bot.store.keys import ws_key

TEAM = TeamRef(team_id="T1")
ALICE = Person(user_id="UA", team_id="T1")


def entry(i: int, test_id: int | None = None, **kw) -> AuditEntry:
    return AuditEntry(event=AuditEvent.REQUESTED, at=1000.0 + i, actor=ALICE, request_id=f"r{i}",
                      test_id=test_id, detail={"i": i, "nested": {"list": []}}, **kw)


async def test_append_and_recent_newest_first(redis):
    log = AuditLog(redis)
    ids = [await log.append(TEAM, entry(i, test_id=7)) for i in range(5)]
    recent = await log.recent(TEAM, limit=3)
    assert [e.detail["i"] for e in recent] == [4, 3, 2]
    assert [e.entry_id for e in recent] == ids[::-1][:3]
    assert recent[0] == entry(4, test_id=7).model_copy(update={"entry_id": ids[4]})
    assert recent[0].detail == {"i": 4, "nested": {"list": []}}
    assert await log.recent(TeamRef(team_id="T2")) == []


async def test_stream_fields(redis):
    log = AuditLog(redis)
    change = Change(action=Action.SERVE_WINNER, test_id=9, variant_id="1", rollout=100)
    await log.append(TEAM, AuditEntry(event=AuditEvent.EXECUTED, at=5.25, actor=ALICE, request_id="r",
                                      test_id=9, change=change))
    await log.append(TEAM, AuditEntry(event=AuditEvent.CONNECTED))
    (_, first), (_, second) = await redis.xrange(ws_key(TEAM, "audit"))
    assert first[b"event"] == b"executed" and first[b"test_id"] == b"9" and first[b"request_id"] == b"r"
    assert first[b"actor_user"] == b"UA" and first[b"actor_team"] == b"T1" and float(first[b"at"]) == 5.25
    assert b"entry" in first
    assert second[b"test_id"] == b"" and second[b"actor_user"] == b""


async def test_recent_filtered_by_test_scans_back(redis):
    log = AuditLog(redis)
    for i in range(400):
        await log.append(TEAM, entry(i, test_id=1 if i in (3, 10, 250) else 2))
    got = await log.recent(TEAM, limit=2, test_id=1)
    assert [e.detail["i"] for e in got] == [250, 10]
    got = await log.recent(TEAM, limit=20, test_id=1)
    assert [e.detail["i"] for e in got] == [250, 10, 3]
    assert await log.recent(TEAM, limit=5, test_id=99) == []
    assert all(e.test_id == 2 for e in await log.recent(TEAM, limit=50, test_id=2))
    assert len(await log.recent(TEAM, limit=50, test_id=2)) == 50


async def test_iterate_oldest_first_in_batches(redis):
    log = AuditLog(redis)
    for i in range(23):
        await log.append(TEAM, entry(i))
    seen = [e async for e in log.iterate(TEAM, batch=5)]
    assert [e.detail["i"] for e in seen] == list(range(23))
    assert len({e.entry_id for e in seen}) == 23
    assert [e async for e in log.iterate(TeamRef(team_id="T2"))] == []
    exact = [e async for e in log.iterate(TEAM, batch=23)]
    assert len(exact) == 23


async def test_trimmed_by_count(redis):
    log = AuditLog(redis, max_entries=10)
    for i in range(1000):
        await log.append(TEAM, entry(i))
    length = await redis.xlen(ws_key(TEAM, "audit"))
    assert 10 <= length < 1000  # approximate trimming: whole nodes are dropped
    newest = await log.recent(TEAM, limit=1)
    assert newest[0].detail["i"] == 999


async def test_trimmed_by_age(redis):
    key = ws_key(TEAM, "audit")
    # Old entries, written with explicit ids far in the past.
    for i in range(300):
        await redis.xadd(key, {"event": "requested", "entry": entry(i).model_dump_json()}, id=f"{1000 + i}-0")
    log = AuditLog(redis, max_age_days=1)
    await log.append(TEAM, entry(999))
    remaining = await redis.xlen(key)
    assert remaining <= 100  # whole old nodes dropped (an approximate trim may keep one partial node)
    assert (await log.recent(TEAM, limit=1))[0].detail["i"] == 999
