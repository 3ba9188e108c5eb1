"""Hostile and malformed requests to `POST /slack/events`, over real HTTP.

Our own check runs ahead of Bolt: a malformed, stale or unsigned request gets a plain 401 with no
traceback anywhere in the logs, an oversized body 413, a signed body that is not a Slack payload
400, and a signed request replayed within Slack's 5-minute window has no second effect.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bot.views import ids
from standins.bot_server import SIGNING_SECRET
from standins.flows import open_change_modal, set_policy_off
from standins.people import ALICE, BOB, CHANNEL, TEAM
from standins.slack_requests import FORM, JSON, block_actions, plain, select, sign, slash_command, view_submission
from standins.waiting import wait_until
from tests.e2e.helpers import audit_events, request_serve, serve_writes

MIB = 1024 * 1024


@pytest.fixture
def logs(caplog):
    """Every record the bot logs during the test, at every level."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_traceback(caplog) -> None:
    for record in caplog.records:
        text = record.getMessage()
        if record.name == "asyncio" and text.startswith("Task was destroyed"):
            continue  # an earlier test's event loop being collected, not this request
        assert record.exc_info is None and record.exc_text is None, (record.name, text)
        assert "Traceback" not in text, (record.name, text)
        assert record.levelno < logging.ERROR, (record.name, text)


def post_raw(bot, body: bytes, headers: dict, **kw) -> httpx.Response:
    return httpx.post(bot.url + "/slack/events", content=body, headers=headers, timeout=10, **kw)


def raw_status(bot, request: bytes) -> int:
    """Send bytes as they are (no HTTP client fixing them up); return the status code answered."""
    import socket

    with socket.create_connection(("127.0.0.1", bot.port), timeout=5) as sock:
        sock.sendall(request)
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1])


def signed(body: bytes, content_type: str = FORM, timestamp: int | None = None) -> dict:
    return {"Content-Type": content_type, **sign(SIGNING_SECRET, body, timestamp)}


def command_body(text: str = "help") -> bytes:
    return slash_command(text, user_id=ALICE, channel_id=CHANNEL)[0]


# ----------------------------------------------------------------------------- signature headers

GOOD_TS = "__now__"
GOOD_SIG = "__signature__"

MALFORMED = [
    pytest.param(None, None, id="both-missing"),
    pytest.param(None, GOOD_SIG, id="timestamp-missing"),
    pytest.param(GOOD_TS, None, id="signature-missing"),
    pytest.param("", GOOD_SIG, id="timestamp-empty"),
    pytest.param(GOOD_TS, "", id="signature-empty"),
    pytest.param("abc", GOOD_SIG, id="timestamp-not-a-number"),
    pytest.param("1.7e9", GOOD_SIG, id="timestamp-float"),
    pytest.param("+1700000000", GOOD_SIG, id="timestamp-plus-sign"),
    pytest.param("-1700000000", GOOD_SIG, id="timestamp-negative"),
    pytest.param("0", GOOD_SIG, id="timestamp-zero"),
    pytest.param("9" * 40, GOOD_SIG, id="timestamp-huge"),
    pytest.param("9" * 4000, GOOD_SIG, id="timestamp-very-long"),
    pytest.param("１７００００００００".encode(), GOOD_SIG, id="timestamp-unicode-digits"),
    pytest.param(b"\xff\xfe\x80", GOOD_SIG, id="timestamp-non-ascii-bytes"),
    pytest.param(GOOD_TS, b"v0=\xff\xfe" + b"a" * 62, id="signature-non-ascii-bytes"),
    pytest.param(GOOD_TS, "v0=" + "z" * 64, id="signature-not-hex"),
    pytest.param(GOOD_TS, "v0=abc", id="signature-short"),
    pytest.param(GOOD_TS, "v0=" + "a" * 4000, id="signature-huge"),
    pytest.param(GOOD_TS, "v1=" + "a" * 64, id="signature-other-version"),
    pytest.param(GOOD_TS, "a" * 67, id="signature-no-prefix"),
    pytest.param(GOOD_TS, ("v0=" + "é" * 64).encode(), id="signature-unicode"),
]


@pytest.mark.parametrize(("timestamp", "signature"), MALFORMED)
def test_malformed_signature_headers_get_401_without_a_traceback(bot, slack_api, logs, timestamp, signature):
    body = command_body("serve-winner 1234 1 25")
    good = sign(SIGNING_SECRET, body)
    headers: dict = {"Content-Type": FORM}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = good["X-Slack-Request-Timestamp"] if timestamp == GOOD_TS else timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = good["X-Slack-Signature"] if signature == GOOD_SIG else signature
    response = post_raw(bot, body, headers)
    assert response.status_code == 401
    assert "Traceback" not in response.text
    time.sleep(0.05)
    assert slack_api.calls() == []
    assert_no_traceback(logs)


