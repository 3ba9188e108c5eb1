"""What the services need from the outside world, as protocols; the Slack layer implements them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.domain import ChangeRequest, Ramp, TeamRef, Watch, WatchAlert
from bot.mida.models import ExperimentResult


@dataclass(frozen=True)
class Profile:
    """What Slack says about a person (users.info), as far as deciding who may act goes."""

    user_id: str
    team_id: str
    enterprise_id: str | None = None
    # On Enterprise Grid: the workspaces of the organisation the person belongs to.
    teams: frozenset[str] = field(default_factory=frozenset)
    is_guest: bool = False  # a single- or multi-channel guest
    is_bot: bool = False
    deleted: bool = False
    is_admin: bool = False  # a workspace admin, owner or primary owner


class Directory(Protocol):
    """Who people are in Slack."""

    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        """None when Slack could not be asked or did not answer."""
        ...

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]: ...


class Notifier(Protocol):
    """Tells the channel (and the people involved) that a request changed."""

    async def request_updated(self, request: ChangeRequest) -> None: ...

    async def followup(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None: ...

    async def ramp_updated(self, ramp: Ramp) -> None:
        """Re-render the ramp's plan card (the plan request's card)."""

    async def watch_alert(self, watch: Watch, alert: WatchAlert) -> None:
        """Post an alert where the watch says (the channel, or a card's thread)."""

    async def ramp_note(self, ramp: Ramp, kind: str, words: str, post: ExperimentResult | None) -> None:
        """A reply in the plan card's thread: a step, a pause, a wait, a resume, an abort."""
