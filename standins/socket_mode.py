"""A local stand-in for Slack's Socket Mode: the websocket end that Slack runs at wss-primary.slack.com.

Attached to the Web API stand-in (``slack_api.socket_mode = SocketModeStandIn().start()``), it makes
``apps.connections.open`` (called with the app-level token) answer a one-use
``ws://127.0.0.1:<port>/link/?ticket=...`` URL. Then, as Slack does:

- on connect it sends ``{"type": "hello", ...}``;
- ``send(kind, payload)`` delivers an envelope ``{"envelope_id", "type", "payload",
  "accepts_response_payload"}`` on the newest connection and returns its id; the app must answer
  ``{"envelope_id": ..., "payload"?: ...}``, which ``ack(envelope_id)`` waits for and returns;
- ``disconnect()`` sends ``{"type": "disconnect", "reason": "refresh_requested"}``, after which a
  well-behaved client opens a new connection (a second ``apps.connections.open``).

Envelope kinds: ``slash_commands`` (the command's fields as a JSON object), ``interactive``
(block_actions, view_submission...: the payload object itself, not form-encoded) and
``events_api`` (the event_callback body). ``SocketClient`` builds them from the same payload
builders as the HTTP tests (standins/slack_requests.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from standins import slack_requests as sr
from standins.people import ALICE, TEAM
from standins.slack_api import APP_ID


class SocketModeStandIn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[web.WebSocketResponse] = []
        self.connects = 0  # websockets accepted so far
        self._acks: dict[str, dict[str, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SocketModeStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_get("/link/", self._handle_link)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="socket-mode-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Socket Mode stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return

        async def close() -> None:
            for ws in list(self._connections):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    # ------------------------------------------------------------------ what apps.connections.open answers

    def new_url(self) -> str:
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # ------------------------------------------------------------------ driving the app

    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for ws in self._connections if not ws.closed)

    def wait_connected(self, connects: int = 1, timeout: float = 15.0) -> None:
        """Until `connects` websockets have been accepted in all and one is open."""
        deadline = time.monotonic() + timeout
        while not (self.connects >= connects and self.open_connections() > 0):
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {connects} connection(s), got {self.connects}")
            time.sleep(0.02)

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False,
             **extra: Any) -> str:
        """Deliver an envelope on the newest open connection; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": kind,
                    "accepts_response_payload": accepts_response_payload, **extra}
        self._call(self._send(json.dumps(envelope)))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The app's acknowledgement of an envelope (the whole message it sent back)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if envelope_id in self._acks:
                    return self._acks[envelope_id]
            if time.monotonic() > deadline:
                raise AssertionError(f"no ack for envelope {envelope_id} within {timeout}s")
            time.sleep(0.01)

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return envelope_id in self._acks

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's notice that this connection will be closed; the app should open another."""
        message = {"type": "disconnect", "reason": reason,
                   "debug_info": {"host": "applink-standin"}}
        self._call(self._send(json.dumps(message)))

    # ------------------------------------------------------------------ internals

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None, "SocketModeStandIn is not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _send(self, text: str) -> None:
        with self._lock:
            open_ = [ws for ws in self._connections if not ws.closed]
        if not open_:
            raise AssertionError("no open Socket Mode connection")
        await open_[-1].send_str(text)

    async def _handle_link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)  # one use, as Slack's
        if not known:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()  # answers the client's pings itself
        await ws.prepare(request)
        with self._lock:
            self._connections.append(ws)
            self.connects += 1
            count = sum(1 for c in self._connections if not c.closed)
        await ws.send_str(json.dumps({
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            answer = json.loads(message.data)
            if isinstance(answer, dict) and "envelope_id" in answer:
                with self._lock:
                    self._acks[answer["envelope_id"]] = answer
        with self._lock:
            self._connections.remove(ws)
        return ws


def payload_of(body: bytes, content_type: str) -> dict[str, Any]:
    """What Socket Mode carries for a request Slack would otherwise POST: the command's fields as
    an object, an interactive payload's JSON, an event callback's JSON."""
    if content_type == sr.JSON:
        return json.loads(body)
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return json.loads(fields["payload"]) if set(fields) == {"payload"} else fields


class SocketClient:
    """`BotClient`'s conversation, through Socket Mode: each call sends an envelope and returns the
    app's ack (``{"envelope_id": ..., "payload"?: ...}``)."""

    def __init__(self, standin: SocketModeStandIn, *, response_url: str | None = None,
                 team_id: str = TEAM, user_id: str = ALICE) -> None:
        self._http = sr.BotClient("http://unused.invalid", "", response_url=response_url,
                                  team_id=team_id, user_id=user_id)
        self.standin = standin

    def _roundtrip(self, kind: str, request: tuple[bytes, str], **envelope: Any) -> dict[str, Any]:
        envelope_id = self.standin.send(kind, payload_of(*request), **envelope)
        return self.standin.ack(envelope_id)

    def command(self, text: str, **kw: Any) -> dict[str, Any]:
        request, _ = self._http._command(text, kw)
        return self._roundtrip("slash_commands", request, accepts_response_payload=True)

    def action(self, action_id: str, value: str | None = None, **kw: Any) -> dict[str, Any]:
        request, _ = self._http._action(action_id, value, kw)
        return self._roundtrip("interactive", request, accepts_response_payload=False)

    def submit(self, callback_id: str | None, values: dict[str, Any], **kw: Any) -> dict[str, Any]:
        request, _ = self._http._submit(callback_id, values, kw)
        return self._roundtrip("interactive", request, accepts_response_payload=True)

    def event(self, event: dict[str, Any], **kw: Any) -> dict[str, Any]:
        request, _ = self._http._event(event, dict(kw))
        return self._roundtrip("events_api", request, retry_attempt=0, retry_reason="")
