import asyncio
import itertools
import math

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from bot.domain import (
    FINAL_STATUSES,
    TRANSITIONS,
    Action,
    Approval,
    Change,
    ChangeRequest,
    Evidence,
    Outcome,
    Person,
    Region,
    RequestStatus,
    TeamRef,
)
from bot.mida.models import ExperimentStatus, VariantResult
from bot.store.keys import DUE_SCHEDULE, new_id, ws_key
from bot.store.schedule import EXPIRE, Schedule
from bot.services.scheduler import Scheduler
from bot.store.requests import ApproveCode, RequestStore

TEAM = TeamRef(team_id="T1", enterprise_id="E1")
ALICE = Person(user_id="UALICE", team_id="T1")
BOB = Person(user_id="UBOB", team_id="T1")
CAROL = Person(user_id="UCAROL", team_id="T1")
DAVE = Person(user_id="UDAVE", team_id="T1")
NOW = 1_700_000_000.25
S = RequestStatus


def make_request(*, needed: int = 2, status: S = S.PENDING, expires_at: float | None = NOW + 3600,
                 requester: Person = ALICE, approvals: list[Approval] | None = None,
                 team: TeamRef = TEAM) -> ChangeRequest:
    evidence = Evidence(
        test_id=77, test_name="Checkout button", status=ExperimentStatus.LIVE, days_running=12,
        traffic_allocation=0.1, taken_at=NOW - 5,
        variants=[VariantResult(variant_id="0", name="Control", visitors=1000, conversions=100,
                                conversion_rate=0.1, is_control=True),
                  VariantResult(variant_id="1", name="Green", visitors=1003, conversions=131,
                                conversion_rate=0.13060817547357926, improvement=30.6)],
    )
    return ChangeRequest(
        id=new_id(), team=team, project_key="proj", region=Region.US,
        change=Change(action=Action.SERVE_WINNER, test_id=77, variant_id="1", rollout=100),
        requester=requester, reason="clear winner 🎉 \"quoted\"", evidence=evidence, channel_id="C1",
        status=status, approvals_needed=needed, approvals=approvals or [], created_at=NOW,
        expires_at=expires_at,
    )


async def created(store: RequestStore, **kw) -> ChangeRequest:
    req = make_request(**kw)
    assert await store.create(req) is True
    return req


# -- create / get ----------------------------------------------------------------------------


async def test_create_get_round_trip(redis):
    store = RequestStore(redis)
    req = await created(store)
    assert await store.get(TEAM, req.id) == req
    assert await store.get(TeamRef(team_id="T1"), req.id) is None  # other workspace
    assert await store.get(TEAM, "nope") is None


async def test_create_never_overwrites(redis):
    store = RequestStore(redis)
    req = await created(store)
    other = make_request(needed=5).model_copy(update={"id": req.id})
    assert await store.create(other) is False
    assert await store.get(TEAM, req.id) == req


async def test_create_indexes_pending_requests(redis):
    store = RequestStore(redis)
    soon = await created(store, expires_at=NOW + 10)
    late = await created(store, expires_at=NOW + 20)
    never = await created(store, expires_at=None)
    approved = await created(store, status=S.APPROVED, needed=0)
    assert [r.id for r in await store.pending(TEAM)] == [soon.id, late.id, never.id]
    assert await redis.zscore(ws_key(TEAM, "pending"), never.id) == math.inf
    assert await due_for_expiry(redis, NOW + 15) == [(TEAM.key, soon.id)]
    assert set(await due_for_expiry(redis, NOW + 1e9)) == {(TEAM.key, soon.id), (TEAM.key, late.id)}
    assert approved.id not in {r.id for r in await store.pending(TEAM)}


async def test_every_key_is_in_the_workspace_slot(redis):
    store = RequestStore(redis)
    req = await created(store)
    await store.approve(TEAM, req.id, BOB, NOW)
    keys = {k.decode() async for k in redis.scan_iter(match=b"*")}
    apart = {DUE_SCHEDULE, "mida:{E1}:workspaces"}  # the global schedule, and the org's index in the org's slot
    assert keys - apart and all(k.startswith("mida:{E1:T1}:") for k in keys - apart)


# -- approve ---------------------------------------------------------------------------------


