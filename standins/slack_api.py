"""A local stand-in for the Slack Web API that records every call.

The bot is pointed at it with ``SLACK_API_URL=<standin.api_url>``. It runs an aiohttp server in a
background thread with its own event loop on a free 127.0.0.1 port, so it serves sync tests, async
tests and bot subprocesses alike.

    standin = SlackStandIn().start()
    ...  # SLACK_API_URL=standin.api_url
    standin.set_user("U_ALICE", is_admin=True)
    standin.wait_for("views.open")          # the bot works after it acks: wait, don't assert at once
    standin.last("views.open")["view"]["title"]
    standin.stop()

Wire format notes (slack_sdk's AsyncWebClient):
- most write methods (chat.postMessage, chat.update, chat.postEphemeral, views.*) POST a JSON body;
  several read methods (users.info, conversations.info, chat.getPermalink, usergroups.users.list)
  are GETs with query parameters; auth.test is a POST with an empty body; oauth.v2.access is a
  form POST with HTTP Basic auth. All of them are accepted here, on GET and POST alike.
- the URL is ``urljoin(base_url, method)``, so a base URL without the trailing slash silently
  drops ``/api``: ``api_url`` always ends with ``/api/``.
- the token travels in ``Authorization: Bearer``; a ``token`` form/query field is honoured too.
- the built-in rate-limit retry handler reads only the FIRST CHARACTER of ``Retry-After``
  (``int(headers["Retry-After"][0])``) and adds up to 1 s of jitter: ``retry_after=0`` makes
  fast tests, ``retry_after=10`` waits about 1 s, not 10.

If the bot runs in-process on the test's own event loop, use the ``*_async`` waiters: the sync
``wait_for`` blocks the calling thread (fine for subprocess bots).

Like Slack, it refuses a message of more than 50 blocks (chat.* answer ``invalid_blocks``; a
response_url answers HTTP 400 ``invalid_blocks`` and the post is not shown, see
``refused_responses``) and a modal or Home tab of more than 100 (views.* answer
``invalid_arguments``), with Slack's own error messages.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from standins.people import BOT_USER as BOT_USER_ID
from standins.people import TEAM as DEFAULT_TEAM

BOT_ID = "BBOT"
APP_ID = "A0MIDA"

# Form/query fields that Slack clients send as JSON-encoded strings.
JSON_FIELDS = frozenset(
    {"blocks", "attachments", "view", "metadata", "unfurls", "user_auth_blocks", "options",
     "option_groups", "initial_options", "event_and_entity_metadata"}
)


MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"})
VIEW_METHODS = frozenset({"views.open", "views.push", "views.update", "views.publish"})


def _too_many(blocks: Any, limit: int) -> bool:
    return isinstance(blocks, list) and len(blocks) > limit


def _block_limit_error(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to a message or view over its block limit, or None when it is within it."""
    if method in MESSAGE_METHODS and _too_many(params.get("blocks"), MAX_MESSAGE_BLOCKS):
        problem = f"no more than {MAX_MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]"
        return {"ok": False, "error": "invalid_blocks", "errors": [problem],
                "response_metadata": {"messages": [f"[ERROR] {problem}"]}}
    view = params.get("view")
    if method in VIEW_METHODS and isinstance(view, dict) and _too_many(view.get("blocks"), MAX_VIEW_BLOCKS):
        problem = f"no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]"
        return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [f"[ERROR] {problem}"]}}
    return None


