"""Approvals in the channel, over real HTTP: the card, who may click, exactly one execution."""

from __future__ import annotations

import concurrent.futures
import json
import time

import pytest

from bot.domain import ChannelRules, TeamRef
from bot.views import ids
from standins.bot_server import SIGNING_SECRET, InProcessBot
from standins.flows import open_change_modal, submit_change
from standins.people import ALICE, BOB, CAROL, CHANNEL, TEAM
from standins.slack_requests import BotClient, plain
from standins.waiting import wait_until
from tests.e2e.helpers import audit_events, request_card, request_serve, serve_writes


def set_policy(bot, **fields) -> None:
    bot.run(bot.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(**fields), []))


def click(slack, action_id, request_id, user, ts, team=TEAM):
    return slack.action(action_id, request_id, user_id=user, team_id=team, channel_id=CHANNEL, message_ts=ts)


@pytest.mark.cluster
def test_a_colleague_approves_and_the_winner_is_served_once(connected, slack, slack_api, mida_sandbox, clean_redis):
    request_id = request_serve(slack, slack_api, reason="Variant 1 wins by 25 %")
    _, post = request_card(slack_api)
    buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    assert {e["action_id"] for e in buttons["elements"]} == {ids.APPROVE, ids.REJECT, ids.CANCEL}
    card = json.dumps(post.params, ensure_ascii=False)
    assert f"<@{ALICE}>" in card and "Variant 1 wins by 25 %" in card
    assert "1,480" in card  # the evidence as it was
    assert "*Approvals:* 0 of 1 · Expires <!date^" in card
    assert serve_writes(mida_sandbox) == []

    # Alice may not approve her own request; Carol's approval is the one that counts.
    assert click(slack, ids.APPROVE, request_id, ALICE, post["ts"] if "ts" in post.params else None).status_code == 200
    own = slack_api.wait_for_response("cmd")[-1]
    assert "your approval does not count" in own["text"]
    assert serve_writes(mida_sandbox) == []

    click(slack, ids.APPROVE, request_id, CAROL, None)
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1)
    done = slack_api.wait_for(
        "chat.update", predicate=lambda c: ids.REQUEST_ACTIONS not in json.dumps(c.params) and "succeeded" in json.dumps(c.params).lower()
    )[-1]
    text = json.dumps(done.params, ensure_ascii=False)
    assert f"<@{CAROL}>" in text and "/results/" in text and "app.mida.test" in text
    thread = slack_api.wait_for("chat.postMessage", predicate=lambda c: c.get("thread_ts"))[-1]
    assert thread["channel"] == CHANNEL
    notice = slack_api.wait_for("chat.postEphemeral", predicate=lambda c: c["user"] == ALICE)[-1]
    assert notice["text"]
    wait_until(lambda: audit_events(clean_redis)[-3:] == ["requested", "approved", "executed"])

    # A late click on the finished card explains and changes nothing.
    click(slack, ids.APPROVE, request_id, BOB, None)
    late = slack_api.wait_for_response("cmd", count=2)[-1]
    assert "already" in late["text"]
    time.sleep(0.3)
    assert len(serve_writes(mida_sandbox)) == 1


@pytest.mark.cluster
def test_reject_with_a_reason(connected, slack, slack_api, mida_sandbox, clean_redis):
    request_id = request_serve(slack, slack_api)
    click(slack, ids.REJECT, request_id, BOB, None)
    modal = slack_api.wait_for("views.open", count=2)[-1]["view"]
    assert modal["callback_id"] == ids.REJECT_MODAL and modal["private_metadata"] == request_id
    slack.submit(ids.REJECT_MODAL, {ids.REJECT_REASON: plain("Wait for the holiday traffic")}, user_id=BOB, view=modal)
    slack_api.wait_for("chat.update", predicate=lambda c: "Wait for the holiday traffic" in json.dumps(c.params))
    wait_until(lambda: audit_events(clean_redis)[-1] == "rejected")
    click(slack, ids.APPROVE, request_id, CAROL, None)
    time.sleep(0.3)
    assert serve_writes(mida_sandbox) == []


