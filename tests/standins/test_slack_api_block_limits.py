"""The Slack stand-in refuses what Slack refuses: a message over 50 blocks, a view over 100."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from standins.slack_api import SlackStandIn


def blocks(n: int) -> list[dict]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"row {i}"}} for i in range(n)]


def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=standin.api_url)


def modal(n: int) -> dict:
    return {"type": "modal", "callback_id": "c", "title": {"type": "plain_text", "text": "T"}, "blocks": blocks(n)}


@pytest.mark.parametrize("method", ["chat_postMessage", "chat_postEphemeral"])
async def test_a_message_of_51_blocks_is_refused_with_invalid_blocks(slack_api, method):
    web = client(slack_api)
    kwargs = {"channel": "C0001", "text": "t"} | ({"user": "U_ALICE"} if method == "chat_postEphemeral" else {})
    assert (await getattr(web, method)(blocks=blocks(50), **kwargs))["ok"]
    with pytest.raises(SlackApiError) as refused:
        await getattr(web, method)(blocks=blocks(51), **kwargs)
    assert refused.value.response.data == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": ["no more than 50 items allowed [json-pointer:/blocks]"],
        "response_metadata": {"messages": ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]},
    }


async def test_chat_update_over_50_blocks_is_refused(slack_api):
    web = client(slack_api)
    posted = await web.chat_postMessage(channel="C0001", text="t", blocks=blocks(3))
    with pytest.raises(SlackApiError) as refused:
        await web.chat_update(channel="C0001", ts=posted["ts"], text="t", blocks=blocks(60))
    assert refused.value.response["error"] == "invalid_blocks"


async def test_a_view_of_101_blocks_is_refused_with_invalid_arguments(slack_api):
    web = client(slack_api)
    opened = await web.views_open(trigger_id="1.2.3", view=modal(100))
    assert opened["ok"]
    with pytest.raises(SlackApiError) as refused:
        await web.views_update(view_id=opened["view"]["id"], view=modal(101))
    assert refused.value.response.data == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"]},
    }
    with pytest.raises(SlackApiError):
        await web.views_open(trigger_id="1.2.4", view=modal(101))
    with pytest.raises(SlackApiError):
        await web.views_publish(user_id="U_ALICE", view={"type": "home", "blocks": blocks(101)})
    assert (await web.views_publish(user_id="U_ALICE", view={"type": "home", "blocks": blocks(100)}))["ok"]


async def test_a_response_url_post_over_50_blocks_gets_400_and_is_not_shown(slack_api):
    webhook = AsyncWebhookClient(slack_api.response_url("cmd"))
    refused = await webhook.send(text="too long", blocks=blocks(51))
    assert (refused.status_code, refused.body) == (400, "invalid_blocks")
    accepted = await webhook.send(text="fits", blocks=blocks(50))
    assert (accepted.status_code, accepted.body) == (200, "ok")
    assert [b["text"] for b in slack_api.responses("cmd")] == ["fits"]
    assert [b["text"] for b in slack_api.refused_responses("cmd")] == ["too long"]
