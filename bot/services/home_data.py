"""What the App Home tab shows, as plain values: built by `bot.services.home`, drawn by `bot.views.home`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain import AuditEntry, ChangeRequest, Person, Ramp, Region, TeamRef, Watch
from bot.mida.models import VariantResult
from bot.services.errors import BotError


@dataclass(frozen=True)
class Connection:
    project_key: str
    region: Region
    masked_key: str
    connected_by: Person
    connected_at: float
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None


@dataclass(frozen=True)
class ServingNow:
    test_id: int
    name: str
    variant_id: str
    rollout: float | None
    since: float | None  # when the bot served it, else when Mida last changed the experiment
    variants: tuple[VariantResult, ...] = ()  # names, when the bot's audit log knows them


@dataclass(frozen=True)
class HomeShared:
    """The part of the Home tab that is the same for everyone in the workspace."""

    team: TeamRef
    connection: Connection | None
    connection_error: BotError | None
    serving: list[ServingNow]
    serving_error: BotError | None
    pending: list[ChangeRequest]
    recent: list[AuditEntry]
    generated_at: float
    ramps: list[Ramp] = field(default_factory=list)  # the ones not finished, newest first
    watches: list[Watch] = field(default_factory=list)


@dataclass(frozen=True)
class HomeData:
    shared: HomeShared
    viewer: str
    is_admin: bool
    mine: list[ChangeRequest] = field(default_factory=list)
    waiting_on_me: list[ChangeRequest] = field(default_factory=list)
