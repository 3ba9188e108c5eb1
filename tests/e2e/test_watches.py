"""Watches end to end: a channel watching an experiment hears once per change of state — a winner
ready (with a Serve button that opens the confirm modal), a sample ratio mismatch (with Pause), a
regression after serving (in the card's thread), a change made in Mida outside Slack, Mida
unreachable and back — across polls and two bot processes, and nothing else. Pause and resume go
through the confirm modal, the rules and the execution like every change.

The watch interval is 1 s and the scheduler runs every 0.5 s here, so alerts follow in seconds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.views import ids
from standins.bot_server import InProcessBot, bot_env
from standins.flows import connect_workspace, open_change_modal, submit_change
from standins.people import ADMIN, ALICE, BOB, CHANNEL, TEAM
from standins.slack_requests import BotClient
from standins.bot_server import SIGNING_SECRET
from standins.waiting import wait_until

WATCH_ENV = {
    "MIDA_WATCH_INTERVAL_SECONDS": "1",
    "MIDA_WORKER_SWEEP_SECONDS": "0.5",
    "MIDA_WATCH_UNREACHABLE_SECONDS": "2",
    "MIDA_WATCH_ALL_LIMIT": "3",
}


@pytest.fixture
def bot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url, **WATCH_ENV)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def second_bot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    """Another process on the same Redis: it polls the same schedule."""
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url, **WATCH_ENV)
    ).start()
    yield server
    server.stop()


def alerts(slack_api, words: str) -> list:
    return [
        c
        for c in slack_api.calls("chat.postMessage")
        if words in json.dumps(c.params, ensure_ascii=False)
    ]


def wait_alert(slack_api, words: str, timeout: float = 15.0):
    return slack_api.wait_for(
        "chat.postMessage", predicate=lambda c: words in json.dumps(c.params, ensure_ascii=False), timeout=timeout
    )[-1]


def polls_of(mida_sandbox, test_id: int) -> int:
    return len(mida_sandbox.requests(method="GET", path_contains=f"/experiment/{test_id}/result"))


def let_it_poll(mida_sandbox, test_id: int, times: int = 3) -> None:
    start = polls_of(mida_sandbox, test_id)
    wait_until(lambda: polls_of(mida_sandbox, test_id) >= start + times, timeout=15, what=f"{times} more polls")


def watch(slack, slack_api, text: str) -> str:
    """Run a /mida watch… command; its private answer."""
    before = len(slack_api.responses("cmd"))
    assert slack.command(text, user_id=ALICE, channel_id=CHANNEL).status_code == 200
    return json.dumps(slack_api.wait_for_response("cmd", count=before + 1)[-1], ensure_ascii=False)


def test_a_test_that_becomes_a_winner_is_announced_once_with_a_serve_button(
    connected, second_bot, slack, slack_api, mida_sandbox
):
    mida_sandbox.add_experiment(5001, [("Control", 2000, 160), ("Bold headline", 2000, 166)], days_running=10)
    answer = watch(slack, slack_api, "watch 5001")
    assert "now watches experiment #5001" in answer
    let_it_poll(mida_sandbox, 5001)
    assert alerts(slack_api, "Winner ready") == []  # inconclusive: nothing to say

    mida_sandbox.set_experiment(5001, counts={"0": [4000, 320], "1": [4000, 420]})
    alert = wait_alert(slack_api, "Winner ready")
    assert alert["channel"] == CHANNEL and "Bold headline" in json.dumps(alert.params, ensure_ascii=False)
    buttons = {e["action_id"]: e for b in alert["blocks"] if b.get("block_id") == ids.WATCH_ACTIONS for e in b["elements"]}
    assert "Serve" in buttons[ids.WATCH_SERVE]["text"]["text"] and buttons[ids.WATCH_SERVE]["value"] == "5001|1"
    let_it_poll(mida_sandbox, 5001, times=4)  # both processes polling: still said once
    assert len(alerts(slack_api, "Winner ready")) == 1
    # Each poll reads the experiment once in all, not once per process.
    before = polls_of(mida_sandbox, 5001)
    time.sleep(3)
    assert polls_of(mida_sandbox, 5001) - before <= 5

    # The Serve button opens the serve-winner confirm modal for that experiment and variant.
    slack.action(ids.WATCH_SERVE, "5001|1", user_id=BOB, channel_id=CHANNEL)
    update = slack_api.wait_for("views.update", predicate=lambda c: "Bold headline" in json.dumps(c.params, ensure_ascii=False))[-1]
    view = slack_api.view(update["view_id"])
    assert view["callback_id"] == ids.CHANGE_MODAL and "Serve winner" in json.dumps(view)
    assert mida_sandbox.writes() == []

    # Results answers privately with the numbers.
    slack.action(ids.WATCH_RESULTS, "5001", user_id=BOB, channel_id=CHANNEL)
    numbers = slack_api.wait_for_response("cmd", predicate=lambda r: "4,000" in json.dumps(r) and "Bold" in json.dumps(r))[-1]
    assert numbers["response_type"] == "ephemeral"


def test_no_winner_alert_before_the_quiet_rules_are_met(connected, slack, slack_api, mida_sandbox):
    # A clear winner, but only 3 days running (the channel asks for 7).
    mida_sandbox.add_experiment(5003, [("Control", 4000, 320), ("B", 4000, 420)], days_running=3)
    watch(slack, slack_api, "watch 5003")
    let_it_poll(mida_sandbox, 5003, times=4)
    assert alerts(slack_api, "Winner ready") == []
    # Too few conversions per arm (under 25), also with enough days.
    mida_sandbox.add_experiment(5004, [("Control", 2000, 2), ("B", 2000, 20)], days_running=10)
    watch(slack, slack_api, "watch 5004")
    let_it_poll(mida_sandbox, 5004, times=4)
    assert alerts(slack_api, "Winner ready") == []


@pytest.mark.cluster
def test_a_split_that_breaks_is_said_once_and_pause_sends_the_documented_status(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.add_experiment(5002, [("Control", 1000, 50), ("Green", 1000, 52)], days_running=10)
    watch(slack, slack_api, "watch 5002")
    let_it_poll(mida_sandbox, 5002)
    mida_sandbox.set_experiment(5002, counts={"0": [11000, 550], "1": [9000, 470]})
    alert = wait_alert(slack_api, "Sample ratio mismatch")
    text = json.dumps(alert.params, ensure_ascii=False)
    assert "11,000" in text and "9,000" in text  # the split seen
    let_it_poll(mida_sandbox, 5002, times=3)
    assert len(alerts(slack_api, "Sample ratio mismatch")) == 1

    slack.action(ids.WATCH_PAUSE, "5002", user_id=ALICE, channel_id=CHANNEL)
    update = slack_api.wait_for("views.update", predicate=lambda c: "Pause experiment" in json.dumps(c.params))[-1]
    submit_change(slack, slack_api.view(update["view_id"]), reason="broken split")
    wait_until(lambda: mida_sandbox.writes(), what="the status write")
    time.sleep(1)
    writes = mida_sandbox.writes()
    assert [(w["method"], w["path"].rsplit("/", 1)[1], w["json"]) for w in writes] == [("PATCH", "status", {"status": 0})]


def test_a_change_made_in_mida_is_said_once_and_supersedes_what_was_pending(connected, slack, slack_api, mida_sandbox):
    # A serve request waiting for approval (the default rules ask for one).
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    assert "errors" not in submit_change(slack, view, variant="1", rollout="25", reason="wins").text
    watch(slack, slack_api, "watch 1234")
    let_it_poll(mida_sandbox, 1234)
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=30)  # Mida's dashboard
    alert = wait_alert(slack_api, "changed in Mida, outside Slack")
    assert "30 %" in json.dumps(alert.params, ensure_ascii=False)
    slack_api.wait_for("chat.update", predicate=lambda c: "uperseded" in json.dumps(c.params), timeout=10)
    let_it_poll(mida_sandbox, 1234, times=3)
    assert len(alerts(slack_api, "changed in Mida, outside Slack")) == 1
    assert mida_sandbox.writes() == []


def test_the_bot_s_own_change_is_not_a_change_outside_slack_and_a_served_regression_is_said_in_the_thread(
    connected, slack, slack_api, mida_sandbox
):
    connected.run(connected.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF), []))
    watch(slack, slack_api, "watch 1234")
    let_it_poll(mida_sandbox, 1234)
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    submit_change(slack, view, variant="1", rollout="25", reason="wins")
    card = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and not c.get("thread_ts"))[-1]
    wait_until(lambda: mida_sandbox.writes(), what="the serve")
    let_it_poll(mida_sandbox, 1234, times=3)
    assert alerts(slack_api, "outside Slack") == []

    # Since serving, the variant converts 5 % against the control's 8 %.
    mida_sandbox.set_experiment(1234, post_deploy={"0": [1800, 144], "1": [2200, 110]})
    alert = wait_alert(slack_api, "regressing")
    buttons = {e["action_id"] for b in alert["blocks"] if b.get("block_id") == ids.WATCH_ACTIONS for e in b["elements"]}
    assert buttons == {ids.FOLLOWUP_STOP, ids.FOLLOWUP_ROLLOUT}
    let_it_poll(mida_sandbox, 1234, times=3)
    assert len(alerts(slack_api, "regressing")) == 1
    # In the served card's thread: the same thread as the card's own "done" reply.
    done_reply = slack_api.wait_for("chat.postMessage", predicate=lambda c: c.get("thread_ts") and c is not alert)[0]
    assert alert.get("thread_ts") and alert["thread_ts"] == done_reply["thread_ts"]
    assert card["channel"] == alert["channel"] == CHANNEL


def test_unwatch_stops_the_alerts_and_watching_lists_the_channel_s_watches(connected, slack, slack_api, mida_sandbox):
    watch(slack, slack_api, "watch 1234")
    mida_sandbox.add_experiment(5005, [("Control", 100, 5), ("B", 100, 6)], days_running=10)
    watch(slack, slack_api, "watch 5005")
    assert slack.command("watching", user_id=BOB, channel_id=CHANNEL).status_code == 200
    listed = json.dumps(slack_api.wait_for_response("cmd", predicate=lambda r: "Watching" in json.dumps(r))[-1])
    assert "#1234" in listed and "#5005" in listed
    let_it_poll(mida_sandbox, 1234)
    assert "no longer watches" in watch(slack, slack_api, "unwatch 1234")
    time.sleep(1.5)
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=30)
    before = polls_of(mida_sandbox, 1234)
    let_it_poll(mida_sandbox, 5005, times=3)
    assert polls_of(mida_sandbox, 1234) == before  # not read any more
    assert alerts(slack_api, "outside Slack") == []


def test_watch_all_is_capped_and_says_so(connected, slack, slack_api, mida_sandbox):
    answer = watch(slack, slack_api, "watch all")
    assert "now watches 3 live experiments" in answer and "more live ones were left out" in answer


def test_mida_unreachable_for_long_is_said_once_and_so_is_its_return(connected, slack, slack_api, mida_sandbox):
    watch(slack, slack_api, "watch 1234")
    let_it_poll(mida_sandbox, 1234)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", status=503, times=1000)
    wait_alert(slack_api, "Mida is unreachable", timeout=20)
    time.sleep(3)
    assert len(alerts(slack_api, "Mida is unreachable")) == 1
    mida_sandbox.clear_faults()
    wait_alert(slack_api, "Mida is back", timeout=20)
    let_it_poll(mida_sandbox, 1234, times=2)
    assert len(alerts(slack_api, "Mida is back")) == 1


def test_pause_and_resume_send_exactly_the_documented_bodies_through_the_rules(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "pause 1234", user=ALICE)
    assert "Pause experiment" in json.dumps(view)
    assert "errors" not in submit_change(slack, view, reason="holiday traffic").text
    wait_until(lambda: mida_sandbox.experiment(1234)["status"] == 0, what="paused")  # no approval: the safe direction
    view = open_change_modal(slack, slack_api, "resume 1234", user=ALICE)
    assert "errors" not in submit_change(slack, view, reason="back").text
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: "Resume experiment" in json.dumps(c.params) and ids.REQUEST_ACTIONS in json.dumps(c.params))[-1]
    request_id = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)["elements"][0]["value"]
    time.sleep(0.5)
    assert mida_sandbox.experiment(1234)["status"] == 0  # resuming waits for an approval
    slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL)
    wait_until(lambda: mida_sandbox.experiment(1234)["status"] == 1, what="resumed")
    assert [(w["method"], w["path"].rsplit("/", 1)[1], w["json"]) for w in mida_sandbox.writes()] == [
        ("PATCH", "status", {"status": 0}),
        ("PATCH", "status", {"status": 1}),
    ]


def test_mida_s_plan_limit_on_resuming_is_explained(connected, slack, slack_api, mida_sandbox):
    connected.run(connected.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF), []))
    mida_sandbox.set_experiment(1234, status=0)
    mida_sandbox.fault(method="PATCH", path_contains="/status", status=403, error="Plan limit: 2 live experiments")
    view = open_change_modal(slack, slack_api, "resume 1234", user=ALICE)
    submit_change(slack, view, reason="go")
    card = slack_api.wait_for("chat.update", predicate=lambda c: "live experiments per project" in json.dumps(c.params), timeout=15)[-1]
    assert "Pause or end another experiment" in json.dumps(card.params)
    assert mida_sandbox.experiment(1234)["status"] == 0


def test_disconnecting_or_uninstalling_ends_the_watches(connected, slack, slack_api, mida_sandbox, clean_redis):
    watch(slack, slack_api, "watch 1234")
    assert [m for m in clean_redis.zrange(b"mida:due", 0, -1) if m.startswith(b"watch|")]
    assert slack.command("disconnect", user_id=ADMIN, channel_id=CHANNEL).status_code == 200
    wait_until(lambda: not clean_redis.exists(f"mida:{{{TEAM}}}:watches".encode()), what="the watches ended")
    assert not [m for m in clean_redis.zrange(b"mida:due", 0, -1) if m.startswith(b"watch|")]

    # Connected again and watching, then uninstalled.
    connect_workspace(slack, slack_api)
    watch(slack, slack_api, "watch 1234")
    assert slack.event({"type": "app_uninstalled"}).status_code == 200
    wait_until(lambda: not clean_redis.exists(f"mida:{{{TEAM}}}:watches".encode()), what="the watches ended again")
    assert not [m for m in clean_redis.zrange(b"mida:due", 0, -1) if m.startswith(b"watch|")]
