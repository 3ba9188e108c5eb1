"""Confirm modals in progress (Draft), kept for an hour; the modal carries only the draft id."""

from __future__ import annotations

from bot.domain import Draft, TeamRef
from bot.store.client import AnyRedis
from bot.store.keys import is_valid_id, new_id, ws_key

__all__ = ["DraftStore", "new_id"]


class DraftStore:
    def __init__(self, redis: AnyRedis, ttl_seconds: int = 3600) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def put(self, draft: Draft) -> None:
        if not is_valid_id(draft.id):
            raise ValueError("a draft id must be url-safe and at most 64 characters (use new_id())")
        await self._redis.set(ws_key(draft.team, "draft", draft.id), draft.model_dump_json(), ex=self._ttl)

    async def get(self, team: TeamRef, draft_id: str) -> Draft | None:
        if not is_valid_id(draft_id):
            return None
        raw = await self._redis.get(ws_key(team, "draft", draft_id))
        return Draft.model_validate_json(raw) if raw is not None else None

    async def update(self, draft: Draft) -> bool:
        """Replace a draft, keeping its remaining TTL. False (nothing written) when it expired."""
        if not is_valid_id(draft.id):
            return False
        done = await self._redis.set(
            ws_key(draft.team, "draft", draft.id), draft.model_dump_json(), xx=True, keepttl=True
        )
        return bool(done)

    async def delete(self, team: TeamRef, draft_id: str) -> None:
        if not is_valid_id(draft_id):
            return
        await self._redis.delete(ws_key(team, "draft", draft_id))
