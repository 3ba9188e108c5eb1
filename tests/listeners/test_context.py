"""`team_of` / `person_of` on the bodies Slack really sends, read the way the bot reads them: the raw
body through `bolt_body` into Bolt's own request, whose context Bolt fills in (so the test also
pins what Bolt puts in `context.team_id` / `context.enterprise_id` for each shape).

The shapes are copied from slack-bolt's test suite (github.com/slackapi/bolt-python, tests/),
named per case; only ids were changed where a case needs two teams to differ."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.domain import Person, TeamRef
from bot.listeners.context import person_of, team_of
from bot.slack.bodies import bolt_body

# tests/scenario_tests_async/test_block_actions.py `body`: a click on Enterprise Grid.
GRID_CLICK: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "W111", "username": "primary-owner", "name": "primary-owner", "team_id": "T111"},
    "api_app_id": "A111",
    "token": "verification_token",
    "container": {"type": "message", "message_ts": "111.222", "channel_id": "C111", "is_ephemeral": True},
    "trigger_id": "111.222.valid",
    "team": {"id": "T111", "domain": "workspace-domain", "enterprise_id": "E111", "enterprise_name": "Sandbox Org"},
    "channel": {"id": "C111", "name": "test-channel"},
    "response_url": "https://hooks.slack.com/actions/T111/111/random-value",
    "actions": [{"action_id": "a", "block_id": "b", "text": {"type": "plain_text", "text": "Button", "emoji": True},
                 "value": "click_me_123", "type": "button", "action_ts": "1596530385.194939"}],
}

# tests/slack_bolt/request/test_request.py `test_org_wide_installations_block_actions`: `team` is
# null on an org-wide install; the workspace is only in the user's `team_id`.
ORG_WIDE_CLICK: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": "W111", "username": "primary-owner", "name": "primary-owner", "team_id": "T_expected"},
    "api_app_id": "A111",
    "token": "fixed-value",
    "container": {"type": "message", "message_ts": "1643113871.000700", "channel_id": "C111", "is_ephemeral": True},
    "trigger_id": "111.222.xxx",
    "team": None,
    "enterprise": {"id": "E111", "name": "Sandbox Org"},
    "is_enterprise_install": True,
    "channel": {"id": "C111", "name": "random"},
    "state": {"values": {}},
    "response_url": "https://hooks.slack.com/actions/E111/111/xxx",
    "actions": [{"action_id": "a", "block_id": "b", "text": {"type": "plain_text", "text": "Button"},
                 "value": "click_me_123", "type": "button", "action_ts": "1643113877.645417"}],
}

# tests/slack_bolt/request/test_request.py `test_org_wide_installations_view_submission` (blocks
# left out): `team` null and the user's team is NOT the workspace the app is installed in; only
# `view.app_installed_team_id` names it.
ORG_WIDE_SUBMISSION: dict[str, Any] = {
    "type": "view_submission",
    "team": None,
    "user": {"id": "W111", "username": "primary-owner", "name": "primary-owner", "team_id": "T_unexpected"},
    "api_app_id": "A111",
    "token": "fixed-value",
    "trigger_id": "1111.222.xxx",
    "view": {
        "id": "V111", "team_id": "T_unexpected", "type": "modal", "blocks": [], "private_metadata": "",
        "callback_id": "view-id", "state": {"values": {"+5B": {"MMKH": {"type": "plain_text_input", "value": "test"}}}},
        "hash": "111.xxx", "title": {"type": "plain_text", "text": "My App"}, "previous_view_id": None,
        "root_view_id": "V111", "app_id": "A111", "external_id": "", "app_installed_team_id": "T_expected",
        "bot_id": "B111",
    },
    "response_urls": [],
    "is_enterprise_install": True,
    "enterprise": {"id": "E111", "name": "Sandbox Org"},
}

# tests/scenario_tests_async/test_slash_command.py `slash_command_body`: a form, on Grid.
GRID_COMMAND = (
    "token=verification_token&team_id=T111&team_domain=test-domain&channel_id=C111&channel_name=random"
    "&user_id=W111&user_name=primary-owner&command=%2Fhello-world&text=Hi&enterprise_id=E111"
    "&enterprise_name=Org+Name&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT111%2F111%2Fxxxxx"
    "&trigger_id=111.111.xxx"
)


def interaction(body: dict[str, Any]) -> str:
    return f"payload={quote(json.dumps(body))}"


def bolt(raw: str) -> tuple[dict[str, Any], AsyncBoltContext]:
    """The body and context a listener gets for this raw form body (as bot/web/slack_events.py builds them)."""
    request = AsyncBoltRequest(body=bolt_body(raw, "application/x-www-form-urlencoded"), query="", headers={})
    return request.body, request.context


def edited(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = copied
        for key in parents:
            node = node[key]
        node[last] = value
    return copied


@pytest.mark.parametrize(
    ("raw", "team", "person"),
    [
        pytest.param(interaction(GRID_CLICK), TeamRef(team_id="T111", enterprise_id="E111"),
                     Person(user_id="W111", team_id="T111"), id="grid click"),
        # On Grid a click carries the person's home workspace: the workspace is still the channel's.
        pytest.param(interaction(edited(GRID_CLICK, user__team_id="T_HOME")),
                     TeamRef(team_id="T111", enterprise_id="E111"), Person(user_id="W111", team_id="T_HOME"),
                     id="grid click, home team elsewhere"),
        # Slack Connect: a person of another organisation clicks in a channel shared with this one.
        pytest.param(interaction(edited(GRID_CLICK, user__id="U_OTHER_ORG", user__team_id="T_OTHER_ORG")),
                     TeamRef(team_id="T111", enterprise_id="E111"),
                     Person(user_id="U_OTHER_ORG", team_id="T_OTHER_ORG"), id="slack connect click"),
        pytest.param(interaction(edited(GRID_CLICK, team={"id": "T111", "domain": "workspace-domain"})),
                     TeamRef(team_id="T111"), Person(user_id="W111", team_id="T111"), id="plain workspace click"),
        pytest.param(interaction(ORG_WIDE_CLICK), TeamRef(team_id="T_expected", enterprise_id="E111"),
                     Person(user_id="W111", team_id="T_expected"), id="org-wide click, team null"),
        pytest.param(interaction(ORG_WIDE_SUBMISSION), TeamRef(team_id="T_expected", enterprise_id="E111"),
                     Person(user_id="W111", team_id="T_unexpected"), id="org-wide submission, team null"),
        pytest.param(GRID_COMMAND, TeamRef(team_id="T111", enterprise_id="E111"),
                     Person(user_id="W111", team_id="T111"), id="grid command"),
        pytest.param(urlencode({"team_id": "T1", "user_id": "U1", "channel_id": "C1", "command": "/mida",
                                "text": "results 1234", "channel_name": "payload-team"}),
                     TeamRef(team_id="T1"), Person(user_id="U1", team_id="T1"), id="command in #payload-team"),
    ],
)
def test_team_and_person_of_what_slack_sends(raw: str, team: TeamRef, person: Person) -> None:
    body, context = bolt(raw)
    assert team_of(body, context) == team
    assert team_of(body, context).enterprise_id == team.enterprise_id  # TeamRef equality is by value
    found = person_of(body, context)
    assert (found.user_id, found.team_id) == (person.user_id, person.team_id)  # Person equality is by user only


def test_the_workspace_key_differs_between_grid_and_a_plain_workspace() -> None:
    """The Redis keys of a Grid workspace carry its enterprise: a Grid body must not land on a plain one's data."""
    assert team_of(*bolt(interaction(GRID_CLICK))).key == "E111:T111"
    assert team_of(*bolt(interaction(edited(GRID_CLICK, team={"id": "T111"})))).key == "T111"


