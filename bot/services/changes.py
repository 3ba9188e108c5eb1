"""Changes to what Mida serves: from the confirm modal, through approval, to exactly one execution.

A change becomes a `ChangeRequest` in Redis the moment it is submitted; from then on every step is
an atomic transition of that record (see `bot.store.requests`), and execution happens from the job
queue, so the request survives the process that accepted it.
"""

from __future__ import annotations

import logging
import time

from bot.domain import (
    Action,
    AnswerProblem,
    AuditEntry,
    AuditEvent,
    Change,
    ChangeRequest,
    ClickResult,
    Decision,
    Draft,
    Evidence,
    Failure,
    FailureKind,
    Outcome,
    Person,
    RequestStatus,
    TeamRef,
    Workspace,
    parse_percent,
)
from bot.mida import errors as mida
from bot.mida.models import ExperimentStatus, ServingState
from bot.services.access import Access, Standing
from bot.services.errors import (
    BotError,
    ExperimentConflict,
    InvalidInput,
    MidaDown,
    NotAllowed,
    NotAMember,
    NotConnected,
)
from bot.services.experiments import ExperimentService
from bot.services.followups import FollowupService
from bot.services.guardrails import Guardrails
from bot.services.mida_errors import translate
from bot.services.ports import Notifier
from bot.services.write_answers import contradictions, describe
from bot.store.audit import AuditLog
from bot.store.drafts import DraftStore
from bot.store.jobs import ANNOUNCE, JobQueue
from bot.store.keys import new_id
from bot.store.requests import ApproveCode, RequestStore
from bot.store.results_cache import ResultsCache
from bot.store.rules import RulesStore

log = logging.getLogger(__name__)

MAX_REASON = 2000


_NOT_A_MEMBER = {
    Standing.OTHER_ORG: Decision.OTHER_ORG,
    Standing.GUEST: Decision.GUEST,
    Standing.BOT: Decision.BOT,
    Standing.DEACTIVATED: Decision.DEACTIVATED,
    Standing.UNKNOWN: Decision.UNVERIFIED,
}


class ExecutionDeferred(Exception):
    """The outcome cannot be settled now (Mida unreadable while recovering); try the job later."""


