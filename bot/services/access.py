"""Who may do what: admins connect and change settings; approvers approve.

Everyone who acts must belong to the workspace, as Slack's users.info describes them: a person
from another organisation in a shared channel (Slack Connect), a bot or a deactivated account never
may; a guest may approve only when the policy says so."""

from __future__ import annotations

from enum import StrEnum

from bot.domain import ChangeRequest, Policy, TeamRef
from bot.services.errors import AdminOnly
from bot.services.ports import Directory, Profile
from bot.store.policies import PolicyStore


class Standing(StrEnum):
    """Where a person stands in a workspace."""

    MEMBER = "member"
    OTHER_ORG = "other_org"
    GUEST = "guest"
    BOT = "bot"
    DEACTIVATED = "deactivated"
    UNKNOWN = "unknown"  # Slack could not tell us who they are


def standing_of(team: TeamRef, profile: Profile | None, *, guests_allowed: bool = False) -> Standing:
    if profile is None:
        return Standing.UNKNOWN
    if profile.deleted:
        return Standing.DEACTIVATED
    if profile.is_bot:
        return Standing.BOT
    if not _same_organisation(team, profile):
        return Standing.OTHER_ORG
    if profile.is_guest and not guests_allowed:
        return Standing.GUEST
    return Standing.MEMBER


def _same_organisation(team: TeamRef, profile: Profile) -> bool:
    """The workspace's own member, or (Enterprise Grid) a member of the same organisation."""
    if profile.team_id == team.team_id or team.team_id in profile.teams:
        return True
    return team.enterprise_id is not None and profile.enterprise_id == team.enterprise_id


class Access:
    def __init__(self, policies: PolicyStore, directory: Directory) -> None:
        self._policies = policies
        self._directory = directory

    async def is_admin(self, team: TeamRef, user_id: str) -> bool:
        """Members who are Slack workspace admins or owners, or bot admins named in the settings."""
        policy = await self._policies.get(team)
        profile = await self._directory.profile(team, user_id)
        if standing_of(team, profile) is not Standing.MEMBER:
            return False
        assert profile is not None
        return user_id in policy.bot_admins or profile.is_admin

    async def require_admin(self, team: TeamRef, user_id: str, what: str) -> None:
        """Raise AdminOnly(what) unless `user_id` is an admin here (see `is_admin`)."""
        if not await self.is_admin(team, user_id):
            raise AdminOnly(what)

    async def standing(self, team: TeamRef, policy: Policy, user_id: str) -> Standing:
        """May this person decide on requests under `policy`, as far as who they are goes?"""
        profile = await self._directory.profile(team, user_id)
        return standing_of(team, profile, guests_allowed=policy.guests_may_approve)

    async def may_approve(self, team: TeamRef, policy: Policy, request: ChangeRequest, user_id: str) -> bool:
        """Members (guests if allowed) who are named approvers or group members; with neither set,
        any member but the requester. A person is their user id, whatever team a payload names."""
        if user_id == request.requester.user_id:
            return False
        if await self.standing(team, policy, user_id) is not Standing.MEMBER:
            return False
        if not policy.approvers and not policy.approver_group:
            return True
        if user_id in policy.approvers:
            return True
        if policy.approver_group:
            return user_id in await self._directory.usergroup_members(team, policy.approver_group)
        return False
