"""Ramp plans carried out: serve a variant in steps, with a check of the numbers before each step.

The plan is one request (approved once, as the increase it leads to); its execution is step 1.
Each later step is a request of its own, approved already, derived from the plan and the step's
index (so it is asked for once, whoever asks), and executed like any change: read back before
writing, reconciled when the outcome is unknown, superseded when the experiment is not in the state
the plan last set (drift). When a step is due (the schedule, kind `ramp`), the bot first reads the
experiment: drift, a sample ratio mismatch since serving, or the served variant doing significantly
worse pause the ramp; too little post-deploy data makes the step wait, up to one more interval, then
pause. People pause, resume (which checks first), advance now (through the channel's rules), or
abort (hold, or stop serving) from the plan's card.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.domain import (
    Action,
    AuditEvent,
    Change,
    ChangeRequest,
    Evidence,
    Origin,
    Person,
    Ramp,
    RampHold,
    RampState,
    RampStepDone,
    RequestStatus,
    TeamRef,
)
from bot.mida import errors as mida
from bot.mida.models import ExperimentResult, ReportPhase
from bot.services.access import Access, Standing
from bot.services.changes.history import record
from bot.services.changes.intake import ChangeIntake
from bot.services.changes.ramp_check import MISMATCH, NO_DATA, OK, REGRESSION, StepCheck, check_before_step
from bot.services.errors import BotError, InvalidInput, MidaDown, MidaUnreadable, NotAMember, NotConnected
from bot.services.experiments import ExperimentService
from bot.services.mida_errors import translate
from bot.services.ports import Notifier
from bot.store.audit import AuditLog
from bot.store.keys import index_member, parse_index_member, team_from_key
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.store.schedule import RAMP, Schedule

log = logging.getLogger(__name__)

_WRITE_ATTEMPTS = 8


class RampConflict(InvalidInput):
    """A click that does not fit the ramp's state now (e.g. resume a ramp that runs)."""

    def __init__(self, message: str) -> None:
        super().__init__("ramp", message)