class ChangeService:
    def __init__(
        self,
        *,
        experiments: ExperimentService,
        drafts: DraftStore,
        requests: RequestStore,
        rules: RulesStore,
        audit: AuditLog,
        access: Access,
        jobs: JobQueue,
        notifier: Notifier,
        guardrails: Guardrails,
        followups: FollowupService,
        results_cache: ResultsCache,
    ) -> None:
        self._experiments = experiments
        self._drafts = drafts
        self._requests = requests
        self._rules = rules
        self._audit = audit
        self._access = access
        self._jobs = jobs
        self._notifier = notifier
        self._guardrails = guardrails
        self._followups = followups
        self._results_cache = results_cache

    async def _record(
        self, event: AuditEvent, request: ChangeRequest, actor: Person | None = None, **fields: object
    ) -> None:
        """Append one step of a request's life to the workspace's audit log."""
        await self._audit.append(
            request.team,
            AuditEntry(
                event=event,
                actor=actor,
                request_id=request.id,
                test_id=request.change.test_id,
                change=request.change,
                **fields,  # type: ignore[arg-type]
            ),
        )

    # --- the confirm modal -------------------------------------------------------------------

    async def open_draft(
        self,
        team: TeamRef,
        requester: Person,
        channel_id: str,
        change: Change,
        response_url: str | None = None,
    ) -> Draft:
        """Start a confirm modal: Redis only, so it fits before views.open."""
        await self._experiments.workspace(team)
        draft = Draft(
            id=new_id(),
            team=team,
            requester=requester,
            channel_id=channel_id,
            action=change.action,
            test_id=change.test_id,
            variant_id=change.variant_id,
            rollout=change.rollout,
            response_url=response_url,
        )
        await self._drafts.put(draft)
        return draft

    async def prepare(self, team: TeamRef, draft_id: str, view_id: str | None) -> tuple[Draft, list[str]]:
        """Fetch the evidence for an open modal and choose the defaults it shows."""
        draft = await self._drafts.get(team, draft_id)
        if draft is None:
            raise InvalidInput("reason", "This form has expired. Run the command again.")
        # Asking for a change is deciding on it when no approval is needed: the same people as for
        # approving. Checked here, after the modal is open; the draft then binds the form to them.
        policy = await self._rules.rules(team, draft.channel_id)
        standing = await self._access.standing(team, policy, draft.requester.user_id)
        if standing is not Standing.MEMBER:
            raise NotAMember(standing.value)
        ws = await self._experiments.workspace(team)
        try:
            evidence = await self._experiments.evidence(ws, draft.test_id)
        except mida.MidaError as err:
            raise translate(err, test_id=draft.test_id) from None
        _check_state_fits(draft.action, evidence)

        notes: list[str] = []
        if draft.action is Action.SERVE_WINNER:
            if draft.variant_id is not None and evidence.variant(draft.variant_id) is None:
                ids = ", ".join(v.variant_id for v in evidence.variants)
                notes.append(f"Variant {draft.variant_id} is not one of this experiment's variants ({ids}); pick one.")
                draft.variant_id = None
            if draft.variant_id is None:
                draft.variant_id = _best_variant(evidence)
        if draft.rollout is None and draft.action is not Action.STOP_SERVING:
            draft.rollout = evidence.traffic_allocation if evidence.traffic_allocation is not None else 100.0
        draft.evidence = evidence
        draft.view_id = view_id
        await self._drafts.update(draft)
        return draft, notes + await self._warnings(team, draft)

    async def select_variant(self, team: TeamRef, draft_id: str, variant_id: str) -> tuple[Draft, list[str]]:
        draft = await self._drafts.get(team, draft_id)
        if draft is None or draft.evidence is None:
            raise InvalidInput("variant", "This form has expired. Run the command again.")
        if draft.evidence.variant(variant_id) is not None:
            draft.variant_id = variant_id
            await self._drafts.update(draft)
        return draft, await self._warnings(team, draft)

    async def _warnings(self, team: TeamRef, draft: Draft) -> list[str]:
        if draft.action is not Action.SERVE_WINNER or draft.evidence is None:
            return []
        return await self._guardrails.check(team, draft.channel_id, draft.evidence, draft.variant_id)

    async def submit(
        self,
        team: TeamRef,
        draft_id: str,
        submitter: Person,
        *,
        variant_id: str | None,
        rollout_text: str | None,
        reason: str | None,
    ) -> ChangeRequest:
        """Validate the modal and record the request. Fast (Redis only): runs before the ack, so
        a bad value comes back as an error on its field and nothing is recorded."""
        draft = await self._drafts.get(team, draft_id)
        if draft is None or draft.evidence is None:
            raise InvalidInput("reason", "This form has expired or was already submitted. Run the command again.")
        if draft.requester != submitter:
            raise NotAllowed("submit a form someone else opened")
        evidence = draft.evidence
        reason = (reason or "").strip()
        if len(reason) > MAX_REASON:
            raise InvalidInput("reason", f"Keep the reason under {MAX_REASON} characters.")

        rollout: float | None = None
        if draft.action is not Action.STOP_SERVING:
            rollout = parse_percent(rollout_text or "")
            if rollout is None:
                raise InvalidInput("rollout", "Enter a rollout between 0 and 100, like 25 or 25%.")
            if draft.action is Action.UPDATE_ROLLOUT and rollout == evidence.traffic_allocation:
                raise InvalidInput("rollout", f"The rollout is already {_pct(rollout)}; enter a different one.")
        chosen: str | None = None
        if draft.action is Action.SERVE_WINNER:
            chosen = (variant_id or "").strip() or None
            if chosen is None or evidence.variant(chosen) is None:
                raise InvalidInput("variant", "Choose one of the experiment's variants.")
            draft.variant_id = chosen
            warnings = await self._warnings(team, draft)
            if warnings and not reason:
                raise InvalidInput("reason", "Give a reason to serve despite the warnings above.")
        else:
            warnings = []

        change = Change(action=draft.action, test_id=draft.test_id, variant_id=chosen, rollout=rollout)
        ws = await self._experiments.workspace(team)
        policy = await self._rules.rules(team, draft.channel_id)
        needs_approval = policy.needs_approval(change, evidence)
        now = time.time()
        request = ChangeRequest(
            id=draft.id,  # one draft, one request: a second submit of the same modal is refused
            team=team,
            project_key=ws.project_key,
            region=ws.region,
            change=change,
            requester=submitter,
            reason=reason,
            evidence=evidence,
            channel_id=draft.channel_id,
            status=RequestStatus.PENDING if needs_approval else RequestStatus.APPROVED,
            approvals_needed=policy.approvals_needed if needs_approval else 0,
            created_at=now,
            expires_at=now + policy.expiry_hours * 3600 if needs_approval else None,
            overrides=warnings,
            response_url=draft.response_url,
        )
        if not await self._requests.create(request):
            raise InvalidInput("reason", "This form was already submitted.")
        await self._drafts.delete(team, draft.id)
        await self._record(
            AuditEvent.REQUESTED,
            request,
            submitter,
            reason=reason,
            evidence=evidence,
            detail={"approvals_needed": request.approvals_needed, "overrides": warnings},
        )
        # The card is posted by whichever process works the queue, not by the one that must ack.
        await self._jobs.enqueue(team.key, request.id, ANNOUNCE)
        if not needs_approval:
            await self._jobs.enqueue(team.key, request.id)
        log.info(
            "change requested",
            extra={"team": team.key, "request": request.id, "action": change.action.value, "test_id": change.test_id},
        )
        return request

    async def announce(self, team: TeamRef, request_id: str) -> None:
        """Post (or refresh) the request's card in its channel."""
        request = await self._requests.get(team, request_id)
        if request is not None:
            await self._notifier.request_updated(request)

    # --- clicks on the card ------------------------------------------------------------------

    async def approve(self, team: TeamRef, request_id: str, approver: Person) -> ClickResult:
        request = await self._requests.get(team, request_id)
        if request is not None and request.status is RequestStatus.APPROVED:
            # Approved but not yet executing: its job may have been lost with a Redis reply that
            # never came back. Queuing it again is harmless (only one execution can claim it).
            await self._jobs.enqueue(team.key, request_id)
        refusal = await self.check_decider(team, request, approver)
        if refusal is not None:
            return refusal
        assert request is not None
        result = await self._requests.approve(team, request_id, approver, time.time())
        decision = {
            ApproveCode.RECORDED: Decision.RECORDED,
            ApproveCode.APPROVED: Decision.APPROVED,
            ApproveCode.NOT_FOUND: Decision.NOT_FOUND,
            ApproveCode.NOT_PENDING: Decision.FINISHED,
            ApproveCode.EXPIRED: Decision.EXPIRED,
            ApproveCode.SELF_APPROVAL: Decision.OWN_REQUEST,
            ApproveCode.DUPLICATE: Decision.ALREADY_APPROVED,
        }[result.code]
        if decision in (Decision.RECORDED, Decision.APPROVED):
            assert result.request is not None  # recorded on a request that exists
            await self._record(
                AuditEvent.APPROVED,
                request,
                approver,
                detail={"approvals": len(result.request.approvals), "needed": request.approvals_needed},
            )
            if decision is Decision.APPROVED:
                await self._jobs.enqueue(team.key, request_id)
            await self._notifier.request_updated(result.request)
        return ClickResult(decision, result.request)

    async def may_decide(self, team: TeamRef, request_id: str, person: Person) -> ClickResult | None:
        """`check_decider` for a request known by its id."""
        return await self.check_decider(team, await self._requests.get(team, request_id), person)

    async def check_decider(self, team: TeamRef, request: ChangeRequest | None, person: Person) -> ClickResult | None:
        """Why `person` may not approve or reject `request`, or None when they may."""
        if request is None:
            return ClickResult(Decision.NOT_FOUND, None)
        if request.status is not RequestStatus.PENDING:
            return ClickResult(Decision.EXPIRED if _is_expired(request) else Decision.FINISHED, request)
        if person == request.requester:
            return ClickResult(Decision.OWN_REQUEST, request)
        policy = await self._rules.rules(team, request.channel_id)
        standing = await self._access.standing(team, policy, person.user_id)
        if standing is not Standing.MEMBER:
            return ClickResult(_NOT_A_MEMBER[standing], request)
        if not await self._access.may_approve(team, policy, request, person.user_id):
            return ClickResult(Decision.NOT_APPROVER, request)
        return None

    async def reject(self, team: TeamRef, request_id: str, person: Person, reason: str | None) -> ClickResult:
        request = await self._requests.get(team, request_id)
        refusal = await self.check_decider(team, request, person)
        if refusal is not None:
            return refusal
        assert request is not None
        text = (reason or "").strip()[:MAX_REASON] or None
        updated = await self._requests.transition(
            team,
            request_id,
            RequestStatus.REJECTED,
            expected={RequestStatus.PENDING},
            patch={"rejected_by": person.model_dump(), "reject_reason": text},
        )
        if updated is None:
            return ClickResult(Decision.FINISHED, await self._requests.get(team, request_id))
        await self._record(AuditEvent.REJECTED, request, person, reason=text)
        await self._notifier.request_updated(updated)
        return ClickResult(Decision.REJECTED, updated)

    async def cancel(self, team: TeamRef, request_id: str, person: Person) -> ClickResult:
        request = await self._requests.get(team, request_id)
        if request is None:
            return ClickResult(Decision.NOT_FOUND, None)
        if request.requester != person:
            return ClickResult(Decision.NOT_REQUESTER, request)
        updated = await self._requests.transition(
            team, request_id, RequestStatus.CANCELLED, expected={RequestStatus.PENDING}
        )
        if updated is None:
            return ClickResult(Decision.FINISHED, await self._requests.get(team, request_id))
        await self._record(AuditEvent.CANCELLED, request, person)
        await self._notifier.request_updated(updated)
        return ClickResult(Decision.CANCELLED, updated)

    async def expire_due(self, now: float | None = None) -> int:
        """Expire pending requests whose time is up (run by every process's sweeper; each expired
        request is handed to exactly one of them)."""
        expired = await self._requests.sweep_expired(time.time() if now is None else now)
        for request in expired:
            await self._record(AuditEvent.EXPIRED, request)
            await self._notifier.request_updated(request)
        return len(expired)

    # --- execution ---------------------------------------------------------------------------

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
        await self._record(
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
        await self._notifier.request_updated(finished)
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
        if _applied(change, current):
            if recovering:
                return Outcome(ok=True, state_after=current, reconciled=True), RequestStatus.SUCCEEDED
            return _superseded(current, "The experiment was already in this state in Mida."), RequestStatus.SUPERSEDED
        if _changed_since(request.evidence, current):
            return _superseded(
                current, "The experiment changed in Mida after this was requested."
            ), RequestStatus.SUPERSEDED

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
                state_after=_state_from_answer(current, answer),
            ),
            RequestStatus.SUCCEEDED,
        )

    async def _write(self, ws: Workspace, change: Change) -> ServingState:
        project = self._experiments.project(ws)
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
            if state is not None and _applied(change, state):
                return (
                    Outcome(ok=True, mida_status=err.status, state_after=state, reconciled=True),
                    RequestStatus.SUCCEEDED,
                )
            if isinstance(err, mida.MidaConflict):
                if state is not None and _changed_since(request.evidence, state):
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
        applied = state is not None and _applied(request.change, state)
        outcome = Outcome(
            ok=applied,
            mida_status=status,
            mida_body=body,
            failure=None if applied else Failure(kind=_ANSWER_FAILURE[problem], message=detail, status=status),
            state_after=state,
            reconciled=state is not None,
            answer_problem=problem,
            answer_detail=detail,
        )
        log.warning(
            "Mida's answer to a write could not be trusted; read back",
            extra={"request": request.id, "problem": problem.value, "applied": applied, "read_back": state is not None},
        )
        return outcome, RequestStatus.SUCCEEDED if applied else RequestStatus.FAILED


