"""The one way a change is asked for: `ChangeIntake.request_change`.

Whatever a person used to ask (the confirm modal from a command, a Home tab or follow-up button;
next, ramp plans and alert buttons), the request is made here: the requester must be entitled,
the channel's rules decide whether it waits for approval, and it is recorded, audited and queued
in one place. Redis only, so it fits before an ack.
"""

from __future__ import annotations

import logging
import time

from bot.domain import (
    Action,
    AuditEvent,
    Change,
    ChangeRequest,
    ChannelRules,
    Evidence,
    Guardrail,
    Origin,
    Person,
    RampPlan,
    RequestStatus,
    TeamRef,
)
from bot.services.access import Access, Standing
from bot.services.changes.history import record
from bot.services.errors import InvalidInput, NotAMember
from bot.services.experiments import ExperimentService
from bot.services.ports import Notifier
from bot.store.audit import AuditLog
from bot.store.jobs import ANNOUNCE, JobQueue
from bot.store.keys import new_id
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore

log = logging.getLogger(__name__)

MAX_REASON = 2000


class ChangeIntake:
    def __init__(
        self,
        *,
        experiments: ExperimentService,
        requests: RequestStore,
        rules: RulesStore,
        access: Access,
        audit: AuditLog,
        jobs: JobQueue,
        notifier: Notifier,
    ) -> None:
        self._experiments = experiments
        self._requests = requests
        self._rules = rules
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._notifier = notifier

    async def require_entitled(self, team: TeamRef, channel_id: str, requester: Person) -> None:
        """Asking for a change is deciding on it when no approval is needed: the same people as
        for approving may ask (see `bot.services.access`)."""
        await self._require_standing(team, await self._rules.rules(team, channel_id), requester)

    async def _require_standing(self, team: TeamRef, rules: ChannelRules, requester: Person) -> None:
        standing = await self._access.standing(team, rules, requester.user_id)
        if standing is not Standing.MEMBER:
            raise NotAMember(standing.value)

    async def request_change(
        self,
        *,
        team: TeamRef,
        requester: Person,
        change: Change,
        evidence: Evidence,
        channel_id: str,
        reason: str = "",
        overrides: list[Guardrail] | None = None,
        origin: Origin,
        response_url: str | None = None,
        request_id: str | None = None,
        requester_checked: bool = False,
        plan: RampPlan | None = None,
        ramp_id: str | None = None,
        ramp_step: int | None = None,
    ) -> ChangeRequest:
        """Record a change under the rules of `channel_id` and queue its card (and its execution
        when no approval is needed).

        `evidence` is the snapshot the requester saw; `overrides` the guardrails they gave `reason`
        for (a block among them is an override of that check: the card and the audit say so).
        `request_id` makes a retried call idempotent (a confirm modal passes its draft id: one
        form, one request). `requester_checked` spares a second users.info when the
        caller checked the requester in this same flow (the modal, when it opened)."""
        reason = reason.strip()
        if len(reason) > MAX_REASON:
            raise InvalidInput("reason", f"Keep the reason under {MAX_REASON} characters.")
        rules = await self._rules.rules(team, channel_id)
        if not requester_checked:
            await self._require_standing(team, rules, requester)
        ws = await self._experiments.workspace(team)
        # A plan is approved once, as the increase it leads to.
        leads_to = change if plan is None else change.model_copy(update={"rollout": plan.final})
        needs_approval = rules.needs_approval(leads_to, evidence)
        now = time.time()
        request = ChangeRequest(
            id=request_id or new_id(),
            team=team,
            project_key=ws.project_key,
            region=ws.region,
            change=change,
            requester=requester,
            reason=reason,
            evidence=evidence,
            channel_id=channel_id,
            status=RequestStatus.PENDING if needs_approval else RequestStatus.APPROVED,
            approvals_needed=rules.approvals_needed if needs_approval else 0,
            created_at=now,
            expires_at=now + rules.expiry_hours * 3600 if needs_approval else None,
            overrides=list(overrides or []),
            response_url=response_url,
            origin=origin,
            plan=plan,
            ramp_id=ramp_id,
            ramp_step=ramp_step,
        )
        if not await self._requests.create(request):
            raise InvalidInput("reason", "This form was already submitted.")
        await record(
            self._audit,
            AuditEvent.REQUESTED,
            request,
            requester,
            reason=reason,
            evidence=evidence,
            detail={
                "approvals_needed": request.approvals_needed,
                "overrides": [o.model_dump(mode="json") for o in request.overrides],
                "blocks_overridden": [o.code for o in request.overrides if o.blocks],
                "origin": origin.value,
                **({"plan": plan.model_dump(mode="json")} if plan is not None else {}),
                **({"ramp": ramp_id, "step": ramp_step} if ramp_id is not None else {}),
            },
        )
        # The card is posted by whichever process works the queue, not by the one that must ack.
        await self._jobs.enqueue(team.key, request.id, ANNOUNCE)
        if not needs_approval:
            await self._jobs.enqueue(team.key, request.id)
        log.info(
            "change requested",
            extra={
                "team": team.key,
                "request": request.id,
                "action": change.action.value,
                "test_id": change.test_id,
                "origin": origin.value,
                **({"plan": plan.model_dump(mode="json")} if plan is not None else {}),
                **({"ramp": ramp_id, "step": ramp_step} if ramp_id is not None else {}),
            },
        )
        return request

    async def request_ramp_step(
        self, plan_request: ChangeRequest, index: int, rollout: float, evidence: Evidence
    ) -> ChangeRequest:
        """A later step of an approved ramp plan: approved already (by the plan's approvers), so
        queued straight for execution; it has no card of its own (the plan's card tells of it).
        Its id is derived from the plan and the step, so a step is asked for once whoever asks."""
        step_id = f"{plan_request.id}-{index}"
        request = ChangeRequest(
            id=step_id,
            team=plan_request.team,
            project_key=plan_request.project_key,
            region=plan_request.region,
            change=Change(action=Action.UPDATE_ROLLOUT, test_id=plan_request.change.test_id, rollout=rollout),
            requester=plan_request.requester,
            reason=plan_request.reason,
            evidence=evidence,
            channel_id=plan_request.channel_id,
            status=RequestStatus.APPROVED,
            approvals=plan_request.approvals,
            approvals_needed=0,
            created_at=time.time(),
            origin=Origin.RAMP_STEP,
            ramp_id=plan_request.id,
            ramp_step=index,
        )
        if await self._requests.create(request):
            await record(
                self._audit,
                AuditEvent.REQUESTED,
                request,
                None,
                evidence=evidence,
                detail={
                    "origin": Origin.RAMP_STEP.value,
                    "ramp": plan_request.id,
                    "step": index,
                    "approved_by": [a.approver.user_id for a in plan_request.approvals],
                },
            )
        else:
            existing = await self._requests.get(plan_request.team, step_id)
            assert existing is not None
            request = existing
        if request.status is RequestStatus.APPROVED:
            # Again after a crash between the record and the queue: only one execution can claim it.
            await self._jobs.enqueue(request.team.key, request.id)
        return request

    async def announce(self, team: TeamRef, request_id: str) -> None:
        """Post (or refresh) the request's card in its channel (the ANNOUNCE job)."""
        request = await self._requests.get(team, request_id)
        if request is not None:
            await self._notifier.request_updated(request)
