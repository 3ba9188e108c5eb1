"""Reading experiments: the connected project, its experiments and their numbers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.domain import Evidence, SecondaryMetrics, TeamRef, Workspace
from bot.mida.client import MidaClient, MidaProject
from bot.mida.errors import MidaError
from bot.mida.models import Experiment, ExperimentMetrics, ExperimentResult, ReportPhase
from bot.services.errors import NotConnected
from bot.services.mida_errors import translate
from bot.store.workspaces import WorkspaceStore

# Enough to show the serving rollout of a page of experiments without flooding Mida.
_ROLLOUT_LOOKUPS = 8
# How long a workspace read for one request may start the next request's Mida reads before that
# request's own read has answered: about as long as a read in flight may outlive a disconnect anyway.
EARLY_WITHIN = 2.0
_SEEN_AT_MOST = 10_000


T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class EarlyRead:
    """An experiment's result and secondary metrics, asked of Mida with the workspace last seen
    here, while the request's own read of its workspace is still on its way. Used only when that
    read finds the same workspace (same project, key and connection); else cancelled."""

    ws: Workspace
    test_id: int
    phase: ReportPhase | None
    result: asyncio.Task[ExperimentResult]
    metrics: asyncio.Task[ExperimentMetrics]

    def fits(self, ws: Workspace, test_id: int, phase: ReportPhase | None) -> bool:
        return self.ws == ws and self.test_id == test_id and self.phase == phase

    def cancel(self) -> None:
        self.result.cancel()
        self.metrics.cancel()


def _unheeded(task: asyncio.Task[Any]) -> None:
    """A read nobody awaits (its workspace did not fit) is not reported as an unretrieved error."""
    if not task.cancelled():
        task.exception()


class ExperimentService:
    def __init__(self, workspaces: WorkspaceStore, mida: MidaClient) -> None:
        self._workspaces = workspaces
        self._mida = mida
        self._seen: dict[str, tuple[Workspace, float]] = {}  # team key → workspace, when last read

    async def workspace(self, team: TeamRef, known: Workspace | None = None) -> Workspace:
        """`known`: the workspace as just read for this request (it is not read again)."""
        if known is not None and known.team == team:
            self._saw(team, known)
            return known
        ws = await self._workspaces.get(team)
        self._saw(team, ws)
        if ws is None:
            raise NotConnected()
        return ws

    def _saw(self, team: TeamRef, ws: Workspace | None) -> None:
        self._seen.pop(team.key, None)
        if ws is None:
            return
        self._seen[team.key] = (ws, time.monotonic())
        if len(self._seen) > _SEEN_AT_MOST:
            del self._seen[next(iter(self._seen))]

    def early_result(self, team: TeamRef, test_id: int, phase: ReportPhase | None = None) -> EarlyRead | None:
        """Start the reads of `result_and_secondary` now, with the workspace read for this team
        in the last EARLY_WITHIN seconds, if there is one; hand the result to `result_and_secondary`.
        Nothing is recorded until then: the reads may be for a workspace that has changed."""
        seen = self._seen.get(team.key)
        if seen is None or time.monotonic() - seen[1] > EARLY_WITHIN:
            return None
        ws = seen[0]
        project = self.project(ws)
        early = EarlyRead(
            ws,
            test_id,
            phase,
            asyncio.ensure_future(project.get_result(test_id, phase)),
            asyncio.ensure_future(project.get_metrics(test_id, phase)),
        )
        early.result.add_done_callback(_unheeded)
        early.metrics.add_done_callback(_unheeded)
        return early

    def project(self, ws: Workspace) -> MidaProject:
        return self._mida.project(ws.project_key, ws.region.value, ws.api_key)

    async def list(
        self, team: TeamRef, known: Workspace | None = None
    ) -> tuple[Workspace, list[Experiment], dict[int, float | None]]:
        """Experiments of the project and, for those serving, their rollout %."""
        ws = await self.workspace(team, known)
        project = self.project(ws)
        try:
            listing = await self._recorded(ws, project.list_experiments(limit=100))
        except MidaError as err:
            raise translate(err) from None
        serving = [e for e in listing.experiments if e.is_serving][:_ROLLOUT_LOOKUPS]
        results = await asyncio.gather(*(project.get_result(e.test_id) for e in serving), return_exceptions=True)
        rollouts = {
            e.test_id: (r.traffic_allocation if isinstance(r, ExperimentResult) else None)
            for e, r in zip(serving, results, strict=False)
        }
        return ws, listing.experiments, rollouts

    async def result(
        self, team: TeamRef, test_id: int, phase: ReportPhase | None = None
    ) -> tuple[Workspace, ExperimentResult]:
        ws = await self.workspace(team)
        try:
            result = await self._recorded(ws, self.project(ws).get_result(test_id, phase))
        except MidaError as err:
            raise translate(err, test_id=test_id) from None
        return ws, result

    async def result_and_secondary(
        self,
        team: TeamRef,
        test_id: int,
        phase: ReportPhase | None = None,
        known: Workspace | None = None,
        early: EarlyRead | None = None,
    ) -> tuple[Workspace, ExperimentResult, SecondaryMetrics]:
        """`result` and the secondary metrics of the same phase, read at once; `early`: those reads
        already started (`early_result`), taken when they were made with the workspace read now."""
        try:
            ws = await self.workspace(team, known)
            project = self.project(ws)
            result_call: Awaitable[ExperimentResult]
            metrics_call: Awaitable[ExperimentMetrics]
            if early is not None and early.fits(ws, test_id, phase):
                result_call, metrics_call = early.result, early.metrics
            else:
                result_call, metrics_call = project.get_result(test_id, phase), project.get_metrics(test_id, phase)
            result, secondary = await _beside(self._recorded(ws, result_call), self._secondary(ws, metrics_call))
        except MidaError as err:
            raise translate(err, test_id=test_id) from None
        finally:
            if early is not None:
                early.cancel()  # unused, or done already
        return ws, result, secondary

    async def evidence(self, ws: Workspace, test_id: int) -> Evidence:
        """The experiment as it is now, for a decision or a read-back. Raises MidaError."""
        return Evidence.from_result(await self._recorded(ws, self.project(ws).get_result(test_id)))

    async def secondary(self, ws: Workspace, test_id: int, phase: ReportPhase | None = None) -> SecondaryMetrics:
        """The attached secondary metrics; a failed read is said in `error`, never raised: the
        primary evidence stands without them."""
        return await self._secondary(ws, self.project(ws).get_metrics(test_id, phase))

    async def _secondary(self, ws: Workspace, call: Awaitable[Any]) -> SecondaryMetrics:
        try:
            answer = await self._recorded(ws, call)
        except MidaError as err:
            return SecondaryMetrics(error=f"Mida did not give the secondary metrics ({err.message})")
        return SecondaryMetrics.from_answer(answer)

    async def decision_evidence(self, ws: Workspace, test_id: int) -> Evidence:
        """The evidence a serve is decided on: the result and its secondary metrics. Raises MidaError
        when the result cannot be read."""
        evidence, secondary = await _beside(self.evidence(ws, test_id), self.secondary(ws, test_id))
        return evidence.model_copy(update={"secondary": secondary})

    async def _recorded(self, ws: Workspace, call):
        """Await a Mida call and keep the connection's health for the status views."""
        try:
            value = await call
        except MidaError as err:
            await self._workspaces.record_call(ws.team, ok=False, error=f"{type(err).__name__}: {err.message}")
            raise
        await self._workspaces.record_call(ws.team, ok=True, error=None)
        return value


async def _beside(main: Awaitable[T], extra: Awaitable[U]) -> tuple[T, U]:
    """Both at once; when `main` fails (or this is cancelled) `extra` is cancelled rather than left
    calling Mida after the answer has gone (plain `gather` leaves it running)."""
    side = asyncio.ensure_future(extra)
    try:
        first = await main
        return first, await side
    finally:
        if not side.done():
            side.cancel()
