"""Tests of the test infrastructure: the Slack Web API stand-in and the signed request builders.

The stand-in is driven by the real slack_sdk AsyncWebClient, and the requests by a real slack_bolt
AsyncApp served over aiohttp, so a change in either library's wire format shows up here first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import extract_enterprise_id, extract_team_id, parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from standins.redis_server import free_port
from standins.slack_api import SlackStandIn
from standins.slack_requests import (
    BotClient,
    block_actions,
    conversation,
    event_callback,
    plain,
    radio,
    select,
    sign,
    slash_command,
    users,
    view_submission,
)

SECRET = "test-signing-secret"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Variant B* wins"}}]
MODAL = {
    "type": "modal",
    "callback_id": "serve_winner",
    "private_metadata": '{"experiment_id": "1234"}',
    "title": {"type": "plain_text", "text": "Serve a winner"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Loading…"}}],
}


def client(standin: SlackStandIn, **kw: Any) -> AsyncWebClient:
    return AsyncWebClient(base_url=standin.api_url, token="xoxb-test", **kw)


# ---------------------------------------------------------------------------- the stand-in


def test_urls_and_lifecycle() -> None:
    standin = SlackStandIn().start()
    try:
        assert standin.api_url.endswith("/api/")
        assert standin.api_url.startswith(standin.base_url)
        assert standin.base_url.startswith("http://127.0.0.1:")
        r = httpx.post(standin.api_url + "anything.atAll", data={"a": "1"})
        assert r.json() == {"ok": True}
        assert standin.last("anything.atAll").params == {"a": "1"}
    finally:
        standin.stop()
    with pytest.raises(httpx.HTTPError):
        httpx.post(standin.api_url + "auth.test", timeout=1)


async def test_post_message_and_update_are_recorded(slack_api: SlackStandIn) -> None:
    web_client = client(slack_api)
    first = await web_client.chat_postMessage(channel="C0001", text="hello", blocks=BLOCKS)
    second = await web_client.chat_postMessage(channel="C0001", text="again")
    await web_client.chat_update(channel="C0001", ts=first["ts"], text="edited", blocks=BLOCKS)
    await web_client.chat_postMessage(channel="C0002", text="elsewhere")

    call = slack_api.last("chat.postMessage")
    assert call.params == {"channel": "C0002", "text": "elsewhere"}
    posted = slack_api.calls("chat.postMessage")[0]
    assert posted.token == "xoxb-test"
    assert posted["blocks"] == BLOCKS  # decoded, not a JSON string
    assert posted.http_method == "POST"

    assert first["ok"] and first["channel"] == "C0001"
    assert first["message"]["blocks"] == BLOCKS
    assert float(second["ts"]) > float(first["ts"]) and second["ts"] > first["ts"]
    assert [c.method for c in slack_api.messages("C0001")] == [
        "chat.postMessage", "chat.postMessage", "chat.update"]
    update = slack_api.last("chat.update")
    assert update["ts"] == first["ts"] and update["blocks"] == BLOCKS
    assert len(slack_api.calls()) == 4
    slack_api.clear()
    assert slack_api.calls() == []


async def test_views_open_update_push(slack_api: SlackStandIn) -> None:
    web_client = client(slack_api)
    opened = await web_client.views_open(trigger_id="123.456.abc", view=MODAL)
    view_id = opened["view"]["id"]
    assert view_id == "V0001"
    assert opened["view"]["team_id"] == "T0001"
    assert opened["view"]["callback_id"] == "serve_winner"
    assert opened["view"]["hash"]
    call = slack_api.last("views.open")
    assert call["trigger_id"] == "123.456.abc"
    assert call["view"]["title"]["text"] == "Serve a winner"

    filled = dict(MODAL, blocks=BLOCKS)
    updated = await web_client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=filled)
    assert updated["view"]["id"] == view_id
    assert updated["view"]["hash"] != opened["view"]["hash"]
    assert slack_api.view(view_id)["blocks"] == BLOCKS
    assert slack_api.view(view_id)["private_metadata"] == MODAL["private_metadata"]
    assert slack_api.last("views.update")["view_id"] == view_id

    pushed = await web_client.views_push(trigger_id="1.2.3", view=MODAL)
    assert pushed["view"]["id"] == "V0002"
    second = await web_client.views_open(trigger_id="4.5.6", view=MODAL)
    assert second["view"]["id"] == "V0003"


async def test_views_update_of_unknown_view_in_strict_mode() -> None:
    with SlackStandIn(strict_views=True) as standin:
        with pytest.raises(SlackApiError) as err:
            await client(standin).views_update(view_id="V9999", view=MODAL)
        assert err.value.response["error"] == "not_found"


async def test_users_info_is_a_get_with_query_params(slack_api: SlackStandIn) -> None:
    slack_api.set_user("U_ADMIN", is_admin=True, name="ada", tz="Europe/Paris")
    slack_api.set_user("U_BOB", team_id="T0002")
    web_client = client(slack_api)

    admin = await web_client.users_info(user="U_ADMIN")
    assert admin["user"]["is_admin"] is True and admin["user"]["is_owner"] is False
    assert admin["user"]["name"] == "ada" and admin["user"]["tz"] == "Europe/Paris"
    bob = await web_client.users_info(user="U_BOB")
    assert bob["user"]["team_id"] == "T0002" and bob["user"]["is_admin"] is False
    with pytest.raises(SlackApiError) as err:
        await web_client.users_info(user="U_NOBODY")
    assert err.value.response["error"] == "user_not_found"

    call = slack_api.calls("users.info")[0]
    assert call.http_method == "GET"
    assert call.params == {"user": "U_ADMIN"}
    assert call.token == "xoxb-test"


async def test_users_info_answers_guests_bots_deactivated_and_grid_members(slack_api: SlackStandIn) -> None:
    slack_api.set_user("U_SINGLE", is_ultra_restricted=True)
    slack_api.set_user("U_MULTI", is_restricted=True)
    slack_api.set_user("U_BOTUSER", is_bot=True)
    slack_api.set_user("U_GONE", deleted=True)
    slack_api.set_user("W_GRID", team_id="T_HOME", enterprise_id="E_ORG", teams=["T_HOME", "T_WS"])
    slack_api.set_user("W_HOME_ONLY", team_id="T_HOME", enterprise_id="E_ORG")
    web_client = client(slack_api)

    async def user(user_id: str) -> dict:
        return (await web_client.users_info(user=user_id))["user"]

    single, multi = await user("U_SINGLE"), await user("U_MULTI")
    assert (single["is_restricted"], single["is_ultra_restricted"]) == (True, True)  # as Slack sets them
    assert (multi["is_restricted"], multi["is_ultra_restricted"]) == (True, False)
    assert (await user("U_BOTUSER"))["is_bot"] is True
    assert (await user("U_GONE"))["deleted"] is True
    plain = await user("U_MULTI")
    assert (plain["is_bot"], plain["deleted"], "enterprise_user" in plain) == (False, False, False)
    grid = await user("W_GRID")
    assert grid["team_id"] == "T_HOME"
    assert grid["enterprise_user"] == {
        "id": "W_GRID", "enterprise_id": "E_ORG", "enterprise_name": "Test Enterprise",
        "is_admin": False, "is_owner": False, "is_primary_owner": False, "teams": ["T_HOME", "T_WS"],
    }
    assert (await user("W_HOME_ONLY"))["enterprise_user"]["teams"] == ["T_HOME"]


async def test_auth_test_knows_the_token_team(slack_api: SlackStandIn) -> None:
    answer = await client(slack_api).auth_test()
    assert answer["team_id"] == "T0001" and answer["user_id"] == "UBOT" and answer["bot_id"] == "BBOT"
    assert answer["is_enterprise_install"] is False

    other = AsyncWebClient(base_url=slack_api.api_url, token="xoxb-T0042-1-abc")
    assert (await other.auth_test())["team_id"] == "T0042"
    slack_api.set_token("xoxb-grid", team_id="T0007", enterprise_id="E0001")
    grid = await AsyncWebClient(base_url=slack_api.api_url, token="xoxb-grid").auth_test()
    assert grid["team_id"] == "T0007" and grid["enterprise_id"] == "E0001"
    opened = await AsyncWebClient(base_url=slack_api.api_url, token="xoxb-grid").views_open(
        trigger_id="t", view=MODAL)
    assert opened["view"]["team_id"] == "T0007"


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # slack_sdk
async def test_other_methods(slack_api: SlackStandIn) -> None:
    web_client = client(slack_api)
    slack_api.set_usergroup("S0001", ["U_A", "U_B"])
    slack_api.set_channel("C0009", name="growth", is_private=True)

    assert (await web_client.usergroups_users_list(usergroup="S0001"))["users"] == ["U_A", "U_B"]
    assert (await web_client.conversations_info(channel="C0009"))["channel"]["name"] == "growth"
    assert (await web_client.conversations_info(channel="C0001"))["channel"]["id"] == "C0001"
    eph = await web_client.chat_postEphemeral(channel="C0001", user="U_A", text="psst", blocks=BLOCKS)
    assert eph["message_ts"]
    assert slack_api.last("chat.postEphemeral")["blocks"] == BLOCKS
    link = await web_client.chat_getPermalink(channel="C0001", message_ts="1700000001.000100")
    assert link["permalink"].endswith("/archives/C0001/p1700000001000100")
    assert (await web_client.reactions_add(channel="C0001", timestamp="1.2", name="tada"))["ok"]

    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=slack_api.api_url).oauth_v2_access(
            client_id="cid", client_secret="csecret", code="nope")
    assert err.value.response["error"] == "invalid_code"
    slack_api.set_oauth("good", {"access_token": "xoxb-T0002-new", "team": {"id": "T0002"}})
    granted = await AsyncWebClient(base_url=slack_api.api_url).oauth_v2_access(
        client_id="cid", client_secret="csecret", code="good")
    assert granted["access_token"] == "xoxb-T0002-new"
    call = slack_api.last("oauth.v2.access")
    assert call.basic_auth == ("cid", "csecret") and call["code"] == "good" and call.token is None


async def test_form_encoded_json_strings_are_decoded(slack_api: SlackStandIn) -> None:
    await client(slack_api).api_call(
        "chat.postMessage", data={"channel": "C0001", "text": "[not json", "blocks": json.dumps(BLOCKS)})
    call = slack_api.last("chat.postMessage")
    assert call["blocks"] == BLOCKS
    assert call["text"] == "[not json"
    assert call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")


async def test_fail_injects_errors_then_recovers(slack_api: SlackStandIn) -> None:
    web_client = client(slack_api)
    slack_api.fail("chat.postMessage", "not_in_channel")
    slack_api.fail("views.open", "expired_trigger_id", times=2)
    with pytest.raises(SlackApiError) as err:
        await web_client.chat_postMessage(channel="C0001", text="x")
    assert err.value.response["error"] == "not_in_channel"
    assert (await web_client.chat_postMessage(channel="C0001", text="x"))["ok"]
    for _ in range(2):
        with pytest.raises(SlackApiError):
            await web_client.views_open(trigger_id="t", view=MODAL)
    assert (await web_client.views_open(trigger_id="t", view=MODAL))["ok"]
    # failed calls are recorded too, with what was answered
    assert [c.response["ok"] for c in slack_api.calls("views.open")] == [False, False, True]


async def test_rate_limit_is_retried_by_slack_sdk(slack_api: SlackStandIn) -> None:
    slack_api.rate_limit("chat.postMessage", retry_after=0)
    web_client = client(slack_api, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    answer = await web_client.chat_postMessage(channel="C0001", text="eventually")
    assert answer["ok"]
    calls = slack_api.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].params == calls[1].params == {"channel": "C0001", "text": "eventually"}


async def test_rate_limit_without_retry_handler_is_an_error(slack_api: SlackStandIn) -> None:
    slack_api.rate_limit("users.info", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client(slack_api).users_info(user="U1")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"


async def test_delay(slack_api: SlackStandIn) -> None:
    slack_api.delay("views.open", 1.5)
    with pytest.raises(Exception):  # aiohttp/asyncio timeout, surfaced by slack_sdk as is
        await client(slack_api, timeout=0.3).views_open(trigger_id="t", view=MODAL)
    slack_api.delay("views.open", 0)
    started = time.monotonic()
    assert (await client(slack_api, timeout=2).views_open(trigger_id="t", view=MODAL))["ok"]
    assert time.monotonic() - started < 1.5


def test_wait_for_polls_and_explains_timeouts(slack_api: SlackStandIn) -> None:
    def later() -> None:
        time.sleep(0.2)
        for n in range(2):
            httpx.post(slack_api.api_url + "chat.postMessage", json={"channel": "C1", "text": f"m{n}"})

    threading.Thread(target=later).start()
    calls = slack_api.wait_for("chat.postMessage", count=2, predicate=lambda c: c["channel"] == "C1")
    assert [c["text"] for c in calls] == ["m0", "m1"]
    with pytest.raises(AssertionError, match=r"views\.open.*chat\.postMessage\(200\)"):
        slack_api.wait_for("views.open", timeout=0.2)
    with pytest.raises(AssertionError):
        slack_api.last("views.open")


async def test_response_url_records_posts(slack_api: SlackStandIn) -> None:
    url = slack_api.response_url("cmd")
    assert url == f"{slack_api.base_url}/response/cmd"
    webhook = AsyncWebhookClient(url)
    sent = await webhook.send(text="Connected", response_type="ephemeral", replace_original=False)
    assert sent.status_code == 200 and sent.body == "ok"
    await AsyncWebhookClient(slack_api.response_url("other")).send(text="x")
    assert slack_api.responses("cmd") == [
        {"text": "Connected", "response_type": "ephemeral", "replace_original": False}]
    assert len(slack_api.responses()) == 2
    got = await slack_api.wait_for_response_async("cmd", predicate=lambda b: b["text"] == "Connected")
    assert len(got) == 1
    assert slack_api.wait_for_response("other")[0]["text"] == "x"
    with pytest.raises(AssertionError):
        slack_api.wait_for_response("never", timeout=0.1)
    slack_api.fail_response("cmd", status=404, error="expired_url")
    expired = await webhook.send(text="late")
    assert expired.status_code == 404 and expired.body == "expired_url"


# ---------------------------------------------------------------------------- signing and payloads


def test_sign_matches_slack_sdk_verifier() -> None:
    body, _ = slash_command("status")
    headers = sign(SECRET, body)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert sig.startswith("v0=")
    assert SignatureVerifier(SECRET).is_valid(body, ts, sig)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("another-secret").is_valid(body, ts, sig)
    assert not SignatureVerifier(SECRET).is_valid(body + b"x", ts, sig)
    old = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(body, old)  # too old for Slack's 5 minutes
    fixed = sign(SECRET, b"abc", timestamp=1531420618)
    assert fixed["X-Slack-Request-Timestamp"] == "1531420618"
    assert fixed["X-Slack-Signature"] == SignatureVerifier(SECRET).generate_signature(
        timestamp="1531420618", body=b"abc")


def test_slash_command_wire_format() -> None:
    body, ctype = slash_command("serve-winner 1234 1 25%", response_url="http://x/r", trigger_id="t.1")
    assert ctype == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    assert fields["text"] == "serve-winner 1234 1 25%"
    assert fields["command"] == "/mida" and fields["user_id"] == "U_ALICE"
    assert fields["team_id"] == "T0001" and fields["channel_id"] == "C0001"
    assert fields["response_url"] == "http://x/r" and fields["trigger_id"] == "t.1"
    assert fields["is_enterprise_install"] == "false"
    assert {"team_domain", "channel_name", "user_name", "api_app_id"} <= fields.keys()
    assert "enterprise_id" not in fields  # an empty one would be taken for a real id by bolt
    parsed = parse_body(body.decode(), ctype)
    assert extract_enterprise_id(parsed) is None and extract_team_id(parsed) == "T0001"

    grid, _ = slash_command("status", enterprise_id="E0001", team_id="T0002")
    parsed = parse_body(grid.decode(), ctype)
    assert extract_enterprise_id(parsed) == "E0001" and extract_team_id(parsed) == "T0002"


def test_block_actions_wire_format() -> None:
    body, ctype = block_actions("approve", "42", user_id="U_BOB", team_id="T0002", channel_id="C7",
                                message_ts="1700000001.000100", response_url="http://x/r")
    assert ctype == "application/x-www-form-urlencoded"
    assert list(parse_qs(body.decode())) == ["payload"]
    p = parse_body(body.decode(), ctype)
    assert p["type"] == "block_actions"
    assert p["user"]["id"] == "U_BOB" and p["user"]["team_id"] == "T0002" and p["team"]["id"] == "T0002"
    assert p["channel"]["id"] == "C7" and p["message"]["ts"] == "1700000001.000100"
    assert p["container"] == {"type": "message", "message_ts": "1700000001.000100", "channel_id": "C7",
                              "is_ephemeral": False}
    assert p["actions"][0]["action_id"] == "approve" and p["actions"][0]["value"] == "42"
    assert p["response_url"] == "http://x/r" and p["trigger_id"]
    assert extract_enterprise_id(p) is None

    opened = {"id": "V0005", "callback_id": "serve_winner", "private_metadata": "m", "blocks": BLOCKS}
    body, _ = block_actions("variant", None, view=opened, selected_option="2", block_id="variant_b")
    p = parse_body(body.decode(), ctype)
    assert p["container"] == {"type": "view", "view_id": "V0005"}
    assert p["view"]["callback_id"] == "serve_winner" and p["view"]["blocks"] == BLOCKS
    assert "response_url" not in p and "channel" not in p
    assert p["actions"][0]["selected_option"]["value"] == "2"
    assert p["actions"][0]["type"] == "static_select" and p["actions"][0]["block_id"] == "variant_b"


def test_view_submission_wire_format() -> None:
    values = {
        "rollout": {"rollout": plain("25")},
        "variant": select("2", "Variant B"),  # shorthand: action_id == block_id
        "who": {"pick": users(["U1", "U2"])},
        "region": {"region": radio("eu")},
        "where": {"channel": conversation("C0001")},
    }
    body, ctype = view_submission("serve_winner", values, private_metadata='{"id": 1}',
                                  user_id="U_BOB", team_id="T0002", enterprise_id="E0001")
    p = parse_body(body.decode(), ctype)
    assert p["type"] == "view_submission"
    view = p["view"]
    assert view["id"] == "V0001" and view["type"] == "modal" and view["hash"]
    assert view["callback_id"] == "serve_winner" and view["private_metadata"] == '{"id": 1}'
    state = view["state"]["values"]
    assert state["rollout"]["rollout"] == {"type": "plain_text_input", "value": "25"}
    assert state["variant"]["variant"]["selected_option"]["value"] == "2"
    assert state["who"]["pick"]["selected_users"] == ["U1", "U2"]
    assert state["region"]["region"]["selected_option"]["value"] == "eu"
    assert state["where"]["channel"]["selected_conversation"] == "C0001"
    assert p["user"]["id"] == "U_BOB" and extract_team_id(p) == "T0002"
    assert extract_enterprise_id(p) == "E0001"

    opened = {"id": "V0009", "callback_id": "rollout", "private_metadata": "pm", "blocks": BLOCKS}
    p = parse_body(view_submission(None, {}, view=opened)[0].decode(), ctype)
    assert p["view"]["id"] == "V0009" and p["view"]["callback_id"] == "rollout"
    assert p["view"]["private_metadata"] == "pm" and p["view"]["blocks"] == BLOCKS


def test_grid_clicks_and_submissions_name_the_home_team_of_the_user() -> None:
    """On Enterprise Grid `user.team_id` is the person's home workspace; `team` is where they clicked."""
    for body, _ in (
        block_actions("approve", "42", user_id="W1", team_id="T_WS", enterprise_id="E1", user_team_id="T_HOME"),
        view_submission("serve_winner", {}, user_id="W1", team_id="T_WS", enterprise_id="E1", user_team_id="T_HOME"),
    ):
        p = parse_body(body.decode(), "application/x-www-form-urlencoded")
        assert p["user"] == {"id": "W1", "username": "w1", "name": "w1", "team_id": "T_HOME"}
        assert p["team"] == {"id": "T_WS", "domain": "team-t_ws", "enterprise_id": "E1",
                             "enterprise_name": "Test Enterprise"}
        assert p["enterprise"] == {"id": "E1", "name": "Test Enterprise"} and p["is_enterprise_install"] is False
        assert extract_team_id(p) == "T_WS" and extract_enterprise_id(p) == "E1"


