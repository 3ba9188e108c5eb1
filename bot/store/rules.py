"""The workspace's settings and the rules of each channel: the workspace record holds the defaults
(and the workspace-only settings); a channel may have its own rules, which replace the defaults."""

from __future__ import annotations

import logging

from bot.domain import ChannelRules, TeamRef, WorkspaceSettings
from bot.store.client import AnyRedis, text
from bot.store.keys import ws_key

logger = logging.getLogger(__name__)


class RulesStore:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis

    async def settings(self, team: TeamRef) -> WorkspaceSettings:
        raw = await self._redis.get(ws_key(team, "policy"))
        return WorkspaceSettings.model_validate_json(raw) if raw is not None else WorkspaceSettings()

    async def rules(self, team: TeamRef, channel_id: str | None) -> ChannelRules:
        """The one read of the rules a change in `channel_id` follows: the channel's own, else the
        workspace's defaults, else the built-in defaults."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(ws_key(team, "policy"))
            if channel_id:
                pipe.hget(ws_key(team, "policy", "channels"), channel_id)
            results = await pipe.execute()
        for raw in reversed(results):
            if raw is not None:
                return ChannelRules.model_validate_json(raw)
        return ChannelRules()

    async def save(self, team: TeamRef, channel_id: str | None, rules: ChannelRules, bot_admins: list[str]) -> None:
        """What the settings form saves, in one transaction: the rules (the workspace's defaults, or
        `channel_id`'s own) and the workspace's bot admins."""
        current = await self.settings(team)
        if channel_id:
            workspace = current.model_copy(update={"bot_admins": bot_admins})
        else:
            workspace = WorkspaceSettings.model_validate(rules.model_dump() | {"bot_admins": bot_admins})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(ws_key(team, "policy"), workspace.model_dump_json())
            if channel_id:
                pipe.hset(
                    ws_key(team, "policy", "channels"),
                    channel_id,
                    ChannelRules.model_validate(rules.model_dump()).model_dump_json(),
                )
            await pipe.execute()
        logger.info("settings saved", extra={"team": team.key, "channel_id": channel_id})

    async def channel_overrides(self, team: TeamRef) -> dict[str, ChannelRules]:
        raw = await self._redis.hgetall(ws_key(team, "policy", "channels"))
        return {text(k): ChannelRules.model_validate_json(v) for k, v in raw.items()}
