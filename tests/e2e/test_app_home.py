"""The App Home tab over real HTTP (single-workspace mode): what `app_home_opened` publishes, who
sees the admin buttons, and the buttons that start the same change flow as the slash commands."""

from __future__ import annotations

import json
import time

import pytest

from bot.slack.home_tab import REFRESH_DELAY
from bot.views import ids
from standins.bot_server import BOT_TOKEN
from standins.flows import open_change_modal, submit_change
from standins.people import ADMIN, ALICE, BOB, CHANNEL, TEAM
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.slack_requests import block_actions
from standins.waiting import wait_until


@pytest.fixture
def connected(connected, slack_api):
    time.sleep(REFRESH_DELAY + 0.3)  # let the Home refresh that connecting starts go by
    slack_api.clear()
    return connected


def open_home(slack, slack_api, user: str, **kw) -> dict:
    """`app_home_opened` for `user`; returns the view published for them."""
    def for_user(call) -> bool:
        return call["user_id"] == user

    before = len([c for c in slack_api.calls("views.publish") if for_user(c)])
    event = {"type": "app_home_opened", "user": user, "channel": "D0001", "tab": "home"}
    assert slack.event(event, **kw).status_code == 200
    call = slack_api.wait_for("views.publish", count=before + 1, predicate=for_user)[-1]
    assert call.token == BOT_TOKEN
    return {**call["view"], "id": "VHOME" + user}


def block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def text(node) -> str:
    return json.dumps(node, ensure_ascii=False)


