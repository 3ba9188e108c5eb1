"""Evidence can go stale: a serve is decided on the numbers pinned with the request; if, by the time
it is approved, they say something materially different, it is not executed and the requester is
asked to confirm again on the new numbers."""

from __future__ import annotations

import json
import time

from bot.views import ids
from standins.flows import open_change_modal, submit_change
from standins.people import ALICE, BOB, CHANNEL


def request_serve(slack, slack_api) -> str:
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    assert "errors" not in submit_change(slack, view, variant="1", rollout="25", reason="Red wins by 25 %").text
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and not c.get("thread_ts"))[-1]
    return next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)["elements"][0]["value"]


def test_a_serve_whose_lift_turned_negative_is_not_executed_and_goes_back_to_the_requester(
    connected, slack, slack_api, mida_sandbox
):
    request_id = request_serve(slack, slack_api)
    # Between the request and the approval: +25 % became −75 %.
    mida_sandbox.set_experiment(1234, counts={"0": [3000, 240], "1": [2960, 59]})
    slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL)
    card = slack_api.wait_for(
        "chat.update", predicate=lambda c: "the numbers changed since this was asked for" in json.dumps(c.params), timeout=15
    )[-1]
    text = json.dumps(card.params, ensure_ascii=False)
    assert "the lift went from +25 % to -75 %" in text
    assert "Nothing was sent" in text
    time.sleep(0.5)
    assert mida_sandbox.writes() == []
    buttons = {e["action_id"]: e.get("value") for b in card["blocks"] if b.get("type") == "actions" for e in b["elements"]}
    assert buttons[ids.CONFIRM_AGAIN] == "1234|1"

    # The requester reviews the new numbers in the same confirm modal.
    slack.action(ids.CONFIRM_AGAIN, "1234|1", user_id=ALICE, channel_id=CHANNEL)
    update = slack_api.wait_for("views.update", predicate=lambda c: "2,960" in json.dumps(c.params), timeout=10)[-1]
    assert update["view"]["callback_id"] == ids.CHANGE_MODAL


def test_a_serve_whose_numbers_still_hold_is_executed(connected, slack, slack_api, mida_sandbox):
    request_id = request_serve(slack, slack_api)
    mida_sandbox.set_experiment(1234, counts={"0": [1600, 128], "1": [1580, 160]})  # more of the same
    slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL)
    slack_api.wait_for("chat.update", predicate=lambda c: "Done" in json.dumps(c.params) or "erved" in json.dumps(c.params), timeout=15)
    assert [w["path"].rsplit("/", 1)[1] for w in mida_sandbox.writes()] == ["serve-winner"]
