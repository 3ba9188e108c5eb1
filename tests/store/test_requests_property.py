"""Random sequences of approve / reject / cancel / expire / execute against the real store on a real
Redis, checked step by step against a model of the state machine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from bot.domain import (
    FINAL_STATUSES,
    Action,
    Change,
    ChangeRequest,
    Evidence,
    Person,
    Region,
    RequestStatus,
    TeamRef,
)
from bot.mida.models import ExperimentStatus
from bot.services.scheduler import Scheduler
from bot.store.keys import DUE_SCHEDULE, index_member, new_id, ws_key
from bot.store.requests import ApproveCode, RequestStore
from bot.store.schedule import EXPIRE, Schedule

S = RequestStatus
USERS = ["U0", "U1", "U2", "U3", "U4"]
START = 1_700_000_000.0
APPROVED_OR_LATER = {S.APPROVED, S.EXECUTING, S.SUCCEEDED, S.FAILED, S.SUPERSEDED}


@dataclass
class Model:
    requester: str
    needed: int
    expires_at: float | None
    status: S = S.PENDING
    approvers: set[str] = field(default_factory=set)
    executions: int = 0
    approved: bool = False  # went through approved (a superseded request may never have)


class RequestMachine(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(self.redis_url, decode_responses=False)
        self.store = RequestStore(self.client)
        self.team = TeamRef(team_id="T" + new_id().replace("-", "x").replace("_", "y"), enterprise_id="E1")
        self.clock = START
        self.model: dict[str, Model] = {}
        self.final_seen: dict[str, S] = {}

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    requests = Bundle("requests")

    @rule(target=requests, requester=st.sampled_from(USERS), needed=st.integers(1, 3),
          ttl=st.none() | st.integers(1, 120))
    def create(self, requester, needed, ttl):
        expires_at = None if ttl is None else self.clock + ttl
        req = ChangeRequest(
            id=new_id(), team=self.team, project_key="p", region=Region.EU,
            change=Change(action=Action.UPDATE_ROLLOUT, test_id=1, rollout=50),
            requester=Person(user_id=requester, team_id="T1"),
            evidence=Evidence(test_id=1, test_name="t", status=ExperimentStatus.LIVE),
            channel_id="C1", approvals_needed=needed, created_at=self.clock, expires_at=expires_at,
        )
        assert self.run(self.store.create(req)) is True
        self.model[req.id] = Model(requester, needed, expires_at)
        return req.id

    def _expected_approve(self, m: Model, user: str) -> ApproveCode:
        if m.status is not S.PENDING:
            return ApproveCode.NOT_PENDING
        if m.expires_at is not None and self.clock >= m.expires_at:
            return ApproveCode.EXPIRED
        if user == m.requester:
            return ApproveCode.SELF_APPROVAL
        if user in m.approvers:
            return ApproveCode.DUPLICATE
        m.approvers.add(user)
        if len(m.approvers) >= m.needed:
            m.status = S.APPROVED
            return ApproveCode.APPROVED
        return ApproveCode.RECORDED

    @rule(rid=requests, user=st.sampled_from(USERS))
    def approve(self, rid, user):
        m = self.model[rid]
        result = self.run(self.store.approve(self.team, rid, Person(user_id=user, team_id="T1"), self.clock))
        assert result.code is self._expected_approve(m, user)
        assert result.request is not None and result.request.status is m.status

    @rule(rid=requests, users=st.lists(st.sampled_from(USERS), min_size=2, max_size=6))
    def concurrent_approvals(self, rid, users):
        m = self.model[rid]

        async def burst():
            return await asyncio.gather(*(
                self.store.approve(self.team, rid, Person(user_id=u, team_id="T1"), self.clock) for u in users))

        results = self.run(burst())
        counted = {u for u, r in zip(users, results) if r.counted}
        if m.status is not S.PENDING or (m.expires_at is not None and self.clock >= m.expires_at):
            assert not counted
            return
        fresh = {u for u in users if u != m.requester and u not in m.approvers}
        assert counted <= fresh
        assert len(counted) == min(len(fresh), m.needed - len(m.approvers))
        assert sum(r.code is ApproveCode.APPROVED for r in results) == (
            1 if len(m.approvers) + len(counted) >= m.needed else 0)
        m.approvers |= counted
        if len(m.approvers) >= m.needed:
            m.status = S.APPROVED

    def _move(self, rid, to, allowed_from, **kw):
        m = self.model[rid]
        got = self.run(self.store.transition(self.team, rid, to, **kw))
        if m.status in allowed_from:
            assert got is not None and got.status is to
            m.approved = m.approved or to is S.APPROVED or m.status is not S.PENDING
            m.status = to
        else:
            assert got is None
        return got

    @rule(rid=requests, user=st.sampled_from(USERS))
    def reject(self, rid, user):
        got = self._move(rid, S.REJECTED, {S.PENDING},
                         patch={"rejected_by": Person(user_id=user, team_id="T1"), "reject_reason": "no"})
        if got is not None:
            assert got.rejected_by.user_id == user

    @rule(rid=requests)
    def cancel(self, rid):
        self._move(rid, S.CANCELLED, {S.PENDING})

    @rule(rid=requests)
    def force_approve(self, rid):
        # pending -> approved by transition needs the quorum, which approve() would have completed
        self._move(rid, S.APPROVED, set())

    @rule(rid=requests)
    def expire(self, rid):
        m = self.model[rid]
        got = self.run(self.store.expire(self.team, rid, self.clock))
        due = m.status is S.PENDING and m.expires_at is not None and self.clock >= m.expires_at
        assert (got is not None) == due
        if due:
            m.status = S.EXPIRED

    @rule()
    def sweep(self):
        expected = {rid for rid, m in self.model.items()
                    if m.status is S.PENDING and m.expires_at is not None and self.clock >= m.expires_at}
        swept: list[ChangeRequest] = []

        async def expire(payload: str, now: float) -> float | None:
            expired, again = await self.store.settle_expiry(payload, now)
            if expired is not None:
                swept.append(expired)
            return again

        scheduler = Scheduler(Schedule(self.client))
        scheduler.register(EXPIRE, expire)
        self.run(scheduler.run_due(self.clock, limit=1000))
        mine = {r.id for r in swept if r.team == self.team}
        assert mine == expected
        for rid in mine:
            self.model[rid].status = S.EXPIRED

    @rule(rid=requests, attempts=st.integers(1, 5))
    def execute(self, rid, attempts):
        m = self.model[rid]

        async def burst():
            return await asyncio.gather(*(
                self.store.transition(self.team, rid, S.EXECUTING, expected={S.APPROVED}) for _ in range(attempts)))

        wins = sum(r is not None for r in self.run(burst()))
        assert wins == (1 if m.status is S.APPROVED else 0)
        if wins:
            m.status = S.EXECUTING
            m.executions += 1

    @rule(rid=requests, to=st.sampled_from([S.SUCCEEDED, S.FAILED, S.SUPERSEDED]))
    def finish(self, rid, to):
        # Superseded also while pending: the experiment changed in Mida before anyone decided.
        sources = {S.EXECUTING, S.PENDING} if to is S.SUPERSEDED else {S.EXECUTING}
        self._move(rid, to, sources, patch={"outcome": {"ok": to is S.SUCCEEDED}})

    @rule(rid=requests, to=st.sampled_from(list(S)))
    def anything(self, rid, to):
        allowed = {S.PENDING: {S.REJECTED, S.CANCELLED, S.EXPIRED, S.SUPERSEDED}, S.APPROVED: {S.EXECUTING},
                   S.EXECUTING: {S.SUCCEEDED, S.FAILED, S.SUPERSEDED}}
        sources = {src for src, targets in allowed.items() if to in targets}
        got = self._move(rid, to, sources)
        if got is not None and to is S.EXECUTING:
            self.model[rid].executions += 1

    @rule(seconds=st.integers(0, 60))
    def tick(self, seconds):
        self.clock += seconds

    @invariant()
    def store_matches_model(self):
        for rid, m in self.model.items():
            stored = self.run(self.store.get(self.team, rid))
            assert stored is not None
            assert stored.status is m.status
            approvers = [a.approver.user_id for a in stored.approvals]
            assert len(approvers) == len(set(approvers)) and set(approvers) == m.approvers
            assert m.requester not in approvers
            if stored.status in APPROVED_OR_LATER and (m.approved or stored.status is not S.SUPERSEDED):
                assert len(set(approvers)) >= stored.approvals_needed
            assert m.executions <= 1
            if rid in self.final_seen:
                assert stored.status is self.final_seen[rid]
            elif stored.status in FINAL_STATUSES:
                self.final_seen[rid] = stored.status
        pending = self.run(self.store.pending(self.team, limit=1000))
        assert {r.id for r in pending} == {rid for rid, m in self.model.items() if m.status is S.PENDING}

    def teardown(self):
        async def clean():
            keys = [ws_key(self.team, "pending")]
            for rid in self.model:
                keys += [ws_key(self.team, "req", rid), ws_key(self.team, "req", rid, "approvers")]
            await self.client.delete(*keys)
            if self.model:
                members = [f"{EXPIRE}|{index_member(self.team, rid)}" for rid in self.model]
                await self.client.zrem(DUE_SCHEDULE, *members)
            await self.client.aclose()

        self.run(clean())
        self.loop.close()


def test_request_state_machine(redis_url):
    RequestMachine.redis_url = redis_url
    run_state_machine_as_test(
        RequestMachine,
        settings=settings(max_examples=60, stateful_step_count=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
