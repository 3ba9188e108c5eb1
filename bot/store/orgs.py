"""The workspaces of each Enterprise Grid org that may have data here, `mida:{E}:workspaces`, so an
org-wide uninstall (an event that names only the enterprise) can forget every one of them without
listing keys.

The set lives in the org's slot and a workspace's records in the workspace's, so the two cannot be
written in one step on a cluster. Writers add the workspace here *before* writing its first record
(connect, a request, an installation): a crash in between leaves a member with nothing behind it,
which an uninstall forgets at no cost; never a record the index does not lead to. A disconnect
leaves the member (the workspace's requests and audit log stay); only an uninstall, once the
workspace is forgotten, removes it.
"""

from __future__ import annotations

from bot.domain import TeamRef
from bot.store.client import AnyRedis
from bot.store.keys import is_valid_id, org_key


class OrgIndex:
    def __init__(self, redis: AnyRedis) -> None:
        self._redis = redis

    async def add(self, team: TeamRef) -> None:
        """Note a workspace of an org (nothing for a workspace outside Enterprise Grid)."""
        if team.enterprise_id and team.team_id:
            await self._redis.sadd(org_key(team.enterprise_id, "workspaces"), team.team_id)

    async def teams(self, enterprise_id: str) -> list[TeamRef]:
        members = await self._redis.smembers(org_key(enterprise_id, "workspaces"))
        ids = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
        return [TeamRef(team_id=t, enterprise_id=enterprise_id) for t in ids if is_valid_id(t)]

    async def remove(self, team: TeamRef) -> None:
        if team.enterprise_id and team.team_id:
            await self._redis.srem(org_key(team.enterprise_id, "workspaces"), team.team_id)