# A few seconds past the limit: the timestamp is whole seconds and the server reads the clock later.
@pytest.mark.parametrize("skew", [-305, 305, -3600, 10**9], ids=["stale-5m", "future-5m", "stale-1h", "far-future"])
def test_timestamps_outside_five_minutes_are_refused(bot, slack_api, logs, skew):
    body = command_body("serve-winner 1234 1 25")
    response = post_raw(bot, body, signed(body, timestamp=int(time.time()) + skew))
    assert response.status_code == 401
    assert slack_api.calls() == []
    assert_no_traceback(logs)


def test_a_signature_made_with_another_secret_or_over_another_body_is_refused(bot, slack_api, logs):
    body = command_body("serve-winner 1234 1 25")
    assert post_raw(bot, body, {"Content-Type": FORM, **sign("another-secret-entirely", body)}).status_code == 401
    headers = signed(body)
    assert post_raw(bot, body + b"&text=stop-serving+1237", headers).status_code == 401
    assert slack_api.calls() == []
    assert_no_traceback(logs)


def test_bad_signature_body_is_never_logged(bot, logs):
    body = command_body("connect") + b"&secret=mida_sk_typed_into_a_form_12345"
    headers = {"Content-Type": FORM, **sign("wrong-secret", body)}
    assert post_raw(bot, body, headers).status_code == 401
    everything = "\n".join(r.getMessage() + " " + json.dumps(vars(r), default=str) for r in logs.records)
    assert "mida_sk_typed_into_a_form_12345" not in everything


# ----------------------------------------------------------------------------- body size and shape


def test_oversized_bodies_get_413(bot, slack_api, logs):
    big = b"payload=" + b"a" * (MIB + 1)
    assert post_raw(bot, big, signed(big)).status_code == 413

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(17):
            yield b"a" * (64 * 1024)

    response = httpx.post(bot.url + "/slack/events", content=chunks(), headers=signed(b""), timeout=10)
    assert response.status_code == 413
    # A Content-Length over the limit is refused before the body is read (it never comes).
    assert raw_status(bot, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {10 * MIB}\r\n\r\n{{}}".encode()) == 413
    time.sleep(0.05)
    assert slack_api.calls() == []
    assert_no_traceback(logs)


def test_a_body_of_exactly_one_mib_is_read(bot, logs):
    body = b"token=x&text=" + b"a" * (MIB - len(b"token=x&text="))
    assert len(body) == MIB
    # Signed and within the limit, it reaches Bolt, which finds nothing to handle it.
    assert post_raw(bot, body, signed(body)).status_code != 413
    assert_no_traceback(logs)


MALFORMED_PAYLOADS = [
    pytest.param(b"payload=not-json", FORM, id="form-payload-not-json"),
    pytest.param(b"payload=%5B1%2C2%5D", FORM, id="form-payload-array"),
    pytest.param(b"payload=%22text%22", FORM, id="form-payload-string"),
    pytest.param(b"payload=%7B%22type%22", FORM, id="form-payload-truncated"),
    pytest.param(b"{not json", JSON, id="json-invalid"),
    pytest.param(b"[1, 2, 3]", JSON, id="json-array"),
    pytest.param(b"null", JSON, id="json-null"),
    pytest.param(b"", JSON, id="json-empty"),
    pytest.param(b"\xff\xfe\x00{}", JSON, id="json-not-utf8"),
    pytest.param(b"payload=\xff\xfe", FORM, id="form-not-utf8"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED_PAYLOADS)
def test_signed_but_malformed_payloads_get_400(bot, slack_api, logs, body, content_type):
    response = post_raw(bot, body, signed(body, content_type))
    assert response.status_code == 400
    time.sleep(0.05)
    assert slack_api.calls() == []
    assert_no_traceback(logs)


ODD_SHAPES = [
    pytest.param({}, id="empty-object"),
    pytest.param({"type": "block_actions"}, id="actions-without-anything"),
    pytest.param({"type": "block_actions", "actions": [], "user": {"id": ALICE}, "team": {"id": TEAM}}, id="no-actions"),
    pytest.param({"type": "block_actions", "actions": [{"action_id": ids.APPROVE}], "team": {"id": TEAM},
                  "user": {"id": ALICE}}, id="approve-without-value"),
    pytest.param({"type": "block_actions", "actions": [{"action_id": ids.APPROVE, "value": {"x": 1}}],
                  "team": {"id": TEAM}, "user": {"id": ALICE}}, id="approve-value-not-text"),
    pytest.param({"type": "block_actions", "actions": [{"action_id": ids.APPROVE, "value": "../../x"}],
                  "team": {"id": TEAM}, "user": {"id": ALICE}}, id="approve-crafted-id"),
    pytest.param({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": ALICE},
                  "view": {"callback_id": ids.CHANGE_MODAL}}, id="view-without-state"),
    pytest.param({"type": "view_submission", "team": {"id": TEAM}, "user": {"id": ALICE},
                  "view": {"callback_id": ids.CHANGE_MODAL, "private_metadata": "x" * 5000,
                           "state": {"values": {"rollout": "not-a-dict"}}}}, id="view-odd-state"),
]


@pytest.mark.parametrize("payload", ODD_SHAPES)
def test_signed_payloads_of_an_odd_shape_never_reach_mida(bot, slack_api, mida_sandbox, logs, payload):
    """Well-formed JSON that is not what Slack sends: answered without a 5xx, nothing reaches Mida."""
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = post_raw(bot, body, signed(body))
    assert response.status_code < 500
    time.sleep(0.2)
    assert mida_sandbox.requests() == []


# ----------------------------------------------------------------------------- replays


def test_a_replayed_slash_command_has_no_second_effect(connected, slack_api, logs):
    body = slash_command("serve-winner 1234 1 25", user_id=ALICE, channel_id=CHANNEL,
                        response_url=slack_api.response_url("cmd"))[0]
    headers = signed(body)
    assert post_raw(connected, body, headers).status_code == 200
    slack_api.wait_for("views.open")
    replay = post_raw(connected, body, headers)
    assert replay.status_code == 200 and replay.text == ""
    time.sleep(0.5)
    assert len(slack_api.calls("views.open")) == 1
    assert_no_traceback(logs)


@pytest.mark.parametrize("together", [False, True], ids=["after", "at-once"])
def test_a_replayed_read_is_answered_once(connected, slack_api, mida_sandbox, logs, together):
    """A read is acked before its replay check (bot.app.direct_reads): the check is its work's."""
    body = slash_command("results 1234", user_id=ALICE, channel_id=CHANNEL, response_url=slack_api.response_url("r"))[0]
    headers = signed(body)
    mida_sandbox.clear_requests()
    if together:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: post_raw(connected, body, headers), range(2)))
    else:
        answers = [post_raw(connected, body, headers)]
        slack_api.wait_for_response("r")
        answers.append(post_raw(connected, body, headers))
    assert [(a.status_code, a.text) for a in answers] == [(200, ""), (200, "")]
    slack_api.wait_for_response("r")
    time.sleep(0.5)
    assert len(slack_api.responses("r")) == 1
    assert len(mida_sandbox.requests(path_contains="/experiment/1234/result")) == 1
    assert_no_traceback(logs)


