"""Who may decide, over real HTTP: only members of the request's workspace approve or reject (users.info
says who is from another organisation, a guest, a bot, deactivated); on Enterprise Grid a person is
their user id, whatever team a click or a submission names."""

from __future__ import annotations

import time

import pytest

from bot.domain import RequestStatus, TeamRef
from bot.views import ids
from standins.bot_server import BOT_TOKEN
from standins.flows import open_change_modal, submit_change
from standins.people import ADMIN, CHANNEL, TEAM
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.slack_requests import checkboxes, plain, radio, select
from standins.waiting import wait_until
from tests.e2e.helpers import audit_entries, request_card, request_serve, serve_writes

OTHER_ORG_TEAM = "T0OTHERORG"

REFUSED_OTHER_ORG = (
    "Only members of this workspace can approve or reject its changes — you're in another organisation "
    "(Slack Connect). Nothing was changed."
)
REFUSED_GUEST = "Guests can't approve or reject changes in this workspace. Nothing was changed."
REFUSED_BOT = "Bot users can't approve or reject changes. Nothing was changed."
REFUSED_DEACTIVATED = "Deactivated accounts can't approve or reject changes. Nothing was changed."
REFUSED_UNVERIFIED = (
    "The bot could not check who you are with Slack just now, so your click was not counted. "
    "Nothing was changed; try again in a minute."
)


def assert_refused_privately(bot, slack, slack_api, mida_sandbox, clean_redis, request_id: str, user: str,
                             expected: str, *, user_team: str = TEAM) -> None:
    """Approve, then Reject, clicked by `user`: each answered privately with `expected`, and nothing
    else happens — no Mida call, no approval, no audit entry, no reject modal."""
    before = audit_entries(clean_redis)
    mida_sandbox.clear_requests()
    opened = len(slack_api.calls("views.open"))
    for n, action in enumerate((ids.APPROVE, ids.REJECT), start=1):
        answer = slack.action(action, request_id, user_id=user, team_id=TEAM, user_team_id=user_team,
                              channel_id=CHANNEL)
        assert answer.status_code == 200
        refusal = slack_api.wait_for_response("cmd", count=n)[-1]
        assert refusal == {"text": expected, "response_type": "ephemeral", "replace_original": False}
    time.sleep(0.3)
    assert mida_sandbox.requests() == []
    assert len(slack_api.calls("views.open")) == opened
    request = bot.run(bot.deps.requests.get(TeamRef(team_id=TEAM), request_id))
    assert request.status is RequestStatus.PENDING and request.approvals == []
    assert audit_entries(clean_redis) == before


def test_a_slack_connect_user_from_another_organisation_is_refused(connected, slack, slack_api, mida_sandbox,
                                                                   clean_redis):
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_EXTERNAL", team_id=OTHER_ORG_TEAM)
    assert_refused_privately(connected, slack, slack_api, mida_sandbox, clean_redis, request_id, "U_EXTERNAL",
                             REFUSED_OTHER_ORG, user_team=OTHER_ORG_TEAM)


@pytest.mark.parametrize(
    "guest", [{"is_ultra_restricted": True}, {"is_restricted": True}], ids=["single-channel", "multi-channel"]
)
def test_guests_are_refused_by_default(connected, slack, slack_api, mida_sandbox, clean_redis, guest):
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_GUEST", team_id=TEAM, **guest)
    assert_refused_privately(connected, slack, slack_api, mida_sandbox, clean_redis, request_id, "U_GUEST",
                             REFUSED_GUEST)


@pytest.mark.parametrize(
    ("who", "expected"),
    [({"is_bot": True}, REFUSED_BOT), ({"deleted": True}, REFUSED_DEACTIVATED)],
    ids=["bot", "deactivated"],
)
def test_bots_and_deactivated_accounts_are_refused(connected, slack, slack_api, mida_sandbox, clean_redis, who,
                                                   expected):
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_NOT_A_PERSON", team_id=TEAM, **who)
    assert_refused_privately(connected, slack, slack_api, mida_sandbox, clean_redis, request_id, "U_NOT_A_PERSON",
                             expected)


def test_when_slack_cannot_say_who_clicked_the_click_is_refused(connected, slack, slack_api, mida_sandbox,
                                                               clean_redis):
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_MEMBER", team_id=TEAM)
    slack_api.fail("users.info", "internal_error", times=None)
    assert_refused_privately(connected, slack, slack_api, mida_sandbox, clean_redis, request_id, "U_MEMBER",
                             REFUSED_UNVERIFIED)


