"""ChangeRequests and their state machine, enforced atomically in Redis.

One hash per request, `mida:{T}:req:<id>`:
  base        ChangeRequest JSON without status/approvals; written once by create, never read by Lua
  status      RequestStatus value                                  (owned by the scripts)
  approvals   JSON array of Approval, built by string concatenation (owned by approve)
  needed      approvals_needed            } copies of immutable fields the scripts need
  requester   requester.user_id           }
  expires_at  repr(float), absent if none }
  updated_at  repr(float)
  f:<field>   JSON of a field changed after creation (outcome, rejected_by, message_ts, ...);
              overlays the value in `base` when the request is read back
plus `mida:{T}:req:<id>:approvers` (set of approver user ids: duplicates are caught by SADD) and
`mida:{T}:pending` (zset of pending ids by expires_at). Lua never decodes JSON (cjson would turn
`[]` into `{}` and reformat numbers).

A pending request's expiry is an item of the due-time schedule (`store/schedule.py`, kind
`expire`), which lives in another slot: it is kept up to date outside the scripts and is only a
hint; whoever acts on it re-checks the request itself (`settle_expiry`).

People are compared by Slack user id alone (self-approval, duplicates): user ids are unique across
Slack, and on Enterprise Grid the same person keeps one id in every workspace of the org.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter

from bot.domain import (
    FINAL_STATUSES,
    TRANSITIONS,
    Approval,
    ChangeRequest,
    Person,
    RequestStatus,
    TeamRef,
)
from bot.metrics import EXECUTIONS
from bot.store.client import AnyRedis, text
from bot.store.keys import (
    index_member,
    is_valid_id,
    parse_index_member,
    team_from_key,
    ws_key,
)
from bot.store.orgs import OrgIndex
from bot.store.schedule import EXPIRE, Schedule

logger = logging.getLogger(__name__)

# Fields that may change after creation (through transition(patch=...) or set_message).
PATCHABLE_FIELDS = frozenset({"outcome", "rejected_by", "reject_reason", "message_ts", "overrides", "evidence"})
_SCRIPT_FIELDS = {"status", "approvals"}
_EXECUTED = TRANSITIONS[RequestStatus.EXECUTING]

DEFAULT_RETENTION_SECONDS = 90 * 24 * 3600

# KEYS: request hash, approvers set, pending zset
# ARGV: id, base, status, approvals JSON, needed, requester, expires_at ('' = none), now,
#       pending score, retention seconds (0 = keep), approver ids...
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'base', ARGV[2], 'status', ARGV[3], 'approvals', ARGV[4],
           'needed', ARGV[5], 'requester', ARGV[6], 'updated_at', ARGV[8])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'expires_at', ARGV[7]) end
redis.call('DEL', KEYS[2])
for i = 11, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
if ARGV[3] == 'pending' then redis.call('ZADD', KEYS[3], ARGV[9], ARGV[1]) end
if tonumber(ARGV[10]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[10])
  redis.call('EXPIRE', KEYS[2], ARGV[10])
end
return 1
"""

# KEYS: request hash, approvers set, pending zset
# ARGV: id, approver user id, Approval JSON, now
# Returns {code} or {code, HGETALL of the request afterwards}.
_APPROVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local function reply(code) return {code, redis.call('HGETALL', KEYS[1])} end
if status ~= 'pending' then return reply('not_pending') end
-- expired: refuse, but leave the status to the expiry sweep
local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
if expires_at and tonumber(ARGV[4]) >= tonumber(expires_at) then return reply('expired') end
if redis.call('HGET', KEYS[1], 'requester') == ARGV[2] then return reply('self_approval') end
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return reply('duplicate') end
-- append the approval to the JSON array text
local approvals = redis.call('HGET', KEYS[1], 'approvals')
if approvals == '[]' then
  approvals = '[' .. ARGV[3] .. ']'
else
  approvals = string.sub(approvals, 1, -2) .. ',' .. ARGV[3] .. ']'
