from bot.domain import ApprovalMode, Policy, TeamRef
from bot.store.keys import ws_key
from bot.store.policies import PolicyStore

TEAM = TeamRef(team_id="T1")


async def test_defaults_when_nothing_saved(redis):
    store = PolicyStore(redis)
    assert await store.get(TEAM) == Policy()
    assert await store.get(TEAM, "C1") == Policy()
    assert await store.channel_overrides(TEAM) == {}


async def test_workspace_policy_and_channel_override(redis):
    store = PolicyStore(redis)
    ws_policy = Policy(mode=ApprovalMode.EVERY_CHANGE, approvers=["U1", "U2"], approvals_needed=2,
                       expiry_hours=1.5, audit_channel="CAUDIT", bot_admins=["U9"])
    chan = Policy(mode=ApprovalMode.OFF)
    await store.save(TEAM, ws_policy)
    await store.save_channel(TEAM, "C1", chan)

    assert await store.get(TEAM) == ws_policy
    assert await store.get(TEAM, "C1") == chan
    assert await store.get(TEAM, "C2") == ws_policy
    assert await store.channel_overrides(TEAM) == {"C1": chan}
    assert await store.get(TeamRef(team_id="T2"), "C1") == Policy()
    assert await redis.exists(ws_key(TEAM, "policy"), ws_key(TEAM, "policy", "channels")) == 2


async def test_channel_override_without_workspace_policy_and_removal(redis):
    store = PolicyStore(redis)
    chan = Policy(approvals_needed=3)
    await store.save_channel(TEAM, "C1", chan)
    assert await store.get(TEAM, "C1") == chan
    assert await store.get(TEAM) == Policy()
    await store.save_channel(TEAM, "C1", None)
    assert await store.get(TEAM, "C1") == Policy()
    assert await store.channel_overrides(TEAM) == {}


async def test_save_replaces(redis):
    store = PolicyStore(redis)
    await store.save(TEAM, Policy(approvals_needed=4))
    await store.save(TEAM, Policy(approvals_needed=2))
    assert (await store.get(TEAM)).approvals_needed == 2