def settings_values(*, guests: bool) -> dict:
    return {
        ids.POLICY_MODE: radio("serving_and_increases"),
        ids.APPROVERS: {"type": "multi_users_select", "selected_users": []},
        ids.APPROVER_GROUP: plain(None),
        ids.APPROVALS_NEEDED: select("1"),
        ids.EXPIRY_HOURS: plain("24"),
        ids.GUESTS_MAY_APPROVE: checkboxes(ids.GUESTS_ALLOWED) if guests else checkboxes(),
        ids.BOT_ADMINS: {"type": "multi_users_select", "selected_users": []},
        ids.POLICY_CHANNEL: radio(ids.POLICY_SCOPE_WORKSPACE),
    }


def save_settings(slack, slack_api, *, guests: bool) -> dict:
    """The admin opens /mida settings and saves it; returns the modal as it was opened."""
    before = len(slack_api.calls("views.open"))
    slack.command("settings", user_id=ADMIN, channel_id=CHANNEL)
    view = slack_api.wait_for("views.open", count=before + 1)[-1]["view"]
    answer = slack.submit(ids.SETTINGS_MODAL, settings_values(guests=guests), user_id=ADMIN, view=view)
    assert answer.status_code == 200 and answer.text == ""
    return view


def guests_block(view: dict) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == ids.GUESTS_MAY_APPROVE)


def test_guests_may_approve_when_the_settings_say_so(connected, slack, slack_api, mida_sandbox, clean_redis):
    first = save_settings(slack, slack_api, guests=True)
    assert "initial_options" not in guests_block(first)["element"]  # off by default
    policy = connected.run(connected.deps.rules.settings(TeamRef(team_id=TEAM)))
    assert policy.guests_may_approve is True
    assert audit_entries(clean_redis)[-1]["detail"]["policy"]["guests_may_approve"] is True
    again = save_settings(slack, slack_api, guests=True)
    assert [o["value"] for o in guests_block(again)["element"]["initial_options"]] == [ids.GUESTS_ALLOWED]

    slack_api.clear()
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_GUEST", team_id=TEAM, is_ultra_restricted=True)
    slack.action(ids.APPROVE, request_id, user_id="U_GUEST", team_id=TEAM, channel_id=CHANNEL)
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1)
    wait_until(lambda: [e["event"] for e in audit_entries(clean_redis)][-2:] == ["approved", "executed"])
    approved = audit_entries(clean_redis)[-2]
    assert approved["actor"] == {"user_id": "U_GUEST", "team_id": TEAM}

    # Ticked off again, guests are refused again.
    save_settings(slack, slack_api, guests=False)
    assert connected.run(connected.deps.rules.settings(TeamRef(team_id=TEAM))).guests_may_approve is False
    slack_api.clear()
    second = request_serve(slack, slack_api, test_id=1238)  # 1234 is serving now
    assert_refused_privately(connected, slack, slack_api, mida_sandbox, clean_redis, second, "U_GUEST",
                             REFUSED_GUEST)


def test_an_admin_of_another_organisation_is_not_this_workspaces_admin(connected, slack, slack_api):
    slack_api.set_user("U_OTHER_ADMIN", team_id=OTHER_ORG_TEAM, is_admin=True, is_owner=True)
    opened = len(slack_api.calls("views.open"))
    slack.command("settings", user_id="U_OTHER_ADMIN", channel_id=CHANNEL)
    refusal = slack_api.wait_for_response("cmd")[-1]
    assert refusal["text"] == (
        "Only workspace admins, owners and the bot's admins can change this workspace's approval settings. "
        "Ask one of them to do it (or to make you a bot admin in `/mida settings`)."
    )
    answer = slack.submit(ids.SETTINGS_MODAL, settings_values(guests=True), user_id="U_OTHER_ADMIN",
                          user_team_id=OTHER_ORG_TEAM, private_metadata=CHANNEL)
    assert answer.json()["response_action"] == "errors"
    assert len(slack_api.calls("views.open")) == opened
    assert connected.run(connected.deps.rules.settings(TeamRef(team_id=TEAM))).guests_may_approve is False


# --- Enterprise Grid ----------------------------------------------------------------------------

