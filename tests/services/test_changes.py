"""The change workflow without a single Slack payload: real Redis, the Mida sandbox over HTTP, and a
notifier that records what it was told."""

from __future__ import annotations

import time

import pytest
from cryptography.fernet import Fernet

from bot.domain import (
    Action,
    ApprovalMode,
    Change,
    ChangeRequest,
    Person,
    ChannelRules,
    Origin,
    Region,
    RequestStatus,
    TeamRef,
    Workspace,
)
from bot.mida.client import MidaClient, RetryPolicy, Timeouts
from bot.mida.models import ExperimentResult
from bot.services.access import Access
from bot.domain import Decision
from bot.services.changes.decisions import DecisionService
from bot.services.changes.drafts import DraftService
from bot.services.changes.execution import ExecutionDeferred, ExecutionService
from bot.services.changes.intake import ChangeIntake
from bot.services.errors import ExperimentConflict, InvalidInput, NotAllowed, NotAMember
from bot.services.experiments import ExperimentService
from bot.services.followups import FollowupService
from bot.services.guardrails import Guardrails
from bot.services.ports import Profile
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.drafts import DraftStore
from bot.store.followups import FollowupStore
from bot.store.jobs import JobQueue
from bot.store.rules import RulesStore
from bot.store.schedule import EXPIRE, FOLLOWUP, RAMP, Schedule
from bot.store.ramps import RampStore
from bot.services.changes.ramps import RampService
from bot.services.watches import WatchService, WatchTimings
from bot.store.watches import WatchStore
from bot.services.scheduler import Scheduler
from bot.store.requests import RequestStore
from bot.store.results_cache import ResultsCache
from bot.store.workspaces import WorkspaceStore
from standins.sandbox import API_KEY, PROJECT_KEY

TEAM = TeamRef(team_id="T1")
ALICE = Person(user_id="UA", team_id="T1")
BOB = Person(user_id="UB", team_id="T1")
CAROL = Person(user_id="UC", team_id="T1")