def test_only_the_requester_can_cancel(connected, slack, slack_api, mida_sandbox, clean_redis):
    request_id = request_serve(slack, slack_api)
    click(slack, ids.CANCEL, request_id, BOB, None)
    assert "Only" in slack_api.wait_for_response("cmd")[-1]["text"]
    click(slack, ids.CANCEL, request_id, ALICE, None)
    slack_api.wait_for("chat.update", predicate=lambda c: "cancel" in json.dumps(c.params).lower())
    wait_until(lambda: audit_events(clean_redis)[-1] == "cancelled")
    assert serve_writes(mida_sandbox) == []


def test_named_approvers_only(connected, slack, slack_api, mida_sandbox):
    set_policy(connected, approvers=[CAROL])
    request_id = request_serve(slack, slack_api)
    click(slack, ids.APPROVE, request_id, BOB, None)
    assert "not one of the approvers" in slack_api.wait_for_response("cmd")[-1]["text"]
    time.sleep(0.2)
    assert serve_writes(mida_sandbox) == []
    click(slack, ids.APPROVE, request_id, CAROL, None)
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1)


@pytest.mark.cluster
def test_a_request_expires_even_if_nobody_clicks(connected, slack, slack_api, mida_sandbox, clean_redis):
    set_policy(connected, expiry_hours=1 / 3600)  # one second
    request_id = request_serve(slack, slack_api)
    slack_api.wait_for("chat.update", predicate=lambda c: "expired" in json.dumps(c.params).lower(), timeout=15)
    wait_until(lambda: audit_events(clean_redis)[-1] == "expired")
    click(slack, ids.APPROVE, request_id, BOB, None)
    assert "expired" in slack_api.wait_for_response("cmd")[-1]["text"]
    assert serve_writes(mida_sandbox) == []


def test_a_request_id_from_another_workspace_is_refused(connected, slack, slack_api, mida_sandbox):
    request_id = request_serve(slack, slack_api)
    slack_api.set_user("U_EVE", team_id="T0002")
    slack.action(ids.APPROVE, request_id, user_id="U_EVE", team_id="T0002", channel_id="C0002")
    assert "not known in this workspace" in slack_api.wait_for_response("cmd")[-1]["text"]
    time.sleep(0.2)
    assert serve_writes(mida_sandbox) == []


def test_stop_serving_needs_no_approval_under_the_default_policy(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "stop-serving 1237")
    submit_change(slack, view, reason="Done")
    wait_until(lambda: any(w["path"].endswith("/stop-serving") for w in mida_sandbox.writes()))


def test_a_change_made_in_mida_meanwhile_supersedes_the_request(connected, slack, slack_api, mida_sandbox, clean_redis):
    request_id = request_serve(slack, slack_api)
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=80)
    click(slack, ids.APPROVE, request_id, BOB, None)
    slack_api.wait_for("chat.update", predicate=lambda c: "superseded" in json.dumps(c.params).lower())
    wait_until(lambda: audit_events(clean_redis)[-1] == "superseded")
    assert serve_writes(mida_sandbox) == []


def test_twenty_concurrent_approvals_on_two_processes_make_one_mida_write(
    connected, slack, slack_api, mida_sandbox, redis_url, clean_redis
):
    set_policy(connected, approvals_needed=3)
    request_id = request_serve(slack, slack_api)
    approvers = [f"U_APPROVER{i:02d}" for i in range(20)]
    for user in approvers:
        slack_api.set_user(user, team_id=TEAM)

    second = InProcessBot(dict(connected.env)).start()
    try:
        clients = [slack, BotClient(second.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))]
        # Each approver clicks on one process, and Slack delivers some clicks twice, to the other.
        jobs = [(clients[i % 2], user) for i, user in enumerate(approvers)]
        jobs += [(clients[(i + 1) % 2], user) for i, user in enumerate(approvers[:8])]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            statuses = list(pool.map(lambda job: click(job[0], ids.APPROVE, request_id, job[1], None).status_code, jobs))
        assert statuses == [200] * len(jobs)
        wait_until(lambda: audit_events(clean_redis)[-1:] == ["executed"], timeout=15)
        time.sleep(1.0)  # room for a second execution to show itself, if there were one
        assert len(serve_writes(mida_sandbox)) == 1
        events = audit_events(clean_redis)
        assert events.count("approved") == 3 and events.count("executed") == 1
    finally:
        second.stop()