ENTERPRISE = "E0GRID"
GRID_WS = "T0GRIDWS"  # the workspace where the commands run and the bot is installed
HOME = "T0HOME"  # the members' home workspace in the same organisation
GRID_ADMIN = "W0ADMIN"
GRID_ALICE = "W0ALICE"
GRID_BOB = "W0BOB"
GRID_KEY = f"{ENTERPRISE}:{GRID_WS}"


def grid_people(slack_api) -> None:
    slack_api.set_user(GRID_ADMIN, team_id=HOME, enterprise_id=ENTERPRISE, teams=[HOME, GRID_WS], is_admin=True)
    slack_api.set_user(GRID_ALICE, team_id=HOME, enterprise_id=ENTERPRISE, teams=[HOME, GRID_WS])
    # Bob's users.info lists only his home workspace: he belongs to the organisation all the same.
    slack_api.set_user(GRID_BOB, team_id=HOME, enterprise_id=ENTERPRISE, teams=[HOME])


def grid_kw(user: str) -> dict:
    """Where a Grid member's request comes from: the workspace (team, enterprise) and, for clicks
    and submissions, the member's home team in `user.team_id`."""
    return {"user_id": user, "team_id": GRID_WS, "enterprise_id": ENTERPRISE}


def grid_serve(slack, slack_api, test_id: int = 1234) -> str:
    """Alice runs /mida serve-winner in the Grid workspace and submits her own modal."""
    updates = len(slack_api.calls("views.update"))
    assert slack.command(f"serve-winner {test_id} 1 25", channel_id=CHANNEL, **grid_kw(GRID_ALICE)).status_code == 200
    call = slack_api.wait_for("views.update", count=updates + 1)[-1]
    view = slack_api.view(call["view_id"])
    assert view["callback_id"] == ids.CHANGE_MODAL
    answer = slack.submit(
        ids.CHANGE_MODAL,
        {ids.REASON: plain("Variant 1 wins"), ids.ROLLOUT: plain("25"), ids.VARIANT: {ids.VARIANT_SELECT: select("1")}},
        view=view, user_team_id=HOME, **grid_kw(GRID_ALICE),
    )
    assert answer.status_code == 200 and answer.text == ""  # accepted: no errors on the modal
    return request_card(slack_api)[0]


@pytest.fixture
def grid(bot, slack, slack_api, mida_sandbox):
    slack_api.set_token(BOT_TOKEN, GRID_WS, enterprise_id=ENTERPRISE)  # the bot is installed there
    grid_people(slack_api)
    assert slack.command("connect", channel_id=CHANNEL, **grid_kw(GRID_ADMIN)).status_code == 200
    view = slack_api.wait_for("views.open")[-1]["view"]
    answer = slack.submit(
        ids.CONNECT_MODAL,
        {ids.PROJECT_KEY: plain(PROJECT_KEY), ids.API_KEY: plain(API_KEY), ids.REGION: select("us")},
        view=view, user_team_id=HOME, **grid_kw(GRID_ADMIN),
    )
    assert answer.status_code == 200 and answer.text == ""
    mida_sandbox.clear_requests()
    slack_api.clear()
    return bot


def grid_click(slack, action: str, request_id: str, user: str, user_team: str = HOME):
    return slack.action(action, request_id, channel_id=CHANNEL, user_team_id=user_team, **grid_kw(user))


def test_on_enterprise_grid_the_requester_submits_and_cancels_their_own_request(grid, slack, slack_api,
                                                                                mida_sandbox, clean_redis):
    request_id = grid_serve(slack, slack_api)
    team = TeamRef(team_id=GRID_WS, enterprise_id=ENTERPRISE)
    requested = audit_entries(clean_redis, GRID_KEY)[-1]
    assert requested["event"] == "requested"
    assert requested["actor"] == {"user_id": GRID_ALICE, "team_id": HOME}

    # Her own approval still does not count, whichever team her click names.
    grid_click(slack, ids.APPROVE, request_id, GRID_ALICE)
    own = slack_api.wait_for_response("cmd")[-1]
    assert own["text"] == "You asked for this change, so your approval does not count. Another approver has to decide."
    assert grid.run(grid.deps.requests.get(team, request_id)).approvals == []

    grid_click(slack, ids.CANCEL, request_id, GRID_ALICE)
    wait_until(lambda: audit_entries(clean_redis, GRID_KEY)[-1]["event"] == "cancelled")
    cancelled = audit_entries(clean_redis, GRID_KEY)[-1]
    assert cancelled["actor"] == {"user_id": GRID_ALICE, "team_id": HOME}
    assert grid.run(grid.deps.requests.get(team, request_id)).status is RequestStatus.CANCELLED
    assert len(slack_api.responses("cmd")) == 1  # the cancel was not refused
    assert serve_writes(mida_sandbox) == []


