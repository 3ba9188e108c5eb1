"""Approval policies: one per workspace, plus optional per-channel overrides."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.domain import Policy, TeamRef
from bot.store.keys import ws_key

logger = logging.getLogger(__name__)


class PolicyStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def get(self, team: TeamRef, channel_id: str | None = None) -> Policy:
        """The channel's override if it has one, else the workspace policy, else the defaults."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(ws_key(team, "policy"))
            if channel_id:
                pipe.hget(ws_key(team, "policy", "channels"), channel_id)
            results = await pipe.execute()
        for raw in reversed(results):
            if raw is not None:
                return Policy.model_validate_json(raw)
        return Policy()

    async def save(self, team: TeamRef, policy: Policy) -> None:
        await self._redis.set(ws_key(team, "policy"), policy.model_dump_json())
        logger.info("policy saved", extra={"team": team.key})

    async def save_channel(self, team: TeamRef, channel_id: str, policy: Policy | None) -> None:
        """Set a channel's override; None removes it."""
        key = ws_key(team, "policy", "channels")
        if policy is None:
            await self._redis.hdel(key, channel_id)
        else:
            await self._redis.hset(key, channel_id, policy.model_dump_json())
        logger.info("channel policy saved",
                    extra={"team": team.key, "channel_id": channel_id, "removed": policy is None})

    async def channel_overrides(self, team: TeamRef) -> dict[str, Policy]:
        raw = await self._redis.hgetall(ws_key(team, "policy", "channels"))
        return {k.decode(): Policy.model_validate_json(v) for k, v in raw.items()}
