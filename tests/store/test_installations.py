"""The Redis installation and OAuth state stores, against a real Redis."""

from __future__ import annotations

import time

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation

from bot.store.crypto import SecretBox
from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore, installation_scope

CLIENT_ID = "1111.2222"
BOX = SecretBox([Fernet.generate_key().decode()])


def installation(team_id: str | None = "T1", *, enterprise_id: str | None = None, user_id: str = "U1",
                 bot_token: str | None = "xoxb-T1-secret-token", org_wide: bool = False, **kw) -> Installation:
    return Installation(
        app_id="A1",
        enterprise_id=enterprise_id,
        team_id=team_id,
        team_name="Team One",
        bot_token=bot_token,
        bot_id="B1",
        bot_user_id="UBOT1",
        bot_scopes="commands,chat:write",
        user_id=user_id,
        is_enterprise_install=org_wide,
        installed_at=time.time(),
        **kw,
    )


async def all_bytes(redis) -> bytes:
    dump = b""
    async for key in redis.scan_iter(match=b"mida:*"):
        dump += key
        if await redis.type(key) == b"string":
            dump += await redis.get(key) or b""
    return dump


def test_scopes_share_the_workspace_hash_tag():
    assert installation_scope(None, "T1") == "T1"
    assert installation_scope("E1", "T1") == "E1:T1"
    assert installation_scope("E1", "T1", True) == "E1"  # org-wide: the org
    assert installation_scope("E1", None) == "E1"


async def test_save_and_find_bot_and_installation(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation())

    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-T1-secret-token" and bot.bot_id == "B1"
    assert bot.bot_scopes == ["commands", "chat:write"]
    found = await store.async_find_installation(enterprise_id=None, team_id="T1")
    assert found is not None and found.user_id == "U1" and found.team_name == "Team One"
    by_user = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert by_user is not None and by_user.bot_token == "xoxb-T1-secret-token"
    assert await store.async_find_bot(enterprise_id=None, team_id="T2") is None
    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U2") is None

    keys = sorted([k async for k in redis.scan_iter(match=b"mida:*")])
    assert keys == sorted([
        f"mida:{{T1}}:install:{CLIENT_ID}:bot-latest".encode(),
        f"mida:{{T1}}:install:{CLIENT_ID}:installer-latest".encode(),
        f"mida:{{T1}}:install:{CLIENT_ID}:installer-U1-latest".encode(),
        f"mida:{{T1}}:install:{CLIENT_ID}:installers".encode(),
    ])


async def test_tokens_are_never_stored_in_plaintext(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation(user_token="xoxp-user-secret"))
    dump = await all_bytes(redis)
    assert b"xoxb-T1-secret-token" not in dump and b"xoxp-user-secret" not in dump
    # Another key cannot read them: treated as not installed (a reinstall fixes it).
    other = RedisInstallationStore(redis, SecretBox([Fernet.generate_key().decode()]), CLIENT_ID)
    assert await other.async_find_bot(enterprise_id=None, team_id="T1") is None


async def test_the_latest_bot_wins_for_an_older_installer(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation(user_id="U1", bot_token="xoxb-old"))
    await store.async_save(installation(user_id="U2", bot_token="xoxb-new"))
    assert (await store.async_find_bot(enterprise_id=None, team_id="T1")).bot_token == "xoxb-new"
    older = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert older.user_id == "U1" and older.bot_token == "xoxb-new"


async def test_enterprise_keys_and_org_wide_installs(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation("T1", enterprise_id="E1", bot_token="xoxb-grid-team"))
    await store.async_save(installation(None, enterprise_id="E2", bot_token="xoxb-org", org_wide=True))

    assert (await store.async_find_bot(enterprise_id="E1", team_id="T1")).bot_token == "xoxb-grid-team"
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None  # keyed by enterprise + team
    org = await store.async_find_bot(enterprise_id="E2", team_id="T9", is_enterprise_install=True)
    assert org is not None and org.bot_token == "xoxb-org" and org.is_enterprise_install
    assert await store.async_find_bot(enterprise_id="E2", team_id="T9") is None  # not a workspace install
    assert await redis.exists(f"mida:{{E1:T1}}:install:{CLIENT_ID}:bot-latest".encode())
    assert await redis.exists(f"mida:{{E2}}:install:{CLIENT_ID}:bot-latest".encode())


async def test_delete_one_installer_then_all(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation(user_id="U1"))
    await store.async_save(installation(user_id="U2"))
    await store.async_save(installation("T2", bot_token="xoxb-T2"))

    await store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1") is None
    assert await store.async_find_installation(enterprise_id=None, team_id="T1") is not None
    await store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="U2")
    assert await store.async_find_installation(enterprise_id=None, team_id="T1") is None  # no installer left
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is not None

    await store.async_save(installation(user_id="U3"))
    await store.async_delete_all(enterprise_id=None, team_id="T1")
    assert [k async for k in redis.scan_iter(match=b"mida:{T1}:*")] == []
    assert (await store.async_find_bot(enterprise_id=None, team_id="T2")).bot_token == "xoxb-T2"  # untouched


async def test_a_bot_only_save_and_a_bot_without_token(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    await store.async_save(installation(bot_token=None))
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    await store.async_save_bot(installation(bot_token="xoxb-later").to_bot())
    assert (await store.async_find_installation(enterprise_id=None, team_id="T1")).bot_token == "xoxb-later"


async def test_crafted_ids_name_no_key(redis):
    store = RedisInstallationStore(redis, BOX, CLIENT_ID)
    assert await store.async_find_bot(enterprise_id=None, team_id="T1}:x") is None
    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1:*") is None


async def test_state_is_single_use_and_expires(redis):
    states = RedisOAuthStateStore(redis, expiration_seconds=120)
    state = await states.async_issue()
    key = f"mida:{{oauth}}:state:{state}".encode()
    assert 0 < await redis.ttl(key) <= 120
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False  # used

    other = await states.async_issue()
    await redis.delete(f"mida:{{oauth}}:state:{other}".encode())  # as if the TTL ran out
    assert await states.async_consume(other) is False
    assert await states.async_consume("never-issued") is False
    assert await states.async_consume("bad}state") is False
