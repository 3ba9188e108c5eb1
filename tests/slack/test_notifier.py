"""SlackNotifier on the real request and rules stores (test Redis) and the local Slack stand-in:
one card per request whoever reports on it, edited in place, the closing messages once, and the
fall-back when the bot is not in the channel."""

from __future__ import annotations

import asyncio
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.domain import ChannelRules, RequestStatus
from bot.links import LinkSigner
from bot.slack.clients import SlackClients
from bot.slack.notifier import SlackNotifier
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.views.cards import request_card
from standins.bot_server import bot_env
from tests.views import request

REQ = request(id="req-notify", channel_id="C_CARD", approvals=[], approvals_needed=1,
              response_url=None)


@pytest.fixture
def parts(redis, slack_api, redis_url):  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, **bot_env(  # type: ignore[call-arg]
        redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url="http://127.0.0.1:9/"))
    requests, rules = RequestStore(redis), RulesStore(redis)
    notifier = SlackNotifier(settings, redis, SlackClients(settings), requests, rules,
                             LinkSigner(settings.encryption_keys, settings.PUBLIC_URL), RampStore(redis))
    return notifier, requests, rules


async def finish(requests: RequestStore, status: RequestStatus) -> None:
    assert await requests.transition(REQ.team, REQ.id, status, now=REQ.created_at + 1) is not None


async def test_the_first_report_posts_the_card_and_later_ones_edit_it(parts, slack_api) -> None:
    notifier, requests, _ = parts
    await requests.create(REQ)
    await notifier.request_updated(REQ)
    [post] = slack_api.calls("chat.postMessage")
    assert post["channel"] == "C_CARD"
    ts = post.response["ts"]
    assert (await requests.get(REQ.team, REQ.id)).message_ts == ts
    await notifier.request_updated(REQ)  # the caller's copy is stale (no ts): Redis's is shown
    [update] = slack_api.calls("chat.update")
    assert update["ts"] == ts and len(slack_api.calls("chat.postMessage")) == 1


async def test_reports_at_once_from_many_places_post_one_card(parts, slack_api) -> None:
    notifier, requests, _ = parts
    await requests.create(REQ)
    slack_api.delay("chat.postMessage", 0.3)  # every report has read the request before the card exists
    await asyncio.gather(*(notifier.request_updated(REQ) for _ in range(6)))
    assert len(slack_api.calls("chat.postMessage")) == 1
    assert len(slack_api.calls("chat.update")) == 5


async def test_the_card_shows_the_request_as_redis_has_it(parts, slack_api) -> None:
    notifier, requests, _ = parts
    await requests.create(REQ)
    await notifier.request_updated(REQ)
    await finish(requests, RequestStatus.CANCELLED)
    await notifier.request_updated(REQ)  # told with the old, pending copy
    [update] = slack_api.calls("chat.update")
    current = await requests.get(REQ.team, REQ.id)
    assert current.status is RequestStatus.CANCELLED
    assert update["text"] == request_card(current, notifier.links_for(current), time.time())[0]


async def test_an_unknown_request_shows_nothing(parts, slack_api) -> None:
    notifier, _, _ = parts
    await notifier.request_updated(REQ)
    assert slack_api.calls() == []


async def test_a_final_request_gets_its_thread_reply_notice_and_audit_copy_once(parts, slack_api) -> None:
    notifier, requests, rules = parts
    await rules.save(REQ.team, None, ChannelRules(audit_channel="C_AUDIT"), [])
    await requests.create(REQ)
    await notifier.request_updated(REQ)
    await finish(requests, RequestStatus.REJECTED)
    await notifier.request_updated(REQ)
    await notifier.request_updated(REQ)  # told again: the card is edited, nothing else is said twice
    posts = slack_api.calls("chat.postMessage")
    card_ts = posts[0].response["ts"]
    assert [(p["channel"], p.get("thread_ts")) for p in posts] == [
        ("C_CARD", None), ("C_CARD", card_ts), ("C_AUDIT", None)
    ]
    [notice] = slack_api.calls("chat.postEphemeral")
    assert notice["channel"] == "C_CARD" and notice["user"] == REQ.requester.user_id
    assert len(slack_api.calls("chat.update")) == 2


async def test_nobody_else_involved_means_no_notice_and_no_copy_in_the_same_channel(parts, slack_api) -> None:
    notifier, requests, rules = parts
    await rules.save(REQ.team, None, ChannelRules(audit_channel="C_CARD"), [])
    await requests.create(REQ.model_copy(update={"approvals_needed": 0, "status": RequestStatus.EXECUTING}))
    await finish(requests, RequestStatus.SUCCEEDED)
    await notifier.request_updated(REQ)
    assert [p["channel"] for p in slack_api.calls("chat.postMessage")] == ["C_CARD", "C_CARD"]  # card, thread
    assert slack_api.calls("chat.postEphemeral") == []


async def test_a_notice_that_cannot_be_delivered_does_not_stop_the_audit_copy(parts, slack_api) -> None:
    notifier, requests, rules = parts
    await rules.save(REQ.team, None, ChannelRules(audit_channel="C_AUDIT"), [])
    await requests.create(REQ)
    await notifier.request_updated(REQ)
    await finish(requests, RequestStatus.REJECTED)
    slack_api.fail("chat.postEphemeral", "user_not_in_channel")
    await notifier.request_updated(REQ)  # does not raise
    assert [p["channel"] for p in slack_api.calls("chat.postMessage")][-1] == "C_AUDIT"


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
async def test_not_in_the_channel_answers_through_the_response_url_and_asks_for_an_invite(
    parts, slack_api, error
) -> None:
    notifier, requests, _ = parts
    asked = REQ.model_copy(update={"response_url": slack_api.response_url("cmd")})
    await requests.create(asked)
    slack_api.fail("chat.postMessage", error)
    await notifier.request_updated(asked)
    [answer] = slack_api.responses("cmd")
    text, blocks = request_card(asked, notifier.links_for(asked), time.time())
    assert answer["response_type"] == "in_channel" and answer["text"] == text
    assert answer["blocks"][:-1] == blocks and "/invite @Mida" in answer["blocks"][-1]["elements"][0]["text"]
    assert (await requests.get(REQ.team, REQ.id)).message_ts is None  # nothing to edit later


async def test_not_in_the_channel_without_a_response_url_is_only_logged(parts, slack_api) -> None:
    notifier, requests, _ = parts
    await requests.create(REQ)
    slack_api.fail("chat.postMessage", "not_in_channel")
    await notifier.request_updated(REQ)
    assert slack_api.responses() == []


async def test_another_slack_error_on_the_card_is_raised(parts, slack_api) -> None:
    notifier, requests, _ = parts
    await requests.create(REQ)
    slack_api.fail("chat.postMessage", "invalid_blocks")
    with pytest.raises(SlackApiError):
        await notifier.request_updated(REQ)