async def test_approve_codes(redis):
    store = RequestStore(redis)
    req = await created(store, needed=2)

    r = await store.approve(TEAM, "missing", BOB, NOW)
    assert r.code is ApproveCode.NOT_FOUND and r.request is None

    r = await store.approve(TEAM, req.id, ALICE, NOW)
    assert r.code is ApproveCode.SELF_APPROVAL and r.request.approvals == []
    # the requester from another workspace of the same org is still the same person
    r = await store.approve(TEAM, req.id, Person(user_id=ALICE.user_id, team_id="T2"), NOW)
    assert r.code is ApproveCode.SELF_APPROVAL

    r = await store.approve(TEAM, req.id, BOB, NOW + 1)
    assert r.code is ApproveCode.RECORDED and r.counted and r.status is S.PENDING
    assert r.request.approvals == [Approval(approver=BOB, at=NOW + 1)]

    r = await store.approve(TEAM, req.id, BOB, NOW + 2)
    assert r.code is ApproveCode.DUPLICATE and not r.counted and len(r.request.approvals) == 1

    r = await store.approve(TEAM, req.id, CAROL, NOW + 3)
    assert r.code is ApproveCode.APPROVED and r.status is S.APPROVED
    assert r.request.approvals == [Approval(approver=BOB, at=NOW + 1), Approval(approver=CAROL, at=NOW + 3)]

    r = await store.approve(TEAM, req.id, DAVE, NOW + 4)
    assert r.code is ApproveCode.NOT_PENDING and r.status is S.APPROVED and len(r.request.approvals) == 2

    stored = await store.get(TEAM, req.id)
    assert stored == r.request
    assert stored.model_copy(update={"status": S.PENDING, "approvals": []}) == req
    assert await store.pending(TEAM) == []
    assert await due_for_expiry(redis, NOW + 1e9) == []


async def test_approve_completes_at_exactly_n(redis):
    store = RequestStore(redis)
    req = await created(store, needed=3)
    codes = [(await store.approve(TEAM, req.id, p, NOW)).code for p in (BOB, CAROL, DAVE)]
    assert codes == [ApproveCode.RECORDED, ApproveCode.RECORDED, ApproveCode.APPROVED]


async def test_approve_refused_once_expired_without_changing_status(redis):
    store = RequestStore(redis)
    req = await created(store, needed=1, expires_at=NOW + 60)
    r = await store.approve(TEAM, req.id, BOB, NOW + 60)  # now == expires_at counts as expired
    assert r.code is ApproveCode.EXPIRED and r.status is S.PENDING and r.request.approvals == []
    r = await store.approve(TEAM, req.id, BOB, NOW + 59.999)
    assert r.code is ApproveCode.APPROVED


async def test_approve_after_reject_is_not_pending(redis):
    store = RequestStore(redis)
    req = await created(store)
    assert await store.transition(TEAM, req.id, S.REJECTED, patch={"rejected_by": BOB}) is not None
    r = await store.approve(TEAM, req.id, CAROL, NOW)
    assert r.code is ApproveCode.NOT_PENDING and r.status is S.REJECTED


# -- transitions -----------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "to"), list(itertools.product(S, S)),
                         ids=lambda s: s.value)
async def test_every_transition(redis, start, to):
    store = RequestStore(redis)
    # one approval already counted, so pending -> approved has its quorum
    req = await created(store, status=start, needed=1, approvals=[Approval(approver=BOB, at=NOW)])
    legal = to in TRANSITIONS.get(start, frozenset())
    got = await store.transition(TEAM, req.id, to)
    if legal:
        assert got is not None and got.status is to
        assert (await store.get(TEAM, req.id)).status is to
    else:
        assert got is None
        assert (await store.get(TEAM, req.id)).status is start


async def test_transition_respects_expected(redis):
    store = RequestStore(redis)
    req = await created(store, status=S.APPROVED, needed=0)
    assert await store.transition(TEAM, req.id, S.EXECUTING, expected={S.PENDING}) is None
    assert await store.transition(TEAM, req.id, S.EXECUTING, expected={S.APPROVED}) is not None
    assert await store.transition(TEAM, "missing", S.EXECUTING) is None


async def test_transition_to_approved_needs_the_quorum(redis):
    store = RequestStore(redis)
    req = await created(store, needed=2)
    await store.approve(TEAM, req.id, BOB, NOW)
    assert await store.transition(TEAM, req.id, S.APPROVED) is None
    assert (await store.get(TEAM, req.id)).status is S.PENDING


