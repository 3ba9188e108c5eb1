"""bolt_body: a form Bolt would misread as an interaction is handed to it as its fields' JSON."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.bodies import bolt_body
from standins.slack_requests import block_actions, slash_command

FORM = "application/x-www-form-urlencoded"


def parsed(raw: str, content_type: str | None = FORM) -> dict:
    headers = {"content-type": content_type} if content_type else {}
    return AsyncBoltRequest(body=bolt_body(raw, content_type), headers=headers).body


def test_a_command_from_the_payload_team_channel_keeps_every_field():
    raw = slash_command("results 1234", channel_name="payload-team", team_domain="payload-co")[0].decode()
    assert AsyncBoltRequest(body=raw, headers={"content-type": FORM}).body == {}  # what Bolt reads on its own
    body = parsed(raw)
    assert (body["command"], body["text"], body["channel_name"], body["team_domain"]) == (
        "/mida", "results 1234", "payload-team", "payload-co"
    )


def test_an_interaction_is_left_as_slack_sent_it():
    raw = block_actions("mida_approve", "req-1")[0].decode()
    assert bolt_body(raw, FORM) == raw
    assert parsed(raw)["type"] == "block_actions"


def test_json_and_empty_bodies_are_left_alone():
    event = json.dumps({"type": "event_callback", "event": {"text": "payload"}})
    assert bolt_body(event, "application/json") == event
    assert bolt_body(" " + event, "application/json") == " " + event
    assert bolt_body("", FORM) == ""


def test_a_repeated_field_keeps_its_last_value_as_bolt_does():
    raw = urlencode([("text", "first payload"), ("text", "second")])
    assert parsed(raw) == {"text": "second"}


def test_a_normalised_body_is_normalised_again_to_itself():
    once = bolt_body(urlencode({"text": "payload", "command": "/mida"}), FORM)
    assert bolt_body(once, FORM) == once
