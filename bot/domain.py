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

import itertools
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.mida.models import ExperimentMetrics, ExperimentResult, ExperimentStatus, VariantResult


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
    PAUSE_EXPERIMENT = "pause_experiment"
    RESUME_EXPERIMENT = "resume_experiment"

    @property
    def heading(self) -> str:
        return {
            Action.SERVE_WINNER: "Serve winner",
            Action.UPDATE_ROLLOUT: "Change rollout",
            Action.STOP_SERVING: "Stop serving",
            Action.PAUSE_EXPERIMENT: "Pause experiment",
            Action.RESUME_EXPERIMENT: "Resume experiment",
        }[self]

    @property
    def is_status_change(self) -> bool:
        """Update Experiment Status (pause, resume), not a change of what is served."""
        return self in (Action.PAUSE_EXPERIMENT, Action.RESUME_EXPERIMENT)

    @property
    def target_status(self) -> ExperimentStatus | None:
        return {
            Action.PAUSE_EXPERIMENT: ExperimentStatus.INACTIVE,
            Action.RESUME_EXPERIMENT: ExperimentStatus.LIVE,
        }.get(self)


class Change(_Model):
    """What Mida is asked to do. `variant_id` only for serve_winner, `rollout` not for stop."""

    model_config = ConfigDict(frozen=True)

    action: Action
    test_id: int
    variant_id: str | None = None
    rollout: float | None = None


class Origin(StrEnum):
    """Where a change was asked for: kept on the request and in its audit entry."""

    COMMAND = "command"  # /mida serve-winner | rollout | stop-serving
    HOME = "home"  # a button on the App Home tab
    FOLLOWUP = "followup"  # a button on a post-deploy follow-up
    RAMP = "ramp"  # a button on a ramp's plan card (advance now, abort and stop serving)
    RAMP_STEP = "ramp_step"  # a later step of an approved ramp plan, made by the bot when due
    ALERT = "alert"  # a button on a watch's alert


class RampPlan(_Model):
    """Serve a variant gradually: rollout `steps` (strictly increasing, 1–100), one every
    `interval_seconds`. Approved once, as the increase it leads to; changing it is a new request."""

    model_config = ConfigDict(frozen=True)

    steps: list[float] = Field(min_length=2, max_length=10)
    interval_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _increasing(self) -> RampPlan:
        if any(not 1 <= p <= 100 for p in self.steps):
            raise ValueError("every step is a rollout from 1 to 100")
        if any(b <= a for a, b in itertools.pairwise(self.steps)):
            raise ValueError("the steps must be strictly increasing")
        return self

    @property
    def final(self) -> float:
        return self.steps[-1]


class MetricCounts(_Model):
    variant_id: str
    visitors: int
    conversions: int


class SecondaryMetric(_Model):
    """One attached secondary metric with each variant's counts. `comparable` is False when Mida's
    results are not conversion counts (a sum of revenue, a fraction, more than the visitors): the
    bot then names the metric without figures rather than invent them."""

    key: str
    name: str
    counts: list[MetricCounts] = Field(default_factory=list)
    comparable: bool = True


class SecondaryMetrics(_Model):
    """Get Experiment Metrics as the statistics read it; `error` says why there is nothing when
    Mida did not answer (the primary evidence stands without it)."""

    metrics: list[SecondaryMetric] = Field(default_factory=list)
    error: str | None = None

    @classmethod
    def from_answer(cls, answer: ExperimentMetrics) -> SecondaryMetrics:
        out = []
        for n, definition in enumerate(answer.metric_definitions, start=1):
            counts, comparable = [], True
            for row in answer.metrics:
                value = row.results.get(n, 0.0)
                if not value.is_integer() or not 0 <= value <= row.total:
                    comparable = False
                counts.append(MetricCounts(variant_id=row.variant_id, visitors=row.total, conversions=int(value)))
            name = definition.label or f"Metric {n}"
            out.append(SecondaryMetric(key=definition.metric_key, name=name, counts=counts, comparable=comparable))
        return cls(metrics=out)


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
    # What the statistics need (bot/services/evidence.py); absent in snapshots stored before them,
    # which are then shown with their counts only.
    stats_engine: str | None = None
    confidence_threshold_percent: float | None = None
    is_mab: bool = False
    has_revenue: bool = False
    currency: str | None = None
    secondary: SecondaryMetrics | None = None  # read for a serve's decision; None when not read
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
            stats_engine=result.stats_engine,
            confidence_threshold_percent=result.confidence_threshold_percent,
            is_mab=result.is_mab,
            has_revenue=result.has_revenue,
            currency=result.currency,
        )

    def variant(self, variant_id: str | None) -> VariantResult | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)