class RecordingNotifier:
    def __init__(self) -> None:
        self.updates: list[RequestStatus] = []
        self.followups: list[tuple[str, float]] = []
        self.ramps: list[str] = []

    async def request_updated(self, request: ChangeRequest) -> None:
        self.updates.append(request.status)

    async def followup(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None:
        self.followups.append((request.id, hours))

    async def watch_alert(self, watch, alert) -> None:
        self.ramps.append(alert.kind)

    async def ramp_updated(self, ramp) -> None:
        self.ramps.append(ramp.state.value)

    async def ramp_note(self, ramp, kind, words, post) -> None:
        self.ramps.append(kind)


OUTSIDER = Person(user_id="UX", team_id="T9")  # Slack Connect: a member of another organisation


class Directory:
    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return Profile(user_id=user_id, team_id="T9" if user_id == OUTSIDER.user_id else team.team_id)

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return {"UC"} if group_id == "S1" else set()


class World:
    def __init__(self, redis, sandbox) -> None:
        self.redis = redis
        self.sandbox = sandbox
        self.mida = MidaClient(
            sandbox.api_url, timeouts=Timeouts(read=1.0, total=3.0), retry=RetryPolicy(attempts=2, backoff=0.01)
        )
        self.workspaces = WorkspaceStore(redis, SecretBox([Fernet.generate_key().decode()]))
        self.rules = RulesStore(redis)
        self.requests = RequestStore(redis)
        self.audit = AuditLog(redis)
        self.jobs = JobQueue(redis, consumer="test")
        self.notifier = RecordingNotifier()
        self.experiments = experiments = ExperimentService(self.workspaces, self.mida)
        schedule = Schedule(redis)
        self.followups = FollowupService(
            FollowupStore(redis, schedule), experiments, self.requests, self.rules, self.notifier
        )
        access = Access(self.rules, Directory())
        self.intake = ChangeIntake(
            experiments=experiments,
            requests=self.requests,
            rules=self.rules,
            access=access,
            audit=self.audit,
            jobs=self.jobs,
            notifier=self.notifier,
        )
        self.drafting = DraftService(
            experiments=experiments, drafts=DraftStore(redis), guardrails=Guardrails(self.rules), intake=self.intake,
            ramps=RampStore(redis),
        )
        self.decisions = DecisionService(
            requests=self.requests, rules=self.rules, access=access, audit=self.audit, jobs=self.jobs,
            notifier=self.notifier,
        )
        self.ramps = RampService(
            ramps=RampStore(redis),
            schedule=schedule,
            requests=self.requests,
            experiments=experiments,
            rules=self.rules,
            access=access,
            audit=self.audit,
            intake=self.intake,
            notifier=self.notifier,
        )
        self.watches = WatchService(
            store=WatchStore(redis),
            schedule=schedule,
            experiments=experiments,
            requests=self.requests,
            rules=self.rules,
            ramps=self.ramps,
            notifier=self.notifier,
            timings=WatchTimings(interval=900, after_serve_hours=168, unreachable_after=3600, reads_per_minute=60, watch_all_limit=50),
        )
        self.execution = ExecutionService(
            experiments=experiments,
            requests=self.requests,
            audit=self.audit,
            notifier=self.notifier,
            followups=self.followups,
            results_cache=ResultsCache(redis),
            ramps=self.ramps,
            watches=self.watches,
            rules=self.rules,
        )
        self.scheduler = Scheduler(schedule)
        self.scheduler.register(EXPIRE, self.decisions.expire_scheduled)
        self.scheduler.register(FOLLOWUP, self.followups.run_scheduled)
        self.scheduler.register(RAMP, self.ramps.run_scheduled)

    async def connect(self, policy: ChannelRules | None = None) -> None:
        await self.jobs.ensure_group()
        await self.workspaces.save(
            Workspace(team=TEAM, project_key=PROJECT_KEY, region=Region.US, api_key=API_KEY, connected_by=ALICE, connected_at=0)
        )
        await self.rules.save(TEAM, None, policy or ChannelRules(), [])

    async def request(self, change: Change, *, by: Person = ALICE, rollout: str | None = None, reason: str = "ok") -> ChangeRequest:
        draft = await self.drafting.open_draft(TEAM, by, "C1", change)
        draft, _ = await self.drafting.prepare(TEAM, draft.id, "V1")
        text = rollout if rollout is not None else (f"{draft.rollout:g}" if draft.rollout is not None else None)
        return await self.drafting.submit(TEAM, draft.id, by, variant_id=draft.variant_id, rollout_text=text, reason=reason)

    def serve_writes(self) -> list[dict]:
        return [w for w in self.sandbox.writes() if w["path"].endswith("/serve-winner")]

    async def events(self) -> list[str]:
        return [e.event.value for e in reversed(await self.audit.recent(TEAM, limit=100))]


@pytest.fixture
async def world(redis, mida_sandbox):
    w = World(redis, mida_sandbox)
    yield w
    await w.mida.aclose()


@pytest.mark.parametrize(
    ("mode", "change", "needs"),
    [
        (ApprovalMode.OFF, Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=20), False),
        (ApprovalMode.SERVING_AND_INCREASES, Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=20), True),
        (ApprovalMode.SERVING_AND_INCREASES, Change(action=Action.UPDATE_ROLLOUT, test_id=1237, rollout=80), True),
        (ApprovalMode.SERVING_AND_INCREASES, Change(action=Action.UPDATE_ROLLOUT, test_id=1237, rollout=20), False),
        (ApprovalMode.SERVING_AND_INCREASES, Change(action=Action.STOP_SERVING, test_id=1237), False),
        (ApprovalMode.EVERY_CHANGE, Change(action=Action.STOP_SERVING, test_id=1237), True),
    ],
)
async def test_the_policy_decides_what_needs_approval(world, mode, change, needs):
    await world.connect(ChannelRules(mode=mode, min_days_running=0, min_visitors_per_variant=0))
    request = await world.request(change)
    assert (request.status is RequestStatus.PENDING) is needs
    assert request.approvals_needed == (1 if needs else 0)
    queued = [job.request_id for job in await world.jobs.next_batch(block_ms=10) if job.kind == "execute"]
    assert queued == ([] if needs else [request.id])  # only requests needing no approval go straight to the queue


