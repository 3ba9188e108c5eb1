"""What the services need from the outside world, as protocols; the Slack layer implements them."""

from __future__ import annotations

from typing import Protocol

from bot.domain import ChangeRequest, TeamRef
from bot.mida.models import ExperimentResult


class Directory(Protocol):
    """Who people are in Slack."""

    async def is_workspace_admin(self, team: TeamRef, user_id: str) -> bool: ...

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]: ...


class Notifier(Protocol):
    """Tells the channel (and the people involved) that a request changed."""

    async def request_updated(self, request: ChangeRequest) -> None: ...

    async def followup(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None: ...