class GuardrailLevel(StrEnum):
    BLOCK = "block"  # serving needs a typed reason, recorded as an override of this check
    WARN = "warn"  # serving needs a reason


class Guardrail(_Model):
    """One guardrail check that failed for a serve (STATS.md's table): `code` names the rule
    ("srm", "loser", "below_threshold", …), `words` say it to a person."""

    model_config = ConfigDict(frozen=True)

    code: str
    level: GuardrailLevel = GuardrailLevel.WARN
    words: str

    @property
    def blocks(self) -> bool:
        return self.level is GuardrailLevel.BLOCK


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
    # A pending request is superseded when the experiment changes in Mida before it is decided.
    RequestStatus.PENDING: frozenset(
        {
            RequestStatus.APPROVED,
            RequestStatus.REJECTED,
            RequestStatus.CANCELLED,
            RequestStatus.EXPIRED,
            RequestStatus.SUPERSEDED,
        }
    ),
    RequestStatus.APPROVED: frozenset({RequestStatus.EXECUTING}),
    RequestStatus.EXECUTING: frozenset({RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.SUPERSEDED}),
}


class Approval(_Model):
    approver: Person
    at: float


class AnswerProblem(StrEnum):
    """What was wrong with a 2xx answer to a write, which made the bot read the experiment back."""

    UNREADABLE = "unreadable"  # not JSON, or fields missing or of the wrong type
    CONTRADICTS = "contradicts"  # readable, but says something other than the change was made


class FailureKind(StrEnum):
    NOT_CONNECTED = "not_connected"
    NOT_ALLOWED = "not_allowed"
    ADMIN_ONLY = "admin_only"
    NOT_A_MEMBER = "not_a_member"  # `message` is the person's standing (bot.services.access.Standing)
    INVALID_INPUT = "invalid_input"
    RECONNECT_NEEDED = "reconnect_needed"  # Mida refused the API key (401)
    FORBIDDEN = "forbidden"  # 403
    STALE_EVIDENCE = "stale_evidence"  # the numbers changed materially since the request: not executed
    PLAN_LIMIT = "plan_limit"  # 403 on resuming: the plan's limit of live experiments per project
    UNKNOWN_EXPERIMENT = "unknown_experiment"  # 404
    CONFLICT = "conflict"  # the experiment's state does not allow the change (409, or the bot's own check)
    REJECTED = "rejected"  # 400 and other client errors
    RATE_LIMITED = "rate_limited"  # 429
    MIDA_DOWN = "mida_down"  # no answer, or 5xx
    UNREADABLE = "unreadable"  # a 2xx answer the bot could not use
    ANSWER_UNREADABLE = "answer_unreadable"  # a write's answer could not be read; read back: not applied
    ANSWER_CONTRADICTS = "answer_contradicts"  # a write's answer contradicted it; read back: not applied
    SUPERSEDED = "superseded"  # the experiment changed in Mida after the request
    STORE_UNAVAILABLE = "store_unavailable"  # Redis did not answer
    UNEXPECTED = "unexpected"


class Failure(_Model):
    """Why something did not happen, as a value: a kind and its fields (`bot.views.errors` words it).
    `message` is Mida's own text when `said_by_mida`, else the bot's detail."""

    model_config = ConfigDict(frozen=True)

    kind: FailureKind
    message: str = ""
    said_by_mida: bool = False
    status: int | None = None
    test_id: int | None = None
    action: Action | None = None
    maybe_applied: bool = False
    retry_after: float | None = None
    field: str | None = None


# Outcomes recorded before failures were values named the exception class; read them as values.
_LEGACY_KINDS = {
    "NotConnected": FailureKind.NOT_CONNECTED,
    "NotAllowed": FailureKind.NOT_ALLOWED,
    "AdminOnly": FailureKind.ADMIN_ONLY,
    "InvalidInput": FailureKind.INVALID_INPUT,
    "ReconnectNeeded": FailureKind.RECONNECT_NEEDED,
    "MidaUnauthorized": FailureKind.RECONNECT_NEEDED,
    "Forbidden": FailureKind.FORBIDDEN,
    "MidaForbidden": FailureKind.FORBIDDEN,
    "UnknownExperiment": FailureKind.UNKNOWN_EXPERIMENT,
    "MidaNotFound": FailureKind.UNKNOWN_EXPERIMENT,
    "ExperimentConflict": FailureKind.CONFLICT,
    "MidaConflict": FailureKind.CONFLICT,
    "MidaRejected": FailureKind.REJECTED,
    "MidaBadRequest": FailureKind.REJECTED,
    "MidaRateLimited": FailureKind.RATE_LIMITED,
    "MidaDown": FailureKind.MIDA_DOWN,
    "MidaServerError": FailureKind.MIDA_DOWN,
    "MidaUnavailable": FailureKind.MIDA_DOWN,
    "MidaOutcomeUnknown": FailureKind.MIDA_DOWN,
    "MidaBadResponse": FailureKind.UNREADABLE,
    "MidaUnreadable": FailureKind.UNREADABLE,
    "MidaAnswerUnreadable": FailureKind.ANSWER_UNREADABLE,
    "MidaAnswerContradicts": FailureKind.ANSWER_CONTRADICTS,
    "Superseded": FailureKind.SUPERSEDED,
    "StoreUnavailable": FailureKind.STORE_UNAVAILABLE,
}


