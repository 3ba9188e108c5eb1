"""Uninstalling forgets one workspace completely and leaves the others alone (real Redis)."""

from __future__ import annotations

import time

from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation

from bot.domain import (
    Action,
    AuditEvent,
    Change,
    ChangeRequest,
    Evidence,
    Person,
    ChannelRules,
    Region,
    RequestStatus,
    TeamRef,
    Workspace,
)
from bot.mida.models import ExperimentStatus
from bot.services.uninstall import UninstallService
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.followups import FollowupStore
from bot.store.installations import RedisInstallationStore
from bot.store.orgs import OrgIndex
from bot.store.keys import DUE_SCHEDULE, new_id, ws_key
from bot.store.schedule import Schedule
from bot.store.rules import RulesStore
from bot.store.requests import RequestStore
from bot.store.workspaces import WorkspaceStore

BOX = SecretBox([Fernet.generate_key().decode()])
CLIENT_ID = "1111.2222"
T1 = TeamRef(team_id="T1")
T2 = TeamRef(team_id="T2")


class World:
    def __init__(self, redis) -> None:
        self.redis = redis
        self.workspaces = WorkspaceStore(redis, BOX)
        self.requests = RequestStore(redis)
        self.audit = AuditLog(redis)
        self.rules = RulesStore(redis)
        self.installations = RedisInstallationStore(redis, BOX, CLIENT_ID)
        self.followups = FollowupStore(redis, Schedule(redis))
        self.orgs = OrgIndex(redis)
        self.forgotten_tokens: list[tuple[str | None, str | None]] = []
        self.hooked: list[TeamRef] = []

        async def hook(team: TeamRef) -> None:
            self.hooked.append(team)

        self.service = UninstallService(
            workspaces=self.workspaces, requests=self.requests, audit=self.audit, followups=self.followups,
            orgs=self.orgs, installations=self.installations,
            forget_token=lambda e, t: self.forgotten_tokens.append((e, t)),
            forget_hooks=[hook],
        )

    async def workspace(self, team: TeamRef, *, org_wide_install: bool = False) -> list[ChangeRequest]:
        """Installed, connected, with a policy, two pending requests, one approved, follow-ups."""
        if not org_wide_install:
            await self.installations.async_save(Installation(
                app_id="A1", enterprise_id=team.enterprise_id, team_id=team.team_id,
                bot_token=f"xoxb-{team.team_id}", bot_id="B1", bot_user_id="UBOT", user_id="UADMIN",
                installed_at=time.time()))
        await self.workspaces.save(Workspace(
            team=team, project_key=f"proj-{team.team_id}", region=Region.US, api_key=f"mk_{team.team_id}_secret_key",
            connected_by=Person(user_id="UADMIN", team_id=team.team_id), connected_at=time.time()))
        await self.workspaces.record_call(team, ok=True)
        await self.rules.save(team, None, ChannelRules(approvals_needed=2), [])
        made = [await self._request(team, RequestStatus.PENDING) for _ in range(2)]
        made.append(await self._request(team, RequestStatus.APPROVED))
        await self.followups.schedule(team, made[2].id, 1234, [1.0, 24.0], time.time())
        return made

    async def _request(self, team: TeamRef, status: RequestStatus) -> ChangeRequest:
        now = time.time()
        request = ChangeRequest(
            id=new_id(), team=team, project_key="p", region=Region.US,
            change=Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25),
            requester=Person(user_id="UALICE", team_id=team.team_id), reason="wins",
            evidence=Evidence(test_id=1234, test_name="CTA", status=ExperimentStatus.LIVE),
            channel_id="C1", status=status, approvals_needed=1 if status is RequestStatus.PENDING else 0,
            created_at=now, expires_at=now + 3600 if status is RequestStatus.PENDING else None,
        )
        assert await self.requests.create(request)
        return request


