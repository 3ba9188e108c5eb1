"""Reading the workspace's audit log for people: the recent entries, for a connected workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.domain import AuditEntry, TeamRef
from bot.services.experiments import ExperimentService
from bot.store.audit import AuditLog


class AuditTrail:
    def __init__(self, experiments: ExperimentService, audit: AuditLog) -> None:
        self._experiments = experiments
        self._audit = audit

    async def recent(self, team: TeamRef, test_id: int | None = None, limit: int = 20) -> list[AuditEntry]:
        """Newest first. Raises NotConnected for a workspace without a Mida project."""
        await self._experiments.workspace(team)
        return await self._audit.recent(team, limit=limit, test_id=test_id)

    def everything(self, team: TeamRef) -> AsyncIterator[AuditEntry]:
        """Every entry, oldest first (the CSV export; a workspace keeps its log after disconnecting)."""
        return self._audit.iterate(team)

    async def require_connected(self, team: TeamRef) -> None:
        await self._experiments.workspace(team)