@dataclass(frozen=True)
class Call:
    """One recorded Web API call. ``call["channel"]`` reads ``call.params["channel"]``."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    http_method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    # (client_id, client_secret) when the call used HTTP Basic auth (oauth.v2.access).
    basic_auth: tuple[str, str] | None = None
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class _Fault:
    kind: str  # "fail" | "rate_limit"
    remaining: int | None  # None: forever
    error: str = ""
    retry_after: int = 1
    status: int = 200


@dataclass
class _Response:
    name: str
    body: Any
    at: float
    headers: dict[str, str]
    refused: bool = False  # over the block limit: Slack answers 400 and shows nothing


class SlackStandIn:
    """A Slack Web API stand-in on 127.0.0.1, recording every call. See the module docstring."""

    def __init__(self, *, strict_views: bool = False) -> None:
        # strict_views: views.update on a view id this stand-in never opened answers
        # {"ok": false, "error": "not_found"} as Slack does; by default the view is just created.
        self.strict_views = strict_views
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._responses: list[_Response] = []
        self._response_faults: dict[str, list[_Fault]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self._oauth: dict[str, dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._external_ids: dict[str, str] = {}
        self._view_seq = itertools.count(1)
        self._ts_seq = itertools.count(1)
        self._hash_seq = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # Socket Mode's websocket end (standins/socket_mode.py), named by apps.connections.open.
        self.socket_mode: Any = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("SlackStandIn is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def start(self) -> SlackStandIn:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        errors: list[BaseException] = []

        async def serve() -> None:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/api/{method}", self._handle_api)
            app.router.add_route("*", "/response/{name}", self._handle_response_url)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="slack-standin", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise RuntimeError("the Slack stand-in did not start") from errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                fut.result(10)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ configuration

    def set_user(
        self,
        user_id: str,
        team_id: str = DEFAULT_TEAM,
        is_admin: bool = False,
        is_owner: bool = False,
        name: str | None = None,
        tz: str = "UTC",
        *,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        enterprise_id: str | None = None,
        teams: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add or replace a user answered by users.info. ``extra`` is merged into the user object.

        ``is_restricted`` is a multi-channel guest, ``is_ultra_restricted`` a single-channel guest
        (Slack sets both for the latter). ``enterprise_id`` makes an Enterprise Grid member: users.info
        then carries ``enterprise_user`` with the org and ``teams`` (the workspaces they are in;
        ``team_id`` alone by default), as Slack answers on Grid.
        """
        name = name or user_id.lower().removeprefix("u_").removeprefix("u") or user_id.lower()
        grid: dict[str, Any] = {}
        if enterprise_id:
            grid["enterprise_user"] = {
                "id": user_id,
                "enterprise_id": enterprise_id,
                "enterprise_name": "Test Enterprise",
                "is_admin": False,
                "is_owner": False,
                "is_primary_owner": False,
                "teams": list(teams) if teams is not None else [team_id],
            }
        user = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "deleted": deleted,
            "real_name": name.title(),
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": is_restricted or is_ultra_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {"real_name": name.title(), "display_name": name, "team": team_id},
            **grid,
            **extra,
        }
        with self._lock:
            self._users[user_id] = user
        return user

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def set_channel(self, channel_id: str, name: str | None = None, *, is_private: bool = False,
                    is_member: bool = True, **extra: Any) -> None:
        """Configure what conversations.info answers (unknown channels get a plausible default)."""
        with self._lock:
            self._channels[channel_id] = self._channel(channel_id, name, is_private, is_member) | extra

    def set_token(self, token: str, team_id: str = DEFAULT_TEAM, *, enterprise_id: str | None = None,
                  user_id: str = BOT_USER_ID, bot_id: str = BOT_ID, **extra: Any) -> None:
        """Say which workspace a token belongs to (auth.test, views' team_id).

        Unregistered tokens shaped ``xoxb-T0002-...`` belong to T0002; others to T0001.
        """
        with self._lock:
            self._tokens[token] = {"team_id": team_id, "enterprise_id": enterprise_id,
                                   "user_id": user_id, "bot_id": bot_id, **extra}

    def set_oauth(self, code: str, response: dict[str, Any]) -> None:
        """What oauth.v2.access answers for ``code`` ("ok": true is added when absent)."""
        with self._lock:
            self._oauth[code] = {"ok": True, **response}

    def fail(self, method: str, error: str = "not_in_channel", times: int | None = 1) -> None:
        """The next ``times`` calls of ``method`` answer {"ok": false, "error": error} (None: all)."""
        with self._lock:
            self._faults.setdefault(method, []).append(_Fault("fail", times, error=error))

    def rate_limit(self, method: str, retry_after: int = 1, times: int | None = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault("rate_limit", times, error="ratelimited", retry_after=retry_after))

    def delay(self, method: str, seconds: float) -> None:
        """Every call of ``method`` waits ``seconds`` before answering (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def clear(self) -> None:
        """Forget recorded calls and response_url posts (configuration and faults stay)."""
        with self._lock:
            self._calls.clear()
            self._responses.clear()

    def reset(self) -> None:
        """Forget everything: records, faults, delays, directory, views."""
        with self._lock:
            self._calls.clear()
            self._responses.clear()
            self._response_faults.clear()
            self._faults.clear()
            self._delays.clear()
            self._users.clear()
            self._usergroups.clear()
            self._channels.clear()
            self._tokens.clear()
            self._oauth.clear()
            self._views.clear()
            self._external_ids.clear()

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> Call:
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method} call; calls so far: {self._summary()}")
        return found[-1]

    def messages(self, channel: str) -> list[Call]:
        """chat.postMessage and chat.update calls for ``channel``, in order."""
        return [c for c in self.calls()
                if c.method in ("chat.postMessage", "chat.update") and c.params.get("channel") == channel]

    def view(self, view_id: str) -> dict[str, Any]:
        """The latest content of a view opened/updated/pushed through the stand-in."""
        with self._lock:
            if view_id not in self._views:
                raise AssertionError(f"no view {view_id}; views: {sorted(self._views)}")
            return json.loads(json.dumps(self._views[view_id]))

    def views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self._views))

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0,
                 predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Block until at least ``count`` matching calls are recorded; return all matching calls."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, found, timeout))
            time.sleep(0.02)

    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 5.0,
                             predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Like ``wait_for`` but yields to the caller's event loop (for in-process bots)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._matching(method, predicate)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(method, count, found, timeout))
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ response_url

    def response_url(self, name: str = "r1") -> str:
        """A URL that records JSON posts the way Slack's response_url does."""
        return f"{self.base_url}/response/{name}"

    def fail_response(self, name: str, status: int = 404, error: str = "expired_url",
                      times: int | None = 1) -> None:
        """The next ``times`` posts to response_url ``name`` answer ``status`` with ``error``."""
        with self._lock:
            self._response_faults.setdefault(name, []).append(
                _Fault("fail", times, error=error, status=status))

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """The bodies posted to response_url ``name`` (all names when None), in order; not the
        ones refused for too many blocks."""
        with self._lock:
            return [r.body for r in self._responses if (name is None or r.name == name) and not r.refused]

    def refused_responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """The bodies posted to response_url ``name`` that Slack would refuse (over 50 blocks)."""
        with self._lock:
            return [r.body for r in self._responses if (name is None or r.name == name) and r.refused]

    def wait_for_response(self, name: str, count: int = 1, timeout: float = 5.0,
                          predicate: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [b for b in self.responses(name) if predicate is None or predicate(b)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} post(s) to response_url {name!r} within {timeout}s, got "
                    f"{len(found)}; all posts: {self.responses()}; refused for too many blocks: "
                    f"{len(self.refused_responses())}; API calls: {self._summary()}")
            time.sleep(0.02)

    async def wait_for_response_async(self, name: str, count: int = 1, timeout: float = 5.0,
                                      predicate: Callable[[dict[str, Any]], bool] | None = None
                                      ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = [b for b in self.responses(name) if predicate is None or predicate(b)]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} post(s) to response_url {name!r} within {timeout}s, got "
                    f"{len(found)}; all posts: {self.responses()}; refused for too many blocks: "
                    f"{len(self.refused_responses())}; API calls: {self._summary()}")
            await asyncio.sleep(0.02)

    # ------------------------------------------------------------------ internals

    def _matching(self, method: str, predicate: Callable[[Call], bool] | None) -> list[Call]:
        return [c for c in self.calls(method) if predicate is None or predicate(c)]

    def _summary(self) -> str:
        return ", ".join(f"{c.method}({c.status})" for c in self.calls()) or "none"

    def _timeout_message(self, method: str, count: int, found: list[Call], timeout: float) -> str:
        msg = (f"expected {count} matching {method} call(s) within {timeout}s, got {len(found)}; "
               f"calls so far: {self._summary()}")
        try:
            asyncio.get_running_loop()
            msg += (" (wait_for blocked this thread's running event loop: an in-process bot "
                    "needs `await wait_for_async(...)`)")
        except RuntimeError:
            pass
        return msg

    @staticmethod
    def _channel(channel_id: str, name: str | None, is_private: bool, is_member: bool) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": name or f"channel-{channel_id.lower()}",
            "is_channel": not channel_id.startswith("D"),
            "is_group": False,
            "is_im": channel_id.startswith("D"),
            "is_private": is_private,
            "is_archived": False,
            "is_member": is_member,
            "created": 1700000000,
        }

    def _identity(self, token: str | None) -> dict[str, Any]:
        if token and token in self._tokens:
            return self._tokens[token]
        team = DEFAULT_TEAM
        if token:
            parts = token.split("-")
            if len(parts) > 1 and parts[1][:1] == "T" and parts[1][1:].isalnum():
                team = parts[1]
        return {"team_id": team, "enterprise_id": None, "user_id": BOT_USER_ID, "bot_id": BOT_ID}

    def _take_fault(self, faults: dict[str, list[_Fault]], key: str) -> _Fault | None:
        queue = faults.get(key)
        if not queue:
            return None
        fault = queue[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
        return fault

    @staticmethod
    def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
        for key, value in list(params.items()):
            if key in JSON_FIELDS and isinstance(value, str) and value[:1] in ("{", "["):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    pass
        return params

    async def _parse(self, request: web.Request) -> tuple[dict[str, Any], str | None, tuple[str, str] | None]:
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if ctype.startswith("multipart/"):  # file uploads: keep the fields, name the files
            form = await request.post()
            for key, value in form.items():
                params[key] = value if isinstance(value, str) else f"(file {value.filename})"
            raw = b""
        else:
            raw = await request.read()
        if raw:
            if ctype == "application/json" or raw.lstrip()[:1] == b"{":
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                if isinstance(body, dict):
                    params.update(body)
                else:
                    params["_json"] = body
            else:
                params.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
        self._decode_json_fields(params)
        token: str | None = None
        basic: tuple[str, str] | None = None
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        elif auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
                basic = (user, password)
            except ValueError:
                pass
        if "token" in params:
            token = token or str(params.pop("token"))
        return params, token, basic

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, token, basic = await self._parse(request)
        at = time.time()
        with self._lock:
            delay = self._delays.get(method, 0.0)
            fault = self._take_fault(self._faults, method)
        if delay:
            await asyncio.sleep(delay)
        status, headers = 200, {}
        if fault is not None and fault.kind == "rate_limit":
            status, headers = 429, {"Retry-After": str(fault.retry_after)}
            answer: dict[str, Any] = {"ok": False, "error": "ratelimited"}
        elif fault is not None:
            answer = {"ok": False, "error": fault.error}
        else:
            with self._lock:
                answer = _block_limit_error(method, params) or self._answer(method, params, token)
        call = Call(method=method, params=params, token=token, at=at, http_method=request.method,
                    headers=dict(request.headers), basic_auth=basic, status=status, response=answer)
        with self._lock:
            self._calls.append(call)
        return web.json_response(answer, status=status, headers=headers)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        refused = isinstance(body, dict) and _too_many(body.get("blocks"), MAX_MESSAGE_BLOCKS)
        with self._lock:
            self._responses.append(_Response(name, body, time.time(), dict(request.headers), refused))
            fault = None if refused else self._take_fault(self._response_faults, name)
        if refused:
            return web.Response(status=400, text="invalid_blocks", content_type="text/html")
        if fault is not None:
            return web.Response(status=fault.status, text=fault.error, content_type="text/html")
        return web.Response(text="ok", content_type="text/html")

    # Called with the lock held.
    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        who = self._identity(token)
        team_id = who["team_id"]
        if method == "auth.test":
            answer = {
                "ok": True,
                "url": f"https://{team_id.lower()}.slack.com/",
                "team": "Test Team",
                "user": "mida",
                "team_id": team_id,
                "user_id": who["user_id"],
                "bot_id": who["bot_id"],
                "is_enterprise_install": False,
            }
            if who.get("enterprise_id"):
                answer["enterprise_id"] = who["enterprise_id"]
            return answer
        if method == "apps.connections.open":
            if not (token or "").startswith("xapp-"):  # Slack wants the app-level token here
                return {"ok": False, "error": "not_allowed_token_type"}
            if self.socket_mode is not None:
                return {"ok": True, "url": self.socket_mode.new_url()}
        if method == "users.info":
            user = self._users.get(str(params.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": json.loads(json.dumps(user))}
        if method in ("views.open", "views.push", "views.update"):
            return self._answer_view(method, params, team_id)
        if method == "chat.postMessage":
            channel = params.get("channel")
            ts = self._next_ts()
            message = {"type": "message", "user": who["user_id"], "bot_id": who["bot_id"],
                       "app_id": APP_ID, "team": team_id, "ts": ts, "text": params.get("text", "")}
            for key in ("blocks", "attachments", "thread_ts", "metadata"):
                if key in params:
                    message[key] = params[key]
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.update":
            answer = {"ok": True, "channel": params.get("channel"), "ts": params.get("ts"),
                      "text": params.get("text", "")}
            message = {"text": params.get("text", "")}
            if "blocks" in params:
                message["blocks"] = params["blocks"]
            answer["message"] = message
            return answer
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.getPermalink":
            channel = params.get("channel", "")
            ts = str(params.get("message_ts", "")).replace(".", "")
            return {"ok": True, "channel": channel,
                    "permalink": f"https://test-team.slack.com/archives/{channel}/p{ts}"}
        if method == "usergroups.users.list":
            group = str(params.get("usergroup"))
            if group not in self._usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self._usergroups[group])}
        if method == "conversations.info":
            channel_id = str(params.get("channel", ""))
            channel = self._channels.get(channel_id) or self._channel(channel_id, None, False, True)
            return {"ok": True, "channel": dict(channel)}
        if method == "oauth.v2.access":
            code = params.get("code")
            if code in self._oauth:
                return json.loads(json.dumps(self._oauth[str(code)]))
            return {"ok": False, "error": "invalid_code"}
        return {"ok": True}

    def _answer_view(self, method: str, params: dict[str, Any], team_id: str) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        previous: dict[str, Any] | None = None
        if method == "views.update":
            view_id = params.get("view_id") or self._external_ids.get(str(params.get("external_id")))
            if view_id is None or (view_id not in self._views and self.strict_views):
                return {"ok": False, "error": "not_found"}
            previous = self._views.get(str(view_id))
            view_id = str(view_id)
        else:
            view_id = f"V{next(self._view_seq):04d}"
        echoed = json.loads(json.dumps(view))
        echoed.update({
            "id": view_id,
            "team_id": team_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "app_installed_team_id": team_id,
            "hash": f"1700000000.{next(self._hash_seq):08d}",
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": None,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
        })
        self._views[view_id] = echoed
        if echoed["external_id"]:
            self._external_ids[echoed["external_id"]] = view_id
        return {"ok": True, "view": json.loads(json.dumps(echoed))}

    def _next_ts(self) -> str:
        return f"{1700000000 + next(self._ts_seq)}.000100"
