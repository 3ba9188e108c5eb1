"""Who may do what: admins connect and change settings; approvers approve."""

from __future__ import annotations

from bot.domain import ChangeRequest, Policy, TeamRef
from bot.services.ports import Directory
from bot.store.policies import PolicyStore


class Access:
    def __init__(self, policies: PolicyStore, directory: Directory) -> None:
        self._policies = policies
        self._directory = directory

    async def is_admin(self, team: TeamRef, user_id: str) -> bool:
        """Slack workspace admins and owners, plus the bot admins named in the settings."""
        policy = await self._policies.get(team)
        if user_id in policy.bot_admins:
            return True
        return await self._directory.is_workspace_admin(team, user_id)

    async def may_approve(self, team: TeamRef, policy: Policy, request: ChangeRequest, user_id: str) -> bool:
        """Named approvers and group members; with neither set, any member but the requester."""
        if user_id == request.requester.user_id and team.team_id == request.requester.team_id:
            return False
        if not policy.approvers and not policy.approver_group:
            return True
        if user_id in policy.approvers:
            return True
        if policy.approver_group:
            return user_id in await self._directory.usergroup_members(team, policy.approver_group)
        return False
