"""`POST /slack/events` in front of Bolt: what reaches Bolt and what does not. The signature rules
themselves (`signature_ok`) at their edges; the handler on an aiohttp test server, with a real
Bolt app whose one listener counts what reaches it, and the replay guard on the test Redis.
(The e2e suite sends hostile requests to the whole bot: tests/e2e/test_hostile_input.py.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

from bot.store.dedupe import Dedupe
from bot.web.slack_events import MAX_BODY, MAX_SKEW, SlackEventsHandler, signature_ok
from standins.slack_requests import sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
BODY = b"token=x&team_id=T1&user_id=U1&command=%2Fmida&text=help"


def headers_at(body: bytes, timestamp: int) -> tuple[str, str]:
    signed = sign(SECRET, body, timestamp)
    return signed["X-Slack-Request-Timestamp"], signed["X-Slack-Signature"]


# ----------------------------------------------------------------------------- signature_ok


@pytest.mark.parametrize("skew", [0, MAX_SKEW, -MAX_SKEW])
def test_a_signature_within_five_minutes_is_accepted(skew: int) -> None:
    ts, sig = headers_at(BODY, NOW + skew)
    assert signature_ok(SECRET.encode(), ts, sig, BODY, NOW)


@pytest.mark.parametrize("skew", [MAX_SKEW + 1, -MAX_SKEW - 1, NOW])
def test_a_signature_older_or_newer_than_five_minutes_is_refused(skew: int) -> None:
    ts, sig = headers_at(BODY, NOW + skew)
    assert not signature_ok(SECRET.encode(), ts, sig, BODY, NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (None, "sig"),
        ("ts", None),
        ("", "sig"),
        (f"{NOW}.0", "sig"),  # Slack's timestamps are whole seconds
        (f"+{NOW}", "sig"),
        (f" {NOW}", "sig"),
        ("١٧٠٠٠٠٠٠٠٠", "sig"),  # Arabic-Indic digits: str.isdigit() says yes, int() reads them
        ("9" * 13, "sig"),
    ],
)
def test_malformed_headers_are_refused(timestamp: str | None, signature: str | None) -> None:
    good_ts, good_sig = headers_at(BODY, NOW)
    ts = good_ts if timestamp == "ts" else timestamp
    sig = good_sig if signature == "sig" else signature
    assert not signature_ok(SECRET.encode(), ts, sig, BODY, NOW)


def test_a_timestamp_in_other_digits_is_refused_even_signed_over() -> None:
    """int() reads Arabic-Indic digits as NOW, and this signature covers them: the digits refuse it."""
    timestamp = "١٧٠٠٠٠٠٠٠٠"
    assert int(timestamp) == NOW
    digest = hmac.new(SECRET.encode(), b"v0:" + timestamp.encode() + b":" + BODY, hashlib.sha256).hexdigest()
    assert not signature_ok(SECRET.encode(), timestamp, "v0=" + digest, BODY, NOW)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.upper(),  # hex digits in capitals: not what Slack sends
        lambda s: "v1=" + s[3:],
        lambda s: s + "0",
        lambda s: s[:-1],
        lambda s: s[:-1] + "é",
    ],
)
def test_a_mangled_signature_is_refused(mangle) -> None:
    ts, sig = headers_at(BODY, NOW)
    assert not signature_ok(SECRET.encode(), ts, mangle(sig), BODY, NOW)


@given(body=st.binary(max_size=200), flip=st.integers(min_value=0))
def test_a_signature_holds_for_its_body_only(body: bytes, flip: int) -> None:
    ts, sig = headers_at(body, NOW)
    assert signature_ok(SECRET.encode(), ts, sig, body, NOW)
    other = body + b"x" if not body else body[: flip % len(body)] + bytes([body[flip % len(body)] ^ 1]) + body[flip % len(body) + 1 :]
    assert not signature_ok(SECRET.encode(), ts, sig, other, NOW)
    assert not signature_ok(b"another secret", ts, sig, body, NOW)


# ----------------------------------------------------------------------------- the handler


async def authorize(**_: object) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-unit", bot_user_id="UBOT")


def bolt_app() -> AsyncApp:
    """As bot/app.py builds it: Bolt's own signature check off, the handler is the only one."""
    return AsyncApp(signing_secret=SECRET, request_verification_enabled=False, authorize=authorize)


