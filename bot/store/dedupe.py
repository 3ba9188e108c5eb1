"""Replay protection: remember a token (event id, action click, request signature) for a while."""

from __future__ import annotations

import hashlib

from bot.domain import TeamRef
from bot.store.client import AnyRedis
from bot.store.keys import scope_key

_MAX_RAW_TOKEN = 128


class Dedupe:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis

    async def first_time(self, team_or_scope_key: TeamRef | str, token: str, ttl_seconds: int) -> bool:
        """True the first time `token` is seen in this scope within `ttl_seconds`; False after."""
        scope = team_or_scope_key.key if isinstance(team_or_scope_key, TeamRef) else team_or_scope_key
        if len(token) > _MAX_RAW_TOKEN:
            token = "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()
        # The raw command: redis-py's `set()` inspects its own arguments on every call (a third of
        # the CPU of the replay check each Slack request makes).
        done = await self._redis.execute_command(
            "SET", scope_key(scope, "dedupe", token), b"1", "NX", "EX", max(1, int(ttl_seconds))
        )
        return bool(done)
