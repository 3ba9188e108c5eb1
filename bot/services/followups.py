"""Post-deploy follow-ups: scheduled when a winner is served, posted in the card's thread when
due (by whichever process is up), cancelled when serving stops."""

from __future__ import annotations

import logging
import time

from bot.domain import ChangeRequest, TeamRef
from bot.mida.models import ExperimentResult, ReportPhase
from bot.services.errors import BotError, MidaDown, MidaUnreadable, NotConnected
from bot.services.experiments import ExperimentService
from bot.services.ports import Notifier
from bot.store.followups import Followup, FollowupStore
from bot.store.keys import team_from_key
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore

log = logging.getLogger(__name__)

RETRY_SECONDS = 300.0  # when Mida cannot give numbers that are right


class FollowupService:
    def __init__(
        self,
        store: FollowupStore,
        experiments: ExperimentService,
        requests: RequestStore,
        rules: RulesStore,
        notifier: Notifier,
    ) -> None:
        self._store = store
        self._experiments = experiments
        self._requests = requests
        self._rules = rules
        self._notifier = notifier

    async def after_serve(self, request: ChangeRequest) -> None:
        policy = await self._rules.rules(request.team, request.channel_id)
        await self._store.cancel(request.team, request.change.test_id)
        await self._store.schedule(request.team, request.id, request.change.test_id, policy.followup_hours, time.time())

    async def after_stop(self, team: TeamRef, test_id: int) -> None:
        await self._store.cancel(team, test_id)

    async def scheduled(self, team: TeamRef, test_id: int) -> list[float]:
        """When the remaining follow-ups of an experiment are due (epoch seconds)."""
        return [due for _, due in await self._store.scheduled(team, test_id)]

    async def run_scheduled(self, payload: str, now: float) -> float | None:
        """Post one due follow-up (a `followup` schedule item); returns when to try again, if ever."""
        followup = Followup.parse(payload)
        team = team_from_key(followup.team_key)
        request = await self._requests.get(team, followup.request_id)
        if request is None:
            await self._store.forget(followup)
            return None
        try:
            _, result = await self._experiments.result(team, followup.test_id, ReportPhase.POST_DEPLOY)
        except (MidaDown, MidaUnreadable) as err:
            # Numbers that cannot be right are not posted either; they may be right later.
            log.info("follow-up postponed", extra={"request": request.id, "error": type(err).__name__})
            return now + RETRY_SECONDS
        except NotConnected:
            await self._store.forget(followup)
            return None
        except BotError as err:
            log.warning("follow-up dropped", extra={"request": request.id, "error": type(err).__name__})
            await self._store.forget(followup)
            return None
        await self._post(request, result, followup.hours)
        await self._store.forget(followup)
        if not result.serving:
            await self._store.cancel(team, followup.test_id)
        return None

    async def _post(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None:
        await self._notifier.followup(request, result, hours)
