"""When Slack takes the bot away from a workspace (`app_uninstalled`, or `tokens_revoked` for the
bot token): forget the installation and the workspace's Mida credentials, cancel its pending
requests and scheduled follow-ups, so a reinstall starts clean.

Kept on purpose: the audit log (the only record of who did what in Mida, and it gains an entry
for every cancellation here) and the approval policy (configuration, no secret in it).

Safe to run twice (Slack retries events; several processes may receive them): each step is
idempotent, and a request is cancelled by exactly one caller (an atomic transition).

Nothing here lists keys (no SCAN, which on a Redis Cluster would have to visit every node): the
workspace's keys are reached from records and indexes (see `bot.store.keys`), and the workspaces
of an org from the org's index (`bot.store.orgs`). An org-wide uninstall forgets each workspace
before removing it from that index, so a crash half-way leaves the rest to the retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.domain import AuditEntry, AuditEvent, RequestStatus, TeamRef
from bot.store.audit import AuditLog
from bot.store.followups import FollowupStore
from bot.store.installations import RedisInstallationStore
from bot.store.orgs import OrgIndex
from bot.store.requests import RequestStore
from bot.store.workspaces import WorkspaceStore

log = logging.getLogger(__name__)

CAUSE_UNINSTALLED = "app_uninstalled"
CAUSE_REVOKED = "tokens_revoked"
_MAX_ROUNDS = 100  # pending requests are cancelled 100 at a time; a workspace never has this many rounds

ForgetHook = Callable[[TeamRef], Awaitable[None]]


@dataclass
class UninstallReport:
    """What one uninstall removed (for logs and tests)."""

    installation_deleted: bool = False
    disconnected: list[TeamRef] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    followups: int = 0


class UninstallService:
    def __init__(
        self,
        *,
        workspaces: WorkspaceStore,
        requests: RequestStore,
        audit: AuditLog,
        followups: FollowupStore,
        orgs: OrgIndex,
        installations: RedisInstallationStore | None = None,
        forget_token: Callable[[str | None, str | None], None] | None = None,
        forget_hooks: list[ForgetHook] | None = None,
    ) -> None:
        """`installations` is None in single-workspace mode (the token is in the settings).
        `forget_token(enterprise_id, team_id)` drops an in-process token cache entry;
        `forget_hooks` clear other per-workspace state (e.g. who has the Home tab open)."""
        self._workspaces = workspaces
        self._followups = followups
        self._orgs = orgs
        self._requests = requests
        self._audit = audit
        self._installations = installations
        self._forget_token = forget_token
        self._forget_hooks = list(forget_hooks or [])

    async def app_uninstalled(
        self, team: TeamRef, *, org_wide: bool = False, cause: str = CAUSE_UNINSTALLED
    ) -> UninstallReport:
        """The bot is gone from `team` (or, `org_wide`, from every workspace of its org)."""
        report = UninstallReport()
        enterprise_id = team.enterprise_id
        team_id = None if org_wide else team.team_id
        if self._installations is not None:
            await self._installations.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)
            report.installation_deleted = True
        if self._forget_token is not None:
            self._forget_token(enterprise_id, team_id)

        if not org_wide:
            await self._forget_workspace(team, cause, report)
            await self._orgs.remove(team)
        else:
            assert enterprise_id is not None, "an org-wide uninstall names its enterprise"
            for each in await self._orgs.teams(enterprise_id):
                if self._installations is not None:  # a workspace-level install of the org, if any
                    await self._installations.async_delete_all(enterprise_id=enterprise_id, team_id=each.team_id)
                await self._forget_workspace(each, cause, report)
                await self._orgs.remove(each)
        log.info(
            "uninstalled",
            extra={
                "team": team.key,
                "org_wide": org_wide,
                "cause": cause,
                "workspaces": len(report.disconnected),
                "cancelled": len(report.cancelled),
            },
        )
        return report

    async def tokens_revoked(
        self, team: TeamRef, *, bot_user_ids: list[str], user_ids: list[str], org_wide: bool = False
    ) -> UninstallReport | None:
        """A revoked bot token is an uninstall; revoked user tokens only drop those installers."""
        if bot_user_ids:
            return await self.app_uninstalled(team, org_wide=org_wide, cause=CAUSE_REVOKED)
        if self._installations is not None:
            for user_id in user_ids:
                await self._installations.async_delete_installation(
                    enterprise_id=team.enterprise_id, team_id=None if org_wide else team.team_id, user_id=user_id
                )
        return None

    # -- one workspace ------------------------------------------------------------------------

    async def _forget_workspace(self, team: TeamRef, cause: str, report: UninstallReport) -> None:
        if await self._workspaces.delete(team):
            report.disconnected.append(team)
            await self._audit.append(team, AuditEntry(event=AuditEvent.DISCONNECTED, detail={"cause": cause}))
        report.cancelled += await self._cancel_pending(team, cause)
        report.followups += await self._followups.cancel_all(team)
        for hook in self._forget_hooks:
            await hook(team)

    async def _cancel_pending(self, team: TeamRef, cause: str) -> list[str]:
        cancelled: list[str] = []
        for _ in range(_MAX_ROUNDS):
            batch = await self._requests.pending(team, limit=100)
            if not batch:
                break
            moved = 0
            for request in batch:
                done = await self._requests.transition(
                    team, request.id, RequestStatus.CANCELLED, expected={RequestStatus.PENDING}
                )
                if done is None:
                    continue  # someone else decided it in the meantime
                moved += 1
                cancelled.append(request.id)
                await self._audit.append(
                    team,
                    AuditEntry(
                        event=AuditEvent.CANCELLED,
                        request_id=request.id,
                        test_id=request.change.test_id,
                        change=request.change,
                        detail={"cause": cause},
                    ),
                )
            if moved == 0:
                break
        return cancelled
