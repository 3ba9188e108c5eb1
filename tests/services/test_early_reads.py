"""ExperimentService.early_result against the Mida sandbox and the test Redis: reads started with the
workspace seen last are the answer's only when the workspace read for the request is the same one,
and a read that is not used leaves nothing behind (no call health, no error)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.domain import Person, Region, TeamRef, Workspace
from bot.mida.client import MidaClient
from bot.services import experiments as experiments_module
from bot.services.errors import NotConnected
from bot.services.experiments import ExperimentService
from bot.store.crypto import SecretBox
from bot.store.workspaces import WorkspaceStore
from standins.bot_server import ENCRYPTION_KEY
from standins.sandbox import API_KEY, PROJECT_KEY

TEAM = TeamRef(team_id="T1")
WS = Workspace(team=TEAM, project_key=PROJECT_KEY, region=Region("us"), api_key=API_KEY,
               connected_by=Person(user_id="U1", team_id="T1"), connected_at=1_700_000_000.0)


@pytest.fixture
async def parts(redis, mida_sandbox):  # type: ignore[no-untyped-def]
    mida_sandbox.reset()
    store = WorkspaceStore(redis, SecretBox([ENCRYPTION_KEY]))
    await store.save(WS)
    mida = MidaClient(mida_sandbox.api_url)
    yield ExperimentService(store, mida), store
    await mida.aclose()


def reads(mida_sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["path"].rsplit("/", 1)[1] for r in mida_sandbox.requests("GET")]


async def test_nothing_starts_early_before_this_process_has_read_the_workspace(parts) -> None:
    service, _ = parts
    assert service.early_result(TEAM, 1234) is None


async def test_the_early_reads_are_the_answer_when_the_workspace_is_the_same(parts, mida_sandbox) -> None:
    service, _ = parts
    await service.workspace(TEAM)
    early = service.early_result(TEAM, 1234)
    assert early is not None
    ws, result, secondary = await service.result_and_secondary(TEAM, 1234, known=WS, early=early)
    assert result.test_id == 1234 and ws == WS and secondary.error is None
    assert sorted(reads(mida_sandbox)) == ["metrics", "result"]  # read once, early


async def test_a_workspace_connected_again_since_is_read_afresh_and_the_unused_failure_is_not_recorded(
    parts, mida_sandbox
) -> None:
    service, store = parts
    await service.workspace(TEAM)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", status=404, times=1)
    early = service.early_result(TEAM, 1234)
    assert early is not None
    await asyncio.wait([early.result])  # failed before the request's own workspace read answers
    again = WS.model_copy(update={"connected_at": WS.connected_at + 60})
    await store.save(again)
    _, result, _ = await service.result_and_secondary(TEAM, 1234, known=again, early=early)
    assert result.test_id == 1234
    assert reads(mida_sandbox).count("result") == 2  # the early one (failed) and the answer's
    assert (await store.health(TEAM))["last_error"] is None


async def test_a_workspace_seen_too_long_ago_starts_nothing(parts, monkeypatch) -> None:
    service, _ = parts
    await service.workspace(TEAM)
    real = time.monotonic
    monkeypatch.setattr(experiments_module.time, "monotonic", lambda: real() + experiments_module.EARLY_WITHIN + 1)
    assert service.early_result(TEAM, 1234) is None


async def test_a_workspace_found_disconnected_is_forgotten_and_the_early_reads_cancelled(parts, mida_sandbox) -> None:
    service, store = parts
    await service.workspace(TEAM)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/", latency=5.0, times=2)  # still going when cancelled
    early = service.early_result(TEAM, 1234)
    assert early is not None
    await store.delete(TEAM)
    with pytest.raises(NotConnected):
        await service.result_and_secondary(TEAM, 1234, early=early)
    await asyncio.gather(early.result, early.metrics, return_exceptions=True)
    assert early.result.cancelled() and early.metrics.cancelled()
    assert service.early_result(TEAM, 1234) is None
