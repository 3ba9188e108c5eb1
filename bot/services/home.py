"""What the App Home tab shows a person: the workspace's connection health, the experiments serving
a winner now, the pending approvals (theirs, and those waiting on them), and the last actions.

Reads only: Redis for the bot's own records, Mida (one List Experiments, plus the rollout of the
serving ones) for what is served. A Mida failure does not stop the Home tab: the rest is shown,
with the failure explained where the experiments would be.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import cast

from bot.domain import (
    Action,
    AuditEntry,
    AuditEvent,
    ChangeRequest,
    TeamRef,
)
from bot.mida.models import Experiment, VariantResult
from bot.services.access import Access
from bot.services.errors import BotError, InvalidInput, MidaDown
from bot.services.experiments import ExperimentService
from bot.services.home_data import Connection, HomeData, HomeShared, ServingNow
from bot.store.audit import AuditLog
from bot.store.client import AnyRedis, text
from bot.store.crypto import UndecryptableSecret
from bot.store.keys import ws_key
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.store.watches import WatchStore
from bot.store.workspaces import WorkspaceStore

log = logging.getLogger(__name__)

MAX_SERVING = 15
MAX_PENDING = 10
MAX_RECENT = 8
_AUDIT_LOOKBACK = 200  # audit entries read to find when (and which variant) the bot served
VIEWER_TTL = 24 * 3600  # who opened the Home tab lately: they get it refreshed when requests change


class HomeService:
    def __init__(
        self,
        *,
        redis: AnyRedis,
        workspaces: WorkspaceStore,
        experiments: ExperimentService,
        requests: RequestStore,
        rules: RulesStore,
        audit: AuditLog,
        access: Access,
        ramps: RampStore,
        watches: WatchStore,
    ) -> None:
        self._redis = redis
        self._ramps = ramps
        self._watches = watches
        self._workspaces = workspaces
        self._experiments = experiments
        self._requests = requests
        self._rules = rules
        self._audit = audit
        self._access = access

    async def load(self, team: TeamRef, viewer: str) -> HomeData:
        return await self.for_viewer(await self.shared(team), viewer)

    async def shared(self, team: TeamRef) -> HomeShared:
        connection, connection_error = await self._connection(team)
        audit_tail = await self._audit.recent(team, limit=_AUDIT_LOOKBACK)
        serving: list[ServingNow] = []
        serving_error: BotError | None = None
        if connection is not None:
            serving, serving_error = await self._serving(team, audit_tail)
        pending = await self._requests.pending(team, limit=100)
        return HomeShared(
            team=team,
            connection=connection,
            connection_error=connection_error,
            serving=serving,
            serving_error=serving_error,
            pending=pending,
            recent=audit_tail[:MAX_RECENT],
            generated_at=time.time(),
            ramps=[r for r in await self._ramps.all(team) if not r.state.is_final],
            watches=await self._watches.all(team),
        )

    async def for_viewer(self, shared: HomeShared, viewer: str) -> HomeData:
        team = shared.team
        is_admin = await self._access.is_admin(team, viewer)
        mine = [r for r in shared.pending if r.requester.user_id == viewer][:MAX_PENDING]
        waiting: list[ChangeRequest] = []
        for request in shared.pending:
            if len(waiting) >= MAX_PENDING:
                break
            if request.requester.user_id == viewer or any(a.approver.user_id == viewer for a in request.approvals):
                continue
            policy = await self._rules.rules(team, request.channel_id)
            if await self._access.may_approve(team, policy, request, viewer):
                waiting.append(request)
        return HomeData(shared=shared, viewer=viewer, is_admin=is_admin, mine=mine, waiting_on_me=waiting)

    # -- where a change started from the Home tab is posted ----------------------------------

    async def channel_for(self, team: TeamRef, test_id: int, viewer: str) -> str:
        """The channel of the last request the bot handled for this experiment, else the
        workspace's audit channel, else the viewer's direct messages with the bot."""
        for entry in await self._audit.recent(team, limit=20, test_id=test_id):
            if entry.request_id:
                request = await self._requests.get(team, entry.request_id)
                if request is not None and request.channel_id:
                    return request.channel_id
        settings = await self._rules.settings(team)
        return settings.audit_channel or viewer

    # -- who has the Home tab open ------------------------------------------------------------

    async def opened(self, team: TeamRef, viewer: str, now: float | None = None) -> None:
        at = time.time() if now is None else now
        key = _viewers_key(team)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {viewer: at})
            pipe.zremrangebyscore(key, "-inf", at - VIEWER_TTL)
            pipe.expire(key, VIEWER_TTL)
            await pipe.execute()

    async def recent_viewers(self, team: TeamRef, limit: int = 10, now: float | None = None) -> list[str]:
        at = time.time() if now is None else now
        found = await self._redis.zrevrangebyscore(_viewers_key(team), "+inf", at - VIEWER_TTL, start=0, num=limit)
        return [text(v) for v in cast(list[bytes], found)]

    async def forget(self, team: TeamRef) -> None:
        await self._redis.delete(_viewers_key(team))

    # -- parts ----------------------------------------------------------------------------------

    async def _connection(self, team: TeamRef) -> tuple[Connection | None, BotError | None]:
        try:
            ws = await self._workspaces.get(team)
        except UndecryptableSecret:
            return None, InvalidInput(
                "api_key",
                "The stored Mida API key can no longer be decrypted (the bot's encryption keys "
                "changed). An admin must run /mida connect again.",
            )
        if ws is None:
            return None, None
        health = await self._workspaces.health(team)
        return (
            Connection(
                project_key=ws.project_key,
                region=ws.region,
                masked_key=ws.masked_key,
                connected_by=ws.connected_by,
                connected_at=ws.connected_at,
                last_ok_at=health["last_ok_at"],
                last_error=health["last_error"],
                last_error_at=health["last_error_at"],
            ),
            None,
        )

    async def _serving(self, team: TeamRef, audit_tail: list[AuditEntry]) -> tuple[list[ServingNow], BotError | None]:
        try:
            _, experiments, rollouts = await self._experiments.list(team)
        except BotError as err:
            return [], err
        except (TimeoutError, OSError) as err:
            log.warning("home: experiments not read", extra={"team": team.key, "error": type(err).__name__})
            return [], MidaDown("Mida did not answer in time")
        served = _served_by_bot(audit_tail)
        rows: list[ServingNow] = []
        for exp in experiments:
            if not exp.is_serving or exp.serving_variant_id is None:
                continue
            entry = served.get(exp.test_id)
            if entry is not None and entry.change is not None and entry.change.variant_id != exp.serving_variant_id:
                entry = None  # served differently since (in Mida's dashboard): the bot's record is not it
            rows.append(
                ServingNow(
                    test_id=exp.test_id,
                    name=exp.test_name,
                    variant_id=exp.serving_variant_id,
                    rollout=rollouts.get(exp.test_id),
                    since=entry.at if entry is not None else _mida_time(exp),
                    variants=_variants_known(entry),
                )
            )
        return rows[:MAX_SERVING], None


def _viewers_key(team: TeamRef) -> str:
    return ws_key(team, "home", "viewers")


def _served_by_bot(entries: list[AuditEntry]) -> dict[int, AuditEntry]:
    """The latest successful serve-winner the bot executed, per experiment (entries newest first)."""
    found: dict[int, AuditEntry] = {}
    for entry in entries:
        if (
            entry.event is AuditEvent.EXECUTED
            and entry.change is not None
            and entry.change.action is Action.SERVE_WINNER
            and entry.test_id is not None
        ):
            found.setdefault(entry.test_id, entry)
    return found


def _variants_known(entry: AuditEntry | None) -> tuple[VariantResult, ...]:
    if entry is None:
        return ()
    state = entry.outcome.state_after if entry.outcome is not None else None
    source = state or entry.evidence
    return tuple(source.variants) if source is not None else ()


def _mida_time(exp: Experiment) -> float | None:
    if not exp.updated_at:
        return None
    try:
        return datetime.fromisoformat(exp.updated_at).timestamp()
    except ValueError:
        return None
