"""Outside services misbehaving, end to end over real HTTP: Mida (the sandbox's fault hooks), Slack
(the stand-in's failures) and Redis (a throwaway server stopped and started during a flow).

Every test ends with the right card, the right audit record and the right number of Mida writes;
a write that may have reached Mida is never sent again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.views import ids
from bot.views.cards import RECONCILED
from standins.bot_server import SIGNING_SECRET, InProcessBot, bot_env
from standins.flows import connect_workspace, open_change_modal, set_policy_off, submit_change
from standins.people import ALICE, BOB, CHANNEL, TEAM
from standins.redis_server import ThrowawayRedis
from standins.slack_requests import BotClient
from standins.waiting import wait_until
from tests.e2e.helpers import (
    approve,
    audit_entries,
    audit_events,
    card_text,
    final_card,
    outcome_section,
    request_record,
    request_serve,
    result_reads,
    serve_writes,
)

READ_TIMEOUT = 1.0
TOTAL_TIMEOUT = 4.0


def fast_env(redis_url: str, slack_api, mida_sandbox, **extra: str) -> dict[str, str]:
    """The bot's environment with Mida timeouts short enough for tests."""
    return bot_env(
        redis_url=redis_url,
        slack_api_url=slack_api.api_url,
        mida_api_url=mida_sandbox.api_url,
        MIDA_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
        MIDA_TOTAL_TIMEOUT_SECONDS=str(TOTAL_TIMEOUT),
        MIDA_WORKER_SWEEP_SECONDS="0.2",
        **extra,
    )


@pytest.fixture
def fbot(clean_redis, redis_url, slack_api, mida_sandbox) -> Iterator[InProcessBot]:
    server = InProcessBot(fast_env(redis_url, slack_api, mida_sandbox)).start()
    yield server
    server.stop()


@pytest.fixture
def fslack(fbot, slack_api) -> BotClient:
    return BotClient(fbot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))


@pytest.fixture
def no_approval(fbot, fslack, slack_api, mida_sandbox):
    """Connected, policy off: a confirmed change runs at once."""
    connect_workspace(fslack, slack_api)
    set_policy_off(fbot)
    mida_sandbox.clear_requests()
    slack_api.clear()
    return fbot


@pytest.fixture
def with_approval(fbot, fslack, slack_api, mida_sandbox):
    """Connected, default policy: serving a winner needs one approval."""
    connect_workspace(fslack, slack_api)
    mida_sandbox.clear_requests()
    slack_api.clear()
    return fbot


def confirm_serve(fslack, slack_api):
    """Open the serve modal for #1234 (variant 1, 25 %); return a function that submits it."""
    view = open_change_modal(fslack, slack_api, "serve-winner 1234 1 25", user=ALICE)

    def submit():
        response = submit_change(fslack, view, variant="1", rollout="25", reason="Clear winner")
        assert response.status_code == 200 and "errors" not in response.text
        return response

    return submit


def last_request_id(clean_redis) -> str:
    return next(e["request_id"] for e in reversed(audit_entries(clean_redis)) if e["event"] == "requested")


def finished(clean_redis) -> dict:
    request_id = wait_until(lambda: "requested" in audit_events(clean_redis) and last_request_id(clean_redis))
    return wait_until(
        lambda: (r := request_record(clean_redis, request_id))["status"] not in ("approved", "executing", "pending") and r,
        what="the request finishing",
    )


def final_event(clean_redis) -> dict:
    wait_until(lambda: audit_events(clean_redis)[-1] in ("executed", "failed", "superseded"), what="the final audit entry")
    time.sleep(0.3)  # a second final entry, if there were one, shows up here
    entries = audit_entries(clean_redis)
    finals = [e for e in entries if e["event"] in ("executed", "failed", "superseded")]
    assert len(finals) == 1, [e["event"] for e in entries]
    return finals[0]


# ----------------------------------------------------------------------------- Mida misbehaving


