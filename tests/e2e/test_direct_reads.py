"""A `/mida` read with one workspace's token is acked and started without Bolt's dispatch
(bot.app.direct_reads). What the person gets must be what Bolt's path gives: the same acks and the
same messages, for every read, on the same running bot; and everything else still goes to Bolt."""

from __future__ import annotations

import json
import re

import pytest

from bot.web.slack_events import SlackEventsHandler
from standins.people import ALICE, CHANNEL

GRID = "E0001"  # a Grid org: the connected workspace is not in it, so both paths say "not connected"

READS = ["results 1234", "results 1234 post", "status", "list", "audit", "audit 1234", "results 4040"]


def events_handler(bot) -> SlackEventsHandler:  # type: ignore[no-untyped-def]
    for route in bot.app.router.routes():
        if route.resource is not None and route.resource.canonical == "/slack/events":
            return route.handler.__self__  # type: ignore[attr-defined]
    raise AssertionError("no /slack/events route")


def reply(slack, slack_api, text: str, name: str, **kw) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    answer = slack.command(text, user_id=ALICE, channel_id=CHANNEL, response_url=slack_api.response_url(name), **kw)
    assert answer.status_code == 200
    (message,) = slack_api.wait_for_response(name, timeout=15)
    # A results link is signed with an expiry of its own: the same link, but not the same bytes.
    return answer.text, json.loads(re.sub(r"/results/[A-Za-z0-9_\-.]+", "/results/<token>", json.dumps(message)))


@pytest.mark.parametrize("enterprise", [None, GRID], ids=["workspace", "enterprise-grid"])
def test_every_read_answers_the_same_without_bolts_dispatch_as_with_it(connected, slack, slack_api, enterprise):
    handler = events_handler(connected)
    shortcut = handler._shortcut
    assert shortcut is not None
    kw = {"enterprise_id": enterprise} if enterprise else {}
    try:
        for n, text in enumerate(READS):
            direct = reply(slack, slack_api, text, f"direct-{n}", **kw)
            handler._shortcut = None
            through_bolt = reply(slack, slack_api, text, f"bolt-{n}", **kw)
            handler._shortcut = shortcut
            assert direct == through_bolt, text
    finally:
        handler._shortcut = shortcut


def test_what_is_not_a_read_still_goes_through_bolt(connected, slack, slack_api):
    taken: list[str] = []
    handler = events_handler(connected)
    shortcut = handler._shortcut
    assert shortcut is not None

    def spy(request, first_delivery, likely_first):  # type: ignore[no-untyped-def]
        took = shortcut(request, first_delivery, likely_first)
        if took:
            taken.append(request.body.get("text"))
        return took

    handler._shortcut = spy
    try:
        usage = slack.command("results", user_id=ALICE, channel_id=CHANNEL)  # answered in the ack, by Bolt
        assert "Usage" in usage.text
        slack.command("help", user_id=ALICE, channel_id=CHANNEL)
        slack.command("serve-winner 1234 1 25", user_id=ALICE, channel_id=CHANNEL)
        slack.command("audit export", user_id=ALICE, channel_id=CHANNEL)
        slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL, command="/other")
        slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL)
    finally:
        handler._shortcut = shortcut
    assert taken == ["results 1234"]


def test_with_oauth_every_request_goes_through_bolts_authorize(redis_url, slack_api, mida_sandbox):
    from bot.app import direct_reads
    from bot.config import Settings
    from standins.bot_server import bot_env

    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url, oauth=True)
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    assert settings.oauth_enabled
    assert direct_reads(settings, None, None) is None  # type: ignore[arg-type]  # decided before either is used
