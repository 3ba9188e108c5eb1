"""The approval policy and guardrail thresholds, changed by admins and recorded in the audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from bot.domain import (
    ApprovalMode,
    AuditEntry,
    AuditEvent,
    ChannelRules,
    Person,
    TeamRef,
)
from bot.services.access import Access
from bot.services.errors import InvalidInput
from bot.store.audit import AuditLog
from bot.store.rules import RulesStore

_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")
SETTINGS_WHAT = "change this workspace's approval settings"


@dataclass(frozen=True)
class RulesInForce:
    """The rules that apply in a channel, whether they are that channel's own, and the workspace's
    bot admins (a workspace setting, shown and edited with them)."""

    rules: ChannelRules
    channel_override: bool
    bot_admins: list[str]


class SettingsService:
    def __init__(self, rules: RulesStore, access: Access, audit: AuditLog) -> None:
        self._rules = rules
        self._access = access
        self._audit = audit

    async def in_force(self, team: TeamRef, channel_id: str | None) -> RulesInForce:
        rules = await self._rules.rules(team, channel_id)
        override = channel_id is not None and channel_id in await self._rules.channel_overrides(team)
        return RulesInForce(rules, override, (await self._rules.settings(team)).bot_admins)

    async def form(self, team: TeamRef, person: Person, channel_id: str | None) -> RulesInForce:
        """What the settings modal opens with; admins only."""
        await self._access.require_admin(team, person.user_id, SETTINGS_WHAT)
        return await self.in_force(team, channel_id)

    async def save(
        self,
        team: TeamRef,
        person: Person,
        *,
        mode: str | None,
        approvers: list[str],
        approver_group: str | None,
        approvals_needed: str | None,
        expiry_hours: str | None,
        audit_channel: str | None,
        bot_admins: list[str],
        channel_id: str | None,
        min_days_running: str | None = None,
        min_visitors_per_variant: str | None = None,
        min_conversions_per_variant: str | None = None,
        risky_loss_percent: str | None = None,
        followup_hours: str | None = None,
        guests_may_approve: bool | None = None,
    ) -> ChannelRules:
        """Validate and store; `channel_id` set means that channel's own rules. Bot admins are the
        workspace's whichever scope the form was saved for."""
        await self._access.require_admin(team, person.user_id, SETTINGS_WHAT)
        try:
            chosen_mode = ApprovalMode(mode or "")
        except ValueError:
            raise InvalidInput("policy_mode", "Choose when approval is required.") from None
        group = (approver_group or "").strip() or None
        if group is not None and not _GROUP_ID.match(group):
            raise InvalidInput("approver_group", "Enter a user group id like S0123ABCD, or leave it empty.")
        try:
            needed = int((approvals_needed or "1").strip())
        except ValueError:
            raise InvalidInput("approvals_needed", "Choose from 1 to 5 approvals.") from None
        if not 1 <= needed <= 5:
            raise InvalidInput("approvals_needed", "Choose from 1 to 5 approvals.")
        try:
            hours = float((expiry_hours or "24").strip())
        except ValueError:
            raise InvalidInput("expiry_hours", "Enter the number of hours a request stays open, e.g. 24.") from None
        if not 0 < hours <= 720 or hours != hours:
            raise InvalidInput("expiry_hours", "Enter a number of hours from 1 to 720.")

        min_days = _whole(min_days_running, "min_days_running", 0, 365, "Enter whole days from 0 to 365.")
        min_visitors = _whole(
            min_visitors_per_variant, "min_visitors_per_variant", 0, 10_000_000, "Enter a whole number of visitors."
        )
        min_conversions = _whole(
            min_conversions_per_variant,
            "min_conversions_per_variant",
            0,
            10_000_000,
            "Enter a whole number of conversions.",
        )
        risky = _risky_loss(risky_loss_percent)

        followups = _hours_list(followup_hours)

        current = (
            await self._rules.rules(team, channel_id) if channel_id else (await self._rules.settings(team)).defaults
        )
        try:
            rules = ChannelRules.model_validate(
                current.model_dump()
                | {
                    "mode": chosen_mode,
                    "approvers": sorted(set(approvers)),
                    "approver_group": group,
                    "approvals_needed": needed,
                    "expiry_hours": hours,
                    "audit_channel": audit_channel or None,
                    **({"min_days_running": min_days} if min_days is not None else {}),
                    **({"min_visitors_per_variant": min_visitors} if min_visitors is not None else {}),
                    **({"min_conversions_per_variant": min_conversions} if min_conversions is not None else {}),
                    **({"risky_loss_percent": risky} if risky is not None else {}),
                    **({"followup_hours": followups} if followups is not None else {}),
                    **({"guests_may_approve": guests_may_approve} if guests_may_approve is not None else {}),
                }
            )
        except ValidationError:
            raise InvalidInput("policy_mode", "These settings do not fit together; check them.") from None

        admins = sorted(set(bot_admins))
        await self._rules.save(team, channel_id, rules, admins)
        await self._audit.append(
            team,
            AuditEntry(
                event=AuditEvent.SETTINGS_CHANGED,
                actor=person,
                detail={"channel": channel_id, "policy": rules.model_dump(mode="json") | {"bot_admins": admins}},
            ),
        )
        return rules


def _whole(text: str | None, field: str, low: int, high: int, message: str) -> int | None:
    """An optional whole number in [low, high]; None when left empty."""
    cleaned = (text or "").strip()
    if not cleaned:
        return None
    # The length first: int() refuses strings of more than 4300 digits with a ValueError.
    if len(cleaned) > 12 or not (cleaned.isascii() and cleaned.isdigit()) or not low <= int(cleaned) <= high:
        raise InvalidInput(field, message)
    return int(cleaned)


def _risky_loss(text: str | None) -> float | None:
    """An optional percentage in (0, 100]; None when left empty."""
    cleaned = (text or "").strip().removesuffix("%").strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned) if len(cleaned) <= 8 else float("nan")
    except ValueError:
        value = float("nan")
    if not 0 < value <= 100:  # also refuses nan
        raise InvalidInput("risky_loss_percent", "Enter a percentage above 0 and at most 100, like 5.")
    return value


def _hours_list(text: str | None) -> list[float] | None:
    """'1, 24, 168' → [1.0, 24.0, 168.0]; None when the field was not in the form."""
    if text is None:
        return None
    hours: list[float] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise InvalidInput("followup_hours", "Enter hours separated by commas, like 1, 24, 168.") from None
        if not 0 < value <= 24 * 90:
            raise InvalidInput("followup_hours", "Each follow-up must be between 0 and 2160 hours after serving.")
        hours.append(value)
    if len(hours) > 10:
        raise InvalidInput("followup_hours", "Ten follow-ups at most.")
    return sorted(set(hours))