def action_ids(view: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for b in view["blocks"]:
        for e in b.get("elements", []) if b["type"] == "actions" else []:
            found.setdefault(e["action_id"], []).append(e.get("value", ""))
    return found


def click_home(slack, action_id: str, value: str | None, user: str, home: dict):
    body, ctype = block_actions(action_id, value, user_id=user, team_id=TEAM, view=home)
    return slack.post(body, ctype)


@pytest.mark.cluster
def test_home_shows_health_serving_approvals_and_last_actions(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    submit_change(slack, view, variant="1", rollout="25", reason="Clear winner")
    slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL)

    home = open_home(slack, slack_api, ADMIN)
    assert home["type"] == "home"
    health = text(block(home, ids.HOME_HEALTH))
    assert PROJECT_KEY in health and "US" in health and "••••" + API_KEY[-4:] in health and API_KEY not in text(home)
    assert "Last successful Mida call" in text(home)
    serving = text(block(home, f"{ids.HOME_SERVING}:1237"))
    assert "Free Shipping Banner Test" in serving and "50 %" in serving
    assert action_ids(home)[ids.HOME_STOP_SERVING] == ["1237"]
    assert action_ids(home)[ids.HOME_CHANGE_ROLLOUT] == ["1237"]
    waiting = text(block(home, ids.HOME_WAITING))
    assert f"<@{ALICE}> asks to serve" in waiting and "0 of 1 approvals" in waiting
    recent = text(block(home, ids.HOME_RECENT))
    assert f"<@{ALICE}> asked to" in recent and f"<@{ADMIN}> connected Mida" in recent
    # An admin gets Connect (here: Reconnect) and Settings.
    assert ids.HOME_CONNECT in action_ids(home) and ids.HOME_SETTINGS in action_ids(home)

    mine = open_home(slack, slack_api, ALICE)
    assert ids.HOME_CONNECT not in action_ids(mine) and ids.HOME_SETTINGS not in action_ids(mine)
    assert "Your requests* (1)" in text(block(mine, ids.HOME_MINE))
    assert "Nothing is waiting on you." in text(block(mine, ids.HOME_WAITING))


def test_only_the_home_tab_is_published_and_a_retried_event_once(connected, slack, slack_api):
    slack.event({"type": "app_home_opened", "user": ALICE, "channel": "D0001", "tab": "messages"})
    open_home(slack, slack_api, BOB, event_id="EvHOME1")
    slack.event({"type": "app_home_opened", "user": BOB, "channel": "D0001", "tab": "home"}, event_id="EvHOME1",
                timestamp=int(time.time()) - 1, headers={"X-Slack-Retry-Num": "1"})
    time.sleep(0.5)
    assert [c["user_id"] for c in slack_api.calls("views.publish")] == [BOB]


def test_home_before_connecting(bot, slack, slack_api):
    slack_api.set_user(ADMIN, team_id=TEAM, is_admin=True)
    slack_api.set_user(ALICE, team_id=TEAM)
    admin = open_home(slack, slack_api, ADMIN)
    assert "not connected" in text(block(admin, ids.HOME_HEALTH))
    assert ids.HOME_CONNECT in action_ids(admin)
    member = open_home(slack, slack_api, ALICE)
    assert "/mida connect" in text(block(member, ids.HOME_HEALTH)) and ids.HOME_CONNECT not in action_ids(member)

    # Connect from the Home tab opens the same modal as /mida connect; a member is told no.
    click_home(slack, ids.HOME_CONNECT, None, ADMIN, admin)
    assert slack_api.wait_for("views.open")[-1]["view"]["callback_id"] == ids.CONNECT_MODAL
    click_home(slack, ids.HOME_CONNECT, None, ALICE, member)
    refusal = slack_api.wait_for("views.open", count=2)[-1]["view"]
    assert refusal["callback_id"] == ids.MESSAGE_MODAL and "not allowed to connect" in text(refusal)
    click_home(slack, ids.HOME_SETTINGS, None, ADMIN, admin)
    assert slack_api.wait_for("views.open", count=3)[-1]["view"]["callback_id"] == ids.SETTINGS_MODAL


def test_stop_and_change_rollout_from_home_open_the_same_modal_and_the_home_follows(
    connected, slack, slack_api, mida_sandbox
):
    home = open_home(slack, slack_api, ALICE)
    slack_api.clear()

    # Change rollout: the confirm modal, starting from the current rollout.
    click_home(slack, ids.HOME_CHANGE_ROLLOUT, "1237", ALICE, home)
    assert slack_api.wait_for("views.open")[-1]["view"]["callback_id"] == ids.CHANGE_MODAL
    filled = slack_api.wait_for("views.update")[-1]
    modal = slack_api.view(filled["view_id"])
    assert "Change rollout" in text(modal) and '"initial_value": "50"' in text(modal)

    # Stop serving: the same modal as /mida stop-serving 1237; stopping runs at once by default.
    click_home(slack, ids.HOME_STOP_SERVING, "1237", ALICE, home)
    stop = slack_api.wait_for("views.update", predicate=lambda c: "Stop serving" in text(c.params))[-1]
    submit_change(slack, slack_api.view(stop["view_id"]), user=ALICE, reason="Seasonal banner is over")
    wait_until(lambda: any(w["path"].endswith("/1237/stop-serving") for w in mida_sandbox.writes()))
    # With no channel of its own, the card goes to the requester's messages with the bot.
    card = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ALICE and not c.get("thread_ts"))[-1]
    assert "1237" in text(card.params)

    # Alice's Home tab is refreshed: nothing serves now, and the action is in the last actions.
    def refreshed(call) -> bool:
        return call["user_id"] == ALICE and f"{ids.HOME_SERVING}:1237" not in text(call["view"]) \
            and "stop serving" in text(block(call["view"], ids.HOME_RECENT))

    slack_api.wait_for("views.publish", predicate=refreshed, timeout=10)


def test_a_home_button_while_not_connected_explains(bot, slack, slack_api):
    slack_api.set_user(ALICE, team_id=TEAM)
    home = open_home(slack, slack_api, ALICE)
    click_home(slack, ids.HOME_STOP_SERVING, "1237", ALICE, home)
    modal = slack_api.wait_for("views.open")[-1]["view"]
    assert modal["callback_id"] == ids.MESSAGE_MODAL and "/mida connect" in text(modal)
