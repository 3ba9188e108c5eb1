"""SettingsService over the real rules store and audit log (test Redis), with an in-memory
directory for who is an admin: what is in force, who may open and save the form, and which field
each bad value is reported on (the modal shows it there)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import ApprovalMode, AuditEvent, ChannelRules, Person, TeamRef
from bot.services.access import Access
from bot.services.errors import AdminOnly, InvalidInput
from bot.services.ports import Profile
from bot.services.settings import SettingsService
from bot.store.audit import AuditLog
from bot.store.rules import RulesStore

TEAM = TeamRef(team_id="T1")
ADMIN = Person(user_id="U_ADMIN", team_id="T1")
MEMBER = Person(user_id="U_MEMBER", team_id="T1")
CHANNEL = "C1"


class Directory:
    def __init__(self, *profiles: Profile) -> None:
        self.profiles = {p.user_id: p for p in profiles}

    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return self.profiles.get(user_id)

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return set()


@pytest.fixture
def parts(redis) -> tuple[SettingsService, RulesStore, AuditLog]:
    rules, audit = RulesStore(redis), AuditLog(redis)
    directory = Directory(Profile(ADMIN.user_id, "T1", is_admin=True), Profile(MEMBER.user_id, "T1"))
    return SettingsService(rules, Access(rules, directory), audit), rules, audit


def form(**changes: Any) -> dict[str, Any]:
    """A valid settings form, as the listener passes it; `changes` spoil or fill fields."""
    return {
        "mode": ApprovalMode.EVERY_CHANGE.value,
        "approvers": ["U2", "U1", "U2"],
        "approver_group": None,
        "approvals_needed": "2",
        "expiry_hours": "48",
        "audit_channel": None,
        "bot_admins": [],
        "channel_id": None,
    } | changes


async def test_a_saved_form_is_in_force_and_audited(parts) -> None:
    service, _, audit = parts
    saved = await service.save(TEAM, ADMIN, **form(bot_admins=["U_B", "U_A", "U_B"], audit_channel="C_AUDIT"))
    assert saved.mode is ApprovalMode.EVERY_CHANGE
    assert saved.approvers == ["U1", "U2"] and saved.approvals_needed == 2 and saved.expiry_hours == 48
    now = await service.in_force(TEAM, None)
    assert now.rules == saved and now.channel_override is False and now.bot_admins == ["U_A", "U_B"]
    [entry] = await audit.recent(TEAM)
    assert entry.event is AuditEvent.SETTINGS_CHANGED and entry.actor == ADMIN
    assert entry.detail["channel"] is None
    assert entry.detail["policy"]["approvals_needed"] == 2 and entry.detail["policy"]["bot_admins"] == ["U_A", "U_B"]


async def test_fields_left_out_of_the_form_keep_their_values(parts) -> None:
    service, rules, _ = parts
    await service.save(TEAM, ADMIN, **form(min_days_running="30", followup_hours="2"))
    await service.save(TEAM, ADMIN, **form(approvals_needed="3"))  # no guardrail or follow-up fields this time
    kept = await rules.rules(TEAM, None)
    assert kept.approvals_needed == 3 and kept.min_days_running == 30 and kept.followup_hours == [2.0]


async def test_a_channel_form_overrides_that_channel_only(parts) -> None:
    service, rules, audit = parts
    await service.save(TEAM, ADMIN, **form(min_days_running="10"))
    await service.save(TEAM, ADMIN, **form(channel_id=CHANNEL, mode="off", bot_admins=["U_A"]))
    channel, workspace = await service.in_force(TEAM, CHANNEL), await service.in_force(TEAM, "C_OTHER")
    assert channel.channel_override and channel.rules.mode is ApprovalMode.OFF
    assert channel.rules.min_days_running == 10  # started from the workspace's defaults
    assert not workspace.channel_override and workspace.rules.mode is ApprovalMode.EVERY_CHANGE
    assert (await rules.settings(TEAM)).bot_admins == ["U_A"]  # bot admins are the workspace's, whatever the scope
    assert (await audit.recent(TEAM))[0].detail["channel"] == CHANNEL


@pytest.mark.parametrize("who", [MEMBER, Person(user_id="U_NOBODY", team_id="T1")])
async def test_only_an_admin_opens_or_saves_the_form(parts, who) -> None:
    service, rules, audit = parts
    with pytest.raises(AdminOnly):
        await service.form(TEAM, who, None)
    with pytest.raises(AdminOnly):
        await service.save(TEAM, who, **form(bot_admins=[who.user_id]))
    assert (await rules.settings(TEAM)).bot_admins == [] and await audit.recent(TEAM) == []


async def test_a_bot_admin_named_in_the_settings_may_then_save(parts) -> None:
    service, _, _ = parts
    await service.save(TEAM, ADMIN, **form(bot_admins=[MEMBER.user_id]))
    assert (await service.form(TEAM, MEMBER, None)).bot_admins == [MEMBER.user_id]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": None}, "policy_mode"),
        ({"mode": "sometimes"}, "policy_mode"),
        ({"approver_group": "s0123abcd"}, "approver_group"),
        ({"approver_group": "U0123ABCD"}, "approver_group"),
        ({"approvals_needed": "0"}, "approvals_needed"),
        ({"approvals_needed": "6"}, "approvals_needed"),
        ({"approvals_needed": "1.0"}, "approvals_needed"),
        ({"approvals_needed": "two"}, "approvals_needed"),
        ({"expiry_hours": "0"}, "expiry_hours"),
        ({"expiry_hours": "721"}, "expiry_hours"),
        ({"expiry_hours": "nan"}, "expiry_hours"),
        ({"expiry_hours": "inf"}, "expiry_hours"),
        ({"expiry_hours": "a day"}, "expiry_hours"),
        ({"min_days_running": "366"}, "min_days_running"),
        ({"min_days_running": "-1"}, "min_days_running"),
        ({"min_days_running": "7.5"}, "min_days_running"),
        ({"min_days_running": "٧"}, "min_days_running"),  # an Arabic-Indic seven
        ({"min_days_running": "9" * 5000}, "min_days_running"),  # past int()'s digit limit
        ({"min_visitors_per_variant": "10000001"}, "min_visitors_per_variant"),
        ({"followup_hours": "1, soon"}, "followup_hours"),
        ({"followup_hours": "0"}, "followup_hours"),
        ({"followup_hours": "2161"}, "followup_hours"),
        ({"followup_hours": "nan"}, "followup_hours"),
        ({"followup_hours": ",".join(str(h) for h in range(1, 12))}, "followup_hours"),
    ],
)
async def test_a_bad_value_names_its_field_and_nothing_changes(parts, changes, field) -> None:
    service, rules, audit = parts
    with pytest.raises(InvalidInput) as raised:
        await service.save(TEAM, ADMIN, **form(**changes))
    assert raised.value.field == field and raised.value.message
    assert await rules.rules(TEAM, None) == ChannelRules() and await audit.recent(TEAM) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"approvals_needed": None, "expiry_hours": None}, {"approvals_needed": 1, "expiry_hours": 24}),
        ({"approvals_needed": " 5 ", "expiry_hours": " 0.5 "}, {"approvals_needed": 5, "expiry_hours": 0.5}),
        ({"approver_group": "  S0123ABCD "}, {"approver_group": "S0123ABCD"}),
        ({"approver_group": "   "}, {"approver_group": None}),
        ({"audit_channel": ""}, {"audit_channel": None}),
        ({"min_days_running": " 0 ", "min_visitors_per_variant": "10000000"},
         {"min_days_running": 0, "min_visitors_per_variant": 10_000_000}),
        ({"min_days_running": "", "min_visitors_per_variant": None}, {"min_days_running": 7, "min_visitors_per_variant": 100}),
        ({"followup_hours": "168; 1, 24,24 ,"}, {"followup_hours": [1.0, 24.0, 168.0]}),
        ({"followup_hours": ""}, {"followup_hours": []}),  # the field emptied: no follow-ups
        ({"followup_hours": None}, {"followup_hours": [1.0, 24.0, 168.0]}),  # the field not in the form
        ({"guests_may_approve": True}, {"guests_may_approve": True}),
    ],
)
async def test_accepted_values_are_stored_cleaned(parts, changes, expected) -> None:
    service, rules, _ = parts
    await service.save(TEAM, ADMIN, **form(**changes))
    stored = (await rules.rules(TEAM, None)).model_dump()
    assert {k: stored[k] for k in expected} == expected