def test_a_replayed_approve_click_has_no_second_effect(connected, slack, slack_api, mida_sandbox, clean_redis):
    request_id = request_serve(slack, slack_api)
    body = block_actions(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL,
                         response_url=slack_api.response_url("cmd"))[0]
    headers = signed(body)
    assert post_raw(connected, body, headers).status_code == 200
    wait_until(lambda: "executed" in audit_events(clean_redis))
    replayed = post_raw(connected, body, headers)
    assert replayed.status_code == 200 and replayed.text == ""
    time.sleep(0.5)
    # The replay was not even answered with "already approved": it never reached the listener.
    assert slack_api.responses("cmd") == []
    assert audit_events(clean_redis).count("approved") == 1
    assert len(serve_writes(mida_sandbox)) == 1


def test_a_replayed_view_submission_has_no_second_effect(connected, slack, slack_api, mida_sandbox, clean_redis):
    set_policy_off(connected)
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=ALICE)
    values = {ids.REASON: plain("Winner"), ids.VARIANT: {ids.VARIANT_SELECT: select("1")}, ids.ROLLOUT: plain("25")}
    body = view_submission(ids.CHANGE_MODAL, values, user_id=ALICE, view=view)[0]
    headers = signed(body)
    first = post_raw(connected, body, headers)
    assert first.status_code == 200 and "errors" not in first.text
    replayed = post_raw(connected, body, headers)
    assert replayed.status_code == 200 and replayed.text == ""
    wait_until(lambda: "executed" in audit_events(clean_redis))
    time.sleep(0.5)
    assert audit_events(clean_redis).count("requested") == 1
    assert len(serve_writes(mida_sandbox)) == 1


def test_the_same_click_signed_again_later_is_still_refused_by_the_state_machine(connected, slack, slack_api, mida_sandbox, clean_redis):
    """Past the signature dedupe (a new timestamp, as an attacker holding the secret could send),
    the request's own state still allows one execution."""
    request_id = request_serve(slack, slack_api)
    body = block_actions(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL,
                         response_url=slack_api.response_url("cmd"))[0]
    first_ts = int(time.time()) - 10
    assert post_raw(connected, body, signed(body, timestamp=first_ts)).status_code == 200
    wait_until(lambda: "executed" in audit_events(clean_redis))
    assert post_raw(connected, body, signed(body, timestamp=first_ts + 1)).status_code == 200
    late = slack_api.wait_for_response("cmd")[-1]
    assert "already" in late["text"]
    assert len(serve_writes(mida_sandbox)) == 1
