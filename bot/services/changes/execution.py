"""Executing an approved request against Mida, once.

Execution runs from the job queue (any process). The request moves APPROVED → EXECUTING in one
atomic transition, so only one process sends the write; one that takes over a job from a process
that stopped answering reads the experiment back before sending anything, and never re-posts
blindly. An answer that cannot be trusted (unreadable, contradicting the request) is settled by
what the experiment is now.
"""

from __future__ import annotations

import logging

from bot.domain import (
    Action,
    AnswerProblem,
    AuditEvent,
    Change,
    ChangeRequest,
    Evidence,
    Failure,
    FailureKind,
    Origin,
    Outcome,
    RequestStatus,
    TeamRef,
    Workspace,
)
from bot.mida import errors as mida
from bot.mida.models import STATUS_CODE, ServingState, StatusAnswer
from bot.services.changes.history import record
from bot.services.changes.ramps import RampService
from bot.services.changes.state import applied, changed_since, state_from_answer
from bot.services.errors import BotError, ExperimentConflict, MidaDown, NotConnected
from bot.services.evidence import material_change
from bot.services.experiments import ExperimentService
from bot.services.followups import FollowupService
from bot.services.mida_errors import translate
from bot.services.ports import Notifier
from bot.services.watches import WatchService
from bot.services.write_answers import contradictions, describe
from bot.store.audit import AuditLog
from bot.store.requests import RequestStore
from bot.store.results_cache import ResultsCache
from bot.store.rules import RulesStore

log = logging.getLogger(__name__)


class ExecutionDeferred(Exception):
    """The outcome cannot be settled now (Mida unreadable while recovering); try the job later."""


