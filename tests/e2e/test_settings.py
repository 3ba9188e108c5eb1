"""/mida settings over HTTP: admins only, values validated on their field, policy stored and used."""

from __future__ import annotations

import json

import pytest

from bot.domain import ApprovalMode, TeamRef
from bot.views import ids
from tests.e2e.flows import ADMIN, ALICE, BOB, CHANNEL, TEAM, connect
from tests.support.slack_requests import plain, radio, select, users


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

    policy = bot.run(bot.deps.policies.get(TeamRef(team_id=TEAM)))
    assert policy.mode is ApprovalMode.EVERY_CHANGE
    assert policy.approvers == [BOB] and policy.approvals_needed == 2 and policy.expiry_hours == 12
    assert policy.bot_admins == [ALICE]
    assert (policy.min_days_running, policy.min_visitors_per_variant) == (10, 500)
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
    assert bot.run(bot.deps.policies.get(TeamRef(team_id=TEAM), CHANNEL)).mode is ApprovalMode.OFF
    assert bot.run(bot.deps.policies.get(TeamRef(team_id=TEAM), "C_OTHER")).mode is ApprovalMode.SERVING_AND_INCREASES


def test_bad_values_are_errors_on_their_fields_and_nothing_changes(bot, slack, slack_api):
    connect(slack, slack_api)
    view = open_settings(slack, slack_api)
    for block, bad in [
        (ids.EXPIRY_HOURS, plain("-3")),
        (ids.EXPIRY_HOURS, plain("NaN")),
        (ids.APPROVER_GROUP, plain("everyone")),
        (ids.MIN_DAYS_RUNNING, plain("1e3")),
        (ids.FOLLOWUP_HOURS, plain("soon")),
    ]:
        body = slack.submit(ids.SETTINGS_MODAL, settings_values(**{block: bad}), user_id=ADMIN, view=view).json()
        assert body["response_action"] == "errors" and block in body["errors"], block
    assert bot.run(bot.deps.policies.get(TeamRef(team_id=TEAM))).mode is ApprovalMode.SERVING_AND_INCREASES


def test_a_non_admin_cannot_open_or_submit_settings(bot, slack, slack_api):
    connect(slack, slack_api)
    before = len(slack_api.calls("views.open"))
    slack.command("settings", user_id=BOB, channel_id=CHANNEL)
    assert "admin" in json.dumps(slack_api.wait_for_response("cmd")[-1]).lower()
    assert len(slack_api.calls("views.open")) == before
    body = slack.submit(ids.SETTINGS_MODAL, settings_values(), user_id=BOB, private_metadata=CHANNEL).json()
    assert body["response_action"] == "errors"
    assert bot.run(bot.deps.policies.get(TeamRef(team_id=TEAM))).mode is ApprovalMode.SERVING_AND_INCREASES