async def test_patch_is_applied_with_the_move_and_only_then(redis):
    store = RequestStore(redis)
    req = await created(store)
    rejected = await store.transition(TEAM, req.id, S.REJECTED,
                                      patch={"rejected_by": BOB, "reject_reason": "not yet"})
    assert rejected.rejected_by == BOB and rejected.reject_reason == "not yet"
    assert await store.get(TEAM, req.id) == rejected
    # a refused move applies nothing
    assert await store.transition(TEAM, req.id, S.CANCELLED, patch={"reject_reason": "changed"}) is None
    assert (await store.get(TEAM, req.id)).reject_reason == "not yet"


async def test_outcome_patch_round_trips(redis):
    store = RequestStore(redis)
    req = await created(store, status=S.EXECUTING, needed=0)
    outcome = Outcome(ok=True, mida_status=200, mida_body={"ok": True, "items": [], "n": 1.0, "x": {}},
                      state_after=req.evidence, at=NOW + 9)
    done = await store.transition(TEAM, req.id, S.SUCCEEDED, patch={"outcome": outcome})
    assert done.outcome == outcome
    assert (await store.get(TEAM, req.id)).outcome.mida_body == {"ok": True, "items": [], "n": 1.0, "x": {}}
    # dicts are validated too
    req2 = await created(store, status=S.EXECUTING, needed=0)
    failed = await store.transition(TEAM, req2.id, S.FAILED, patch={"outcome": {"ok": False, "mida_status": 409}})
    assert failed.outcome.mida_status == 409


async def test_bad_patches_are_refused_before_writing(redis):
    store = RequestStore(redis)
    req = await created(store)
    with pytest.raises(ValueError):
        await store.transition(TEAM, req.id, S.CANCELLED, patch={"status": "approved"})
    with pytest.raises(ValueError):
        await store.transition(TEAM, req.id, S.CANCELLED, patch={"approvals_needed": 0})
    with pytest.raises(ValidationError):
        await store.transition(TEAM, req.id, S.REJECTED, patch={"rejected_by": "someone"})
    assert await store.get(TEAM, req.id) == req


async def test_terminal_states_stay_terminal(redis):
    store = RequestStore(redis)
    for final in FINAL_STATUSES:
        req = await created(store, status=final, needed=0)
        for to in S:
            assert await store.transition(TEAM, req.id, to) is None
        assert (await store.approve(TEAM, req.id, BOB, NOW)).code is ApproveCode.NOT_PENDING
        assert await store.expire(TEAM, req.id, NOW + 1e9) is None
        assert (await store.get(TEAM, req.id)).status is final


async def test_leaving_pending_clears_the_indexes(redis):
    store = RequestStore(redis)
    for to in (S.REJECTED, S.CANCELLED):
        req = await created(store)
        assert await store.transition(TEAM, req.id, to) is not None
        assert req.id not in [r.id for r in await store.pending(TEAM)]
        assert await redis.zscore(DUE_SCHEDULE, f"expire|{TEAM.key}|{req.id}") is None


async def test_final_requests_are_kept_for_the_retention_period(redis):
    store = RequestStore(redis, retention_seconds=1000)
    req = await created(store, needed=1)
    await store.approve(TEAM, req.id, BOB, NOW)
    assert await redis.ttl(ws_key(TEAM, "req", req.id)) == -1
    await store.transition(TEAM, req.id, S.EXECUTING)
    assert await redis.ttl(ws_key(TEAM, "req", req.id)) == -1
    await store.transition(TEAM, req.id, S.SUCCEEDED)
    for key in (ws_key(TEAM, "req", req.id), ws_key(TEAM, "req", req.id, "approvers")):
        assert 0 < await redis.ttl(key) <= 1000


async def test_set_message(redis):
    store = RequestStore(redis)
    req = await created(store)
    assert await store.set_message(TEAM, req.id, "1700000000.000100") is True
    assert (await store.get(TEAM, req.id)).message_ts == "1700000000.000100"
    assert await store.set_message(TEAM, "missing", "1.2") is False
    assert not await redis.exists(ws_key(TEAM, "req", "missing"))


# -- expiry ----------------------------------------------------------------------------------


async def test_expire_only_when_due(redis):
    store = RequestStore(redis)
    req = await created(store, expires_at=NOW + 60)
    assert await store.expire(TEAM, req.id, NOW + 59) is None
    expired = await store.expire(TEAM, req.id, NOW + 60)
    assert expired is not None and expired.status is S.EXPIRED
    no_expiry = await created(store, expires_at=None)
    assert await store.expire(TEAM, no_expiry.id, NOW + 1e9) is None


