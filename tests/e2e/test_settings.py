"""/mida settings over HTTP: admins only, values validated on their field, policy stored and used."""

from __future__ import annotations

import json

import pytest

from bot.domain import ApprovalMode, TeamRef
from bot.views import ids
from standins.flows import connect
from standins.people import ADMIN, ALICE, BOB, CHANNEL, TEAM
from standins.slack_requests import plain, radio, select, users


def settings_values(**overrides):
    values = {
        ids.POLICY_MODE: radio("every_change"),
        ids.APPROVERS: users([BOB]),
        ids.APPROVER_GROUP: plain(None),
        ids.APPROVALS_NEEDED: select("2"),
        ids.EXPIRY_HOURS: plain("12"),
        ids.BOT_ADMINS: users([ALICE]),
        ids.MIN_DAYS_RUNNING: plain("10"),
        ids.MIN_VISITORS: plain("500"),
        ids.MIN_CONVERSIONS: plain("40"),
        ids.RISKY_LOSS: plain("2.5 %"),
        ids.FOLLOWUP_HOURS: plain("2, 48"),
        ids.POLICY_CHANNEL: radio(ids.POLICY_SCOPE_WORKSPACE),
    }
    values.update(overrides)
    return values


def open_settings(slack, slack_api, user=ADMIN):
    before = len(slack_api.calls("views.open"))
    slack.command("settings", user_id=user, channel_id=CHANNEL)
    return slack_api.wait_for("views.open", count=before + 1)[-1]["view"]


def test_admin_changes_the_policy(bot, slack, slack_api):
    connect(slack, slack_api)
    view = open_settings(slack, slack_api)
    assert view["callback_id"] == ids.SETTINGS_MODAL
    response = slack.submit(ids.SETTINGS_MODAL, settings_values(), user_id=ADMIN, view=view)
    assert response.status_code == 200 and "errors" not in response.text

    policy = bot.run(bot.deps.rules.settings(TeamRef(team_id=TEAM)))
    assert policy.mode is ApprovalMode.EVERY_CHANGE
    assert policy.approvers == [BOB] and policy.approvals_needed == 2 and policy.expiry_hours == 12
    assert policy.bot_admins == [ALICE]
    assert (policy.min_days_running, policy.min_visitors_per_variant) == (10, 500)
    assert (policy.min_conversions_per_variant, policy.risky_loss_percent) == (40, 2.5)
    assert policy.followup_hours == [2.0, 48.0]

    # Alice is now a bot admin: she may open settings too.
    view = open_settings(slack, slack_api, user=ALICE)
    assert view["callback_id"] == ids.SETTINGS_MODAL


@pytest.mark.cluster
def test_a_channel_override_applies_to_that_channel_only(bot, slack, slack_api):
    connect(slack, slack_api)
    view = open_settings(slack, slack_api)
    values = settings_values(**{ids.POLICY_CHANNEL: radio(ids.POLICY_SCOPE_CHANNEL), ids.POLICY_MODE: radio("off")})
    assert "errors" not in slack.submit(ids.SETTINGS_MODAL, values, user_id=ADMIN, view=view).text
    assert bot.run(bot.deps.rules.rules(TeamRef(team_id=TEAM), CHANNEL)).mode is ApprovalMode.OFF
    assert bot.run(bot.deps.rules.rules(TeamRef(team_id=TEAM), "C_OTHER")).mode is ApprovalMode.SERVING_AND_INCREASES


def test_bad_values_are_errors_on_their_fields_and_nothing_changes(bot, slack, slack_api):
    connect(slack, slack_api)
    view = open_settings(slack, slack_api)
    for block, bad in [
        (ids.EXPIRY_HOURS, plain("-3")),
        (ids.EXPIRY_HOURS, plain("NaN")),
        (ids.APPROVER_GROUP, plain("everyone")),
        (ids.MIN_DAYS_RUNNING, plain("1e3")),
        (ids.MIN_CONVERSIONS, plain("-1")),
        (ids.RISKY_LOSS, plain("0")),
        (ids.RISKY_LOSS, plain("120")),
        (ids.RISKY_LOSS, plain("nan")),
        (ids.RISKY_LOSS, plain("lots")),
        (ids.FOLLOWUP_HOURS, plain("soon")),
    ]:
        body = slack.submit(ids.SETTINGS_MODAL, settings_values(**{block: bad}), user_id=ADMIN, view=view).json()
        assert body["response_action"] == "errors" and block in body["errors"], block
    assert bot.run(bot.deps.rules.settings(TeamRef(team_id=TEAM))).mode is ApprovalMode.SERVING_AND_INCREASES


def test_a_non_admin_cannot_open_or_submit_settings(bot, slack, slack_api):
    connect(slack, slack_api)
    before = len(slack_api.calls("views.open"))
    slack.command("settings", user_id=BOB, channel_id=CHANNEL)
    assert "admin" in json.dumps(slack_api.wait_for_response("cmd")[-1]).lower()
    assert len(slack_api.calls("views.open")) == before
    body = slack.submit(ids.SETTINGS_MODAL, settings_values(), user_id=BOB, private_metadata=CHANNEL).json()
    assert body["response_action"] == "errors"
    assert bot.run(bot.deps.rules.settings(TeamRef(team_id=TEAM))).mode is ApprovalMode.SERVING_AND_INCREASES


def _modal_text(slack, slack_api, channel: str) -> str:
    updates = len(slack_api.calls("views.update"))
    slack.command("serve-winner 1234 1 25", user_id=ALICE, channel_id=channel)
    view = slack_api.view(slack_api.wait_for("views.update", count=updates + 1)[-1]["view_id"])
    assert view["callback_id"] == ids.CHANGE_MODAL
    return json.dumps(view["blocks"])


def test_a_channels_guardrail_thresholds_apply_in_that_channel(bot, slack, slack_api):
    """The workspace asks for 365 days, this channel for none: the confirm modal in the channel does
    not warn, one in another channel does (experiment 1234 has run 15 days)."""
    connect(slack, slack_api)
    view = open_settings(slack, slack_api)
    workspace = settings_values(**{ids.MIN_DAYS_RUNNING: plain("365"), ids.MIN_VISITORS: plain("0")})
    assert slack.submit(ids.SETTINGS_MODAL, workspace, user_id=ADMIN, view=view).text == ""
    channel = settings_values(**{ids.POLICY_CHANNEL: radio(ids.POLICY_SCOPE_CHANNEL),
                                 ids.MIN_DAYS_RUNNING: plain("0"), ids.MIN_VISITORS: plain("0")})
    assert slack.submit(ids.SETTINGS_MODAL, channel, user_id=ADMIN, view=view).text == ""

    assert "at least 365" not in _modal_text(slack, slack_api, CHANNEL)
    assert "Too early" not in _modal_text(slack, slack_api, CHANNEL)
    assert "Too early: running 15 days (at least 365)." in _modal_text(slack, slack_api, "C_OTHER")
