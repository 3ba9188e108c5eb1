"""HomeService against the Mida sandbox and the test Redis, with an in-memory directory: what the
Home tab is made of (connection, serving now, pending work per viewer), where a change started
from it is posted, and who counts as a recent viewer. (How it is drawn: tests/views/test_home.py.)"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from cryptography.fernet import Fernet

from bot.domain import (
    Action,
    Approval,
    AuditEntry,
    AuditEvent,
    Change,
    ChannelRules,
    Outcome,
    Person,
    Region,
    TeamRef,
    Workspace,
)
from bot.mida.client import MidaClient
from bot.services.access import Access
from bot.services.errors import InvalidInput, MidaDown
from bot.services.experiments import ExperimentService
from bot.services.home import VIEWER_TTL, HomeService
from bot.services.ports import Profile
from bot.store.ramps import RampStore
from bot.store.watches import WatchStore
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.store.workspaces import WorkspaceStore
from standins.bot_server import ENCRYPTION_KEY
from standins.sandbox import API_KEY, PROJECT_KEY
from tests.views import request

TEAM = TeamRef(team_id="T0001")  # tests.views.request's team
ALICE = Person(user_id="UALICE", team_id="T0001")  # its requester
SERVING = 1237  # served variant "1" at 50 % in the sandbox, three days ago


class Directory:
    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return Profile(user_id, "T0001", is_admin=user_id == "U_ADMIN")

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return set()


@pytest.fixture
async def parts(redis, mida_sandbox):  # type: ignore[no-untyped-def]
    mida_sandbox.reset()
    workspaces, rules = WorkspaceStore(redis, SecretBox([ENCRYPTION_KEY])), RulesStore(redis)
    requests, audit = RequestStore(redis), AuditLog(redis)
    mida = MidaClient(mida_sandbox.api_url)
    home = HomeService(redis=redis, workspaces=workspaces, experiments=ExperimentService(workspaces, mida),
                       requests=requests, rules=rules, audit=audit, access=Access(rules, Directory()),
                       ramps=RampStore(redis), watches=WatchStore(redis))
    yield home, workspaces, requests, audit, rules
    await mida.aclose()


async def connect(workspaces: WorkspaceStore) -> None:
    await workspaces.save(Workspace(team=TEAM, project_key=PROJECT_KEY, region=Region("us"), api_key=API_KEY,
                                    connected_by=ALICE, connected_at=time.time()))


async def test_not_connected_shows_no_connection_and_asks_mida_nothing(parts, mida_sandbox) -> None:
    home, *_ = parts
    shared = await home.shared(TEAM)
    assert shared.connection is None and shared.connection_error is None
    assert shared.serving == [] and shared.serving_error is None
    assert mida_sandbox.requests() == []


async def test_a_key_that_can_no_longer_be_decrypted_asks_for_a_new_connect(parts, redis) -> None:
    home, *_ = parts
    await connect(WorkspaceStore(redis, SecretBox([Fernet.generate_key().decode()])))  # another bot's key
    shared = await home.shared(TEAM)
    assert shared.connection is None and isinstance(shared.connection_error, InvalidInput)
    assert "/mida connect" in shared.connection_error.message


async def test_serving_now_is_mida_s_with_the_bots_own_record_when_it_matches(parts) -> None:
    home, workspaces, _, audit, _ = parts
    await connect(workspaces)
    shared = await home.shared(TEAM)
    assert shared.connection is not None and shared.connection.masked_key == "••••" + API_KEY[-4:]
    [row] = shared.serving
    assert (row.test_id, row.variant_id, row.rollout) == (SERVING, "1", 50)
    assert row.variants == ()  # the bot did not serve it: no names it knows
    mida_time = row.since
    assert mida_time is not None and 2.5 * 86400 < time.time() - mida_time < 3.5 * 86400  # Mida's updated_at

    served = request(change=Change(action=Action.SERVE_WINNER, test_id=SERVING, variant_id="1", rollout=50))
    await audit.append(TEAM, AuditEntry(event=AuditEvent.EXECUTED, at=time.time() - 60, test_id=SERVING,
                                        change=served.change, evidence=served.evidence, outcome=Outcome(ok=True)))
    [row] = (await home.shared(TEAM)).serving
    assert time.time() - row.since < 120 and row.variants == tuple(served.evidence.variants)

    # Served another variant since, in Mida's dashboard: the bot's record no longer describes it.
    other = Change(action=Action.SERVE_WINNER, test_id=SERVING, variant_id="0", rollout=50)
    await audit.append(TEAM, AuditEntry(event=AuditEvent.EXECUTED, at=time.time(), test_id=SERVING, change=other))
    [row] = (await home.shared(TEAM)).serving
    assert row.since == mida_time and row.variants == ()


async def test_mida_failing_leaves_the_rest_of_the_tab(parts, mida_sandbox) -> None:
    home, workspaces, requests, _, _ = parts
    await connect(workspaces)
    await requests.create(request(id="req-pending", expires_at=time.time() + 3600))
    mida_sandbox.fault(status=503, times=50)
    shared = await home.shared(TEAM)
    assert shared.connection is not None and shared.serving == []
    assert isinstance(shared.serving_error, MidaDown)
    assert [r.id for r in shared.pending] == ["req-pending"]


async def test_each_viewer_sees_their_own_requests_and_those_waiting_on_them(parts) -> None:
    home, workspaces, requests, _, rules = parts
    await connect(workspaces)
    later = time.time() + 3600
    bob = Person(user_id="UBOB", team_id="T0001")
    await requests.create(request(id="req-1", approvals=[], expires_at=later))  # Alice's, no approvals yet
    await requests.create(request(id="req-2", approvals=[Approval(approver=bob, at=time.time())], expires_at=later))
    await requests.create(request(id="req-3", approvals=[], channel_id="C_STRICT", expires_at=later))
    await rules.save(TEAM, "C_STRICT", ChannelRules(approvers=["UCAROL"]), [])
    shared = await home.shared(TEAM)

    alice = await home.for_viewer(shared, "UALICE")
    assert sorted(r.id for r in alice.mine) == ["req-1", "req-2", "req-3"] and alice.waiting_on_me == []
    bob_sees = await home.for_viewer(shared, "UBOB")
    assert bob_sees.mine == [] and [r.id for r in bob_sees.waiting_on_me] == ["req-1"]  # approved req-2 already
    carol = await home.for_viewer(shared, "UCAROL")
    assert sorted(r.id for r in carol.waiting_on_me) == ["req-1", "req-2", "req-3"]
    assert not carol.is_admin and (await home.for_viewer(shared, "U_ADMIN")).is_admin


async def test_a_change_from_home_goes_to_the_last_requests_channel_else_the_audit_channel_else_a_dm(parts) -> None:
    home, _, requests, audit, rules = parts
    assert await home.channel_for(TEAM, SERVING, "UBOB") == "UBOB"
    await rules.save(TEAM, None, ChannelRules(audit_channel="C_AUDIT"), [])
    assert await home.channel_for(TEAM, SERVING, "UBOB") == "C_AUDIT"
    await requests.create(request(id="req-old", channel_id="C_EXPERIMENT",
                                  change=Change(action=Action.STOP_SERVING, test_id=SERVING)))
    await audit.append(TEAM, AuditEntry(event=AuditEvent.REQUESTED, test_id=SERVING, request_id="req-old"))
    await audit.append(TEAM, AuditEntry(event=AuditEvent.REQUESTED, test_id=1234, request_id="req-other"))
    assert await home.channel_for(TEAM, SERVING, "UBOB") == "C_EXPERIMENT"


async def test_recent_viewers_are_the_last_day_s_newest_first_at_most_ten(parts, redis) -> None:
    home, *_ = parts
    now = datetime(2026, 3, 1, 12).timestamp()
    await home.opened(TEAM, "U_STALE", now=now - VIEWER_TTL - 1)
    for i in range(12):
        await home.opened(TEAM, f"U{i:02d}", now=now - 1000 + i)
    await home.opened(TEAM, "U00", now=now)  # opened again: the newest now
    assert await home.recent_viewers(TEAM, now=now) == ["U00", *[f"U{i:02d}" for i in range(11, 2, -1)]]
    assert "U_STALE" not in await home.recent_viewers(TEAM, limit=50, now=now)
    [key] = [k async for k in redis.scan_iter(match="*home*viewers*")]
    assert b"U_STALE" not in await redis.zrange(key, 0, -1)  # pruned as others open the tab, not only unread
    assert await home.recent_viewers(TeamRef(team_id="T_OTHER"), now=now) == []
    await home.forget(TEAM)
    assert await home.recent_viewers(TEAM, now=now) == []