def _legacy_failure(data: dict[str, Any]) -> Failure:
    name = data.pop("error_kind", None) or ""
    message = data.pop("error_message", None) or ""
    kind = _LEGACY_KINDS.get(name, FailureKind.UNEXPECTED)
    return Failure(
        kind=kind,
        message=message,
        said_by_mida=kind
        in (
            FailureKind.CONFLICT,
            FailureKind.REJECTED,
            FailureKind.RECONNECT_NEEDED,
            FailureKind.FORBIDDEN,
            FailureKind.UNKNOWN_EXPERIMENT,
        ),
        status=data.get("mida_status"),
        maybe_applied=name == "MidaOutcomeUnknown" or (kind is FailureKind.MIDA_DOWN and bool(data.get("state_after"))),
    )


class Outcome(_Model):
    """How an executed change ended. `mida_status`/`mida_body` are Mida's answer, when there was one;
    `failure` why it did not succeed. `answer_problem`/`answer_detail`: Mida's answer could not be
    trusted, so `ok` and `state_after` come from reading the experiment back."""

    ok: bool
    mida_status: int | None = None
    mida_body: dict[str, Any] | None = None
    failure: Failure | None = None
    state_after: Evidence | None = None
    reconciled: bool = False
    answer_problem: AnswerProblem | None = None
    answer_detail: str | None = None
    at: float = Field(default_factory=time.time)

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_failure(cls, data: Any) -> Any:
        if isinstance(data, dict) and "error_kind" in data:
            data = dict(data)
            if data.get("error_kind") or data.get("error_message"):
                data["failure"] = _legacy_failure(data)
            data.pop("error_kind", None)
            data.pop("error_message", None)
        return data


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
    overrides: list[Guardrail] = Field(default_factory=list)  # the checks the reason was given for
    origin: Origin = Origin.COMMAND
    # A ramp: `change` is its first step, `plan` the whole of it (see RampPlan).
    plan: RampPlan | None = None
    # A step of a ramp (or an "advance now"): the ramp's id and the step's index in its plan.
    ramp_id: str | None = None
    ramp_step: int | None = None

    @field_validator("overrides", mode="before")
    @classmethod
    def _legacy_overrides(cls, value: Any) -> Any:
        """Requests stored before guardrails had levels kept their warnings as plain sentences."""
        if isinstance(value, list):
            return [{"code": "warning", "words": v} if isinstance(v, str) else v for v in value]
        return value

    @property
    def variant(self) -> VariantResult | None:
        return self.evidence.variant(self.change.variant_id)


class RampState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self in (RampState.DONE, RampState.ABORTED)


class RampStepDone(_Model):
    index: int  # in the plan's steps
    rollout: float
    request_id: str
    at: float
    by: list[Person] = Field(default_factory=list)  # who the step is attributed to


class RampHold(_Model):
    """Why a ramp is paused, or waiting for numbers: a kind and its words."""

    kind: str  # regression | mismatch | no_data | drift | failed | person | not_connected
    words: str
    at: float = Field(default_factory=time.time)
    by: Person | None = None


class Ramp(_Model):
    """A ramp plan being carried out: its id is the plan request's id, its card that request's card."""

    id: str
    team: TeamRef
    test_id: int
    variant_id: str
    plan: RampPlan
    channel_id: str
    requester: Person
    approvers: list[Person] = Field(default_factory=list)
    state: RampState = RampState.RUNNING
    done: list[RampStepDone] = Field(default_factory=list)
    next_due: float | None = None
    waiting: RampHold | None = None  # too little post-deploy data to judge the next step, since
    hold: RampHold | None = None  # why it is paused (or aborted)
    advancing: str | None = None  # the request id of an "advance now" in flight
    created_at: float = Field(default_factory=time.time)

    @property
    def next_index(self) -> int | None:
        index = len(self.done)
        return index if index < len(self.plan.steps) else None

    @property
    def current_rollout(self) -> float | None:
        return self.done[-1].rollout if self.done else None


