"""Deciding on a request: approve, reject, cancel, expire, and who may decide."""

from __future__ import annotations

import time

from bot.domain import AuditEvent, ChangeRequest, ClickResult, Decision, Person, RequestStatus, TeamRef
from bot.services.access import Access, Standing
from bot.services.changes.history import record
from bot.services.changes.intake import MAX_REASON
from bot.services.ports import Notifier
from bot.store.audit import AuditLog
from bot.store.jobs import JobQueue
from bot.store.requests import ApproveCode, RequestStore
from bot.store.rules import RulesStore

_NOT_A_MEMBER = {
    Standing.OTHER_ORG: Decision.OTHER_ORG,
    Standing.GUEST: Decision.GUEST,
    Standing.BOT: Decision.BOT,
    Standing.DEACTIVATED: Decision.DEACTIVATED,
    Standing.UNKNOWN: Decision.UNVERIFIED,
}

_APPROVE_DECISION = {
    ApproveCode.RECORDED: Decision.RECORDED,
    ApproveCode.APPROVED: Decision.APPROVED,
    ApproveCode.NOT_FOUND: Decision.NOT_FOUND,
    ApproveCode.NOT_PENDING: Decision.FINISHED,
    ApproveCode.EXPIRED: Decision.EXPIRED,
    ApproveCode.SELF_APPROVAL: Decision.OWN_REQUEST,
    ApproveCode.DUPLICATE: Decision.ALREADY_APPROVED,
}


class DecisionService:
    def __init__(
        self,
        *,
        requests: RequestStore,
        rules: RulesStore,
        access: Access,
        audit: AuditLog,
        jobs: JobQueue,
        notifier: Notifier,
    ) -> None:
        self._requests = requests
        self._rules = rules
        self._access = access
        self._audit = audit
        self._jobs = jobs
        self._notifier = notifier

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
        decision = _APPROVE_DECISION[result.code]
        if decision in (Decision.RECORDED, Decision.APPROVED):
            assert result.request is not None  # recorded on a request that exists
            await record(
                self._audit,
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
        rules = await self._rules.rules(team, request.channel_id)
        standing = await self._access.standing(team, rules, person.user_id)
        if standing is not Standing.MEMBER:
            return ClickResult(_NOT_A_MEMBER[standing], request)
        if not await self._access.may_approve(team, rules, request, person.user_id):
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
        await record(self._audit, AuditEvent.REJECTED, request, person, reason=text)
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
        await record(self._audit, AuditEvent.CANCELLED, request, person)
        await self._notifier.request_updated(updated)
        return ClickResult(Decision.CANCELLED, updated)

    async def expire_scheduled(self, payload: str, now: float) -> float | None:
        """Expire a pending request whose time is up (an `expire` schedule item); each expired
        request is audited and announced by exactly one process."""
        expired, again = await self._requests.settle_expiry(payload, now)
        if expired is not None:
            await record(self._audit, AuditEvent.EXPIRED, expired)
            await self._notifier.request_updated(expired)
        return again


def _is_expired(request: ChangeRequest) -> bool:
    return request.status is RequestStatus.EXPIRED or (
        request.expires_at is not None and request.expires_at <= time.time()
    )