end
redis.call('HSET', KEYS[1], 'approvals', approvals, 'updated_at', ARGV[4])
if redis.call('SCARD', KEYS[2]) >= tonumber(redis.call('HGET', KEYS[1], 'needed')) then
  redis.call('HSET', KEYS[1], 'status', 'approved')
  redis.call('ZREM', KEYS[3], ARGV[1])
  return reply('approved')
end
return reply('recorded')
"""

# KEYS: request hash, approvers set, pending zset
# ARGV: id, to, allowed from (" a b " with spaces around each), now, retention seconds (0 = keep),
#       due check ('' or now: refuse unless expires_at <= now), then field, value pairs to set
# Returns {'not_found'} or {'ok'|'refused'|'not_due'|'no_quorum', HGETALL afterwards}.
_TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
local function reply(code) return {code, redis.call('HGETALL', KEYS[1])} end
if not string.find(ARGV[3], ' ' .. status .. ' ', 1, true) then return reply('refused') end
if ARGV[6] ~= '' then
  local expires_at = redis.call('HGET', KEYS[1], 'expires_at')
  if not expires_at or tonumber(ARGV[6]) < tonumber(expires_at) then return reply('not_due') end
end
-- approved only with the quorum of distinct approvals (approve() is the normal way there)
if ARGV[2] == 'approved' and
   redis.call('SCARD', KEYS[2]) < tonumber(redis.call('HGET', KEYS[1], 'needed')) then
  return reply('no_quorum')
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[4])
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if status == 'pending' then redis.call('ZREM', KEYS[3], ARGV[1]) end
if tonumber(ARGV[5]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return reply('ok')
"""

# KEYS: request hash. ARGV: now, then field, value pairs. Never creates a partial record.
_PATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


class ApproveCode(StrEnum):
    RECORDED = "recorded"  # counted; more approvals are needed
    APPROVED = "approved"  # counted, and this approval completed the quorum
    NOT_FOUND = "not_found"
    NOT_PENDING = "not_pending"  # see result.request.status
    EXPIRED = "expired"
    SELF_APPROVAL = "self_approval"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ApproveResult:
    code: ApproveCode
    request: ChangeRequest | None  # the request after this call (None only for not_found)

    @property
    def counted(self) -> bool:
        return self.code in (ApproveCode.RECORDED, ApproveCode.APPROVED)

    @property
    def status(self) -> RequestStatus | None:
        return self.request.status if self.request is not None else None