class RampService:
    def __init__(
        self,
        *,
        ramps: RampStore,
        schedule: Schedule,
        requests: RequestStore,
        experiments: ExperimentService,
        rules: RulesStore,
        access: Access,
        audit: AuditLog,
        intake: ChangeIntake,
        notifier: Notifier,
    ) -> None:
        self._ramps = ramps
        self._schedule = schedule
        self._requests = requests
        self._experiments = experiments
        self._rules = rules
        self._access = access
        self._audit = audit
        self._intake = intake
        self._notifier = notifier

    # --- reading -----------------------------------------------------------------------------

    async def get(self, team: TeamRef, ramp_id: str) -> Ramp | None:
        found = await self._ramps.get(team, ramp_id)
        return found[0] if found else None

    async def list(self, team: TeamRef) -> list[Ramp]:
        return await self._ramps.all(team)

    async def active_for(self, team: TeamRef, test_id: int) -> Ramp | None:
        ramp_id = await self._ramps.active_for(team, test_id)
        return await self.get(team, ramp_id) if ramp_id else None

    # --- after an execution (called by the execution service) -------------------------------

    async def after_execution(self, request: ChangeRequest) -> None:
        if request.plan is not None:
            await self._plan_executed(request)
        elif request.ramp_id is not None:
            await self._step_executed(request)
        if request.status is RequestStatus.SUCCEEDED and request.change.action is Action.STOP_SERVING:
            await self._serving_stopped(request)

    async def _plan_executed(self, request: ChangeRequest) -> None:
        if request.status is not RequestStatus.SUCCEEDED:
            return  # the plan's card says why; nothing more is sent
        assert request.plan is not None and request.change.variant_id is not None
        now = time.time()
        approvers = [a.approver for a in request.approvals]
        ramp = Ramp(
            id=request.id,
            team=request.team,
            test_id=request.change.test_id,
            variant_id=request.change.variant_id,
            plan=request.plan,
            channel_id=request.channel_id,
            requester=request.requester,
            approvers=approvers,
            done=[
                RampStepDone(
                    index=0,
                    rollout=request.plan.steps[0],
                    request_id=request.id,
                    at=now,
                    by=approvers or [request.requester],
                )
            ],
            next_due=now + request.plan.interval_seconds,
            created_at=now,
        )
        if not await self._ramps.create(ramp):
            log.warning("ramp not started: one is under way on this experiment", extra={"request": request.id})
            return
        await self._schedule.add(RAMP, {_payload(ramp): ramp.next_due or now})
        await record(
            self._audit,
            AuditEvent.RAMP_STARTED,
            request,
            None,
            detail={"ramp": ramp.id, "steps": ramp.plan.steps, "interval_seconds": ramp.plan.interval_seconds},
        )
        await self._notifier.ramp_updated(ramp)
        await self._notifier.ramp_note(ramp, "step", _step_words(ramp, 0), None)

    async def _step_executed(self, request: ChangeRequest) -> None:
        assert request.ramp_id is not None and request.ramp_step is not None
        now = time.time()
        found = await self._ramps.get(request.team, request.ramp_id)
        if found is None or any(step.request_id == request.id for step in found[0].done):
            return
        ramp = found[0]
        if request.status is RequestStatus.SUCCEEDED:
            by = ramp.approvers or [ramp.requester]
            if request.origin is not Origin.RAMP_STEP:  # "advance now": asked for by a person
                by = [request.requester, *[a.approver for a in request.approvals]]

            def advance(r: Ramp) -> Ramp | None:
                if any(step.request_id == request.id for step in r.done) or r.next_index != request.ramp_step:
                    return None
                step = RampStepDone(
                    index=request.ramp_step or 0,
                    rollout=request.change.rollout or 0,
                    request_id=request.id,
                    at=now,
                    by=by,
                )
                last = step.index == len(r.plan.steps) - 1
                return r.model_copy(
                    update={
                        "done": [*r.done, step],
                        "advancing": None,
                        "waiting": None,
                        "state": RampState.DONE if last else r.state,
                        "next_due": None if last else now + r.plan.interval_seconds,
                    }
                )

            updated = await self._write(request.team, ramp.id, advance)
            if updated is None:
                return
            if updated.state is RampState.RUNNING and updated.next_due is not None:
                await self._schedule.add(RAMP, {_payload(updated): updated.next_due})
            else:
                await self._schedule.remove(RAMP, _payload(updated))
            index = request.ramp_step
            await record(
                self._audit,
                AuditEvent.RAMP_STEP,
                request,
                by[0] if request.origin is not Origin.RAMP_STEP else None,
                detail={
                    "ramp": ramp.id,
                    "step": index,
                    "rollout": request.change.rollout,
                    "by": [p.user_id for p in by],
                },
            )
            if updated.state is RampState.DONE:
                await record(self._audit, AuditEvent.RAMP_DONE, request, None, detail={"ramp": ramp.id})
            await self._notifier.ramp_updated(updated)
            await self._notifier.ramp_note(
                updated, "step", _step_words(updated, index), await self._post_result(updated)
            )
            return
        if request.status is RequestStatus.SUPERSEDED:
            state = request.outcome.state_after if request.outcome else None
            await self._pause(ramp.team, ramp.id, RampHold(kind="drift", words=_drift_words(ramp, state)))
        elif request.status is RequestStatus.FAILED:
            message = request.outcome.failure.message if request.outcome and request.outcome.failure else None
            words = (
                f"Step {request.ramp_step + 1} ({request.change.rollout:g} %) failed: {message or 'Mida refused it'}."
            )
            await self._pause(ramp.team, ramp.id, RampHold(kind="failed", words=words))
        elif request.status.is_final:  # an "advance now" that was rejected, cancelled or expired
            await self._write(
                request.team,
                ramp.id,
                lambda r: r.model_copy(update={"advancing": None}) if r.advancing == request.id else None,
            )

    async def _serving_stopped(self, request: ChangeRequest) -> None:
        ramp = await self.active_for(request.team, request.change.test_id)
        if ramp is None:
            return
        hold = RampHold(kind="stopped", words="Serving was stopped, which ends the ramp.", by=request.requester)
        ended = await self._write(
            ramp.team,
            ramp.id,
            lambda r: None if r.state.is_final else r.model_copy(update={"state": RampState.ABORTED, "hold": hold}),
        )
        if ended is not None:
            await self._schedule.remove(RAMP, _payload(ended))
            await self._audit_ramp(AuditEvent.RAMP_ABORTED, ended, request.requester, {"cause": "serving stopped"})
            await self._notifier.ramp_updated(ended)
            await self._notifier.ramp_note(ended, "aborted", hold.words, None)

    # --- due steps (the schedule) -------------------------------------------------------------

    async def run_scheduled(self, payload: str, now: float) -> float | None:
        team_key, ramp_id = parse_index_member(payload)
        team = team_from_key(team_key)
        ramp = await self.get(team, ramp_id)
        if ramp is None or ramp.state is not RampState.RUNNING:
            return None
        if ramp.next_due is not None and now < ramp.next_due:
            return ramp.next_due
        index = ramp.next_index
        if index is None:
            return None
        plan_request = await self._requests.get(team, ramp.id)
        if plan_request is None:
            return None
        recheck = _recheck_every(ramp)

        if ramp.advancing is not None:
            advancing = await self._requests.get(team, ramp.advancing)
            if advancing is not None and not advancing.status.is_final:
                return now + recheck  # a person's "advance now" is on its way through the rules
            if advancing is not None:
                await self._step_executed(advancing)
                return None
        step = await self._requests.get(team, f"{ramp.id}-{index}")
        if step is not None:
            if step.status.is_final:
                await self._step_executed(step)
                return None
            if step.status is RequestStatus.APPROVED:
                await self._intake.request_ramp_step(plan_request, index, step.change.rollout or 0, step.evidence)
            return now + recheck

        try:
            current, check = await self._check(ramp)
        except (MidaDown, MidaUnreadable) as err:
            log.info("ramp step postponed: Mida cannot be read", extra={"ramp": ramp.id, "error": type(err).__name__})
            return now + recheck
        except NotConnected:
            await self._pause(
                team, ramp.id, RampHold(kind="not_connected", words="The workspace is no longer connected to Mida.")
            )
            return None
        except BotError as err:
            await self._pause(team, ramp.id, RampHold(kind="failed", words=f"The experiment could not be read: {err}"))
            return None

        if check.kind in (REGRESSION, MISMATCH, "drift"):
            await self._pause(team, ramp.id, RampHold(kind=check.kind, words=check.words), post=True)
            return None
        if check.kind == NO_DATA:
            return await self._wait_for_data(ramp, check, now)
        assert check.kind == OK
        await self._intake.request_ramp_step(plan_request, index, ramp.plan.steps[index], current)
        return now + recheck

    async def _check(self, ramp: Ramp) -> tuple[Evidence, StepCheck]:
        """Drift first (the experiment not as the plan last set it), then the post-deploy numbers."""
        ws = await self._experiments.workspace(ramp.team)
        try:
            current = await self._experiments.evidence(ws, ramp.test_id)
        except mida.MidaError as err:
            raise translate(err, test_id=ramp.test_id) from None
        if not _as_plan_left_it(ramp, current):
            return current, StepCheck("drift", _drift_words(ramp, current))
        _, post = await self._experiments.result(ramp.team, ramp.test_id, ReportPhase.POST_DEPLOY)
        rules = await self._rules.rules(ramp.team, ramp.channel_id)
        rollout = ramp.current_rollout or ramp.plan.steps[0]
        return current, check_before_step(
            Evidence.from_result(post), current, ramp.variant_id, rollout, rules, rollout_constant=len(ramp.done) == 1
        )

    async def _wait_for_data(self, ramp: Ramp, check: StepCheck, now: float) -> float | None:
        if ramp.waiting is not None and now - ramp.waiting.at >= _wait_bound(ramp):
            words = f"{check.words} The bot waited {_duration(_wait_bound(ramp))} for more; the ramp is paused."
            await self._pause(ramp.team, ramp.id, RampHold(kind=NO_DATA, words=words), post=True)
            return None
        if ramp.waiting is None:
            hold = RampHold(kind=NO_DATA, words=check.words, at=now)
            waiting = await self._write(
                ramp.team, ramp.id, lambda r: r.model_copy(update={"waiting": hold}) if r.waiting is None else None
            )
            if waiting is not None:
                await self._notifier.ramp_updated(waiting)
                words = f"{check.words} The next step waits for more, up to {_duration(_wait_bound(ramp))}."
                await self._notifier.ramp_note(waiting, "waiting", words, await self._post_result(waiting))
        return now + _recheck_every(ramp)

    # --- people -------------------------------------------------------------------------------

    async def pause(self, team: TeamRef, ramp_id: str, person: Person) -> Ramp:
        await self._require_member(team, ramp_id, person)
        hold = RampHold(kind="person", words=f"Paused by <@{person.user_id}>.", by=person)
        paused = await self._pause(team, ramp_id, hold)
        if paused is None:
            raise RampConflict("This ramp is not running, so there is nothing to pause.")
        return paused

    async def resume(self, team: TeamRef, ramp_id: str, person: Person) -> Ramp:
        ramp = await self._require_member(team, ramp_id, person)
        if ramp.state is not RampState.PAUSED:
            raise RampConflict("This ramp is not paused.")
        _, check = await self._check(ramp)
        if check.kind not in (OK, NO_DATA):
            raise RampConflict(f"Not resumed: {check.words}")
        now = time.time()
        last = ramp.done[-1].at if ramp.done else now
        due = max(now, last + ramp.plan.interval_seconds)

        def resumed(r: Ramp) -> Ramp | None:
            if r.state is not RampState.PAUSED:
                return None
            return r.model_copy(update={"state": RampState.RUNNING, "hold": None, "waiting": None, "next_due": due})

        updated = await self._write(team, ramp_id, resumed)
        if updated is None:
            raise RampConflict("This ramp is not paused.")
        await self._schedule.add(RAMP, {_payload(updated): due})
        await self._audit_ramp(AuditEvent.RAMP_RESUMED, updated, person, {"next_due": due})
        await self._notifier.ramp_updated(updated)
        await self._notifier.ramp_note(updated, "resumed", f"Resumed by <@{person.user_id}>. {check.words}", None)
        return updated

    async def advance_now(self, team: TeamRef, ramp_id: str, person: Person) -> ChangeRequest:
        """The next step now, as a request of its own through the channel's rules."""
        ramp = await self._require_member(team, ramp_id, person)
        index = ramp.next_index
        if ramp.state is not RampState.RUNNING or index is None:
            raise RampConflict("Only a running ramp with steps left can be advanced.")
        if ramp.advancing is not None or await self._requests.get(team, f"{ramp.id}-{index}") is not None:
            raise RampConflict("The next step is already on its way.")
        ws = await self._experiments.workspace(team)
        try:
            current = await self._experiments.evidence(ws, ramp.test_id)
        except mida.MidaError as err:
            raise translate(err, test_id=ramp.test_id) from None
        if not _as_plan_left_it(ramp, current):
            raise RampConflict(_drift_words(ramp, current))
        request = await self._intake.request_change(
            team=team,
            requester=person,
            change=Change(action=Action.UPDATE_ROLLOUT, test_id=ramp.test_id, rollout=ramp.plan.steps[index]),
            evidence=current,
            channel_id=ramp.channel_id,
            reason=f"Advance the ramp to step {index + 1} now.",
            origin=Origin.RAMP,
            ramp_id=ramp.id,
            ramp_step=index,
        )
        await self._write(
            team, ramp_id, lambda r: r.model_copy(update={"advancing": request.id}) if r.advancing is None else None
        )
        return request

    async def abort(self, team: TeamRef, ramp_id: str, person: Person, *, stop_serving: bool) -> ChangeRequest | None:
        """End the ramp: hold at the current rollout, or also ask to stop serving (a request of
        its own, through the channel's rules)."""
        ramp = await self._require_member(team, ramp_id, person)
        words = (
            f"Aborted by <@{person.user_id}>; stopping serving."
            if stop_serving
            else f"Aborted by <@{person.user_id}>; held at {ramp.current_rollout or 0:g} %."
        )
        hold = RampHold(kind="person", words=words, by=person)
        ended = await self._write(
            team,
            ramp_id,
            lambda r: None if r.state.is_final else r.model_copy(update={"state": RampState.ABORTED, "hold": hold}),
        )
        if ended is None:
            raise RampConflict("This ramp has ended already.")
        await self._schedule.remove(RAMP, _payload(ended))
        await self._audit_ramp(AuditEvent.RAMP_ABORTED, ended, person, {"stop_serving": stop_serving})
        await self._notifier.ramp_updated(ended)
        await self._notifier.ramp_note(ended, "aborted", words, None)
        if not stop_serving:
            return None
        ws = await self._experiments.workspace(team)
        try:
            current = await self._experiments.evidence(ws, ramp.test_id)
        except mida.MidaError as err:
            raise translate(err, test_id=ramp.test_id) from None
        return await self._intake.request_change(
            team=team,
            requester=person,
            change=Change(action=Action.STOP_SERVING, test_id=ramp.test_id),
            evidence=current,
            channel_id=ramp.channel_id,
            reason="Ramp aborted: stop serving.",
            origin=Origin.RAMP,
        )

    async def supersede(self, team: TeamRef, test_id: int, words: str) -> Ramp | None:
        """The experiment changed in Mida, outside the bot: its running ramp pauses as superseded."""
        ramp = await self.active_for(team, test_id)
        if ramp is None:
            return None
        return await self._pause(team, ramp.id, RampHold(kind="drift", words=words))

    async def forget(self, team: TeamRef) -> None:
        """An uninstall: every ramp of the workspace, and its due steps."""
        for ramp in await self._ramps.all(team):
            await self._schedule.remove(RAMP, _payload(ramp))
        await self._ramps.forget_all(team)

    # --- plumbing -----------------------------------------------------------------------------

    async def _require_member(self, team: TeamRef, ramp_id: str, person: Person) -> Ramp:
        ramp = await self.get(team, ramp_id)
        if ramp is None:
            raise RampConflict("This ramp no longer exists.")
        rules = await self._rules.rules(team, ramp.channel_id)
        standing = await self._access.standing(team, rules, person.user_id)
        if standing is not Standing.MEMBER:
            raise NotAMember(standing.value)
        return ramp

    async def _pause(self, team: TeamRef, ramp_id: str, hold: RampHold, *, post: bool = False) -> Ramp | None:
        def paused(r: Ramp) -> Ramp | None:
            if r.state is not RampState.RUNNING:
                return None
            return r.model_copy(update={"state": RampState.PAUSED, "hold": hold, "waiting": None})

        updated = await self._write(team, ramp_id, paused)
        if updated is None:
            return None
        await self._schedule.remove(RAMP, _payload(updated))
        await self._audit_ramp(AuditEvent.RAMP_PAUSED, updated, hold.by, {"cause": hold.kind, "words": hold.words})
        await self._notifier.ramp_updated(updated)
        await self._notifier.ramp_note(
            updated, "paused", hold.words, await self._post_result(updated) if post else None
        )
        return updated

    async def _write(self, team: TeamRef, ramp_id: str, change: Callable[[Ramp], Ramp | None]) -> Ramp | None:
        """Apply `change` (Ramp -> Ramp, or None for "nothing to do") with compare-and-set."""
        for _ in range(_WRITE_ATTEMPTS):
            found = await self._ramps.get(team, ramp_id)
            if found is None:
                return None
            ramp, version = found
            updated = change(ramp)
            if updated is None:
                return None
            if await self._ramps.update(updated, version):
                return updated
        raise RuntimeError(f"ramp {ramp_id} kept changing under this write")

    async def _audit_ramp(self, event: AuditEvent, ramp: Ramp, actor: Person | None, detail: dict[str, object]) -> None:
        plan_request = await self._requests.get(ramp.team, ramp.id)
        if plan_request is not None:
            await record(self._audit, event, plan_request, actor, detail={"ramp": ramp.id, **detail})

    async def _post_result(self, ramp: Ramp) -> ExperimentResult | None:
        """The post-deploy numbers for a thread reply; a reply goes out without them if Mida cannot say."""
        try:
            _, result = await self._experiments.result(ramp.team, ramp.test_id, ReportPhase.POST_DEPLOY)
        except BotError:
            return None
        return result