async def test_n_distinct_non_requester_approvals_then_exactly_one_execution(world):
    await world.connect(ChannelRules(approvals_needed=2))
    request = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))

    assert (await world.decisions.approve(TEAM, request.id, ALICE)).decision is Decision.OWN_REQUEST
    assert (await world.decisions.approve(TEAM, request.id, BOB)).decision is Decision.RECORDED
    assert (await world.decisions.approve(TEAM, request.id, BOB)).decision is Decision.ALREADY_APPROVED
    assert (await world.decisions.approve(TEAM, request.id, CAROL)).decision is Decision.APPROVED
    jobs = await world.jobs.next_batch(block_ms=10)
    assert [(j.request_id, j.kind) for j in jobs] == [(request.id, "announce"), (request.id, "execute")]

    first = await world.execution.execute(TEAM, request.id)
    again = await world.execution.execute(TEAM, request.id)
    assert first.status is again.status is RequestStatus.SUCCEEDED
    assert len(world.serve_writes()) == 1
    assert world.serve_writes()[0]["json"] == {"variant_id": "1", "traffic_allocation": 25}
    assert (await world.events())[-4:] == ["requested", "approved", "approved", "executed"]
    assert world.notifier.updates[-1] is RequestStatus.SUCCEEDED


async def test_approvers_from_a_user_group(world):
    await world.connect(ChannelRules(approver_group="S1"))
    request = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    assert (await world.decisions.approve(TEAM, request.id, BOB)).decision is Decision.NOT_APPROVER
    assert (await world.decisions.approve(TEAM, request.id, CAROL)).decision is Decision.APPROVED


async def test_submit_validates_and_records_nothing_on_bad_values(world):
    await world.connect()
    draft = await world.drafting.open_draft(TEAM, ALICE, "C1", Change(action=Action.SERVE_WINNER, test_id=1234))
    draft, _ = await world.drafting.prepare(TEAM, draft.id, "V1")
    for variant, rollout, field in [("1", "150", "rollout"), ("9", "50", "variant"), (None, "50", "variant")]:
        with pytest.raises(InvalidInput) as err:
            await world.drafting.submit(TEAM, draft.id, ALICE, variant_id=variant, rollout_text=rollout, reason="r")
        assert err.value.field == field
    with pytest.raises(NotAllowed):
        await world.drafting.submit(TEAM, draft.id, BOB, variant_id="1", rollout_text="50", reason="r")
    assert await world.events() == []
    request = await world.drafting.submit(TEAM, draft.id, ALICE, variant_id="1", rollout_text="50", reason="r")
    with pytest.raises(InvalidInput):  # the same modal submitted twice
        await world.drafting.submit(TEAM, draft.id, ALICE, variant_id="1", rollout_text="50", reason="r")
    assert request.status is RequestStatus.PENDING


async def test_guardrails_require_a_reason(world):
    await world.connect()  # defaults: 7 days, 100 visitors and 25 conversions per variant, 5 % risk
    draft = await world.drafting.open_draft(TEAM, ALICE, "C1", Change(action=Action.SERVE_WINNER, test_id=1239))
    draft, warnings = await world.drafting.prepare(TEAM, draft.id, "V1")
    assert {w.code for w in warnings} == {"below_threshold", "risky", "low_sample", "too_early"}
    assert not any(w.blocks for w in warnings)
    assert any("running 2 days (at least 7)" in w.words for w in warnings)
    with pytest.raises(InvalidInput) as err:
        await world.drafting.submit(TEAM, draft.id, ALICE, variant_id=draft.variant_id, rollout_text="10", reason="")
    assert err.value.field == "reason" and err.value.message == "Give a reason to serve despite the warnings above."
    request = await world.drafting.submit(TEAM, draft.id, ALICE, variant_id=draft.variant_id, rollout_text="10", reason="CEO asked")
    assert request.overrides == warnings


async def test_a_block_needs_a_reason_which_is_recorded_as_an_override(world):
    await world.connect()
    draft = await world.drafting.open_draft(TEAM, ALICE, "C1", Change(action=Action.SERVE_WINNER, test_id=1244, variant_id="1"))
    draft, warnings = await world.drafting.prepare(TEAM, draft.id, "V1")
    assert [(w.code, w.level.value) for w in warnings] == [("srm", "block")]
    assert "Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %." in warnings[0].words
    with pytest.raises(InvalidInput) as err:
        await world.drafting.submit(TEAM, draft.id, ALICE, variant_id="1", rollout_text="10", reason="  ")
    assert err.value.field == "reason" and err.value.message.startswith("This is blocked (sample ratio mismatch): write why")
    assert await world.events() == []  # nothing recorded
    request = await world.drafting.submit(TEAM, draft.id, ALICE, variant_id="1", rollout_text="10", reason="Bot traffic")
    assert [o.code for o in request.overrides] == ["srm"] and request.overrides[0].blocks
    (entry,) = await world.audit.recent(TEAM, limit=1)
    assert entry.detail["blocks_overridden"] == ["srm"] and entry.reason == "Bot traffic"
    assert entry.detail["overrides"][0]["level"] == "block"


