"""ConnectService against the Mida sandbox, the real workspace store and audit log (test Redis) and
an in-memory directory: the pair is checked live before anything is stored, each failure names the
field to fix, and the audit keeps only the key's last four characters."""

from __future__ import annotations

import time

import pytest

from bot.domain import AuditEvent, Person, TeamRef
from bot.mida.client import MidaClient
from bot.services.access import Access
from bot.services.connect import CHECK_DEADLINE, ConnectService
from bot.services.errors import AdminOnly, InvalidInput
from bot.services.ports import Profile
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.rules import RulesStore
from bot.store.workspaces import WorkspaceStore
from standins.bot_server import ENCRYPTION_KEY
from standins.sandbox import API_KEY, EU_API_KEY, EU_PROJECT_KEY, PROJECT_KEY

TEAM = TeamRef(team_id="T1")
ADMIN = Person(user_id="U_ADMIN", team_id="T1")


class Directory:
    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return {"U_ADMIN": Profile("U_ADMIN", "T1", is_admin=True), "U1": Profile("U1", "T1")}.get(user_id)

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return set()


@pytest.fixture
async def parts(redis, mida_sandbox):  # type: ignore[no-untyped-def]
    mida_sandbox.reset()
    workspaces, audit = WorkspaceStore(redis, SecretBox([ENCRYPTION_KEY])), AuditLog(redis)
    mida = MidaClient(mida_sandbox.api_url)
    yield ConnectService(workspaces, mida, audit, Access(RulesStore(redis), Directory())), workspaces, audit
    await mida.aclose()


async def test_a_pair_mida_accepts_is_stored_and_audited_masked(parts, mida_sandbox) -> None:
    service, workspaces, audit = parts
    ws = await service.connect(TEAM, ADMIN, f"  {PROJECT_KEY} ", f"{API_KEY}\n", " US ")
    assert (ws.project_key, ws.api_key, ws.region.value) == (PROJECT_KEY, API_KEY, "us")
    assert await workspaces.get(TEAM) == ws
    [entry] = await audit.recent(TEAM)
    assert entry.event is AuditEvent.CONNECTED and entry.actor == ADMIN
    assert entry.detail == {"project_key": PROJECT_KEY, "region": "us", "api_key": "••••" + API_KEY[-4:]}
    assert API_KEY not in entry.model_dump_json()
    assert len(mida_sandbox.requests()) == 1  # one live check


@pytest.mark.parametrize(
    ("project_key", "api_key", "region", "field"),
    [
        ("", API_KEY, "us", "project_key"),
        ("sandbox project", API_KEY, "us", "project_key"),
        ("p" * 129, API_KEY, "us", "project_key"),
        (PROJECT_KEY, "", "us", "api_key"),
        (PROJECT_KEY, "mida sk with spaces", "us", "api_key"),
        (PROJECT_KEY, "short", "us", "api_key"),
        (PROJECT_KEY, "mida_sk_é_unicode_key", "us", "api_key"),
        (PROJECT_KEY, API_KEY, "mars", "region"),
        (PROJECT_KEY, API_KEY, None, "region"),
    ],
)
async def test_a_malformed_value_is_refused_without_asking_mida(parts, mida_sandbox, project_key, api_key, region,
                                                                field) -> None:
    service, workspaces, audit = parts
    with pytest.raises(InvalidInput) as raised:
        await service.connect(TEAM, ADMIN, project_key, api_key, region)
    assert raised.value.field == field
    assert mida_sandbox.requests() == [] and await workspaces.get(TEAM) is None and await audit.recent(TEAM) == []


@pytest.mark.parametrize(
    ("project_key", "api_key", "region", "field"),
    [
        (PROJECT_KEY, API_KEY[:-1] + "1", "us", "api_key"),  # a key Mida does not know
        (EU_PROJECT_KEY, EU_API_KEY, "us", "api_key"),  # the right pair in the wrong region
        (PROJECT_KEY, EU_API_KEY, "us", "api_key"),  # another project's key
    ],
)
async def test_a_pair_mida_refuses_names_the_field_and_stores_nothing(parts, project_key, api_key, region,
                                                                      field) -> None:
    service, workspaces, _ = parts
    with pytest.raises(InvalidInput) as raised:
        await service.connect(TEAM, ADMIN, project_key, api_key, region)
    assert raised.value.field == field and api_key not in raised.value.message
    assert await workspaces.get(TEAM) is None


async def test_mida_failing_is_reported_on_the_project_key(parts, mida_sandbox) -> None:
    service, workspaces, _ = parts
    mida_sandbox.fault(status=500, times=10)
    with pytest.raises(InvalidInput) as raised:
        await service.connect(TEAM, ADMIN, PROJECT_KEY, API_KEY, "us")
    assert raised.value.field == "project_key" and "Nothing was saved" in raised.value.message
    assert await workspaces.get(TEAM) is None


async def test_a_slow_mida_is_given_up_on_before_slacks_three_seconds(parts, mida_sandbox) -> None:
    service, workspaces, _ = parts
    mida_sandbox.fault(latency=5, times=5)
    started = time.monotonic()
    with pytest.raises(InvalidInput) as raised:
        await service.connect(TEAM, ADMIN, PROJECT_KEY, API_KEY, "us")
    assert time.monotonic() - started < CHECK_DEADLINE + 0.4 < 3
    assert raised.value.field == "project_key" and "did not answer in time" in raised.value.message
    assert await workspaces.get(TEAM) is None


async def test_only_an_admin_connects_or_disconnects(parts, mida_sandbox) -> None:
    service, workspaces, _ = parts
    member = Person(user_id="U1", team_id="T1")
    with pytest.raises(AdminOnly):
        await service.connect(TEAM, member, PROJECT_KEY, API_KEY, "us")
    assert mida_sandbox.requests() == []
    await service.connect(TEAM, ADMIN, PROJECT_KEY, API_KEY, "us")
    with pytest.raises(AdminOnly):
        await service.disconnect(TEAM, member)
    assert await workspaces.get(TEAM) is not None


async def test_disconnecting_forgets_the_pair_and_is_audited_once(parts) -> None:
    service, workspaces, audit = parts
    await service.connect(TEAM, ADMIN, PROJECT_KEY, API_KEY, "us")
    assert await service.disconnect(TEAM, ADMIN) is True
    assert await service.disconnect(TEAM, ADMIN) is False  # nothing left to forget
    assert await workspaces.get(TEAM) is None
    assert [e.event for e in await audit.recent(TEAM)] == [AuditEvent.DISCONNECTED, AuditEvent.CONNECTED]