class Watch(_Model):
    """A channel watching an experiment: alerts are posted there (in a card's thread for the watch
    the bot starts itself after serving, which ends at `until`)."""

    team: TeamRef
    test_id: int
    channel_id: str
    by: Person | None = None  # None: started by the bot after serving
    created_at: float = Field(default_factory=time.time)
    thread_ts: str | None = None
    until: float | None = None

    @property
    def key(self) -> str:
        return f"{self.test_id}|{self.channel_id}" + (f"|{self.thread_ts}" if self.thread_ts else "")


class WatchAlert(_Model):
    """One thing a watch tells its channel: a kind, the words, and what the buttons act on."""

    kind: str  # winner | mismatch | regression | changed | unreachable | reachable
    test_id: int
    test_name: str = ""
    words: str
    variant_id: str | None = None  # the winner, for "winner"
    serving: bool = False
    project_key: str = ""  # for the "Open in Mida" link


class Decision(StrEnum):
    """What a click on a card did, for the private answer to the person who clicked."""

    RECORDED = "recorded"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    FINISHED = "finished"
    EXPIRED = "expired"
    OWN_REQUEST = "own_request"
    ALREADY_APPROVED = "already_approved"
    NOT_APPROVER = "not_approver"
    NOT_REQUESTER = "not_requester"
    # Not a member who may decide here (see `bot.services.access`).
    OTHER_ORG = "other_org"
    GUEST = "guest"
    BOT = "bot"
    DEACTIVATED = "deactivated"
    UNVERIFIED = "unverified"


@dataclass(frozen=True)
class ClickResult:
    """A click on a card and what it did (the request as it is now, if it exists)."""

    decision: Decision
    request: ChangeRequest | None


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
    RAMP_STARTED = "ramp_started"
    RAMP_STEP = "ramp_step"
    RAMP_PAUSED = "ramp_paused"
    RAMP_RESUMED = "ramp_resumed"
    RAMP_ABORTED = "ramp_aborted"
    RAMP_DONE = "ramp_done"


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


class ChannelRules(_Model):
    """The rules a change in a channel follows: who approves, how many, the guardrails, the follow-ups.
    A channel's own override replaces the workspace's defaults as a whole (`RulesStore.rules`)."""

    mode: ApprovalMode = ApprovalMode.SERVING_AND_INCREASES
    approvers: list[str] = Field(default_factory=list)
    approver_group: str | None = None
    approvals_needed: int = Field(default=1, ge=1, le=5)
    expiry_hours: float = Field(default=24, gt=0, le=24 * 30)
    audit_channel: str | None = None
    # Single- and multi-channel guests may ask for, approve or reject changes (other organisations never).
    guests_may_approve: bool = False
    # Guardrails checked before serving a winner (STATS.md's warn thresholds); failing one asks for a reason.
    min_days_running: int = Field(default=7, ge=0, le=365)
    min_visitors_per_variant: int = Field(default=100, ge=0, le=10_000_000)
    min_conversions_per_variant: int = Field(default=25, ge=0, le=10_000_000)
    risky_loss_percent: float = Field(default=5.0, gt=0, le=100)  # Bayesian expected loss that is "risky"
    # When to post the post-deploy numbers in the card's thread, in hours after a winner is served.
    followup_hours: list[float] = Field(default_factory=lambda: [1.0, 24.0, 168.0], max_length=10)

    def needs_approval(self, change: Change, evidence: Evidence) -> bool:
        if self.mode is ApprovalMode.OFF:
            return False
        if self.mode is ApprovalMode.EVERY_CHANGE:
            return True
        if change.action in (Action.SERVE_WINNER, Action.RESUME_EXPERIMENT):
            return True  # resuming sends visitors into the test again; pausing is the safe direction
        if change.action is Action.UPDATE_ROLLOUT:
            current = evidence.traffic_allocation
            return current is None or (change.rollout or 0) > current
        return False


class WorkspaceSettings(ChannelRules):
    """The workspace's own settings: its default rules for every channel, and who administers the bot."""

    bot_admins: list[str] = Field(default_factory=list)

    @property
    def defaults(self) -> ChannelRules:
        return ChannelRules.model_validate(self.model_dump(exclude={"bot_admins"}))


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
    origin: Origin = Origin.COMMAND
    plan: RampPlan | None = None
    # Set when `prepare` found the requester entitled to ask (see `ChangeIntake.request_change`).
    requester_checked: bool = False
    note: str | None = None  # shown in the form, e.g. that the variant named in the command is not one


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