async def test_serving_a_loser_blocks_and_channel_thresholds_decide_the_warnings(world):
    await world.connect(ChannelRules(min_days_running=30))
    draft = await world.drafting.open_draft(TEAM, ALICE, "C1", Change(action=Action.SERVE_WINNER, test_id=1243, variant_id="1"))
    _, warnings = await world.drafting.prepare(TEAM, draft.id, "V1")
    assert [(w.code, w.level.value) for w in warnings] == [("loser", "block"), ("too_early", "warn")]
    await world.rules.save(TEAM, "C1", ChannelRules(min_days_running=0), [])  # this channel's own rules
    _, warnings = await world.drafting.select_variant(TEAM, draft.id, "1")
    assert [w.code for w in warnings] == ["loser"]


async def test_prepare_refuses_what_mida_would_refuse(world):
    await world.connect()
    for change in (
        Change(action=Action.SERVE_WINNER, test_id=1236),  # draft
        Change(action=Action.SERVE_WINNER, test_id=1237),  # already serving
        Change(action=Action.STOP_SERVING, test_id=1234),  # not serving
    ):
        draft = await world.drafting.open_draft(TEAM, ALICE, "C1", change)
        with pytest.raises(ExperimentConflict) as err:
            await world.drafting.prepare(TEAM, draft.id, "V1")
        assert err.value.state is not None


async def test_pending_requests_expire_once(world):
    await world.connect(ChannelRules(expiry_hours=1))
    change = Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25)
    requests = [await world.request(change) for _ in range(3)]

    assert await world.scheduler.run_due(now=time.time() + 60) == 0
    assert await world.scheduler.run_due(now=time.time() + 3601) == 3
    assert await world.scheduler.run_due(now=time.time() + 3601) == 0
    assert {(await world.requests.get(TEAM, r.id)).status for r in requests} == {RequestStatus.EXPIRED}
    assert (await world.decisions.approve(TEAM, requests[0].id, BOB)).decision is Decision.EXPIRED
    assert (await world.events()).count("expired") == 3
    assert world.serve_writes() == []


async def test_reject_and_cancel(world):
    await world.connect()
    change = Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25)
    one, two = await world.request(change), await world.request(change)
    assert (await world.decisions.reject(TEAM, one.id, ALICE, "no")).decision is Decision.OWN_REQUEST
    assert (await world.decisions.reject(TEAM, one.id, BOB, "not yet")).decision is Decision.REJECTED
    assert (await world.decisions.cancel(TEAM, two.id, BOB)).decision is Decision.NOT_REQUESTER
    assert (await world.decisions.cancel(TEAM, two.id, ALICE)).decision is Decision.CANCELLED
    assert (await world.decisions.approve(TEAM, one.id, CAROL)).decision is Decision.FINISHED
    assert (await world.decisions.approve(TEAM, two.id, CAROL)).decision is Decision.FINISHED
    assert (await world.requests.get(TEAM, one.id)).reject_reason == "not yet"
    assert world.serve_writes() == []


async def test_a_lost_answer_is_reconciled_by_reading_back_never_by_posting_again(world):
    await world.connect(ChannelRules(mode=ApprovalMode.OFF))
    request = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    world.sandbox.fault(path_contains="serve-winner", drop="after_apply", times=1)
    done = await world.execution.execute(TEAM, request.id)
    assert done.status is RequestStatus.SUCCEEDED and done.outcome.reconciled
    assert len(world.serve_writes()) == 1


async def test_a_write_that_never_reached_mida_is_a_failure_with_nothing_changed(world):
    await world.connect(ChannelRules(mode=ApprovalMode.OFF))
    request = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    world.sandbox.fault(path_contains="serve-winner", drop="before_apply", times=1)
    done = await world.execution.execute(TEAM, request.id)
    assert done.status is RequestStatus.FAILED
    assert world.sandbox.experiment(1234)["serving_variant_id"] is None
    assert len(world.serve_writes()) == 1


