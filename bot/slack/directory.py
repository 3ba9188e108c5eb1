"""`Directory` over the Slack Web API: who a person is (users.info), who is in a user group."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import TeamRef
from bot.services.ports import Profile
from bot.slack.clients import NoToken, SlackClients

log = logging.getLogger(__name__)

_GROUP_TTL = 60.0
# Long enough to spare Slack a users.info per click, short enough that a guest made a member (or a
# member deactivated) is seen within a minute.
_PROFILE_TTL = 60.0
_PROFILE_CACHE_MAX = 5000


class SlackDirectory:
    def __init__(self, clients: SlackClients) -> None:
        self._clients = clients
        self._groups: dict[tuple[str, str], tuple[float, set[str]]] = {}
        self._profiles: dict[tuple[str, str], tuple[float, Profile]] = {}

    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        key = (team.key, user_id)
        now = time.monotonic()
        cached = self._profiles.get(key)
        if cached and now - cached[0] < _PROFILE_TTL:
            return cached[1]
        try:
            client = await self._clients.for_team(team)
            answer = await client.users_info(user=user_id)
        except SlackApiError as err:
            log.warning("users.info failed", extra={"team": team.key, "error": err.response.get("error")})
            return None
        except (SlackClientError, NoToken, aiohttp.ClientError, TimeoutError) as err:
            log.warning("users.info failed", extra={"team": team.key, "error": type(err).__name__})
            return None
        user = answer.get("user")
        if not isinstance(user, dict) or user.get("id") != user_id:
            log.warning("users.info answered without the user", extra={"team": team.key})
            return None
        found = profile_of(user)
        if len(self._profiles) >= _PROFILE_CACHE_MAX:
            self._profiles = {k: v for k, v in self._profiles.items() if now - v[0] < _PROFILE_TTL}
        self._profiles[key] = (now, found)
        return found

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


def profile_of(user: dict[str, Any]) -> Profile:
    """users.info's `user` object as a Profile. On Enterprise Grid `team_id` may be the person's home
    workspace; `enterprise_user` names the organisation and the workspaces they are in."""
    grid = user.get("enterprise_user") or {}
    return Profile(
        user_id=str(user["id"]),
        team_id=str(user.get("team_id") or ""),
        enterprise_id=grid.get("enterprise_id") or None,
        teams=frozenset(str(t) for t in grid.get("teams") or ()),
        is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
        is_bot=bool(user.get("is_bot")),
        deleted=bool(user.get("deleted")),
        is_admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
    )
