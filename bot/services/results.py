"""What the post-deploy results page is made from: Mida's result for each report phase (post_deploy,
pre_deploy, all_time), the daily timeseries (all_time for the chart, post_deploy to find the serve
day) and the secondary metrics (post_deploy and pre_deploy), read at once, through a short Redis cache (`ResultsCache`) so many clicks on one link read Mida
once. Failures are the bot's errors, like every other read."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.domain import SecondaryMetrics, TeamRef, Workspace
from bot.mida.errors import MidaError
from bot.mida.models import ExperimentMetrics, ReportPhase, Timeseries
from bot.services.experiments import ExperimentService
from bot.services.mida_errors import translate
from bot.store.results_cache import ResultsCache

PAYLOAD_VERSION = 2  # 2: the secondary metrics of each phase


@dataclass(frozen=True)
class LoadedResults:
    project_key: str
    payload: dict[str, Any]  # JSON-ready: post, pre, all_time, timeseries, served_on, fetched_at
    from_cache: bool
    cache_ttl: float


class ResultsService:
    def __init__(self, experiments: ExperimentService, cache: ResultsCache) -> None:
        self._experiments = experiments
        self._cache = cache

    async def load(self, team: TeamRef, test_id: int) -> LoadedResults:
        """Raises NotConnected, or the translation of the Mida error of a failed result call."""
        ws = await self._experiments.workspace(team)

        async def load() -> tuple[dict[str, Any], bool]:
            try:
                return await self._fetch(ws, test_id)
            except MidaError as err:
                raise translate(err, test_id=test_id) from None

        payload, cached = await self._cache.get_or_load(team, test_id, load)
        if payload.get("v") != PAYLOAD_VERSION:  # written by another version of the bot: read afresh
            payload, _ = await load()
            cached = False
        return LoadedResults(ws.project_key, payload, cached, self._cache.ttl)

    async def _fetch(self, ws: Workspace, test_id: int) -> tuple[dict[str, Any], bool]:
        """Mida's answers, and whether all of them came (cacheable). Raises the MidaError of a failed
        result call; a failed timeseries only leaves the chart out."""
        project = self._experiments.project(ws)
        answers = await asyncio.gather(
            project.get_result(test_id, ReportPhase.POST_DEPLOY),
            project.get_result(test_id, ReportPhase.PRE_DEPLOY),
            project.get_result(test_id, ReportPhase.ALL_TIME),
            project.get_timeseries(test_id, ReportPhase.ALL_TIME),
            project.get_timeseries(test_id, ReportPhase.POST_DEPLOY),
            project.get_metrics(test_id, ReportPhase.POST_DEPLOY),
            project.get_metrics(test_id, ReportPhase.PRE_DEPLOY),
            return_exceptions=True,
        )
        for result in answers[:3]:
            if isinstance(result, BaseException):
                raise result
        for optional in answers[3:]:
            if isinstance(optional, BaseException) and not isinstance(optional, MidaError):
                raise optional
        post, pre, all_time, daily, post_daily, metrics_post, metrics_pre = answers
        served_on = _first_day(post_daily) if isinstance(post_daily, Timeseries) else None
        payload = {
            "v": PAYLOAD_VERSION,
            "post": post.model_dump(mode="json"),  # type: ignore[union-attr]
            "pre": pre.model_dump(mode="json"),  # type: ignore[union-attr]
            "all_time": all_time.model_dump(mode="json"),  # type: ignore[union-attr]
            "timeseries": daily.model_dump(mode="json") if isinstance(daily, Timeseries) else None,
            "served_on": served_on.isoformat() if served_on else None,
            "metrics_post": _secondary(metrics_post).model_dump(mode="json"),
            "metrics_pre": _secondary(metrics_pre).model_dump(mode="json"),
            "fetched_at": time.time(),
        }
        complete = all(isinstance(a, Timeseries | ExperimentMetrics) for a in answers[3:])
        return payload, complete


def _secondary(answer: object) -> SecondaryMetrics:
    if isinstance(answer, ExperimentMetrics):
        return SecondaryMetrics.from_answer(answer)
    message = answer.message if isinstance(answer, MidaError) else "no answer"
    return SecondaryMetrics(error=f"Mida did not give the secondary metrics ({message})")


def _first_day(timeseries: Timeseries) -> date | None:
    days = []
    for row in timeseries.timeseries:
        for stamp in (row.created_at, row.start_date):
            if stamp:
                try:
                    days.append(datetime.fromisoformat(stamp.replace("Z", "+00:00")).date())
                    break
                except ValueError:
                    continue
    return min(days) if days else None