class ExecutionService:
    def __init__(
        self,
        *,
        experiments: ExperimentService,
        requests: RequestStore,
        audit: AuditLog,
        notifier: Notifier,
        followups: FollowupService,
        results_cache: ResultsCache,
        ramps: RampService,
        watches: WatchService,
        rules: RulesStore,
    ) -> None:
        self._experiments = experiments
        self._requests = requests
        self._audit = audit
        self._notifier = notifier
        self._followups = followups
        self._results_cache = results_cache
        self._ramps = ramps
        self._watches = watches
        self._rules = rules

    async def execute(self, team: TeamRef, request_id: str, *, recovering: bool = False) -> ChangeRequest | None:
        """Run an approved request against Mida, once.

        `recovering` is set when the job was claimed from a process that stopped answering: the
        request may be half-way (EXECUTING) and its write may or may not have reached Mida, so the
        experiment is read back before anything is sent."""
        request = await self._requests.get(team, request_id)
        if request is None:
            return None
        if request.status is RequestStatus.APPROVED:
            claimed = await self._requests.transition(
                team, request_id, RequestStatus.EXECUTING, expected={RequestStatus.APPROVED}
            )
            if claimed is None:
                return await self._requests.get(team, request_id)
            request = claimed
            # Nobody had started on it, so nothing of ours can have reached Mida: a state that
            # already matches was made by someone else (superseded), not by a lost write.
            recovering = False
        elif not (recovering and request.status is RequestStatus.EXECUTING):
            return request

        outcome, status = await self._run(team, request, recovering=recovering)
        finished = await self._requests.transition(
            team,
            request_id,
            status,
            expected={RequestStatus.EXECUTING},
            patch={"outcome": outcome.model_dump(mode="json")},
        )
        if finished is None:
            return await self._requests.get(team, request_id)
        event = {
            RequestStatus.SUCCEEDED: AuditEvent.EXECUTED,
            RequestStatus.FAILED: AuditEvent.FAILED,
            RequestStatus.SUPERSEDED: AuditEvent.SUPERSEDED,
        }[status]
        await record(
            self._audit,
            event,
            finished,
            reason=request.reason,
            outcome=outcome,
            detail={"approvers": [a.approver.user_id for a in finished.approvals]},
        )
        log.info(
            "change executed",
            extra={"team": team.key, "request": request_id, "status": status.value, "mida_status": outcome.mida_status},
        )
        # Everything that follows from the outcome is in place before anyone is told of it.
        await self._results_cache.invalidate(team, request.change.test_id)
        if status is RequestStatus.SUCCEEDED and request.change.action is Action.SERVE_WINNER:
            await self._followups.after_serve(finished)
        elif status is RequestStatus.SUCCEEDED and request.change.action is Action.STOP_SERVING:
            await self._followups.after_stop(team, request.change.test_id)
        await self._ramps.after_execution(finished)
        await self._watches.after_execution(finished)
        if finished.origin is not Origin.RAMP_STEP:  # a ramp's own steps are told on the plan's card
            await self._notifier.request_updated(finished)
        if status is RequestStatus.SUCCEEDED and request.change.action is Action.SERVE_WINNER:
            # Read again for the card's ts, which the update above may have just set.
            await self._watches.watch_served(await self._requests.get(team, request_id) or finished)
        return finished

    async def _run(self, team: TeamRef, request: ChangeRequest, *, recovering: bool) -> tuple[Outcome, RequestStatus]:
        try:
            ws = await self._experiments.workspace(team)
        except NotConnected as err:
            return _failure(err), RequestStatus.FAILED
        change = request.change

        try:
            current = await self._experiments.evidence(ws, change.test_id)
        except mida.MidaError as err:
            if recovering:
                raise ExecutionDeferred(str(err)) from None
            return _failure(translate(err, test_id=change.test_id, action=change.action)), RequestStatus.FAILED
        if applied(change, current):
            if recovering:
                return Outcome(ok=True, state_after=current, reconciled=True), RequestStatus.SUCCEEDED
            return _superseded(current, "The experiment was already in this state in Mida."), RequestStatus.SUPERSEDED
        if changed_since(request.evidence, current):
            return _superseded(
                current, "The experiment changed in Mida after this was requested."
            ), RequestStatus.SUPERSEDED
        if change.action is Action.SERVE_WINNER and change.variant_id is not None:
            # The decision was made on the pinned evidence: if the numbers now say otherwise, the
            # requester decides again rather than the bot serving on what is no longer true.
            rules = await self._rules.rules(team, request.channel_id)
            stale = material_change(request.evidence, current, change.variant_id, rules)
            if stale is not None:
                failure = Failure(kind=FailureKind.STALE_EVIDENCE, message=stale)
                return Outcome(ok=False, failure=failure, state_after=current), RequestStatus.FAILED

        await self._watches.before_write(request, current)
        try:
            answer = await self._write(ws, change)
        except mida.MidaError as err:
            return await self._after_failed_write(ws, request, err)
        problems = contradictions(change, answer)
        if problems:
            return await self._settle_by_reading_back(
                ws,
                request,
                AnswerProblem.CONTRADICTS,
                describe(problems, answer.message),
                status=200,
                body=answer.model_dump(mode="json"),
            )
        return (
            Outcome(
                ok=True,
                mida_status=200,
                mida_body=answer.model_dump(mode="json"),
                state_after=state_from_answer(current, answer),
            ),
            RequestStatus.SUCCEEDED,
        )

    async def _write(self, ws: Workspace, change: Change) -> ServingState | StatusAnswer:
        project = self._experiments.project(ws)
        if change.action.is_status_change:
            target = change.action.target_status
            assert target is not None
            return await project.update_status(change.test_id, STATUS_CODE[target])
        if change.action is Action.SERVE_WINNER:
            assert change.variant_id is not None and change.rollout is not None
            return await project.serve_winner(change.test_id, change.variant_id, change.rollout)
        if change.action is Action.UPDATE_ROLLOUT:
            assert change.rollout is not None
            return await project.update_serving_rollout(change.test_id, change.rollout)
        return await project.stop_serving(change.test_id)

    async def _after_failed_write(
        self, ws: Workspace, request: ChangeRequest, err: mida.MidaError
    ) -> tuple[Outcome, RequestStatus]:
        change = request.change
        if isinstance(err, mida.MidaAnswerUnreadable):
            return await self._settle_by_reading_back(
                ws, request, AnswerProblem.UNREADABLE, err.message, status=err.status, body=None
            )
        if isinstance(err, mida.MidaUnavailable):
            # Never reached Mida: nothing changed, nothing to read back.
            return _failure(translate(err, test_id=change.test_id, action=change.action), err), RequestStatus.FAILED
        if isinstance(err, mida.MidaConflict | mida.MidaOutcomeUnknown | mida.MidaServerError):
            try:
                state = await self._experiments.evidence(ws, change.test_id)
            except mida.MidaError:
                state = None
            if state is not None and applied(change, state):
                return (
                    Outcome(ok=True, mida_status=err.status, state_after=state, reconciled=True),
                    RequestStatus.SUCCEEDED,
                )
            if isinstance(err, mida.MidaConflict):
                if state is not None and changed_since(request.evidence, state):
                    return (
                        _superseded(state, f"Mida answered: {err.message}", status=err.status),
                        RequestStatus.SUPERSEDED,
                    )
                return _failure(ExperimentConflict(change.action, err.message, state), err), RequestStatus.FAILED
            # The write may have reached Mida; the read-back (if any) says what is true now.
            down = MidaDown(err.message, maybe_applied=True, state=state)
            return _failure(down, err, reconciled=state is not None), RequestStatus.FAILED
        return _failure(translate(err, test_id=change.test_id, action=change.action), err), RequestStatus.FAILED

    async def _settle_by_reading_back(
        self,
        ws: Workspace,
        request: ChangeRequest,
        problem: AnswerProblem,
        detail: str,
        *,
        status: int | None,
        body: dict[str, object] | None,
    ) -> tuple[Outcome, RequestStatus]:
        """Mida's 2xx answer cannot be trusted: what the experiment is now decides the outcome.
        Succeeded only when the change is seen applied; failed otherwise, also when it cannot be read."""
        try:
            state: Evidence | None = await self._experiments.evidence(ws, request.change.test_id)
        except mida.MidaError:
            state = None
        is_applied = state is not None and applied(request.change, state)
        outcome = Outcome(
            ok=is_applied,
            mida_status=status,
            mida_body=body,
            failure=None if is_applied else Failure(kind=_ANSWER_FAILURE[problem], message=detail, status=status),
            state_after=state,
            reconciled=state is not None,
            answer_problem=problem,
            answer_detail=detail,
        )
        log.warning(
            "Mida's answer to a write could not be trusted; read back",
            extra={
                "request": request.id,
                "problem": problem.value,
                "applied": is_applied,
                "read_back": state is not None,
            },
        )
        return outcome, RequestStatus.SUCCEEDED if is_applied else RequestStatus.FAILED


_ANSWER_FAILURE = {
    AnswerProblem.UNREADABLE: FailureKind.ANSWER_UNREADABLE,
    AnswerProblem.CONTRADICTS: FailureKind.ANSWER_CONTRADICTS,
}


def _failure(err: BotError, mida_err: mida.MidaError | None = None, *, reconciled: bool = False) -> Outcome:
    return Outcome(
        ok=False,
        mida_status=mida_err.status if mida_err is not None else None,
        mida_body={"error": mida_err.message} if mida_err is not None and mida_err.status else None,
        failure=err.failure,
        state_after=err.state,
        reconciled=reconciled,
    )


def _superseded(state: Evidence, message: str, *, status: int | None = None) -> Outcome:
    return Outcome(
        ok=False,
        mida_status=status,
        failure=Failure(kind=FailureKind.SUPERSEDED, message=message, status=status),
        state_after=state,
        reconciled=True,
    )
