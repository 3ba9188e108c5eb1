"""Ramp plans end to end: `/mida ramp` → the confirm modal with the plan → one approval → step 1
served, later steps after a check of the post-deploy numbers, each write once; pauses on a
regression, a mismatched split, too little data or a change made in Mida; resume and abort.

The minimum interval is 1 s here and the scheduler runs every 0.5 s, so a plan `every 2s` runs in
seconds; nothing sleeps for a real interval."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bot.domain import TeamRef
from bot.views import ids
from standins.people import ALICE, BOB, CHANNEL, TEAM
from standins.flows import open_change_modal, submit_change
from standins.bot_server import InProcessBot, bot_env
from standins.waiting import wait_until

INTERVAL_ENV = {"MIDA_RAMP_MIN_INTERVAL_SECONDS": "1", "MIDA_WORKER_SWEEP_SECONDS": "0.5"}


@pytest.fixture
def bot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url, **INTERVAL_ENV)
    ).start()
    yield server
    server.stop()


def good_numbers(rollout: float) -> dict[str, list[int]]:
    """Post-deploy counts that fit a rollout kept since serving (served 10 %, control 8 %)."""
    served = round(4000 * (rollout / 100 + (1 - rollout / 100) / 2))
    control = 4000 - served
    return {"0": [control, round(control * 0.08)], "1": [served, round(served * 0.10)]}


def rollout_writes(mida_sandbox) -> list[tuple[str, dict]]:
    return [
        (w["path"].rsplit("/", 1)[1], w["json"] or {})
        for w in mida_sandbox.writes()
        if w["path"].endswith(("/serve-winner", "/serving-rollout", "/stop-serving"))
    ]


def start_ramp(slack, slack_api, text: str = "ramp 1234 1 10,25,50 every 2s") -> tuple[str, dict]:
    """Alice asks for the ramp and Bob approves it; returns the plan request's id and its modal."""
    view = open_change_modal(slack, slack_api, text, user=ALICE)
    answer = submit_change(slack, view, reason="Red wins; ramp it carefully")
    assert "errors" not in answer.text, answer.text
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and not c.get("thread_ts"))[-1]
    buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    request_id = buttons["elements"][0]["value"]
    assert "10 % → 25 % → 50 %" in json.dumps(post.params, ensure_ascii=False)
    assert slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL).status_code == 200
    return request_id, view


def ramp_of(bot, ramp_id: str):
    return bot.run(bot.deps.ramps.get(TeamRef(team_id=TEAM), ramp_id))


def thread_notes(slack_api, words: str, count: int = 1, timeout: float = 15.0):
    return slack_api.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.get("thread_ts") and words in json.dumps(c.params, ensure_ascii=False),
        count=count,
        timeout=timeout,
    )


def button_values(call) -> dict[str, str]:
    actions = [b for b in call["blocks"] if b.get("block_id") == ids.RAMP_ACTIONS]
    return {e["action_id"]: e["value"] for block in actions for e in block["elements"]}