@pytest.mark.parametrize(
    ("body", "team", "person"),
    [
        ({"team_id": "T1", "user_id": "U1"}, TeamRef(team_id="T1"), ("U1", "T1")),
        ({"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T_HOME"}}, TeamRef(team_id="T1"), ("U1", "T_HOME")),
        ({"team": {"id": "T1"}, "user": {"id": "U1"}}, TeamRef(team_id="T1"), ("U1", "")),
        ({"team": None, "user": {"id": "U1"}}, TeamRef(team_id=""), ("U1", "")),
        ({}, TeamRef(team_id=""), ("", "")),
    ],
)
def test_without_a_context_the_body_names_the_team(body, team, person) -> None:
    """Listeners driven without Bolt (the unit tests here) pass an empty context: the body decides."""
    assert team_of(body, AsyncBoltContext()) == team
    found = person_of(body, AsyncBoltContext())
    assert (found.user_id, found.team_id) == person


def test_the_context_wins_over_the_body() -> None:
    context = AsyncBoltContext(team_id="T_CTX", enterprise_id="E_CTX")
    assert team_of({"team_id": "T_BODY", "team": {"id": "T_BODY2"}}, context) == TeamRef(
        team_id="T_CTX", enterprise_id="E_CTX"
    )
    assert person_of({"user": {"id": "U1"}}, context).team_id == "T_CTX"
