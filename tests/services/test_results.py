"""ResultsService and AuditTrail against the Mida sandbox and the test Redis: what the results page
is made of, when it is read from the cache, and what a failure becomes. (The page over HTTP is
tests/web/test_results_page.py.)"""

from __future__ import annotations

import time
from datetime import date

import pytest

from bot.domain import AuditEntry, AuditEvent, Person, Region, TeamRef, Workspace
from bot.mida.client import MidaClient
from bot.mida.models import Timeseries, TimeseriesRow
from bot.services.audit_trail import AuditTrail
from bot.services.errors import MidaDown, NotConnected, UnknownExperiment
from bot.services.experiments import ExperimentService
from bot.services.results import PAYLOAD_VERSION, ResultsService, _first_day
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.results_cache import ResultsCache
from bot.store.workspaces import WorkspaceStore
from standins.bot_server import ENCRYPTION_KEY
from standins.sandbox import API_KEY, PROJECT_KEY

TEAM = TeamRef(team_id="T1")
SERVING = 1237  # the sandbox's experiment with a variant served three days ago


@pytest.fixture
async def parts(redis, mida_sandbox):  # type: ignore[no-untyped-def]
    mida_sandbox.reset()
    workspaces = WorkspaceStore(redis, SecretBox([ENCRYPTION_KEY]))
    await workspaces.save(Workspace(team=TEAM, project_key=PROJECT_KEY, region=Region("us"), api_key=API_KEY,
                                    connected_by=Person(user_id="U1", team_id="T1"), connected_at=time.time()))
    mida = MidaClient(mida_sandbox.api_url)
    experiments = ExperimentService(workspaces, mida)
    cache = ResultsCache(redis)
    yield ResultsService(experiments, cache), cache, experiments
    await mida.aclose()


def result_reads(mida_sandbox) -> int:  # type: ignore[no-untyped-def]
    return len(mida_sandbox.requests("GET", "/result"))


async def test_the_page_inputs_are_read_once_then_from_the_cache(parts, mida_sandbox) -> None:
    service, _, _ = parts
    first = await service.load(TEAM, SERVING)
    assert first.project_key == PROJECT_KEY and not first.from_cache
    payload = first.payload
    assert payload["v"] == PAYLOAD_VERSION and {"post", "pre", "all_time", "timeseries", "served_on"} <= set(payload)
    assert payload["post"]["test_id"] == SERVING and payload["timeseries"]["timeseries"]
    assert date.fromisoformat(payload["served_on"]) <= date.today()
    assert result_reads(mida_sandbox) == 3 and len(mida_sandbox.requests("GET", "/timeseries")) == 2
    again = await service.load(TEAM, SERVING)
    assert again.from_cache and again.payload == payload and result_reads(mida_sandbox) == 3


async def test_a_payload_of_another_bot_version_is_read_afresh(parts, mida_sandbox) -> None:
    service, cache, _ = parts
    await cache.put(TEAM, SERVING, {"v": PAYLOAD_VERSION - 1, "post": {}})
    loaded = await service.load(TEAM, SERVING)
    assert not loaded.from_cache and loaded.payload["v"] == PAYLOAD_VERSION and result_reads(mida_sandbox) == 3


async def test_a_failed_timeseries_leaves_the_chart_out_and_is_not_cached(parts, mida_sandbox) -> None:
    service, cache, _ = parts
    mida_sandbox.fault(path_contains="/timeseries", status=500, times=50)
    loaded = await service.load(TEAM, SERVING)
    assert loaded.payload["timeseries"] is None and loaded.payload["served_on"] is None
    assert loaded.payload["post"]["test_id"] == SERVING
    assert await cache.get(TEAM, SERVING) is None  # the next view tries for the chart again


async def test_a_failed_result_is_the_bots_error(parts, mida_sandbox) -> None:
    service, cache, _ = parts
    with pytest.raises(UnknownExperiment):
        await service.load(TEAM, 999_999)
    mida_sandbox.fault(path_contains="/result", status=503, times=50)
    with pytest.raises(MidaDown):
        await service.load(TEAM, SERVING)
    assert await cache.get(TEAM, SERVING) is None


async def test_a_workspace_not_connected_reads_nothing(parts, mida_sandbox) -> None:
    service, _, _ = parts
    with pytest.raises(NotConnected):
        await service.load(TeamRef(team_id="T_OTHER"), SERVING)
    assert mida_sandbox.requests() == []


def row(created_at: str | None = None, start_date: str | None = None) -> TimeseriesRow:
    return TimeseriesRow(variant_id="1", created_at=created_at, start_date=start_date)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], None),
        ([row("2026-03-05T10:00:00Z"), row("2026-03-04T23:59:59+00:00")], date(2026, 3, 4)),
        ([row(None, "2026-03-02"), row("2026-03-03T00:00:00Z")], date(2026, 3, 2)),
        ([row("yesterday", "2026-03-09"), row("2026-03-10T00:00:00Z")], date(2026, 3, 9)),  # a bad stamp: the other
        ([row("nonsense"), row(None, None)], None),
    ],
)
def test_the_serve_day_is_the_first_day_in_the_post_deploy_series(rows, expected) -> None:
    assert _first_day(Timeseries(test_id=1, timeseries=rows)) == expected


async def test_the_audit_trail_is_for_connected_workspaces_and_its_export_for_every_one(parts, redis) -> None:
    _, _, experiments = parts
    audit = AuditLog(redis)
    trail = AuditTrail(experiments, audit)
    gone = TeamRef(team_id="T_GONE")
    for team in (TEAM, gone):
        await audit.append(team, AuditEntry(event=AuditEvent.CONNECTED, test_id=None))
        await audit.append(team, AuditEntry(event=AuditEvent.REQUESTED, test_id=SERVING))
    assert [e.event for e in await trail.recent(TEAM)] == [AuditEvent.REQUESTED, AuditEvent.CONNECTED]
    assert [e.test_id for e in await trail.recent(TEAM, test_id=SERVING)] == [SERVING]
    with pytest.raises(NotConnected):
        await trail.recent(gone)
    with pytest.raises(NotConnected):
        await trail.require_connected(gone)
    # A workspace keeps its log after disconnecting: the export reads it oldest first.
    assert [e.event async for e in trail.everything(gone)] == [AuditEvent.CONNECTED, AuditEvent.REQUESTED]