async def test_the_schedule_expires_each_request_once_and_tidies_hints(redis):
    store = RequestStore(redis)
    due = [await created(store, expires_at=NOW + i) for i in range(5)]
    later = await created(store, expires_at=NOW + 1000)
    handled = await created(store, expires_at=NOW + 1)
    await store.transition(TEAM, handled.id, S.CANCELLED)
    await redis.zadd(DUE_SCHEDULE, {f"expire|{TEAM.key}|{handled.id}": NOW})  # a stale hint
    await redis.zadd(DUE_SCHEDULE, {f"expire|{TEAM.key}|{later.id}": NOW})  # a wrong score
    await redis.zadd(DUE_SCHEDULE, {f"expire|{TEAM.key}|gone": NOW})  # no record

    swept: list[str] = []

    async def expire(payload: str, now: float) -> float | None:
        expired, again = await store.settle_expiry(payload, now)
        if expired is not None:
            swept.append(expired.id)
        return again

    schedulers = [Scheduler(Schedule(redis)) for _ in range(5)]  # five processes
    for scheduler in schedulers:
        scheduler.register(EXPIRE, expire)
    await asyncio.gather(*(s.run_due(NOW + 10) for s in schedulers))
    assert sorted(swept) == sorted(r.id for r in due)
    assert [(await store.get(TEAM, r.id)).status for r in due] == [S.EXPIRED] * 5
    assert (await store.get(TEAM, later.id)).status is S.PENDING
    assert await due_for_expiry(redis, NOW + 10) == []
    assert await redis.zscore(DUE_SCHEDULE, f"expire|{TEAM.key}|{later.id}") == NOW + 1000
    assert [r.id for r in await store.pending(TEAM)] == [later.id]


async def due_for_expiry(redis, now: float) -> list[tuple[str, str]]:
    """(team key, request id) of the expiry items due by `now`, without claiming them."""
    members = await redis.zrangebyscore(DUE_SCHEDULE, "-inf", now)
    items = [m.decode().split("|", 1) for m in members]
    return [tuple(payload.rsplit("|", 1)) for kind, payload in items if kind == EXPIRE]


# -- concurrency -----------------------------------------------------------------------------


async def test_twenty_concurrent_approvals_and_executions(redis, redis_url):
    req = await created(RequestStore(redis), needed=3)
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=False) for _ in range(20)]
    try:
        stores = [RequestStore(c) for c in clients]
        approvers = [Person(user_id=f"U{i:03}", team_id="T1") for i in range(20)]
        results = await asyncio.gather(*(s.approve(TEAM, req.id, p, NOW) for s, p in zip(stores, approvers)))
        codes = [r.code for r in results]
        assert codes.count(ApproveCode.APPROVED) == 1
        assert codes.count(ApproveCode.RECORDED) == 2
        assert codes.count(ApproveCode.NOT_PENDING) == 17
        stored = await stores[0].get(TEAM, req.id)
        assert stored.status is S.APPROVED and len(stored.approvals) == 3
        assert len({a.approver.user_id for a in stored.approvals}) == 3

        moves = await asyncio.gather(*(s.transition(TEAM, req.id, S.EXECUTING, expected={S.APPROVED})
                                       for s in stores))
        assert sum(m is not None for m in moves) == 1
        assert (await stores[0].get(TEAM, req.id)).status is S.EXECUTING
    finally:
        for c in clients:
            await c.aclose()


async def test_concurrent_duplicate_clicks_count_once(redis, redis_url):
    req = await created(RequestStore(redis), needed=5)
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=False) for _ in range(10)]
    try:
        results = await asyncio.gather(*(RequestStore(c).approve(TEAM, req.id, BOB, NOW) for c in clients))
        assert [r.code for r in results].count(ApproveCode.RECORDED) == 1
        assert [r.code for r in results].count(ApproveCode.DUPLICATE) == 9
        assert len((await RequestStore(redis).get(TEAM, req.id)).approvals) == 1
    finally:
        for c in clients:
            await c.aclose()


async def test_crafted_ids_name_no_other_key(redis):
    store = RequestStore(redis)
    req = await created(store)
    await store.approve(TEAM, req.id, BOB, NOW)
    crafted = f"{req.id}:approvers"
    assert await store.get(TEAM, crafted) is None
    assert (await store.approve(TEAM, crafted, CAROL, NOW)).code is ApproveCode.NOT_FOUND
    assert await store.transition(TEAM, crafted, S.CANCELLED) is None
    assert await store.set_message(TEAM, crafted, "1.0") is False
    with pytest.raises(ValueError):
        await store.create(make_request().model_copy(update={"id": "a:b"}))
    assert (await store.get(TEAM, req.id)).status is S.PENDING