def test_mida_500_on_the_write_fails_with_what_a_read_back_found(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", status=500, error="Internal error", times=1)
    submit()
    card = final_card(slack_api, "Failed")
    text = card_text(card)
    assert "read the experiment back" in text and "not serving" in text
    assert len(serve_writes(mida_sandbox)) == 1  # a 5xx write is never retried blindly
    assert finished(clean_redis)["status"] == "failed"
    entry = final_event(clean_redis)
    assert entry["event"] == "failed" and entry["outcome"]["mida_status"] == 500
    assert entry["outcome"]["reconciled"] is True
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None


def test_mida_500_on_a_read_is_retried(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", status=500, times=1)
    submit()
    final_card(slack_api, "Done")
    assert len(result_reads(mida_sandbox)) >= 2
    assert len(serve_writes(mida_sandbox)) == 1
    assert final_event(clean_redis)["event"] == "executed"


def test_mida_429_on_the_write_waits_for_retry_after_and_writes_once(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    """A 429 means Mida refused without applying anything: the write is sent again after Retry-After."""
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", status=429, retry_after=1, times=1)
    submit()
    final_card(slack_api, "Done")
    posts = serve_writes(mida_sandbox)
    assert len(posts) == 2  # the refused one, and the one Mida applied
    assert posts[1]["at"] - posts[0]["at"] >= 0.9  # Retry-After was honoured
    assert final_event(clean_redis)["event"] == "executed"
    state = mida_sandbox.experiment(1234)
    assert (state["serving_variant_id"], state["traffic_allocation"]) == ("1", 25)


def test_mida_429_for_longer_than_the_deadline_fails_clearly(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", status=429, retry_after=600)
    submit()
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        "Mida is limiting how fast the bot may call it; nothing was changed. Try again in 601 seconds."
    )
    assert len(serve_writes(mida_sandbox)) == 1  # Retry-After is beyond the deadline: no waiting, no retry
    assert final_event(clean_redis)["event"] == "failed"


def test_mida_slower_than_the_read_timeout_is_read_back_not_reposted(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", latency=READ_TIMEOUT * 3, times=1)
    submit()
    card = final_card(slack_api, "Failed")
    text = card_text(card)
    assert "may or may not have reached Mida" in text and "read the experiment back" in text
    assert len(serve_writes(mida_sandbox)) == 1
    entry = final_event(clean_redis)
    assert entry["event"] == "failed" and entry["outcome"]["failure"]["kind"] == "mida_down"
    # The read-back came after the write that timed out.
    requests = mida_sandbox.requests()
    post = next(i for i, r in enumerate(requests) if r["path"].endswith("/serve-winner"))
    assert any(r["method"] == "GET" and r["path"].endswith("/result") for r in requests[post + 1:])


def test_a_slow_read_is_retried(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", latency=READ_TIMEOUT * 3, times=1)
    submit()
    final_card(slack_api, "Done")
    assert len(result_reads(mida_sandbox)) >= 2
    assert len(serve_writes(mida_sandbox)) == 1
    assert final_event(clean_redis)["event"] == "executed"


def test_connection_dropped_before_mida_applied_the_write(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", drop="before_apply", times=1)
    submit()
    card = final_card(slack_api, "Failed")
    text = card_text(card)
    assert "may or may not have reached Mida" in text and "not serving" in text
    assert len(serve_writes(mida_sandbox)) == 1
    entry = final_event(clean_redis)
    assert entry["event"] == "failed" and entry["outcome"]["reconciled"] is True
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None


def test_connection_dropped_after_mida_applied_the_write(no_approval, fslack, slack_api, mida_sandbox, clean_redis):
    submit = confirm_serve(fslack, slack_api)
    mida_sandbox.fault(method="POST", path_contains="/serve-winner", drop="after_apply", times=1)
    submit()
    card = final_card(slack_api, RECONCILED)
    assert "Done" in card_text(card)
    assert len(serve_writes(mida_sandbox)) == 1
    entry = final_event(clean_redis)
    assert entry["event"] == "executed" and entry["outcome"]["reconciled"] is True
    assert finished(clean_redis)["status"] == "succeeded"


def test_a_dead_mida_trips_the_breaker_and_every_command_gets_an_answer(no_approval, fslack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", status=503)
    for n in range(1, 7):
        assert fslack.command("results 1234", user_id=ALICE, channel_id=CHANNEL).status_code == 200
        reply = slack_api.wait_for_response("cmd", count=n, timeout=10)[-1]
        assert "Mida did not answer" in json.dumps(reply)
    # Five failed calls open the breaker: the sixth command was answered without calling Mida.
    assert "paused" in json.dumps(reply)
    calls = len(mida_sandbox.requests())
    fslack.command("results 1234", user_id=ALICE, channel_id=CHANNEL)
    slack_api.wait_for_response("cmd", count=7)
    assert len(mida_sandbox.requests()) == calls


# ----------------------------------------------------------------------------- Slack misbehaving


def test_a_rate_limited_card_post_is_retried_and_lands(with_approval, fslack, slack_api, mida_sandbox, clean_redis):
    slack_api.rate_limit("chat.postMessage", retry_after=0, times=1)
    request_id = request_serve(fslack, slack_api)
    posts = slack_api.wait_for("chat.postMessage", count=2, predicate=lambda c: c["channel"] == CHANNEL)
    assert [c.status for c in posts] == [429, 200]
    assert posts[0]["blocks"] == posts[1]["blocks"]
    assert request_record(clean_redis, request_id)["status"] == "pending"
    wait_until(lambda: clean_redis.hget(f"mida:{{{TEAM}}}:req:{request_id}".encode(), b"f:message_ts"),
               what="the card's ts recorded")
    approve(fslack, request_id)
    final_card(slack_api, "Done")
    assert len(serve_writes(mida_sandbox)) == 1


def test_not_in_channel_falls_back_to_the_response_url_and_asks_for_an_invite(
    with_approval, fslack, slack_api, mida_sandbox, clean_redis
):
    slack_api.fail("chat.postMessage", "not_in_channel", times=None)
    confirm = open_change_modal(fslack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    submit_change(fslack, confirm, variant="1", rollout="25", reason="Clear winner")
    body = slack_api.wait_for_response("cmd", predicate=lambda r: "Invite the bot" in json.dumps(r))[-1]
    assert body["response_type"] == "in_channel"
    buttons = next(b for b in body["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    request_id = buttons["elements"][0]["value"]

    approve(fslack, request_id)
    done = slack_api.wait_for_response(
        "cmd", predicate=lambda r: "Done" in json.dumps(r) and "Invite the bot" in json.dumps(r)
    )[-1]
    assert f"<@{BOB}>" in json.dumps(done)
    assert len(serve_writes(mida_sandbox)) == 1
    assert final_event(clean_redis)["event"] == "executed"


def test_an_event_retried_by_slack_is_handled_once(fbot, fslack, slack_api):
    """Slack delivers an event again (X-Slack-Retry-Num) with a new timestamp and signature: only
    the event id tells it apart. The App Home is published once. (A workspace not connected yet,
    so that no Home refresh triggered by other activity is counted.)"""
    slack_api.set_user(ALICE, team_id=TEAM)
    event = {"type": "app_home_opened", "user": ALICE, "channel": "D0001", "tab": "home"}
    first_ts = int(time.time()) - 5
    assert fslack.event(event, event_id="Ev0FAULTS01", timestamp=first_ts).status_code == 200
    slack_api.wait_for("views.publish")
    retry = fslack.event(
        event, event_id="Ev0FAULTS01", timestamp=first_ts + 2,  # Slack's retry: later, signed anew
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    time.sleep(0.5)
    assert len(slack_api.calls("views.publish")) == 1
    # A different event is not mistaken for a retry.
    fslack.event(event, event_id="Ev0FAULTS02")
    slack_api.wait_for("views.publish", count=2)


# ----------------------------------------------------------------------------- Redis down


class PersistentRedis(ThrowawayRedis):
    """A throwaway Redis that keeps its data across stop() and start() (SAVE before stopping, as
    AOF everysec would have kept it), so a restart is a restart, not a wipe."""

    def stop(self) -> None:
        import redis as sync_redis

        if self.proc is not None:
            try:
                sync_redis.Redis.from_url(self.url, socket_timeout=2).save()
            except sync_redis.RedisError:
                pass
        super().stop()


@pytest.fixture
def own_redis() -> Iterator[PersistentRedis]:
    server = PersistentRedis()
    server.start()
    yield server
    server.stop()


def test_redis_stopped_and_restarted_during_a_flow(own_redis, slack_api, mida_sandbox):
    import redis as sync_redis

    bot = InProcessBot(fast_env(own_redis.url, slack_api, mida_sandbox)).start()
    store = sync_redis.Redis.from_url(own_redis.url)
    try:
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        connect_workspace(slack, slack_api)
        request_id = request_serve(slack, slack_api)
        second_modal = open_change_modal(slack, slack_api, "rollout 1237 30", user=ALICE)
        mida_sandbox.clear_requests()
        assert httpx.get(bot.url + "/readyz").status_code == 200

        own_redis.stop()

        assert httpx.get(bot.url + "/readyz").status_code == 503
        assert httpx.get(bot.url + "/healthz").status_code == 200
        unavailable = "temporarily unavailable; nothing was changed"
        # A command, a click and a modal submission each get a private "nothing was changed".
        answers = len(slack_api.responses("cmd"))
        assert slack.command("status", user_id=ALICE, channel_id=CHANNEL).status_code == 200
        reply = slack_api.wait_for_response("cmd", count=answers + 1)[-1]
        assert unavailable in json.dumps(reply) and reply["response_type"] == "ephemeral"
        approve(slack, request_id)
        reply = slack_api.wait_for_response("cmd", count=answers + 2)[-1]
        assert unavailable in json.dumps(reply) and reply["response_type"] == "ephemeral"
        submitted = submit_change(slack, second_modal, rollout="30", reason="Less traffic")
        assert submitted.status_code == 200
        answer = submitted.json()
        assert answer["response_action"] == "update" and unavailable in json.dumps(answer["view"])
        assert mida_sandbox.writes() == []

        own_redis.start()  # same port, same data
        wait_until(lambda: httpx.get(bot.url + "/readyz").status_code == 200, what="/readyz recovering")

        # Nothing half-written: the click during the outage left no approval behind.
        record = request_record(store, request_id)
        assert record["status"] == "pending"
        assert store.scard(f"mida:{{{TEAM}}}:req:{request_id}:approvers".encode()) == 0
        assert audit_events(store) == ["connected", "requested"]

        # The bot recovered by itself: the same click and the same submission now work.
        approve(slack, request_id)
        final_card(slack_api, "Done")
        assert len(serve_writes(mida_sandbox)) == 1
        submitted = submit_change(slack, second_modal, rollout="30", reason="Less traffic")
        assert "errors" not in submitted.text and "response_action" not in submitted.text
        wait_until(lambda: len(mida_sandbox.writes()) == 2, what="the rollout change")
        wait_until(lambda: audit_events(store)[-1] == "executed")
        time.sleep(0.3)
        assert audit_events(store) == ["connected", "requested", "approved", "executed", "requested", "executed"]
        assert len(mida_sandbox.writes()) == 2
    finally:
        store.close()
        bot.stop()


def test_redis_down_when_a_job_is_queued_is_recovered_by_the_worker(own_redis, slack_api, mida_sandbox):
    """Redis goes away while the worker is waiting on the queue: it keeps retrying, and executes a
    change approved after Redis came back — once."""
    import redis as sync_redis

    bot = InProcessBot(fast_env(own_redis.url, slack_api, mida_sandbox)).start()
    store = sync_redis.Redis.from_url(own_redis.url)
    try:
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        connect_workspace(slack, slack_api)
        request_id = request_serve(slack, slack_api)
        mida_sandbox.clear_requests()
        own_redis.stop()
        time.sleep(1.5)  # the worker meets the outage
        own_redis.start()
        wait_until(lambda: httpx.get(bot.url + "/readyz").status_code == 200)
        approve(slack, request_id)
        final_card(slack_api, "Done")
        time.sleep(0.3)
        assert len(serve_writes(mida_sandbox)) == 1
        assert audit_events(store).count("executed") == 1
    finally:
        store.close()
        bot.stop()
