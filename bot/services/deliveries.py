"""Slack delivers an event again when it did not see our 200 in time; only the first delivery of
an event id should do anything."""

from __future__ import annotations

from bot.domain import TeamRef
from bot.store.dedupe import Dedupe

EVENT_DEDUPE_TTL = 2 * 3600  # Slack retries for about an hour at most


class Deliveries:
    def __init__(self, dedupe: Dedupe) -> None:
        self._dedupe = dedupe

    async def first_delivery(self, team: TeamRef, event_id: str) -> bool:
        """True the first time this event id arrives for this workspace (or, for an event that
        names only its enterprise, for that enterprise)."""
        scope = team if team.team_id else f"enterprise-{team.enterprise_id or 'none'}"
        return await self._dedupe.first_time(scope, f"event:{event_id}", EVENT_DEDUPE_TTL)
