"""Watches: the bot reads watched experiments on a schedule and tells the channel, once per change
of state, when something needs a person — a winner ready, a sample ratio mismatch, the served
variant regressing, a change made in Mida outside Slack, Mida unreachable for long — with the
button to act.

Each watched experiment is one item of the due-time schedule (kind `watch`), so every process
shares the polling and each experiment is read once per interval in all, jittered, within a
per-workspace budget of Mida reads. What each condition last was lives in Redis
(`WatchStore.swap`), so neither a restart nor a second process repeats an alert.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from bot.domain import (
    Action,
    Change,
    ChangeRequest,
    ChannelRules,
    Evidence,
    Failure,
    FailureKind,
    Outcome,
    Person,
    RequestStatus,
    TeamRef,
    Watch,
    WatchAlert,
)
from bot.evidence.analysis import BLOCK
from bot.mida import errors as mida
from bot.mida.models import ExperimentStatus, ReportPhase
from bot.services.changes.ramp_check import REGRESSION, check_before_step
from bot.services.changes.ramps import RampService
from bot.services.errors import (
    BotError,
    InvalidInput,
    MidaDown,
    MidaUnreadable,
    NotConnected,
    RateLimited,
    UnknownExperiment,
)
from bot.services.evidence import analysis_of, srm_sentence
from bot.services.experiments import ExperimentService
from bot.services.mida_errors import translate
from bot.services.ports import Notifier
from bot.store.keys import index_member, parse_index_member, team_from_key
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.store.schedule import WATCH, Schedule
from bot.store.watches import WatchStore

log = logging.getLogger(__name__)

SERVING = "serving"  # the experiment's state as last seen: "<status>|<serving variant>|<rollout>"
EXPECTED = "expected"  # the state a change of the bot's own is making (not "outside Slack")
MISMATCH = "mismatch"
REGRESSING = "regressing"
DOWN_SINCE = "down_since"
DOWN_TOLD = "down_told"


@dataclass(frozen=True)
class WatchTimings:
    interval: float  # MIDA_WATCH_INTERVAL_SECONDS
    after_serve_hours: float  # MIDA_WATCH_AFTER_SERVE_HOURS
    unreachable_after: float  # MIDA_WATCH_UNREACHABLE_SECONDS
    reads_per_minute: int  # MIDA_WATCH_READS_PER_MINUTE
    watch_all_limit: int  # MIDA_WATCH_ALL_LIMIT


def signature(state: Evidence) -> str:
    """What "changed in Mida" compares: the status, the served variant and its rollout."""
    if not state.is_serving:
        return f"{state.status.value}||"
    return f"{state.status.value}|{state.serving_variant_id or ''}|{state.traffic_allocation or 0:g}"


def expected_signature(change: Change, before: Evidence) -> str:
    """The signature the experiment will have once `change` is applied."""
    after = before.model_copy()
    if change.action.is_status_change:
        after = before.model_copy(update={"status": change.action.target_status})
    elif change.action is Action.STOP_SERVING:
        after = before.model_copy(update={"is_serving": False, "serving_variant_id": None})
    elif change.action is Action.SERVE_WINNER:
        after = before.model_copy(
            update={"is_serving": True, "serving_variant_id": change.variant_id, "traffic_allocation": change.rollout}
        )
    elif change.action is Action.UPDATE_ROLLOUT:
        after = before.model_copy(update={"traffic_allocation": change.rollout})
    return signature(after)


class WatchService:
    def __init__(
        self,
        *,
        store: WatchStore,
        schedule: Schedule,
        experiments: ExperimentService,
        requests: RequestStore,
        rules: RulesStore,
        ramps: RampService,
        notifier: Notifier,
        timings: WatchTimings,
    ) -> None:
        self._store = store
        self._schedule = schedule
        self._experiments = experiments
        self._requests = requests
        self._rules = rules
        self._ramps = ramps
        self._notifier = notifier
        self._timings = timings

    # --- commands -----------------------------------------------------------------------------

    async def watch(self, team: TeamRef, channel_id: str, person: Person, test_id: int) -> tuple[Watch, bool]:
        """Subscribe the channel to the experiment; False when it was watching already."""
        if not channel_id:
            raise InvalidInput("channel", "Run /mida watch in the channel that should hear about the experiment.")
        ws = await self._experiments.workspace(team)
        try:
            await self._experiments.evidence(ws, test_id)  # an experiment Mida knows
        except mida.MidaError as err:
            raise translate(err, test_id=test_id) from None
        watch = Watch(team=team, test_id=test_id, channel_id=channel_id, by=person)
        added = await self._store.add(watch)
        await self._schedule.add(WATCH, {_payload(team, test_id): time.time() + random.uniform(0, 1)}, only_new=True)
        return watch, added

    async def watch_all(self, team: TeamRef, channel_id: str, person: Person) -> tuple[list[int], int]:
        """Every live experiment of the project, up to the limit: (the ones watched, how many were left out)."""
        if not channel_id:
            raise InvalidInput("channel", "Run /mida watch all in the channel that should hear about the experiments.")
        _, experiments, _ = await self._experiments.list(team)
        live = [e.test_id for e in experiments if e.status is ExperimentStatus.LIVE]
        chosen = live[: self._timings.watch_all_limit]
        now = time.time()
        for index, test_id in enumerate(chosen):
            await self._store.add(Watch(team=team, test_id=test_id, channel_id=channel_id, by=person))
            # Spread the first reads over the interval, so a big project is not read all at once.
            first = now + random.uniform(0, 1) + index * self._timings.interval / max(len(chosen), 1)
            await self._schedule.add(WATCH, {_payload(team, test_id): first}, only_new=True)
        return chosen, len(live) - len(chosen)

    async def unwatch(self, team: TeamRef, channel_id: str, test_id: int) -> bool:
        removed = await self._store.remove(team, Watch(team=team, test_id=test_id, channel_id=channel_id))
        if not await self._store.for_test(team, test_id):
            await self._end(team, test_id)
        return removed

    async def watching(self, team: TeamRef, channel_id: str | None = None) -> list[Watch]:
        watches = await self._store.all(team)
        return [w for w in watches if channel_id is None or w.channel_id == channel_id]

    async def forget(self, team: TeamRef) -> None:
        """Uninstalled or disconnected: every watch of the workspace ends."""
        for test_id in await self._store.forget_all(team):
            await self._schedule.remove(WATCH, _payload(team, test_id))

    # --- the bot's own changes (called by the execution service) ------------------------------

    async def before_write(self, request: ChangeRequest, current: Evidence) -> None:
        """The state this change makes is the bot's doing, not a change "outside Slack"."""
        await self._store.swap(
            request.team, request.change.test_id, EXPECTED, expected_signature(request.change, current)
        )

    async def after_execution(self, request: ChangeRequest) -> None:
        if request.status is not RequestStatus.SUCCEEDED or request.outcome is None:
            return
        team, test_id = request.team, request.change.test_id
        state = request.outcome.state_after
        if state is not None:
            await self._store.swap(team, test_id, SERVING, signature(state))

    async def watch_served(self, request: ChangeRequest) -> None:
        """A winner the bot served is watched for a regression for a while, in its card's thread
        (called once the card is posted)."""
        team, test_id = request.team, request.change.test_id
        if (
            request.status is RequestStatus.SUCCEEDED
            and request.change.action is Action.SERVE_WINNER
            and request.message_ts
        ):
            # Watched for a regression for a while, in the card's thread.
            until = time.time() + self._timings.after_serve_hours * 3600
            watch = Watch(
                team=team, test_id=test_id, channel_id=request.channel_id, thread_ts=request.message_ts, until=until
            )
            await self._store.put(watch)
            await self._schedule.add(
                WATCH, {_payload(team, test_id): time.time() + self._timings.interval}, only_new=True
            )

    # --- the poll (the schedule) --------------------------------------------------------------

    async def run_scheduled(self, payload: str, now: float) -> float | None:
        team_key, raw_id = parse_index_member(payload)
        team, test_id = team_from_key(team_key), int(raw_id)
        watches = await self._live_watches(team, test_id, now)
        if not watches:
            await self._end(team, test_id)
            return None
        if not await self._store.take_read(team, self._timings.reads_per_minute, now):
            return now + random.uniform(5, 15)  # over this minute's budget: a little later
        try:
            ws = await self._experiments.workspace(team)
        except NotConnected:
            await self.forget(team)
            return None
        project_key = ws.project_key
        try:
            try:
                current = await self._experiments.evidence(ws, test_id)
            except mida.MidaError as err:
                raise translate(err, test_id=test_id) from None
        except UnknownExperiment:
            for watch in watches:
                await self._store.remove(team, watch)
            await self._end(team, test_id)
            return None
        except (MidaDown, MidaUnreadable, RateLimited) as err:
            await self._unreachable(project_key, team, test_id, watches, now, err)
            return now + min(self._timings.interval * 2, 3600.0)
        await self._reachable(project_key, team, test_id, watches, current)

        await self._changed_outside(project_key, team, test_id, watches, current)
        await self._mismatch(project_key, team, test_id, watches, current)
        for watch in watches:
            if watch.thread_ts is None:
                await self._winner(project_key, team, watch, current)
        if current.is_serving and current.serving_variant_id is not None:
            await self._regressing(project_key, team, test_id, watches, current)
        return now + self._timings.interval * random.uniform(0.9, 1.1)

    async def _live_watches(self, team: TeamRef, test_id: int, now: float) -> list[Watch]:
        watches = []
        for watch in await self._store.for_test(team, test_id):
            if watch.until is not None and watch.until <= now:
                await self._store.remove(team, watch)
            else:
                watches.append(watch)
        return watches

    async def _end(self, team: TeamRef, test_id: int) -> None:
        await self._schedule.remove(WATCH, _payload(team, test_id))
        await self._store.forget_state(team, test_id)

    async def _changed_outside(
        self, project_key: str, team: TeamRef, test_id: int, watches: list[Watch], current: Evidence
    ) -> None:
        seen = signature(current)
        before = await self._store.swap(team, test_id, SERVING, seen)
        if before is None or before == seen:
            return  # the first look is the baseline
        if (await self._store.state(team, test_id)).get(EXPECTED) == seen:
            return  # the bot's own change
        words = f"{_state_words(current)}. Pending requests and ramps for it are superseded."
        alert = WatchAlert(
            kind="changed", test_id=test_id, test_name=current.test_name, words=words, serving=current.is_serving
        )
        await self._tell(project_key, watches, alert)
        for request in await self._requests.pending(team, limit=500):
            if request.change.test_id != test_id:
                continue
            done = await self._requests.transition(
                team,
                request.id,
                RequestStatus.SUPERSEDED,
                expected={RequestStatus.PENDING},
                patch={"outcome": _superseded_outcome(current)},
            )
            if done is not None:
                await self._notifier.request_updated(done)
        await self._ramps.supersede(team, test_id, f"The experiment {_state_words(current)}.")

    async def _mismatch(
        self, project_key: str, team: TeamRef, test_id: int, watches: list[Watch], current: Evidence
    ) -> None:
        if current.is_serving or current.status is not ExperimentStatus.LIVE:
            return  # the split governs a live experiment that serves no winner
        analysis = analysis_of(current)
        broken = analysis is not None and analysis.srm.level == BLOCK
        before = await self._store.swap(team, test_id, MISMATCH, "1" if broken else "0")
        if broken and before != "1":
            assert analysis is not None
            words = srm_sentence(analysis) or "Sample ratio mismatch."
            await self._tell(
                project_key,
                watches,
                WatchAlert(kind="mismatch", test_id=test_id, test_name=current.test_name, words=words),
            )

    async def _winner(self, project_key: str, team: TeamRef, watch: Watch, current: Evidence) -> None:
        rules = await self._rules.rules(team, watch.channel_id)
        ready = _ready_winner(current, rules)
        condition = f"winner|{watch.channel_id}"
        before = await self._store.swap(team, watch.test_id, condition, ready[0] if ready else "")
        if ready is None or before == ready[0]:
            return
        variant_id, words = ready
        alert = WatchAlert(
            kind="winner", test_id=watch.test_id, test_name=current.test_name, words=words, variant_id=variant_id
        )
        await self._tell(project_key, [watch], alert)

    async def _regressing(
        self, project_key: str, team: TeamRef, test_id: int, watches: list[Watch], current: Evidence
    ) -> None:
        try:
            _, post = await self._experiments.result(team, test_id, ReportPhase.POST_DEPLOY)
        except BotError:
            return  # judged on the next read
        rules = await self._rules.rules(team, watches[0].channel_id)
        assert current.serving_variant_id is not None
        check = check_before_step(
            Evidence.from_result(post),
            current,
            current.serving_variant_id,
            current.traffic_allocation or 100,
            rules,
            rollout_constant=False,  # the rollout may have changed since serving
        )
        regressing = check.kind == REGRESSION
        before = await self._store.swap(team, test_id, REGRESSING, "1" if regressing else "0")
        if regressing and before != "1":
            alert = WatchAlert(
                kind="regression", test_id=test_id, test_name=current.test_name, words=check.words, serving=True
            )
            await self._tell(project_key, watches, alert)

    async def _unreachable(
        self, project_key: str, team: TeamRef, test_id: int, watches: list[Watch], now: float, err: BotError
    ) -> None:
        state = await self._store.state(team, test_id)
        since = float(state[DOWN_SINCE]) if DOWN_SINCE in state else None
        if since is None:
            await self._store.swap(team, test_id, DOWN_SINCE, repr(now))
            return
        if now - since < self._timings.unreachable_after or state.get(DOWN_TOLD) == "1":
            return
        if await self._store.swap(team, test_id, DOWN_TOLD, "1") == "1":
            return
        minutes = (now - since) / 60
        words = (
            f"Mida has not answered for {minutes:.0f} minutes ({err}). The bot keeps trying and says when it is back."
        )
        await self._tell(project_key, watches, WatchAlert(kind="unreachable", test_id=test_id, words=words))

    async def _reachable(
        self, project_key: str, team: TeamRef, test_id: int, watches: list[Watch], current: Evidence
    ) -> None:
        state = await self._store.state(team, test_id)
        if DOWN_SINCE not in state:
            return
        told = state.get(DOWN_TOLD) == "1"
        await self._store.forget_state(team, test_id, DOWN_SINCE, DOWN_TOLD)
        if told:
            words = "Mida answers again; the watch goes on."
            alert = WatchAlert(kind="reachable", test_id=test_id, test_name=current.test_name, words=words)
            await self._tell(project_key, watches, alert)

    async def _tell(self, project_key: str, watches: list[Watch], alert: WatchAlert) -> None:
        """Once per channel: a regression goes to the served card's thread when the bot watches it
        there, everything else to the channel itself (else to that thread)."""
        by_channel: dict[str, list[Watch]] = {}
        for watch in watches:
            by_channel.setdefault(watch.channel_id, []).append(watch)
        for channel_watches in by_channel.values():
            in_thread = alert.kind == "regression"
            watch = sorted(channel_watches, key=lambda w: (w.thread_ts is None) == in_thread)[0]
            try:
                await self._notifier.watch_alert(watch, alert.model_copy(update={"project_key": project_key}))
            except Exception:
                log.exception("watch alert not posted", extra={"test_id": alert.test_id, "kind": alert.kind})