async def test_recovering_a_request_left_executing_by_a_dead_process(world):
    await world.connect(ChannelRules(mode=ApprovalMode.OFF))
    applied = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    not_applied = await world.request(Change(action=Action.STOP_SERVING, test_id=1237))
    for request in (applied, not_applied):
        await world.requests.transition(TEAM, request.id, RequestStatus.EXECUTING, expected={RequestStatus.APPROVED})
    # The dead process's write for the first one reached Mida; the second one's never left.
    world.sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=25)

    first = await world.execution.execute(TEAM, applied.id, recovering=True)
    assert first.status is RequestStatus.SUCCEEDED and first.outcome.reconciled
    assert world.serve_writes() == []  # found done: nothing posted again

    second = await world.execution.execute(TEAM, not_applied.id, recovering=True)
    assert second.status is RequestStatus.SUCCEEDED and not second.outcome.reconciled
    assert [w["path"].rsplit("/", 1)[1] for w in world.sandbox.writes()] == ["stop-serving"]

    # Mida unreadable while recovering: the outcome is not guessed; the job is retried later.
    third = await world.request(Change(action=Action.SERVE_WINNER, test_id=1238, variant_id="1", rollout=10))
    await world.requests.transition(TEAM, third.id, RequestStatus.EXECUTING, expected={RequestStatus.APPROVED})
    world.sandbox.fault(path_contains="/experiment/1238/result", status=503)
    with pytest.raises(ExecutionDeferred):
        await world.execution.execute(TEAM, third.id, recovering=True)
    assert (await world.requests.get(TEAM, third.id)).status is RequestStatus.EXECUTING


async def test_serving_schedules_followups_and_stopping_cancels_them(world):
    await world.connect(ChannelRules(mode=ApprovalMode.OFF, followup_hours=[1, 24]))
    served = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    await world.execution.execute(TEAM, served.id)
    followups = world.followups
    assert len(await followups.scheduled(TEAM, 1234)) == 2
    assert await world.scheduler.run_due(now=time.time() + 3601) == 1
    assert world.notifier.followups == [(served.id, 1.0)]

    stop = await world.request(Change(action=Action.STOP_SERVING, test_id=1234))
    await world.execution.execute(TEAM, stop.id)
    assert await followups.scheduled(TEAM, 1234) == []


async def test_a_click_on_an_approved_request_whose_job_was_lost_queues_it_again(world):
    await world.connect()
    request = await world.request(Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25))
    await world.requests.approve(TEAM, request.id, BOB, time.time())  # approved, but no job was queued
    assert [j.kind for j in await world.jobs.next_batch(block_ms=10)] == ["announce"]
    assert (await world.decisions.approve(TEAM, request.id, CAROL)).decision is Decision.FINISHED
    assert [j.request_id for j in await world.jobs.next_batch(block_ms=10)] == [request.id]
    await world.execution.execute(TEAM, request.id)
    await world.execution.execute(TEAM, request.id)
    assert len(world.serve_writes()) == 1


async def test_a_change_asked_for_without_the_modal_goes_through_the_same_rules(world):
    """`request_change` is the one way in: a caller other than the confirm modal (a button, a
    ramp step, an alert) gets the channel's approval rules, the audit entry with its origin and
    the queued card, and an unentitled requester is refused with nothing recorded."""
    await world.connect(ChannelRules(approvals_needed=1))
    evidence = await world.experiments.evidence(await world.experiments.workspace(TEAM), 1234)
    change = Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=30)

    request = await world.intake.request_change(
        team=TEAM, requester=ALICE, change=change, evidence=evidence, channel_id="C1", reason="numbers are in",
        origin=Origin.FOLLOWUP,
    )
    assert request.status is RequestStatus.PENDING and request.origin is Origin.FOLLOWUP
    entry = (await world.audit.recent(TEAM, limit=1))[0]
    assert entry.event.value == "requested" and entry.detail["origin"] == "followup"
    assert [(j.request_id, j.kind) for j in await world.jobs.next_batch(block_ms=10)] == [(request.id, "announce")]
    assert (await world.requests.get(TEAM, request.id)).origin is Origin.FOLLOWUP  # kept with the request

    with pytest.raises(NotAMember):
        await world.intake.request_change(
            team=TEAM, requester=OUTSIDER, change=change, evidence=evidence, channel_id="C1", origin=Origin.HOME
        )
    assert len(await world.audit.recent(TEAM, limit=100)) == 1


async def test_the_requester_is_checked_when_the_modal_opens(world):
    await world.connect()
    draft = await world.drafting.open_draft(TEAM, OUTSIDER, "C1", Change(action=Action.SERVE_WINNER, test_id=1234))
    with pytest.raises(NotAMember):
        await world.drafting.prepare(TEAM, draft.id, "V1")