async def test_uninstall_forgets_one_workspace_and_leaves_the_other(redis):
    world = World(redis)
    t1 = await world.workspace(T1)
    t2 = await world.workspace(T2)

    report = await world.service.app_uninstalled(T1)

    # The installation, the Mida credentials and their health are gone.
    assert await world.installations.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert await world.installations.async_find_installation(enterprise_id=None, team_id="T1") is None
    assert await world.workspaces.get(T1) is None
    assert not await redis.exists(ws_key(T1, "health"))
    assert report.disconnected == [T1]
    # Pending requests are cancelled, each with an audit entry; the approved one is left to fail
    # at execution (not connected any more).
    assert sorted(report.cancelled) == sorted(r.id for r in t1[:2])
    for r in t1[:2]:
        assert (await world.requests.get(T1, r.id)).status is RequestStatus.CANCELLED
    assert (await world.requests.get(T1, t1[2].id)).status is RequestStatus.APPROVED
    assert await world.requests.pending(T1) == []
    assert not await redis.zscore(DUE_SCHEDULE, f"expire|T1|{t1[0].id}")
    events = [(e.event, e.detail.get("cause")) for e in await world.audit.recent(T1, limit=10)]
    assert events.count((AuditEvent.CANCELLED, "app_uninstalled")) == 2
    assert (AuditEvent.DISCONNECTED, "app_uninstalled") in events
    # Follow-ups of the workspace are gone, from its own sets and from the shared schedule.
    assert [k async for k in redis.scan_iter(match=b"mida:{T1}:followups*")] == []
    assert report.followups == 2
    followups = [m.decode() for m in await redis.zrange(DUE_SCHEDULE, 0, -1) if m.startswith(b"followup|")]
    assert {m.split("|")[1] for m in followups} == {"T2"}
    # Kept on purpose: the audit log and the policy.
    assert (await world.rules.settings(T1)).approvals_needed == 2
    assert world.forgotten_tokens == [(None, "T1")] and world.hooked == [T1]

    # The other workspace is untouched.
    assert (await world.installations.async_find_bot(enterprise_id=None, team_id="T2")).bot_token == "xoxb-T2"
    assert (await world.workspaces.get(T2)).api_key == "mk_T2_secret_key"
    assert {r.id for r in await world.requests.pending(T2)} == {r.id for r in t2[:2]}
    assert await redis.exists(ws_key(T2, "followups", "1234"))
    assert [e.event for e in await world.audit.recent(T2)] == []


async def test_a_second_delivery_changes_nothing_more(redis):
    world = World(redis)
    await world.workspace(T1)
    first = await world.service.app_uninstalled(T1)
    entries = len(await world.audit.recent(T1, limit=50))
    again = await world.service.app_uninstalled(T1)
    assert len(first.cancelled) == 2 and again.cancelled == [] and again.disconnected == []
    assert len(await world.audit.recent(T1, limit=50)) == entries


async def test_revoked_user_tokens_only_drop_those_installers(redis):
    world = World(redis)
    await world.workspace(T1)
    assert await world.service.tokens_revoked(T1, bot_user_ids=[], user_ids=["UADMIN"]) is None
    assert await world.installations.async_find_installation(enterprise_id=None, team_id="T1", user_id="UADMIN") is None
    assert await world.installations.async_find_bot(enterprise_id=None, team_id="T1") is not None
    assert await world.workspaces.get(T1) is not None

    report = await world.service.tokens_revoked(T1, bot_user_ids=["UBOT"], user_ids=[])
    assert report is not None and report.disconnected == [T1]
    assert await world.installations.async_find_bot(enterprise_id=None, team_id="T1") is None
    causes = {e.detail.get("cause") for e in await world.audit.recent(T1) if e.event is AuditEvent.CANCELLED}
    assert causes == {"tokens_revoked"}


async def test_an_org_wide_uninstall_forgets_every_workspace_of_the_org(redis):
    world = World(redis)
    await world.installations.async_save(Installation(
        app_id="A1", enterprise_id="E1", team_id=None, bot_token="xoxb-org", bot_id="B1", bot_user_id="UBOT",
        user_id="UADMIN", is_enterprise_install=True, installed_at=time.time()))
    a, b = TeamRef(team_id="T5", enterprise_id="E1"), TeamRef(team_id="T6", enterprise_id="E1")
    other_org = TeamRef(team_id="T7", enterprise_id="E2")
    for team in (a, b, other_org):
        await world.workspace(team, org_wide_install=True)

    report = await world.service.app_uninstalled(TeamRef(team_id="", enterprise_id="E1"), org_wide=True)

    assert await world.installations.async_find_bot(enterprise_id="E1", team_id=None, is_enterprise_install=True) is None
    assert sorted(t.key for t in report.disconnected) == ["E1:T5", "E1:T6"]
    assert await world.workspaces.get(a) is None and await world.workspaces.get(b) is None
    assert await world.requests.pending(a) == [] and await world.requests.pending(b) == []
    assert await world.workspaces.get(other_org) is not None
    assert len(await world.requests.pending(other_org)) == 2
    assert world.forgotten_tokens == [("E1", None)]


async def test_single_workspace_mode_has_no_installation_to_delete(redis):
    world = World(redis)
    world.service = UninstallService(workspaces=world.workspaces, requests=world.requests,
                                     audit=world.audit, followups=world.followups, orgs=world.orgs)
    await world.workspace(T1)
    report = await world.service.app_uninstalled(T1)
    assert not report.installation_deleted and report.disconnected == [T1] and len(report.cancelled) == 2