def _payload(team: TeamRef, test_id: int) -> str:
    return index_member(team, str(test_id))


def _ready_winner(current: Evidence, rules: ChannelRules) -> tuple[str, str] | None:
    """(variant id, words) when the verdict is a winner and the quiet rules are met, else None."""
    if current.is_serving or current.status is not ExperimentStatus.LIVE:
        return None
    analysis = analysis_of(current, rules)
    if analysis is None or analysis.verdict.kind != "winner" or analysis.verdict.variant_id is None:
        return None
    if analysis.srm.level == BLOCK:
        return None
    if (current.days_running or 0) < rules.min_days_running:
        return None
    if any(
        v.visitors < rules.min_visitors_per_variant or v.conversions < rules.min_conversions_per_variant
        for v in current.variants
    ):
        return None
    return analysis.verdict.variant_id, analysis.verdict.words


def _state_words(state: Evidence) -> str:
    if state.status is not ExperimentStatus.LIVE and not state.is_serving:
        return f"changed in Mida, outside Slack: the experiment is now {state.status.value}"
    if not state.is_serving:
        return "changed in Mida, outside Slack: no winner is served now"
    variant = state.variant(state.serving_variant_id)
    name = variant.label if variant is not None else f"variant {state.serving_variant_id}"
    return f"changed in Mida, outside Slack: now serving {name} at {state.traffic_allocation or 0:g} %"


def _superseded_outcome(state: Evidence) -> dict[str, object]:
    outcome = Outcome(
        ok=False,
        failure=Failure(kind=FailureKind.SUPERSEDED, message="The experiment changed in Mida before this was decided."),
        state_after=state,
        reconciled=True,
    )
    return outcome.model_dump(mode="json")
