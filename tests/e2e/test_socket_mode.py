"""`mida-slack socket`, live: the real process against the Socket Mode stand-in (standins/
socket_mode.py), the Web API stand-in, the Mida sandbox and a real Redis. The conversation of the
HTTP tests (connect, a command that opens the confirm modal, its submission, an approval click) goes
through the websocket, with the same outcomes; a `disconnect` makes the bot connect again."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import quote

import httpx
import pytest
import redis.asyncio as aioredis

from bot.domain import RequestStatus, TeamRef
from bot.store.requests import RequestStore
from bot.views import ids
from standins.bot_server import BOT_TOKEN, ENCRYPTION_KEY, BotProcess, bot_env
from standins.people import ADMIN, ALICE, CAROL, CHANNEL, TEAM, introduce
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.slack_requests import plain, select
from standins.socket_mode import SocketClient, SocketModeStandIn
from standins.waiting import wait_until
from tests.e2e.helpers import serve_writes
from tests.e2e.test_log_format import TEXT_CID
from tests.e2e.test_metrics import parse, value

WRONG_KEY = "mida_sk_wrong_but_secret_7a1b2c3d4e5f"
APP_TOKEN = "xapp-1-A0MIDA-1234567890-0123456789abcdef0123456789abcdef"


@pytest.fixture
def socket_standin(slack_api):
    standin = SocketModeStandIn().start()
    slack_api.socket_mode = standin
    yield standin
    standin.stop()


@pytest.fixture
def socket_bot(tmp_path, clean_redis, redis_url, slack_api, mida_sandbox, socket_standin):
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                  SLACK_APP_TOKEN=APP_TOKEN)
    del env["SLACK_SIGNING_SECRET"]  # Slack calls no URL in Socket Mode: no signing secret needed
    bot = BotProcess(env, tmp_path / "socket.log", command="socket").start()
    try:
        socket_standin.wait_connected()
        yield bot
    finally:
        bot.stop()
        print(bot.output())  # shown when a test fails


@pytest.fixture
def through_socket(socket_standin, slack_api) -> SocketClient:
    return SocketClient(socket_standin, response_url=slack_api.response_url("cmd"))


def stored_request(redis_url: str, request_id: str):
    async def get():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await RequestStore(client).get(TeamRef(team_id=TEAM), request_id)
        finally:
            await client.aclose()

    return asyncio.run(get())


def connect_through_socket(sock: SocketClient, slack_api) -> None:
    introduce(slack_api)
    ack = sock.command("connect", user_id=ADMIN)
    assert set(ack) == {"envelope_id"}  # an empty ack: the modal comes through views.open
    view = slack_api.wait_for("views.open")[-1]["view"]
    assert view["callback_id"] == ids.CONNECT_MODAL
    ack = sock.submit(
        ids.CONNECT_MODAL,
        {ids.PROJECT_KEY: plain(PROJECT_KEY), ids.API_KEY: plain(API_KEY), ids.REGION: select("us")},
        user_id=ADMIN, view=view,
    )
    assert set(ack) == {"envelope_id"}  # accepted: the modal closes
    slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ADMIN)  # the confirmation


def test_the_bot_opens_its_socket_with_the_app_token(socket_bot, slack_api, socket_standin):
    opened = slack_api.calls("apps.connections.open")
    assert len(opened) == 1
    assert opened[0].token == APP_TOKEN
    assert socket_standin.open_connections() == 1


def test_command_modal_and_approval_through_the_socket(
    socket_bot, through_socket, slack_api, mida_sandbox, socket_standin, redis_url
):
    connect_through_socket(through_socket, slack_api)
    slack_api.clear()
    mida_sandbox.clear_requests()

    # The command: acked with its envelope id, the confirm modal opened and filled in with the numbers.
    ack = through_socket.command("serve-winner 1234 1 25", user_id=ALICE, channel_id=CHANNEL,
                                 trigger_id="1700000001.100000000001.abc")
    assert set(ack) == {"envelope_id"}
    opened = slack_api.wait_for("views.open")[-1]
    assert opened["trigger_id"] == "1700000001.100000000001.abc"
    assert opened["view"]["callback_id"] == ids.CHANGE_MODAL
    view = slack_api.view(slack_api.wait_for("views.update")[-1]["view_id"])
    assert "1,480" in json.dumps(view, ensure_ascii=False)

    # The submission: acked (the modal closes), the request stored, the approval card posted.
    ack = through_socket.submit(
        ids.CHANGE_MODAL,
        {ids.REASON: plain("Clear winner"), ids.VARIANT: {ids.VARIANT_SELECT: select("1")}, ids.ROLLOUT: plain("25")},
        user_id=ALICE, view=view,
    )
    assert set(ack) == {"envelope_id"}
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL)[-1]
    buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    request_id = next(e["value"] for e in buttons["elements"] if e["action_id"] == ids.APPROVE)
    stored = stored_request(redis_url, request_id)
    assert stored is not None and stored.status == RequestStatus.PENDING
    assert stored.requester.user_id == ALICE and stored.reason == "Clear winner"
    assert serve_writes(mida_sandbox) == []

    # Slack refreshes the connection: the bot opens a new one and carries on there.
    opens = len(slack_api.calls("apps.connections.open"))
    socket_standin.disconnect()
    socket_standin.wait_connected(connects=2)
    assert len(slack_api.calls("apps.connections.open")) == opens + 1
    assert slack_api.last("apps.connections.open").token == APP_TOKEN
    wait_until(lambda: socket_standin.open_connections() == 1)

    # The approval click, on the new connection: acked, Mida written once, the card updated.
    ack = through_socket.action(ids.APPROVE, request_id, user_id=CAROL, channel_id=CHANNEL,
                                message_ts=post.response["ts"])
    assert set(ack) == {"envelope_id"}
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1)
    done = slack_api.wait_for(
        "chat.update",
        predicate=lambda c: ids.REQUEST_ACTIONS not in json.dumps(c.params) and "succeeded" in json.dumps(c.params).lower(),
    )[-1]
    assert (done["channel"], done["ts"]) == (CHANNEL, post.response["ts"])  # the card itself
    assert f"<@{CAROL}>" in json.dumps(done.params)
    write = serve_writes(mida_sandbox)[0]
    assert write["json"] == {"variant_id": "1", "traffic_allocation": 25}
    assert write["path"].endswith(f"/project/{PROJECT_KEY}/experiment/1234/serve-winner")
    wait_until(lambda: stored_request(redis_url, request_id).status == RequestStatus.SUCCEEDED)
    time.sleep(0.3)
    assert len(serve_writes(mida_sandbox)) == 1

    # Acks through the socket are counted and logged as over HTTP, each with a correlation id of its own.
    metrics = parse(httpx.get(f"{socket_bot.url}/metrics", timeout=10).text)
    assert value(metrics, "mida_slack_acks_total", kind="command") == 2  # connect, serve-winner
    assert value(metrics, "mida_slack_acks_total", kind="view") == 2
    assert value(metrics, "mida_slack_acks_total", kind="action") == 1
    assert value(metrics, "mida_slack_executions_total", outcome="succeeded") == 1
    acked = [line for line in socket_bot.output().splitlines() if "Slack request acked" in line]
    ids_seen = [m[1] for line in acked if (m := TEXT_CID.search(line))]
    assert len(acked) == 5 and len(set(ids_seen)) == 5


def test_no_secret_reaches_the_logs_in_socket_mode(socket_bot, through_socket, slack_api):
    """At DEBUG the Socket Mode client would log each envelope as received, before any listener has
    seen (and registered with the scrubber) the Mida API key typed into the connect modal."""
    introduce(slack_api)
    for api_key in (WRONG_KEY, API_KEY):
        opened = len(slack_api.calls("views.open"))
        through_socket.command("connect", user_id=ADMIN)
        view = slack_api.wait_for("views.open", count=opened + 1)[-1]["view"]
        ack = through_socket.submit(
            ids.CONNECT_MODAL,
            {ids.PROJECT_KEY: plain(PROJECT_KEY), ids.API_KEY: plain(api_key), ids.REGION: select("us")},
            user_id=ADMIN, view=view,
        )
        if api_key == WRONG_KEY:  # Mida refuses it: the modal says so on its field
            assert ack["payload"]["response_action"] == "errors" and ids.API_KEY in ack["payload"]["errors"]
    slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ADMIN)
    socket_bot.stop()
    output = socket_bot.output()
    assert "DEBUG" in output and "bot.bolt" in output  # it really logged at DEBUG
    for name, secret in {"Mida API key": API_KEY, "refused Mida API key": WRONG_KEY, "app token": APP_TOKEN,
                         "bot token": BOT_TOKEN, "encryption key": ENCRYPTION_KEY}.items():
        for form in {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}:
            assert form not in output, f"the {name} appears in the logs"


def test_an_event_through_the_socket(socket_bot, through_socket, slack_api):
    connect_through_socket(through_socket, slack_api)
    ack = through_socket.event({"type": "app_home_opened", "user": ALICE, "channel": "D0001", "tab": "home"})
    assert set(ack) == {"envelope_id"}
    published = slack_api.wait_for("views.publish", predicate=lambda c: c["user_id"] == ALICE)[-1]
    assert published.token == BOT_TOKEN and published["view"]["type"] == "home"
