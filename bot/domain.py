"""The bot's vocabulary, shared by services, stores and views. Pure data: no I/O, no Slack.

- `Workspace`: a Slack workspace (team, maybe in an enterprise) and the Mida project it is connected to.
- `Person`: someone in Slack, known by user id (never by display name); the team id is recorded too.
- `Change`: what someone wants Mida to do (serve a winner, change the rollout, stop serving).
- `Evidence`: the experiment's numbers as they were when the change was asked for.
- `ChangeRequest`: a change on its way through approval and execution.
- `Outcome`: what Mida answered when the change was executed.
- `AuditEntry`: one line of the workspace's audit log.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.mida.models import ExperimentResult, ExperimentStatus, VariantResult


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Region(StrEnum):
    US = "us"
    EU = "eu"


class TeamRef(_Model):
    """Where a request comes from: the team, and the enterprise on Enterprise Grid."""

    model_config = ConfigDict(frozen=True)

    team_id: str
    enterprise_id: str | None = None

    @property
    def key(self) -> str:
        """The Redis hash tag body for this workspace's keys."""
        return f"{self.enterprise_id}:{self.team_id}" if self.enterprise_id else self.team_id


class Person(_Model):
    """Slack user ids are unique across workspaces (and across an Enterprise Grid organisation), so a
    person is their user id. `team_id` is the team the payload named, kept for the record: on Grid a
    click carries the person's home workspace while a slash command carries the one it ran in, so it
    takes no part in telling people apart."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    team_id: str

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Person):
            return NotImplemented
        return self.user_id == other.user_id

    def __hash__(self) -> int:
        return hash(self.user_id)


class Workspace(_Model):
    """A workspace connected to a Mida project. `api_key` is plaintext only in memory."""

    team: TeamRef
    project_key: str
    region: Region
    api_key: str = Field(repr=False)
    connected_by: Person
    connected_at: float

    @property
    def masked_key(self) -> str:
        return mask_secret(self.api_key)


def mask_secret(secret: str) -> str:
    return "••••" + secret[-4:] if len(secret) >= 8 else "••••"


class Action(StrEnum):
    SERVE_WINNER = "serve_winner"
    UPDATE_ROLLOUT = "update_rollout"
    STOP_SERVING = "stop_serving"

    @property
    def title(self) -> str:
        return {
            Action.SERVE_WINNER: "Serve winner",
            Action.UPDATE_ROLLOUT: "Change rollout",
            Action.STOP_SERVING: "Stop serving",
        }[self]


class Change(_Model):
    """What Mida is asked to do. `variant_id` only for serve_winner, `rollout` not for stop."""

    model_config = ConfigDict(frozen=True)

    action: Action
    test_id: int
    variant_id: str | None = None
    rollout: float | None = None


class Evidence(_Model):
    """A snapshot of Get Experiment Result, taken when the change was asked for."""

    test_id: int
    test_name: str
    status: ExperimentStatus
    days_running: int | None = None
    serving_variant_id: str | None = None
    is_serving: bool = False
    traffic_allocation: float | None = None
    variants: list[VariantResult] = Field(default_factory=list)
    taken_at: float = Field(default_factory=time.time)

    @classmethod
    def from_result(cls, result: ExperimentResult) -> Evidence:
        return cls(
            test_id=result.test_id,
            test_name=result.test_name,
            status=result.status,
            days_running=result.days_running,
            serving_variant_id=result.serving_variant_id,
            is_serving=result.serving,
            traffic_allocation=result.traffic_allocation,
            variants=list(result.variants),
        )

    def variant(self, variant_id: str | None) -> VariantResult | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        RequestStatus.SUCCEEDED,
        RequestStatus.FAILED,
        RequestStatus.REJECTED,
        RequestStatus.CANCELLED,
        RequestStatus.EXPIRED,
        RequestStatus.SUPERSEDED,
    }
)

# The only moves a request may make; the store enforces them atomically.
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(
        {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.EXPIRED}
    ),
    RequestStatus.APPROVED: frozenset({RequestStatus.EXECUTING}),
    RequestStatus.EXECUTING: frozenset(
        {RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.SUPERSEDED}
    ),
}


class Approval(_Model):
    approver: Person
    at: float


class AnswerProblem(StrEnum):
    """What was wrong with a 2xx answer to a write, which made the bot read the experiment back."""

    UNREADABLE = "unreadable"  # not JSON, or fields missing or of the wrong type
    CONTRADICTS = "contradicts"  # readable, but says something other than the change was made


class Outcome(_Model):
    """How an executed change ended. `mida_status`/`mida_body` are Mida's answer, when there was one.
    `answer_problem`/`answer_detail`: Mida's answer could not be trusted, so `ok` and `state_after`
    come from reading the experiment back."""

    ok: bool
    mida_status: int | None = None
    mida_body: dict[str, Any] | None = None
    error_kind: str | None = None
    error_message: str | None = None
    state_after: Evidence | None = None
    reconciled: bool = False
    answer_problem: AnswerProblem | None = None
    answer_detail: str | None = None
    at: float = Field(default_factory=time.time)


class ChangeRequest(_Model):
    id: str
    team: TeamRef
    project_key: str
    region: Region
    change: Change
    requester: Person
    reason: str = ""
    evidence: Evidence
    channel_id: str
    status: RequestStatus = RequestStatus.PENDING
    approvals_needed: int = 0
    approvals: list[Approval] = Field(default_factory=list)
    rejected_by: Person | None = None
    reject_reason: str | None = None
    created_at: float = Field(default_factory=time.time)
    expires_at: float | None = None
    outcome: Outcome | None = None
    message_ts: str | None = None
    response_url: str | None = None
    overrides: list[str] = Field(default_factory=list)

    @property
    def variant(self) -> VariantResult | None:
        return self.evidence.variant(self.change.variant_id)


class AuditEvent(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SETTINGS_CHANGED = "settings_changed"
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class AuditEntry(_Model):
    event: AuditEvent
    at: float = Field(default_factory=time.time)
    actor: Person | None = None
    request_id: str | None = None
    test_id: int | None = None
    change: Change | None = None
    reason: str | None = None
    evidence: Evidence | None = None
    outcome: Outcome | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    entry_id: str | None = None


class ApprovalMode(StrEnum):
    OFF = "off"
    SERVING_AND_INCREASES = "serving_and_increases"
    EVERY_CHANGE = "every_change"


class Policy(_Model):
    """A workspace's approval policy (or one channel's override of it)."""

    mode: ApprovalMode = ApprovalMode.SERVING_AND_INCREASES
    approvers: list[str] = Field(default_factory=list)
    approver_group: str | None = None
    approvals_needed: int = Field(default=1, ge=1, le=5)
    expiry_hours: float = Field(default=24, gt=0, le=24 * 30)
    audit_channel: str | None = None
    bot_admins: list[str] = Field(default_factory=list)
    # Single- and multi-channel guests may ask for, approve or reject changes (other organisations never).
    guests_may_approve: bool = False
    # Guardrails checked before serving a winner; failing one asks for a reason.
    min_days_running: int = Field(default=7, ge=0, le=365)
    min_visitors_per_variant: int = Field(default=100, ge=0, le=10_000_000)
    # When to post the post-deploy numbers in the card's thread, in hours after a winner is served.
    followup_hours: list[float] = Field(default_factory=lambda: [1.0, 24.0, 168.0], max_length=10)

    def needs_approval(self, change: Change, evidence: Evidence) -> bool:
        if self.mode is ApprovalMode.OFF:
            return False
        if self.mode is ApprovalMode.EVERY_CHANGE:
            return True
        if change.action is Action.SERVE_WINNER:
            return True
        if change.action is Action.UPDATE_ROLLOUT:
            current = evidence.traffic_allocation
            return current is None or (change.rollout or 0) > current
        return False


class Draft(_Model):
    """A confirm modal in progress: who opened it, where, for what. Kept in Redis for an hour;
    the modal carries only its id."""

    id: str
    team: TeamRef
    requester: Person
    channel_id: str
    action: Action
    test_id: int
    evidence: Evidence | None = None
    variant_id: str | None = None
    rollout: float | None = None
    response_url: str | None = None
    view_id: str | None = None


def parse_percent(text: str) -> float | None:
    """'25', '25%', ' 12.5 % ' → the number; None unless it is a finite number in 0–100."""
    cleaned = text.strip().removesuffix("%").strip()
    if not cleaned or len(cleaned) > 12 or not all(c in "0123456789." for c in cleaned):
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if 0 <= value <= 100 else None


def parse_test_id(text: str) -> int | None:
    """'1234' or '#1234' → 1234; None for anything else."""
    cleaned = text.strip().removeprefix("#")
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 12 or int(cleaned) == 0:
        return None
    return int(cleaned)
