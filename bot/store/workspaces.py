"""Connected workspaces. The Mida API key is stored only as a Fernet token.

`mida:{T}:workspace` is one JSON string: {"workspace": <Workspace minus api_key>, "api_key": <token>},
written with one SET, so a save replaces the whole record at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from bot.domain import TeamRef, Workspace
from bot.logs import SECRETS
from bot.store.client import AnyRedis, text
from bot.store.crypto import SecretBox
from bot.store.keys import scope_key, ws_key
from bot.store.orgs import OrgIndex

logger = logging.getLogger(__name__)

# Write the re-encrypted record only if nobody replaced the record since we read it.
_REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# A late "last successful call" for a workspace still connected: never brings back a health hash
# that a disconnect removed.
_OK_IF_CONNECTED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[2], 'last_ok_at', ARGV[1])
end
return 0
"""

_MAX_ERROR_LEN = 500

OK_EVERY = 1.0
"""Seconds between two writes of a workspace's last successful call from one process: under load
the call health would otherwise be a Redis write per Mida call. The last one is always written,
at most this late."""


class WorkspaceStore:
    def __init__(self, redis: AnyRedis, box: SecretBox) -> None:
        self._redis = redis
        self._box = box
        self._orgs = OrgIndex(redis)
        self._replace_if_unchanged = redis.register_script(_REPLACE_IF_UNCHANGED)
        self._ok_if_connected = redis.register_script(_OK_IF_CONNECTED)
        self._ok_written: dict[str, float] = {}  # team -> when this process last wrote an ok (monotonic)
        self._ok_due: dict[str, str] = {}  # team -> the newest ok not written yet
        self._flushes: set[asyncio.Task[None]] = set()

    async def get(self, team: TeamRef) -> Workspace | None:
        """The workspace with its API key decrypted, or None when not connected.
        Raises UndecryptableSecret when no configured key fits (an admin must reconnect)."""
        key = ws_key(team, "workspace")
        raw = await self._redis.get(key)
        if raw is None:
            return None
        record = json.loads(raw)
        token: str = record["api_key"]
        api_key = self._box.decrypt(token)
        SECRETS.add(api_key)  # a key this process holds is scrubbed from every log line
        if self._box.needs_rotation(token):
            record["api_key"] = self._box.rotate(token).decode("ascii")
            rotated = json.dumps(record, separators=(",", ":"))
            done = await self._replace_if_unchanged(keys=[key], args=[raw, rotated])
            logger.info(
                "re-encrypted a workspace API key with the current key", extra={"team": team.key, "written": bool(done)}
            )
        return Workspace.model_validate({**record["workspace"], "api_key": api_key})

    async def save(self, ws: Workspace) -> None:
        record = {
            "workspace": ws.model_dump(mode="json", exclude={"api_key"}),
            "api_key": self._box.encrypt(ws.api_key).decode("ascii"),
        }
        await self._orgs.add(ws.team)  # first: see store/orgs.py
        await self._redis.set(ws_key(ws.team, "workspace"), json.dumps(record, separators=(",", ":")))
        logger.info("workspace saved", extra={"team": ws.team.key, "project_key": ws.project_key})

    async def delete(self, team: TeamRef) -> bool:
        """Forget the connection (and its call health). True when there was one."""
        self._ok_due.pop(team.key, None)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(ws_key(team, "workspace"))
            pipe.delete(ws_key(team, "workspace"), ws_key(team, "health"))
            existed, _ = await pipe.execute()
        logger.info("workspace deleted", extra={"team": team.key, "existed": bool(existed)})
        return bool(existed)

    async def record_call(self, team: TeamRef, ok: bool, error: str | None = None, *, now: float | None = None) -> None:
        """Note the outcome of a Mida call. `error` must be a message fit to show an admin
        (never a key); it is cut to 500 characters."""
        at = repr(time.time() if now is None else now)
        key = ws_key(team, "health")
        if not ok:
            due = self._ok_due.pop(team.key, None)  # an earlier success: written with this error
            self._ok_written.pop(team.key, None)  # the next success is written at once
            await self._redis.hset(
                key,
                mapping={
                    "last_error": (error or "error")[:_MAX_ERROR_LEN],
                    "last_error_at": at,
                    **({"last_ok_at": due} if due is not None else {}),
                },
            )
            return
        since = time.monotonic() - self._ok_written.get(team.key, -OK_EVERY)
        if team.key not in self._ok_due and since >= OK_EVERY:
            self._ok_written[team.key] = time.monotonic()
            await self._redis.hset(key, "last_ok_at", at)
            return
        if team.key not in self._ok_due:
            flush = asyncio.ensure_future(self._flush_ok(team, OK_EVERY - since))
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        self._ok_due[team.key] = at

    async def aclose(self) -> None:
        """Write the successes still waiting (before the process's Redis connection closes)."""
        for flush in list(self._flushes):
            flush.cancel()
        await asyncio.gather(*self._flushes, return_exceptions=True)
        for team_key in list(self._ok_due):
            await self._write_due_ok(team_key)

    async def _flush_ok(self, team: TeamRef, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._write_due_ok(team.key)

    async def _write_due_ok(self, team_key: str) -> None:
        at = self._ok_due.pop(team_key, None)
        if at is None:  # written with an error since, or disconnected
            return
        self._ok_written[team_key] = time.monotonic()
        keys = [scope_key(team_key, "workspace"), scope_key(team_key, "health")]
        try:
            await self._ok_if_connected(keys=keys, args=[at])
        except RedisError as err:  # only the health view's freshness is lost
            logger.warning("could not record a Mida call's success", extra={"error": type(err).__name__})

    async def health(self, team: TeamRef) -> dict[str, Any]:
        """{"last_ok_at": float | None, "last_error": str | None, "last_error_at": float | None}"""
        raw = await self._redis.hgetall(ws_key(team, "health"))
        fields = {text(k): text(v) for k, v in raw.items()}
        return {
            "last_ok_at": float(fields["last_ok_at"]) if "last_ok_at" in fields else None,
            "last_error": fields.get("last_error"),
            "last_error_at": float(fields["last_error_at"]) if "last_error_at" in fields else None,
        }