_ANSWER_FAILURE = {
    AnswerProblem.UNREADABLE: FailureKind.ANSWER_UNREADABLE,
    AnswerProblem.CONTRADICTS: FailureKind.ANSWER_CONTRADICTS,
}


def _is_expired(request: ChangeRequest) -> bool:
    return request.status is RequestStatus.EXPIRED or (
        request.expires_at is not None and request.expires_at <= time.time()
    )


def _check_state_fits(action: Action, evidence: Evidence) -> None:
    """Refuse early what Mida would refuse with a 409, with the state that explains it. The words
    are the bot's own: Mida was not asked."""
    if action is Action.SERVE_WINNER:
        if evidence.status is ExperimentStatus.DRAFT:
            raise ExperimentConflict(
                action, "The experiment is a draft and cannot serve a winner.", evidence, said_by_mida=False
            )
        if evidence.is_serving:
            raise ExperimentConflict(
                action, "The experiment is already serving a winner.", evidence, said_by_mida=False
            )
    elif not evidence.is_serving:
        raise ExperimentConflict(action, "The experiment is not serving a winner.", evidence, said_by_mida=False)


def _best_variant(evidence: Evidence) -> str | None:
    challengers = [v for v in evidence.variants if not v.is_control] or evidence.variants
    if not challengers:
        return None
    return max(challengers, key=lambda v: (v.conversion_rate, v.visitors)).variant_id


def _applied(change: Change, state: Evidence) -> bool:
    """Is the experiment already in the state this change asks for?"""
    if change.action is Action.STOP_SERVING:
        return not state.is_serving
    if not state.is_serving or state.traffic_allocation is None:
        return False
    if change.action is Action.SERVE_WINNER and state.serving_variant_id != change.variant_id:
        return False
    return abs(state.traffic_allocation - (change.rollout or 0)) < 1e-9


def _changed_since(before: Evidence, now: Evidence) -> bool:
    if before.is_serving != now.is_serving:
        return True
    if not now.is_serving:
        return False
    return before.serving_variant_id != now.serving_variant_id or before.traffic_allocation != now.traffic_allocation


def _state_from_answer(before: Evidence, answer: ServingState) -> Evidence:
    return before.model_copy(
        update={
            "serving_variant_id": answer.serving_variant_id if answer.is_serving else None,
            "is_serving": answer.is_serving,
            "traffic_allocation": answer.traffic_allocation
            if answer.traffic_allocation is not None
            else before.traffic_allocation,
            "taken_at": time.time(),
        }
    )


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


def _pct(value: float) -> str:
    return f"{value:g} %"