@pytest.mark.cluster
def test_a_ramp_serves_each_step_once_in_order_spaced_by_the_interval(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    ramp_id, view = start_ramp(slack, slack_api)
    modal = json.dumps(view, ensure_ascii=False)
    assert "Ramp plan" in modal and "10 % → 25 % → 50 %, one step every 2s" in modal
    assert "chance to beat" in modal  # the evidence with its statistics

    wait_until(lambda: (r := ramp_of(connected, ramp_id)) and r.state.value == "done", timeout=30, what="the ramp done")
    writes = rollout_writes(mida_sandbox)
    assert writes == [
        ("serve-winner", {"variant_id": "1", "traffic_allocation": 10}),
        ("serving-rollout", {"traffic_allocation": 25}),
        ("serving-rollout", {"traffic_allocation": 50}),
    ]
    ramp = ramp_of(connected, ramp_id)
    times = [step.at for step in ramp.done]
    assert all(b - a >= 2 for a, b in zip(times, times[1:]))  # at least the interval apart
    assert [p.user_id for p in ramp.done[1].by] == [BOB]  # automatic steps: the plan's approvers
    notes = thread_notes(slack_api, "Step 3 of 3")
    assert "The ramp is complete" in json.dumps(notes[-1].params)
    assert "Post-deploy" in json.dumps(notes[-1].params)  # the numbers at that point
    events = [f[b"event"].decode() for _, f in clean_redis.xrange(f"mida:{{{TEAM}}}:audit".encode())]
    assert events.count("ramp_started") == 1 and events.count("ramp_step") == 2 and events.count("ramp_done") == 1
    assert events.count("executed") == 3
    card = slack_api.wait_for("chat.update", predicate=lambda c: "Ramp complete" in json.dumps(c.params))[-1]
    assert button_values(card) == {}  # nothing left to click


def test_a_regression_pauses_the_ramp_before_the_next_step(connected, slack, slack_api, mida_sandbox):
    # Since serving, Red converts 5 % against the control's 8 %: significantly worse.
    mida_sandbox.set_experiment(1234, post_deploy={"0": [1800, 144], "1": [2200, 110]})
    ramp_id, _ = start_ramp(slack, slack_api)
    note = thread_notes(slack_api, "converts worse")[-1]
    assert "5.00 % since serving against 8.00 %" in json.dumps(note.params, ensure_ascii=False)
    assert set(button_values(note)) >= {ids.RAMP_RESUME, ids.RAMP_ABORT, ids.RAMP_ABORT_STOP}
    time.sleep(3)  # more than an interval: nothing more is sent
    assert rollout_writes(mida_sandbox) == [("serve-winner", {"variant_id": "1", "traffic_allocation": 10})]
    ramp = ramp_of(connected, ramp_id)
    assert ramp.state.value == "paused" and ramp.hold.kind == "regression"

    # Resume re-checks first: still worse, so it stays paused and the person is told why.
    slack.action(ids.RAMP_RESUME, ramp_id, user_id=ALICE, channel_id=CHANNEL)
    refusal = slack_api.wait_for_response("cmd", predicate=lambda r: "Not resumed" in json.dumps(r))
    assert refusal
    assert ramp_of(connected, ramp_id).state.value == "paused"

    # The numbers recover: resume, and the next step goes out.
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    slack.action(ids.RAMP_RESUME, ramp_id, user_id=ALICE, channel_id=CHANNEL)
    wait_until(lambda: len(rollout_writes(mida_sandbox)) == 2, timeout=15, what="step 2 after resuming")
    assert rollout_writes(mida_sandbox)[1] == ("serving-rollout", {"traffic_allocation": 25})

    # Abort holding the rollout: nothing more is sent.
    slack.action(ids.RAMP_ABORT, ramp_id, user_id=BOB, channel_id=CHANNEL)
    wait_until(lambda: ramp_of(connected, ramp_id).state.value == "aborted", what="the ramp aborted")
    time.sleep(3)
    assert len(rollout_writes(mida_sandbox)) == 2
    assert mida_sandbox.experiment(1234)["traffic_allocation"] == 25


def test_a_change_made_in_mida_pauses_the_ramp_as_superseded(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    ramp_id, _ = start_ramp(slack, slack_api, "ramp 1234 1 10,25,50 every 3s")
    wait_until(lambda: ramp_of(connected, ramp_id) is not None, what="the ramp started")
    mida_sandbox.set_experiment(1234, traffic_allocation=40)  # someone in Mida's dashboard
    note = thread_notes(slack_api, "outside this ramp")[-1]
    assert "serving at 40 %" in json.dumps(note.params)
    ramp = ramp_of(connected, ramp_id)
    assert ramp.state.value == "paused" and ramp.hold.kind == "drift"
    assert len(rollout_writes(mida_sandbox)) == 1


def test_too_little_post_deploy_data_waits_then_pauses(connected, slack, slack_api, mida_sandbox):
    # The sandbox's own post-deploy numbers right after serving: 12 visitors an arm.
    ramp_id, _ = start_ramp(slack, slack_api)
    waiting = thread_notes(slack_api, "Too little post-deploy data")[-1]
    assert "waits for more" in json.dumps(waiting.params)
    thread_notes(slack_api, "the ramp is paused", timeout=20)
    ramp = ramp_of(connected, ramp_id)
    assert ramp.state.value == "paused" and ramp.hold.kind == "no_data"
    assert len(rollout_writes(mida_sandbox)) == 1
    # Said once while waiting, not on every check.
    assert len(thread_notes(slack_api, "waits for more")) == 1


def test_stopping_serving_ends_the_ramp_and_abort_can_stop_it(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.set_experiment(1234, post_deploy={"0": [1800, 144], "1": [2200, 110]})  # pauses it
    ramp_id, _ = start_ramp(slack, slack_api)
    thread_notes(slack_api, "converts worse")
    slack.action(ids.RAMP_ABORT_STOP, ramp_id, user_id=ALICE, channel_id=CHANNEL)
    # Stopping is a request of its own, through the channel's rules (stopping needs no approval).
    wait_until(lambda: rollout_writes(mida_sandbox)[-1][0] == "stop-serving", timeout=15, what="serving stopped")
    assert ramp_of(connected, ramp_id).state.value == "aborted"
    listed = slack.command("ramps", user_id=BOB, channel_id=CHANNEL)
    assert listed.status_code == 200
    answer = slack_api.wait_for_response("cmd", predicate=lambda r: "Ramps" in json.dumps(r))
    assert "#1234" in json.dumps(answer) and "aborted" in json.dumps(answer)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ramp 1234 1 50,25", "must go up"),
        ("ramp 1234 1 10,25 every 0s", "at least 1s"),
        ("ramp 1234 1 0,50", "from 1 to 100"),
        ("ramp 1234 1 10,150", "not a percentage"),
    ],
)
def test_bad_ramp_commands_get_the_right_form_and_send_nothing(connected, slack, slack_api, mida_sandbox, text, problem):
    answer = slack.command(text, user_id=ALICE, channel_id=CHANNEL)
    assert answer.status_code == 200
    body = json.dumps(answer.json())
    assert problem in body and "/mida ramp" in body and "every" in body  # the problem and the right form
    assert slack_api.calls("views.open") == []
    assert mida_sandbox.writes() == []


def test_an_unknown_variant_is_refused_with_the_right_form(connected, slack, slack_api, mida_sandbox):
    assert slack.command("ramp 1234 9 10,25", user_id=ALICE, channel_id=CHANNEL).status_code == 200
    update = slack_api.wait_for("views.update")[-1]
    text = json.dumps(update.params)
    assert "Variant 9 is not one of" in text and "/mida ramp 1234" in text
    assert mida_sandbox.writes() == []


def test_the_home_tab_lists_ramps_under_way_and_an_uninstall_ends_them(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.set_experiment(1234, post_deploy={"0": [1800, 144], "1": [2200, 110]})  # it pauses
    ramp_id, _ = start_ramp(slack, slack_api)
    thread_notes(slack_api, "converts worse")
    event = {"type": "app_home_opened", "user": ALICE, "channel": "D0001", "tab": "home"}
    assert slack.event(event).status_code == 200
    home = slack_api.wait_for(
        "views.publish", predicate=lambda c: "Ramps under way" in json.dumps(c.params, ensure_ascii=False)
    )[-1]
    block = next(b for b in home["view"]["blocks"] if b.get("block_id") == ids.HOME_RAMPS)
    assert "*#1234* variant 1: paused · 1/3 steps, at 10 %" in block["text"]["text"]

    assert slack.event({"type": "app_uninstalled"}).status_code == 200
    wait_until(lambda: ramp_of(connected, ramp_id) is None, what="the ramp forgotten")
    assert not [k for k in clean_redis.keys(f"mida:{{{TEAM}}}:ramp*".encode())]
    assert not [m for m in clean_redis.zrange(b"mida:due", 0, -1) if m.startswith(b"ramp|")]


def test_advance_now_is_a_request_of_its_own_through_the_channel_s_rules(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.set_experiment(1234, post_deploy=good_numbers(10))
    ramp_id, _ = start_ramp(slack, slack_api, "ramp 1234 1 10,25,50 every 60s")
    wait_until(lambda: ramp_of(connected, ramp_id) is not None, what="the ramp started")
    slack.action(ids.RAMP_ADVANCE, ramp_id, user_id=ALICE, channel_id=CHANNEL)
    answer = slack_api.wait_for_response("cmd", predicate=lambda r: "next step" in json.dumps(r))[-1]
    assert "needs approval" in json.dumps(answer)  # an increase, under the default rules
    card = slack_api.wait_for(
        "chat.postMessage",
        predicate=lambda c: ids.REQUEST_ACTIONS in json.dumps(c.params) and "25 %" in json.dumps(c.params, ensure_ascii=False),
    )[-1]
    request_id = next(b for b in card["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)["elements"][0]["value"]
    time.sleep(0.5)
    assert len(rollout_writes(mida_sandbox)) == 1  # nothing before the approval
    slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL)
    wait_until(lambda: len(ramp_of(connected, ramp_id).done) == 2, timeout=15, what="step 2 done")
    ramp = ramp_of(connected, ramp_id)
    assert rollout_writes(mida_sandbox)[1] == ("serving-rollout", {"traffic_allocation": 25})
    assert ramp.advancing is None and [p.user_id for p in ramp.done[1].by] == [ALICE, BOB]
    assert ramp.next_due is not None and ramp.next_due - ramp.done[1].at >= 59  # the interval starts again
    time.sleep(2)
    assert len(rollout_writes(mida_sandbox)) == 2  # the scheduled step 2 was not sent as well