class RequestStore:
    def __init__(self, redis: AnyRedis, *, retention_seconds: int | None = DEFAULT_RETENTION_SECONDS) -> None:
        """`retention_seconds`: how long a request is kept once it reaches a final status
        (None: forever). The audit log is the permanent record."""
        self._redis = redis
        self._retention = int(retention_seconds or 0)
        self._orgs = OrgIndex(redis)
        self._schedule = Schedule(redis)
        self._create = redis.register_script(_CREATE)
        self._approve = redis.register_script(_APPROVE)
        self._transition = redis.register_script(_TRANSITION)
        self._patch = redis.register_script(_PATCH)

    # -- keys -------------------------------------------------------------------------------

    @staticmethod
    def _keys(team: TeamRef, request_id: str) -> list[str]:
        return [ws_key(team, "req", request_id), ws_key(team, "req", request_id, "approvers"), ws_key(team, "pending")]

    # -- create / read ------------------------------------------------------------------------

    async def create(self, req: ChangeRequest) -> bool:
        """Store a new request; never overwrites. False when the id already exists."""
        if not is_valid_id(req.id):
            raise ValueError("a request id must be url-safe and at most 64 characters (use keys.new_id())")
        now = time.time()
        pending = req.status is RequestStatus.PENDING
        await self._orgs.add(req.team)  # before the record: see store/orgs.py
        if pending and req.expires_at is not None:
            # The hint goes first: a hint without a record is harmless, a record without one
            # would never be swept.
            await self._schedule.add(EXPIRE, {index_member(req.team, req.id): req.expires_at}, only_new=True)
        base = req.model_dump_json(exclude=_SCRIPT_FIELDS)
        approvals = "[" + ",".join(a.model_dump_json() for a in req.approvals) + "]"
        retention = self._retention if req.status in FINAL_STATUSES else 0
        created = await self._create(
            keys=self._keys(req.team, req.id),
            args=[
                req.id,
                base,
                req.status.value,
                approvals,
                req.approvals_needed,
                req.requester.user_id,
                "" if req.expires_at is None else repr(float(req.expires_at)),
                repr(now),
                "+inf" if req.expires_at is None else repr(float(req.expires_at)),
                retention,
                *{a.approver.user_id for a in req.approvals},
            ],
        )
        logger.info(
            "request created" if created else "request id already exists",
            extra={"team": req.team.key, "request_id": req.id, "status": req.status.value},
        )
        return bool(created)

    async def get(self, team: TeamRef, request_id: str) -> ChangeRequest | None:
        if not is_valid_id(request_id):
            return None
        fields = cast(dict[bytes, bytes], await self._redis.hgetall(ws_key(team, "req", request_id)))
        return _assemble(fields) if fields else None

    async def pending(self, team: TeamRef, limit: int = 100) -> list[ChangeRequest]:
        """Pending requests of the workspace, soonest to expire first."""
        ids = await self._redis.zrange(ws_key(team, "pending"), 0, limit - 1)
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for rid in cast(list[bytes], ids):
                pipe.hgetall(ws_key(team, "req", text(rid)))
            rows = await pipe.execute()
        found = [_assemble(r) for r in rows if r]
        return [r for r in found if r.status is RequestStatus.PENDING]

    # -- the state machine --------------------------------------------------------------------

    async def approve(self, team: TeamRef, request_id: str, approver: Person, now: float) -> ApproveResult:
        """Count one approval, atomically: refused when not pending, expired (now >= expires_at;
        the status is left to the sweep), by the requester, or by someone who already approved.
        The approval that reaches approvals_needed moves the request to approved (code APPROVED)."""
        if not is_valid_id(request_id):
            return ApproveResult(ApproveCode.NOT_FOUND, None)
        approval = Approval(approver=approver, at=now).model_dump_json()
        reply = await self._approve(
            keys=self._keys(team, request_id), args=[request_id, approver.user_id, approval, repr(float(now))]
        )
        code = ApproveCode(reply[0].decode())
        request = _assemble(_pairs(reply[1])) if len(reply) > 1 else None
        if code is ApproveCode.APPROVED:
            await self._schedule.remove(EXPIRE, index_member(team, request_id))
        logger.info(
            "approval",
            extra={"team": team.key, "request_id": request_id, "approver": approver.user_id, "code": code.value},
        )
        return ApproveResult(code, request)

    async def transition(
        self,
        team: TeamRef,
        request_id: str,
        to: RequestStatus,
        *,
        expected: set[RequestStatus] | None = None,
        patch: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> ChangeRequest | None:
        """Compare-and-set the status: allowed only when current -> `to` is in domain.TRANSITIONS
        (and current is in `expected`, if given); `patch` (PATCHABLE_FIELDS) is applied in the same
        step. Moving to approved also needs the quorum of approvals. Returns the request after the
        move, or None when refused or not found."""
        return await self._move(team, request_id, to, expected=expected, patch=patch, now=now, due=None)

    async def expire(self, team: TeamRef, request_id: str, now: float) -> ChangeRequest | None:
        """pending -> expired, only when expires_at <= now (checked atomically)."""
        return await self._move(team, request_id, RequestStatus.EXPIRED, expected=None, patch=None, now=now, due=now)

    async def _move(
        self,
        team: TeamRef,
        request_id: str,
        to: RequestStatus,
        *,
        expected: set[RequestStatus] | None,
        patch: dict[str, Any] | None,
        now: float | None,
        due: float | None,
    ) -> ChangeRequest | None:
        to = RequestStatus(to)
        allowed = {s for s, targets in TRANSITIONS.items() if to in targets}
        if expected is not None:
            allowed &= {RequestStatus(s) for s in expected}
        if not allowed or not is_valid_id(request_id):
            return None
        at = time.time() if now is None else now
        retention = self._retention if to in FINAL_STATUSES else 0
        reply = await self._transition(
            keys=self._keys(team, request_id),
            args=[
                request_id,
                to.value,
                " " + " ".join(sorted(allowed)) + " ",
                repr(float(at)),
                retention,
                "" if due is None else repr(float(due)),
                *_encode_patch(patch),
            ],
        )
        code = reply[0].decode()
        extra = {"team": team.key, "request_id": request_id, "to": to.value, "code": code}
        if code != "ok":
            logger.info("transition refused", extra=extra)
            return None
        request = _assemble(_pairs(reply[1]))
        if to in _EXECUTED:
            # Counted where executing -> final happens, once per request: one process wins this move
            # even when a job is delivered twice or taken over.
            reconciled = request.outcome is not None and request.outcome.reconciled
            EXECUTIONS.labels(to.value, "true" if reconciled else "false").inc()
        # The global hint, outside the script (another slot). The record above is the truth.
        if RequestStatus.PENDING in allowed:
            await self._schedule.remove(EXPIRE, index_member(team, request_id))
        logger.info("transition", extra=extra)
        return request

    async def set_message(self, team: TeamRef, request_id: str, message_ts: str) -> bool:
        """Remember where the request's card was posted. False when the request does not exist."""
        return await self.patch(team, request_id, {"message_ts": message_ts})

    async def patch(self, team: TeamRef, request_id: str, patch: dict[str, Any]) -> bool:
        """Change PATCHABLE_FIELDS without a status change. False when the request does not exist."""
        if not is_valid_id(request_id):
            return False
        done = await self._patch(
            keys=[ws_key(team, "req", request_id)], args=[repr(time.time()), *_encode_patch(patch)]
        )
        return bool(done)

    # -- expiry (a schedule item) -------------------------------------------------------------

    async def pending_count(self) -> int:
        """Requests waiting for approval, every workspace: each has an expiry scheduled until it is
        decided or expires."""
        return await self._schedule.count(EXPIRE)

    async def settle_expiry(self, payload: str, now: float) -> tuple[ChangeRequest | None, float | None]:
        """Act on a due `expire` item: (the request if this call expired it, when to look again).
        Safe from many processes at once: each request is expired by exactly one caller."""
        team_key, request_id = parse_index_member(payload)
        team = team_from_key(team_key)
        expired = await self.expire(team, request_id, now)
        if expired is not None:
            return expired, None
        current = await self.get(team, request_id)
        if (
            current is not None
            and current.status is RequestStatus.PENDING
            and current.expires_at is not None
            and current.expires_at > now
        ):
            return None, current.expires_at  # a stale time: look again at the request's own expiry
        return None, None


# -- encoding ---------------------------------------------------------------------------------


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    annotation = ChangeRequest.model_fields[name].annotation
    assert annotation is not None
    return TypeAdapter(annotation)


def _encode_patch(patch: dict[str, Any] | None) -> list[str | bytes]:
    args: list[str | bytes] = []
    for name, value in (patch or {}).items():
        if name not in PATCHABLE_FIELDS:
            raise ValueError(f"{name!r} cannot be patched (allowed: {', '.join(sorted(PATCHABLE_FIELDS))})")
        adapter = _adapter(name)
        args += [f"f:{name}", adapter.dump_json(adapter.validate_python(value))]
    return args


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _assemble(fields: dict[bytes, bytes]) -> ChangeRequest:
    data = json.loads(fields[b"base"])
    for key, value in fields.items():
        if key.startswith(b"f:"):
            data[key[2:].decode()] = json.loads(value)
    data["status"] = fields[b"status"].decode()
    data["approvals"] = json.loads(fields[b"approvals"])
    return ChangeRequest.model_validate(data)
