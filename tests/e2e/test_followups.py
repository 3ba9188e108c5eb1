"""After a winner is served, the post-deploy numbers come back to the card's thread on schedule,
with buttons that go through the same modal; stopping serving cancels the rest."""

from __future__ import annotations

import json

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.views import ids
from standins.flows import connect, open_change_modal, submit_change
from standins.people import ALICE, CHANNEL, TEAM
from standins.waiting import wait_until


@pytest.mark.cluster
def test_followups_post_results_in_the_thread_and_stop_cancels_the_rest(bot, slack, slack_api, mida_sandbox):
    assert connect(slack, slack_api).status_code == 200
    # One follow-up a second after serving, one an hour later.
    policy = ChannelRules(mode=ApprovalMode.OFF, followup_hours=[1 / 3600, 1.0])
    bot.run(bot.deps.rules.save(TeamRef(team_id=TEAM), None, policy, []))
    slack_api.clear()

    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 30", user=ALICE)
    submit_change(slack, view, variant="1", rollout="30")
    card = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and not c.get("thread_ts"))[-1]
    followup = slack_api.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.get("thread_ts") and "after serving" in json.dumps(c.params),
        timeout=15,
    )[-1]
    assert followup["channel"] == CHANNEL
    text = json.dumps(followup.params, ensure_ascii=False)
    assert "Post-deploy" in text
    buttons = next(b for b in followup["blocks"] if b.get("block_id") == ids.FOLLOWUP_ACTIONS)
    assert {e["action_id"]: e["value"] for e in buttons["elements"]} == {
        ids.FOLLOWUP_ROLLOUT: "1234",
        ids.FOLLOWUP_STOP: "1234",
    }
    assert card  # the thread belongs to the card
    # The posted one is marked done just after its message is sent: one is left.
    wait_until(lambda: len(bot.run(bot.deps.followups.scheduled(TeamRef(team_id=TEAM), 1234))) == 1, timeout=5,
               what="one follow-up left scheduled")

    # Stop serving from the follow-up's button: the same modal, then the rest is cancelled.
    slack.action(ids.FOLLOWUP_STOP, "1234", user_id=ALICE, channel_id=CHANNEL, message_ts=followup["thread_ts"])
    stop_view = slack_api.wait_for("views.update", predicate=lambda c: "Stop serving" in json.dumps(c.params))[-1]
    submit_change(slack, slack_api.view(stop_view["view_id"]), reason="Numbers look off")
    slack_api.wait_for("chat.update", predicate=lambda c: "stop" in json.dumps(c.params).lower() and "succeeded" in json.dumps(c.params).lower(), timeout=10)
    assert [w["path"].rsplit("/", 1)[1] for w in mida_sandbox.writes()] == ["serve-winner", "stop-serving"]
    deadline_ok = bot.run(bot.deps.followups.scheduled(TeamRef(team_id=TEAM), 1234))
    assert deadline_ok == []
