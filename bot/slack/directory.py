"""`Directory` over the Slack Web API: who is an admin, who is in a user group."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

from bot.domain import TeamRef
from bot.slack.clients import SlackClients

log = logging.getLogger(__name__)

_GROUP_TTL = 60.0


class SlackDirectory:
    def __init__(self, clients: SlackClients) -> None:
        self._clients = clients
        self._groups: dict[tuple[str, str], tuple[float, set[str]]] = {}

    async def is_workspace_admin(self, team: TeamRef, user_id: str) -> bool:
        client = await self._clients.for_team(team)
        try:
            user = (await client.users_info(user=user_id))["user"]
        except SlackApiError as err:
            log.warning("users.info failed", extra={"team": team.key, "error": err.response.get("error")})
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        cached = self._groups.get((team.key, group_id))
        if cached and time.monotonic() - cached[0] < _GROUP_TTL:
            return cached[1]
        client = await self._clients.for_team(team)
        try:
            members = set((await client.usergroups_users_list(usergroup=group_id))["users"])
        except SlackApiError as err:
            log.warning("usergroups.users.list failed", extra={"team": team.key, "error": err.response.get("error")})
            return set()
        self._groups[(team.key, group_id)] = (time.monotonic(), members)
        return members