def test_event_callback_wire_format() -> None:
    body, ctype = event_callback({"type": "app_home_opened", "user": "U1"}, team_id="T0002",
                                 event_id="Ev1")
    assert ctype == "application/json"
    p = json.loads(body)
    assert p["type"] == "event_callback" and p["event_id"] == "Ev1" and p["team_id"] == "T0002"
    assert p["event"]["type"] == "app_home_opened"
    assert p["authorizations"][0]["team_id"] == "T0002" and p["authorizations"][0]["is_bot"] is True
    assert extract_team_id(p) == "T0002" and extract_enterprise_id(p) is None


# ---------------------------------------------------------------------------- end to end with bolt


@pytest.fixture
async def bolt_app(slack_api: SlackStandIn) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A real slack_bolt AsyncApp on a free port, talking to the stand-in."""
    seen: list[dict[str, Any]] = []
    app = AsyncApp(signing_secret=SECRET, token="xoxb-test",
                   client=AsyncWebClient(base_url=slack_api.api_url, token="xoxb-test"))

    @app.command("/mida")
    async def on_command(ack, body, client, respond):  # type: ignore[no-untyped-def]
        await ack()
        seen.append(body)
        if body["text"] == "open":
            await client.views_open(trigger_id=body["trigger_id"], view=MODAL)
        else:
            await respond(text=f"you said {body['text']}")

    @app.action("approve")
    async def on_action(ack, body, client):  # type: ignore[no-untyped-def]
        await ack()
        seen.append(body)
        await client.chat_postMessage(channel=body["channel"]["id"], text="approved")

    @app.view("serve_winner")
    async def on_submit(ack, body, view):  # type: ignore[no-untyped-def]
        seen.append(body)
        rollout = view["state"]["values"]["rollout"]["rollout"]["value"]
        if not rollout.isdigit():
            await ack(response_action="errors", errors={"rollout": "A number from 0 to 100"})
        else:
            await ack()

    @app.event("app_mention")
    async def on_mention(body):  # type: ignore[no-untyped-def]
        seen.append(body)

    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_bolt_accepts_signed_requests(slack_api: SlackStandIn,
                                            bolt_app: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = bolt_app
    bot = BotClient(url, SECRET, response_url=slack_api.response_url("r1"))

    assert (await bot.acommand("status")).status_code == 200
    posts = await slack_api.wait_for_response_async("r1")
    assert posts[0]["text"] == "you said status"
    assert seen[-1]["user_id"] == "U_ALICE" and seen[-1]["team_id"] == "T0001"

    assert (await bot.acommand("open")).status_code == 200
    (opened,) = await slack_api.wait_for_async("views.open")
    assert opened["view"]["callback_id"] == "serve_winner" and opened.token == "xoxb-test"
    assert opened["trigger_id"] == seen[-1]["trigger_id"]

    assert (await bot.aaction("approve", "1", channel_id="C0042")).status_code == 200
    (posted,) = await slack_api.wait_for_async("chat.postMessage")
    assert posted["channel"] == "C0042"

    view = slack_api.view("V0001")
    bad = await bot.asubmit(None, {"rollout": plain("lots")}, view=view)
    assert bad.status_code == 200
    assert bad.json() == {"response_action": "errors", "errors": {"rollout": "A number from 0 to 100"}}
    good = await bot.asubmit(None, {"rollout": plain("25")}, view=view)
    assert good.status_code == 200 and good.text == ""
    assert json.loads(seen[-1]["view"]["private_metadata"]) == {"experiment_id": "1234"}

    assert (await bot.aevent({"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1",
                              "ts": "1.2"})).status_code == 200
    assert seen[-1]["event"]["type"] == "app_mention"


async def test_bolt_rejects_bad_signatures(slack_api: SlackStandIn,
                                           bolt_app: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = bolt_app
    bot = BotClient(url, SECRET, response_url=slack_api.response_url())
    assert (await bot.acommand("open", secret="wrong")).status_code == 401
    assert (await bot.acommand("open", signed=False)).status_code == 401
    assert (await bot.acommand("open", timestamp=int(time.time()) - 600)).status_code == 401
    assert seen == []
    assert slack_api.calls("views.open") == []


def test_sync_bot_client_posts_signed_requests() -> None:
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bot = BotClient(f"http://127.0.0.1:{server.server_port}/", SECRET, response_url="http://r")
        assert bot.command("list", user_id="U_BOB").status_code == 200
        assert bot.submit("cb", {"a": plain("1")}, headers={"X-Slack-Retry-Num": "1"}).status_code == 200
        assert bot.event({"type": "app_mention"}, signed=False).status_code == 200
    finally:
        server.shutdown()
        server.server_close()
    (path, headers, body), (_, submit_headers, _), (_, event_headers, event_body) = received
    assert path == "/slack/events"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    fields = parse_qs(body.decode())
    assert fields["user_id"] == ["U_BOB"] and fields["response_url"] == ["http://r"]
    assert submit_headers["X-Slack-Retry-Num"] == "1"
    assert SignatureVerifier(SECRET).is_valid_request(received[1][2], submit_headers)
    assert event_headers["Content-Type"] == "application/json"
    assert "X-Slack-Signature" not in event_headers and json.loads(event_body)["team_id"] == "T0001"
