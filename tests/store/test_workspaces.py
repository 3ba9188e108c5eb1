import asyncio

import pytest

from bot.domain import Person, Region, TeamRef, Workspace
from bot.store.crypto import SecretBox, UndecryptableSecret
from bot.store.keys import ws_key
from bot.store.workspaces import WorkspaceStore

API_KEY = "mk_live_SuperSecretApiKey_1234567890"
TEAM = TeamRef(team_id="T123", enterprise_id="E1")


def workspace(api_key: str = API_KEY) -> Workspace:
    return Workspace(team=TEAM, project_key="proj-abc", region=Region.EU, api_key=api_key,
                     connected_by=Person(user_id="U1", team_id="T123"), connected_at=1700000000.5)


async def everything_in(redis) -> list[bytes]:
    """Every key name and value in the test database (SCAN: tests only)."""
    blobs: list[bytes] = []
    async for key in redis.scan_iter(match=b"*"):
        blobs.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            blobs.append(await redis.get(key))
        elif kind == "hash":
            for k, v in (await redis.hgetall(key)).items():
                blobs += [k, v]
    return blobs


async def test_save_get_round_trip(redis):
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    assert await store.get(TEAM) is None
    await store.save(workspace())
    assert await store.get(TEAM) == workspace()
    assert await redis.exists(ws_key(TEAM, "workspace"))


async def test_plaintext_key_is_nowhere_in_redis(redis):
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=True)
    blobs = await everything_in(redis)
    assert blobs, "nothing was written"
    assert not [b for b in blobs if API_KEY.encode() in b]


async def test_save_replaces_the_whole_record(redis):
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.save(workspace(api_key="mk_other_key_0000"))
    got = await store.get(TEAM)
    assert got is not None and got.api_key == "mk_other_key_0000"


async def test_rotation_re_encrypts_with_the_first_key(redis):
    a, b = SecretBox.generate_key(), SecretBox.generate_key()
    await WorkspaceStore(redis, SecretBox([a])).save(workspace())
    before = await redis.get(ws_key(TEAM, "workspace"))

    got = await WorkspaceStore(redis, SecretBox([b, a])).get(TEAM)
    assert got is not None and got.api_key == API_KEY
    assert await redis.get(ws_key(TEAM, "workspace")) != before

    only_b = await WorkspaceStore(redis, SecretBox([b])).get(TEAM)
    assert only_b is not None and only_b.api_key == API_KEY
    assert only_b == workspace()


async def test_no_rewrite_when_already_on_the_first_key(redis):
    a, b = SecretBox.generate_key(), SecretBox.generate_key()
    await WorkspaceStore(redis, SecretBox([a])).save(workspace())
    before = await redis.get(ws_key(TEAM, "workspace"))
    assert (await WorkspaceStore(redis, SecretBox([a, b])).get(TEAM)) == workspace()
    assert await redis.get(ws_key(TEAM, "workspace")) == before


async def test_wrong_keys_raise_undecryptable_without_leaking(redis):
    await WorkspaceStore(redis, SecretBox([SecretBox.generate_key()])).save(workspace())
    stored = await redis.get(ws_key(TEAM, "workspace"))
    with pytest.raises(UndecryptableSecret) as exc:
        await WorkspaceStore(redis, SecretBox([SecretBox.generate_key()])).get(TEAM)
    message = str(exc.value) + repr(exc.value)
    assert API_KEY not in message and stored.decode() not in message
    assert await redis.get(ws_key(TEAM, "workspace")) == stored  # left alone


async def test_delete(redis):
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=False, error="401 invalid key")
    assert await store.delete(TEAM) is True
    assert await store.get(TEAM) is None
    assert await store.health(TEAM) == {"last_ok_at": None, "last_error": None, "last_error_at": None}
    assert await store.delete(TEAM) is False


async def test_health(redis):
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    assert (await store.health(TEAM))["last_ok_at"] is None
    await store.record_call(TEAM, ok=True, now=100.0)
    await store.record_call(TEAM, ok=False, error="x" * 2000, now=200.5)
    await store.record_call(TEAM, ok=True, now=300.0)
    health = await store.health(TEAM)
    assert health == {"last_ok_at": 300.0, "last_error": "x" * 500, "last_error_at": 200.5}
    other = TeamRef(team_id="T999")
    assert (await store.health(other))["last_error"] is None


async def test_successes_close_together_are_written_once_then_the_last_one_late(redis, monkeypatch):
    monkeypatch.setattr("bot.store.workspaces.OK_EVERY", 0.2)
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=True, now=100.0)
    await store.record_call(TEAM, ok=True, now=101.0)
    await store.record_call(TEAM, ok=True, now=102.0)
    assert (await store.health(TEAM))["last_ok_at"] == 100.0  # the first at once, the rest wait
    await asyncio.sleep(0.3)
    assert (await store.health(TEAM))["last_ok_at"] == 102.0  # the newest, within OK_EVERY


async def test_an_error_after_waiting_successes_writes_both_and_the_next_success_at_once(redis, monkeypatch):
    monkeypatch.setattr("bot.store.workspaces.OK_EVERY", 30)
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=True, now=100.0)
    await store.record_call(TEAM, ok=True, now=101.0)
    await store.record_call(TEAM, ok=False, error="boom", now=102.0)
    assert await store.health(TEAM) == {"last_ok_at": 101.0, "last_error": "boom", "last_error_at": 102.0}
    await store.record_call(TEAM, ok=True, now=103.0)
    assert (await store.health(TEAM))["last_ok_at"] == 103.0


async def test_a_waiting_success_does_not_bring_back_the_health_of_a_disconnected_workspace(redis, monkeypatch):
    monkeypatch.setattr("bot.store.workspaces.OK_EVERY", 0.2)
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    other_process = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=True, now=100.0)
    await store.record_call(TEAM, ok=True, now=101.0)  # waits
    assert await other_process.delete(TEAM) is True
    await asyncio.sleep(0.3)
    assert not await redis.exists(ws_key(TEAM, "health"))


async def test_closing_writes_the_waiting_successes(redis, monkeypatch):
    monkeypatch.setattr("bot.store.workspaces.OK_EVERY", 30)
    store = WorkspaceStore(redis, SecretBox([SecretBox.generate_key()]))
    await store.save(workspace())
    await store.record_call(TEAM, ok=True, now=100.0)
    await store.record_call(TEAM, ok=True, now=101.0)
    await store.aclose()
    assert (await store.health(TEAM))["last_ok_at"] == 101.0
