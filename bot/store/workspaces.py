"""Connected workspaces. The Mida API key is stored only as a Fernet token.

`mida:{T}:workspace` is one JSON string: {"workspace": <Workspace minus api_key>, "api_key": <token>},
written with one SET, so a save replaces the whole record at once.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bot.domain import TeamRef, Workspace
from bot.logs import SECRETS
from bot.store.client import AnyRedis, text
from bot.store.crypto import SecretBox
from bot.store.keys import ws_key
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

_MAX_ERROR_LEN = 500


class WorkspaceStore:
    def __init__(self, redis: AnyRedis, box: SecretBox) -> None:
        self._redis = redis
        self._box = box
        self._orgs = OrgIndex(redis)
        self._replace_if_unchanged = redis.register_script(_REPLACE_IF_UNCHANGED)

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
        if ok:
            await self._redis.hset(key, "last_ok_at", at)
        else:
            await self._redis.hset(
                key, mapping={"last_error": (error or "error")[:_MAX_ERROR_LEN], "last_error_at": at}
            )

    async def health(self, team: TeamRef) -> dict[str, Any]:
        """{"last_ok_at": float | None, "last_error": str | None, "last_error_at": float | None}"""
        raw = await self._redis.hgetall(ws_key(team, "health"))
        fields = {text(k): text(v) for k, v in raw.items()}
        return {
            "last_ok_at": float(fields["last_ok_at"]) if "last_ok_at" in fields else None,
            "last_error": fields.get("last_error"),
            "last_error_at": float(fields["last_error_at"]) if "last_error_at" in fields else None,
        }
