import json

from bot.domain import ApprovalMode, ChannelRules, TeamRef, WorkspaceSettings
from bot.store.keys import ws_key
from bot.store.rules import RulesStore

TEAM = TeamRef(team_id="T1")


async def test_defaults_when_nothing_saved(redis):
    store = RulesStore(redis)
    assert await store.settings(TEAM) == WorkspaceSettings()
    assert await store.rules(TEAM, None) == ChannelRules()
    assert await store.rules(TEAM, "C1") == ChannelRules()
    assert await store.channel_overrides(TEAM) == {}


async def test_the_workspace_defaults_and_a_channels_own_rules(redis):
    store = RulesStore(redis)
    defaults = ChannelRules(mode=ApprovalMode.EVERY_CHANGE, approvers=["U1", "U2"], approvals_needed=2,
                            expiry_hours=1.5, audit_channel="CAUDIT")
    await store.save(TEAM, None, defaults, ["U9"])
    chan = ChannelRules(mode=ApprovalMode.OFF)
    await store.save(TEAM, "C1", chan, ["U9"])

    assert await store.settings(TEAM) == WorkspaceSettings(**defaults.model_dump(), bot_admins=["U9"])
    assert (await store.settings(TEAM)).defaults == defaults
    assert await store.rules(TEAM, "C1") == chan
    assert await store.rules(TEAM, "C2") == defaults
    assert await store.channel_overrides(TEAM) == {"C1": chan}
    assert await store.rules(TeamRef(team_id="T2"), "C1") == ChannelRules()
    assert await redis.exists(ws_key(TEAM, "policy"), ws_key(TEAM, "policy", "channels")) == 2


async def test_bot_admins_saved_with_a_channels_rules_are_the_workspaces(redis):
    store = RulesStore(redis)
    await store.save(TEAM, None, ChannelRules(approvals_needed=2), ["U1"])
    await store.save(TEAM, "C1", ChannelRules(approvals_needed=3), ["U1", "U2"])
    settings = await store.settings(TEAM)
    assert settings.bot_admins == ["U1", "U2"] and settings.approvals_needed == 2  # defaults untouched
    assert "bot_admins" not in json.loads(await redis.hget(ws_key(TEAM, "policy", "channels"), "C1"))


async def test_records_written_as_one_policy_still_read(redis):
    """Before the split, both keys held the same Policy JSON (bot admins included)."""
    old = {"mode": "every_change", "approvals_needed": 2, "bot_admins": ["U9"], "min_days_running": 3}
    await redis.set(ws_key(TEAM, "policy"), json.dumps(old))
    await redis.hset(ws_key(TEAM, "policy", "channels"), "C1", json.dumps(old | {"approvals_needed": 4}))
    store = RulesStore(redis)
    assert (await store.settings(TEAM)).bot_admins == ["U9"]
    assert (await store.rules(TEAM, None)).min_days_running == 3
    assert (await store.rules(TEAM, "C1")).approvals_needed == 4


async def test_save_replaces(redis):
    store = RulesStore(redis)
    await store.save(TEAM, None, ChannelRules(approvals_needed=4), [])
    await store.save(TEAM, None, ChannelRules(approvals_needed=2), [])
    assert (await store.settings(TEAM)).approvals_needed == 2