def test_on_enterprise_grid_a_member_of_the_organisation_approves(grid, slack, slack_api, mida_sandbox,
                                                                  clean_redis):
    request_id = grid_serve(slack, slack_api)
    grid_click(slack, ids.APPROVE, request_id, GRID_BOB)
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1)
    wait_until(lambda: [e["event"] for e in audit_entries(clean_redis, GRID_KEY)][-2:] == ["approved", "executed"])
    assert audit_entries(clean_redis, GRID_KEY)[-2]["actor"] == {"user_id": GRID_BOB, "team_id": HOME}
    # Someone of another Grid organisation, in a shared channel, is not a member.
    slack_api.clear()
    second = grid_serve(slack, slack_api, 1238)
    slack_api.set_user("W0STRANGER", team_id="T0ELSEWHERE", enterprise_id="E0OTHER")
    grid_click(slack, ids.APPROVE, second, "W0STRANGER", user_team="T0ELSEWHERE")
    assert slack_api.wait_for_response("cmd")[-1]["text"] == REFUSED_OTHER_ORG


# --- asking for a change ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ({"team_id": OTHER_ORG_TEAM},
         "Only members of this workspace can ask for changes to its experiments — you're in another "
         "organisation (Slack Connect). Nothing was changed."),
        ({"team_id": TEAM, "is_restricted": True}, "Guests can't ask for changes in this workspace. Nothing was changed."),
        ({"team_id": TEAM, "deleted": True}, "Deactivated accounts can't ask for changes. Nothing was changed."),
    ],
    ids=["slack-connect", "guest", "deactivated"],
)
def test_only_members_ask_for_changes(connected, slack, slack_api, mida_sandbox, clean_redis, who, expected):
    """With no approval needed, the requester alone decides: the modal refuses anyone who could not approve."""
    from standins.flows import set_policy_off

    set_policy_off(connected)
    slack_api.set_user("U_OUTSIDER", **who)
    before = audit_entries(clean_redis)
    assert slack.command("serve-winner 1234 1 25", user_id="U_OUTSIDER", channel_id=CHANNEL).status_code == 200
    view = slack_api.view(slack_api.wait_for("views.update")[-1]["view_id"])
    texts = [b["text"]["text"] for b in view["blocks"] if b.get("type") == "section"]
    assert texts == [expected]
    assert ids.REASON not in [b.get("block_id") for b in view["blocks"]]
    # A crafted submission of the form it never got is refused too, and nothing is recorded.
    answer = slack.submit(
        ids.CHANGE_MODAL,
        {ids.REASON: plain("sneaky"), ids.ROLLOUT: plain("25"), ids.VARIANT: {ids.VARIANT_SELECT: select("1")}},
        user_id="U_OUTSIDER", user_team_id=who["team_id"], private_metadata=view.get("private_metadata", ""),
    )
    assert answer.json()["response_action"] == "errors"
    time.sleep(0.3)
    assert serve_writes(mida_sandbox) == []
    assert audit_entries(clean_redis) == before
    assert [c for c in slack_api.calls("chat.postMessage") if c["channel"] == CHANNEL] == []  # no card


def test_a_guest_asks_for_a_change_when_guests_are_allowed(connected, slack, slack_api, mida_sandbox, clean_redis):
    save_settings(slack, slack_api, guests=True)
    slack_api.clear()
    slack_api.set_user("U_GUEST", team_id=TEAM, is_restricted=True)
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user="U_GUEST")
    assert ids.REASON in [b.get("block_id") for b in view["blocks"]]
    answer = submit_change(slack, view, user="U_GUEST", variant="1", rollout="25", reason="Variant 1 wins")
    assert answer.status_code == 200 and answer.text == ""
    wait_until(lambda: audit_entries(clean_redis)[-1]["event"] == "requested")
    assert audit_entries(clean_redis)[-1]["actor"]["user_id"] == "U_GUEST"