class Reached:
    """A Bolt app with one slash-command listener that records the bodies reaching it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.app = bolt_app()

        @self.app.command("/mida")
        async def command(ack, body) -> None:  # type: ignore[no-untyped-def]
            self.bodies.append(body)
            await ack(text="seen")


async def client_for(handler: SlackEventsHandler) -> TestClient:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/slack/events", handler.handle)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def served(redis) -> AsyncIterator[tuple[TestClient, Reached]]:
    reached = Reached()
    client = await client_for(SlackEventsHandler(reached.app, SECRET, Dedupe(redis)))
    yield client, reached
    await client.close()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def post(client: TestClient, body: bytes, headers: dict[str, str]):
    return await client.post("/slack/events", data=body, headers=FORM | headers)


async def test_a_signed_command_reaches_bolt_and_gets_its_ack(served) -> None:
    client, reached = served
    answer = await post(client, BODY, sign(SECRET, BODY))
    assert answer.status == 200 and await answer.text() == "seen"
    assert [b["text"] for b in reached.bodies] == ["help"]


async def test_a_command_from_a_channel_called_payload_reaches_bolt_whole(served) -> None:
    client, reached = served
    body = urlencode({"team_id": "T1", "user_id": "U1", "command": "/mida", "text": "list",
                      "channel_name": "payload"}).encode()
    assert (await post(client, body, sign(SECRET, body))).status == 200
    assert reached.bodies[0]["channel_name"] == "payload" and reached.bodies[0]["text"] == "list"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": str(NOW)},
        sign("another secret", BODY),
        sign(SECRET, BODY, timestamp=NOW - 3600),
        sign(SECRET, BODY + b"&extra=1"),
    ],
    ids=["unsigned", "no signature", "other secret", "stale", "other body"],
)
async def test_a_badly_signed_request_gets_401_and_never_reaches_bolt(served, headers) -> None:
    client, reached = served
    answer = await post(client, BODY, headers)
    assert answer.status == 401 and await answer.text() == "invalid signature"
    assert reached.bodies == []


async def test_a_replayed_request_is_answered_empty_and_not_handled_twice(served, redis) -> None:
    client, reached = served
    headers = sign(SECRET, BODY)
    first, second = await post(client, BODY, headers), await post(client, BODY, headers)
    assert first.status == 200 and await first.text() == "seen"
    assert second.status == 200 and await second.text() == ""
    assert len(reached.bodies) == 1
    # The guard is keyed by the signature and kept for the whole window a timestamp is accepted in.
    keys = [k async for k in redis.scan_iter(match="*dedupe*")]
    assert len(keys) == 1 and headers["X-Slack-Signature"].encode() in keys[0]
    assert 2 * MAX_SKEW - 5 <= await redis.ttl(keys[0]) <= 2 * MAX_SKEW


async def test_the_same_command_signed_afresh_is_handled_again(served) -> None:
    """Only a byte-for-byte replay is dropped: a person typing the command twice is heard twice."""
    client, reached = served
    await post(client, BODY, sign(SECRET, BODY, timestamp=None))
    await post(client, BODY, sign(SECRET, BODY, timestamp=int(time.time()) - 1))
    assert len(reached.bodies) == 2


async def test_with_redis_unreachable_a_signed_request_still_reaches_bolt() -> None:
    """The replay guard fails open: the listener meets the same outage and tells the person."""
    reached = Reached()
    dead = aioredis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.5)
    client = await client_for(SlackEventsHandler(reached.app, SECRET, Dedupe(dead)))
    try:
        answer = await post(client, BODY, sign(SECRET, BODY))
        assert answer.status == 200 and await answer.text() == "seen"
    finally:
        await client.close()
        await dead.aclose()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe payload", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"", "application/x-www-form-urlencoded"),
    ],
    ids=["not utf-8", "json array", "broken json", "empty"],
)
async def test_a_signed_body_bolt_cannot_read_gets_400(served, body: bytes, content_type: str) -> None:
    client, reached = served
    answer = await client.post("/slack/events", data=body,
                               headers={"Content-Type": content_type} | sign(SECRET, body))
    assert answer.status == 400 and await answer.text() == "malformed payload"
    assert reached.bodies == []


async def test_a_body_over_one_mib_gets_413_before_its_signature_is_read(served) -> None:
    client, reached = served
    body = b"text=" + b"x" * MAX_BODY
    answer = await post(client, body, sign(SECRET, body))
    assert answer.status == 413
    assert reached.bodies == []


async def test_an_event_callback_as_json_reaches_bolt(redis) -> None:
    seen: list[dict] = []
    bolt = bolt_app()

    @bolt.event("app_home_opened")
    async def opened(body) -> None:  # type: ignore[no-untyped-def]
        seen.append(body)

    client = await client_for(SlackEventsHandler(bolt, SECRET, Dedupe(redis)))
    try:
        event = {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": "Ev1",
                 "event": {"type": "app_home_opened", "user": "U1", "tab": "home"}}
        body = json.dumps(event).encode()
        answer = await client.post("/slack/events", data=body,
                                   headers={"Content-Type": "application/json"} | sign(SECRET, body))
        assert answer.status == 200
        assert seen and seen[0]["event_id"] == "Ev1"
    finally:
        await client.close()