def _payload(ramp: Ramp) -> str:
    return index_member(ramp.team, ramp.id)


def _as_plan_left_it(ramp: Ramp, current: Evidence) -> bool:
    return (
        current.is_serving
        and current.serving_variant_id == ramp.variant_id
        and current.traffic_allocation is not None
        and abs(current.traffic_allocation - (ramp.current_rollout or 0)) < 1e-9
    )


def _drift_words(ramp: Ramp, current: Evidence | None) -> str:
    expected = f"variant {ramp.variant_id} served at {ramp.current_rollout or 0:g} %"
    if current is None:
        return f"The experiment is no longer as this ramp left it ({expected}); it changed in Mida, outside this ramp."
    if not current.is_serving:
        found = "not serving any variant"
    elif current.serving_variant_id != ramp.variant_id:
        found = f"serving variant {current.serving_variant_id}"
    else:
        found = f"serving at {current.traffic_allocation or 0:g} %"
    return f"The experiment is now {found}, not {expected}: it changed in Mida, outside this ramp (superseded)."


def _step_words(ramp: Ramp, index: int) -> str:
    steps = ramp.plan.steps
    words = f"Step {index + 1} of {len(steps)}: served at {steps[index]:g} %."
    if index + 1 < len(steps):
        return f"{words} Next: {steps[index + 1]:g} % after the numbers are checked."
    return f"{words} The ramp is complete."


def _wait_bound(ramp: Ramp) -> float:
    """How long a step waits for enough post-deploy data before the ramp pauses: one interval."""
    return ramp.plan.interval_seconds


def _recheck_every(ramp: Ramp) -> float:
    return min(max(ramp.plan.interval_seconds / 4, 0.5), 900.0)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
