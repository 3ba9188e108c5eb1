"""What the end-to-end tests read back and repeat: the audit trail and a request as Redis holds
them, the card in the channel, Mida's writes; asking to serve and approving. One copy of each, for
every test in tests/e2e (and tests/web)."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.views import ids
from standins.bot_server import SIGNING_SECRET
from standins.flows import open_change_modal, submit_change
from standins.people import ALICE, BOB, CHANNEL, TEAM
from standins.slack_requests import BotClient
from standins.waiting import wait_until


def client_for(bot, slack_api) -> BotClient:
    return BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))


# ----------------------------------------------------------------------------- Redis


def audit_entries(clean_redis, team_key: str = TEAM) -> list[dict]:
    stream = f"mida:{{{team_key}}}:audit".encode()
    return [json.loads(fields[b"entry"]) for _, fields in clean_redis.xrange(stream)]


def audit_events(clean_redis, team_key: str = TEAM) -> list[str]:
    return [entry["event"] for entry in audit_entries(clean_redis, team_key)]


def request_record(clean_redis, request_id: str) -> dict[str, Any]:
    """The request's status and outcome as Redis holds them."""
    raw = clean_redis.hgetall(f"mida:{{{TEAM}}}:req:{request_id}".encode())
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    outcome = json.loads(fields["f:outcome"]) if "f:outcome" in fields else None
    return {"status": fields.get("status"), "outcome": outcome}


# ----------------------------------------------------------------------------- Mida


def serve_writes(mida_sandbox) -> list[dict]:
    return [w for w in mida_sandbox.writes() if w["path"].endswith("/serve-winner")]


def result_reads(mida_sandbox) -> list[dict]:
    return mida_sandbox.requests(method="GET", path_contains="/experiment/1234/result")


# ----------------------------------------------------------------------------- the card


def card_text(call) -> str:
    return json.dumps(call.params, ensure_ascii=False)


def request_card(slack_api, channel: str = CHANNEL) -> tuple[str, Any]:
    """The request id on the last approval card posted in the channel (not a reply in a thread),
    and the post; each of the card's buttons carries only the request id."""
    post = slack_api.wait_for(
        "chat.postMessage", predicate=lambda c: c["channel"] == channel and not c.get("thread_ts")
    )[-1]
    buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    values = {e["action_id"]: e["value"] for e in buttons["elements"]}
    assert len(set(values.values())) == 1, values
    return next(iter(values.values())), post


def final_card(slack_api, words: str, timeout: float = 15.0):
    """The card in the channel, updated in place to its final state (no buttons left)."""

    def done(call) -> bool:
        text = card_text(call)
        return call["channel"] == CHANNEL and ids.REQUEST_ACTIONS not in text and words in text

    return slack_api.wait_for("chat.update", predicate=done, timeout=timeout)[-1]


def outcome_section(call) -> str:
    """The mrkdwn of a final card's outcome: the section after its divider."""
    blocks = call["blocks"]
    at = next(i for i, b in enumerate(blocks) if b["type"] == "divider")
    return blocks[at + 1]["text"]["text"]


# ----------------------------------------------------------------------------- asking and deciding


def request_serve(client: BotClient, slack_api, reason: str = "Variant 1 wins", test_id: int = 1234) -> str:
    """Alice asks to serve variant 1 of `test_id` at 25 %; returns the request id (pending approval)."""
    view = open_change_modal(client, slack_api, f"serve-winner {test_id} 1 25", user=ALICE)
    assert "errors" not in submit_change(client, view, variant="1", rollout="25", reason=reason).text
    request_id, _ = request_card(slack_api)
    return request_id


def approve(client: BotClient, request_id: str, user: str = BOB):
    response = client.action(ids.APPROVE, request_id, user_id=user, channel_id=CHANNEL)
    assert response.status_code == 200  # the ack
    return response


def assert_executed_once(clean_redis, mida_sandbox, request_id: str, *, reconciled: bool) -> dict:
    """One write, request succeeded, one `executed` audit entry; returns the request record."""
    record = wait_until(
        lambda: (r := request_record(clean_redis, request_id))["status"] in ("succeeded", "failed", "superseded") and r,
        what="the request reaching a final status",
    )
    assert record["status"] == "succeeded", record
    assert bool(record["outcome"]["reconciled"]) is reconciled, record["outcome"]
    wait_until(lambda: "executed" in audit_events(clean_redis), what="the executed audit entry")
    time.sleep(0.5)  # room for a second execution to show itself, if there were one
    assert len(serve_writes(mida_sandbox)) == 1
    assert mida_sandbox.experiment(1234)["serving_variant_id"] == "1"
    events = audit_events(clean_redis)
    assert events.count("executed") == 1 and events.count("failed") == 0, events
    executed = next(e for e in audit_entries(clean_redis) if e["event"] == "executed")
    assert executed["request_id"] == request_id and executed["outcome"]["ok"] is True
    assert bool(executed["outcome"]["reconciled"]) is reconciled
    return record
