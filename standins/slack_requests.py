"""Requests to the bot, built and signed exactly as Slack builds and signs them.

    body, ctype = slash_command("serve-winner 1234 1 25%", response_url=slack_api.response_url())
    headers = sign(SECRET, body)                 # X-Slack-Request-Timestamp, X-Slack-Signature

    bot = BotClient("http://127.0.0.1:8123", SECRET, response_url=slack_api.response_url())
    bot.command("status").status_code            # 200, the ack
    bot.submit("serve_winner", {"rollout": {"rollout": plain("25")}}, view=slack_api.view("V0001"))
    await bot.acommand("list")                   # async variants: apost, acommand, aaction, asubmit, aevent

Wire formats: slash commands are application/x-www-form-urlencoded fields; interactivity
(block_actions, view_submission) is form-encoded with one field ``payload`` holding JSON; Events
API callbacks are application/json. ``enterprise_id`` is left out entirely outside Enterprise Grid,
as Slack does: slack_bolt takes a present-but-empty ``enterprise_id`` for a real one.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from standins.people import ALICE, BOT_USER, CHANNEL, TEAM

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
API_APP_ID = "A0MIDA"
# Where Slack would send a response_url post when a test gives none: the loopback discard port,
# so a forgotten response_url fails fast instead of reaching hooks.slack.com.
DEFAULT_RESPONSE_URL = "http://127.0.0.1:9/response-url-not-set"

_seq = itertools.count(1)


# ---------------------------------------------------------------------------- signing


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature headers for ``body``."""
    ts = str(int(time.time()) if timestamp is None else int(timestamp))
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# ---------------------------------------------------------------------------- ids


def new_trigger_id() -> str:
    n = next(_seq)
    return f"{1700000000 + n}.{100000000000 + n}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def _team(team_id: str, enterprise_id: str | None) -> dict[str, Any]:
    team: dict[str, Any] = {"id": team_id, "domain": f"team-{team_id.lower()}"}
    if enterprise_id:
        team["enterprise_id"] = enterprise_id
        team["enterprise_name"] = "Test Enterprise"
    return team


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    name = user_id.lower().removeprefix("u_").removeprefix("u") or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _enterprise(enterprise_id: str | None) -> dict[str, Any] | None:
    return {"id": enterprise_id, "name": "Test Enterprise"} if enterprise_id else None


def _payload_form(payload: dict[str, Any]) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode(), FORM


# ---------------------------------------------------------------------------- state values


def plain(value: str | None) -> dict[str, Any]:
    """A plain_text_input as it appears in view.state.values."""
    return {"type": "plain_text_input", "value": value}


def number(value: str | None, *, decimal: bool = True) -> dict[str, Any]:
    return {"type": "number_input", "value": value, "is_decimal_allowed": decimal}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text if text is not None else value, "emoji": True},
            "value": value}


def select(value: str | None, text: str | None = None) -> dict[str, Any]:
    """A static_select (``None``: nothing chosen)."""
    return {"type": "static_select",
            "selected_option": None if value is None else _option(value, text)}


def radio(value: str | None, text: str | None = None) -> dict[str, Any]:
    return {"type": "radio_buttons",
            "selected_option": None if value is None else _option(value, text)}


def checkboxes(*values: str) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [_option(v) for v in values]}


def users(user_ids: list[str]) -> dict[str, Any]:
    """A multi_users_select."""
    return {"type": "multi_users_select", "selected_users": list(user_ids)}


def user(user_id: str | None) -> dict[str, Any]:
    """A users_select."""
    return {"type": "users_select", "selected_user": user_id}


def conversation(conversation_id: str | None) -> dict[str, Any]:
    """A conversations_select."""
    return {"type": "conversations_select", "selected_conversation": conversation_id}


def channel(channel_id: str | None) -> dict[str, Any]:
    return {"type": "channels_select", "selected_channel": channel_id}


def state_values(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise ``{block_id: {action_id: element}}``; ``{block_id: element}`` means action_id == block_id."""
    out: dict[str, dict[str, Any]] = {}
    for block_id, inner in values.items():
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            out[block_id] = {block_id: inner}
        else:
            out[block_id] = dict(inner)
    return out


# ---------------------------------------------------------------------------- payloads


def slash_command(
    text: str,
    *,
    user_id: str = ALICE,
    team_id: str = TEAM,
    channel_id: str = CHANNEL,
    enterprise_id: str | None = None,
    command: str = "/mida",
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str | None = None,
    channel_name: str = "experiments",
    user_name: str | None = None,
    api_app_id: str = API_APP_ID,
    team_domain: str | None = None,
) -> tuple[bytes, str]:
    """A slash command invocation, form-encoded in Slack's field order."""
    fields: list[tuple[str, str]] = [
        ("token", "verification-token-unused"),
        ("team_id", team_id),
        ("team_domain", team_domain or f"team-{team_id.lower()}"),
    ]
    if enterprise_id:
        fields += [("enterprise_id", enterprise_id), ("enterprise_name", "Test Enterprise")]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name or _user(user_id, team_id)["name"]),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id or new_trigger_id()),
    ]
    return urlencode(fields).encode(), FORM


def block_actions(
    action_id: str,
    value: str | None = None,
    *,
    user_id: str = ALICE,
    team_id: str = TEAM,
    channel_id: str | None = CHANNEL,
    message_ts: str | None = None,
    view: dict[str, Any] | None = None,
    block_id: str = "b",
    enterprise_id: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str | None = None,
    selected_option: dict[str, Any] | str | None = None,
    action_type: str | None = None,
    message: dict[str, Any] | None = None,
    ephemeral: bool = False,
    state: dict[str, Any] | None = None,
    user_team_id: str | None = None,
) -> tuple[bytes, str]:
    """A block_actions payload: from a message (``message_ts``/``ephemeral``) or a modal (``view``).

    ``selected_option`` (a value string or an option dict) makes it a static_select action;
    otherwise it is a button with ``value``. ``view`` may be what ``SlackStandIn.view()`` returns.
    ``user_team_id`` is the clicker's own team when it is not the workspace's: the home workspace
    on Enterprise Grid, the other organisation's team for a Slack Connect user.
    """
    if selected_option is not None:
        option = _option(selected_option) if isinstance(selected_option, str) else selected_option
        action: dict[str, Any] = {"type": action_type or "static_select", "action_id": action_id,
                                  "block_id": block_id, "selected_option": option,
                                  "action_ts": _action_ts()}
    else:
        action = {"type": action_type or "button", "action_id": action_id, "block_id": block_id,
                  "text": {"type": "plain_text", "text": action_id, "emoji": True},
                  "action_ts": _action_ts()}
        if value is not None:
            action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": API_APP_ID,
        "token": "verification-token-unused",
    }
    if view is not None:
        full_view = _modal(view, team_id=team_id)
        if state is not None:
            full_view["state"] = {"values": state_values(state)}
        payload["container"] = {"type": "view", "view_id": full_view["id"]}
        payload["trigger_id"] = trigger_id or new_trigger_id()
        payload["team"] = _team(team_id, enterprise_id)
        payload["enterprise"] = _enterprise(enterprise_id)
        payload["is_enterprise_install"] = False
        payload["view"] = full_view
        payload["actions"] = [action]
        payload["state"] = full_view["state"]
    else:
        ts = message_ts or f"{1700000000 + next(_seq)}.000100"
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel_id,
                                "is_ephemeral": ephemeral}
        payload["trigger_id"] = trigger_id or new_trigger_id()
        payload["team"] = _team(team_id, enterprise_id)
        payload["enterprise"] = _enterprise(enterprise_id)
        payload["is_enterprise_install"] = False
        payload["channel"] = {"id": channel_id, "name": "experiments"}
        if not ephemeral:
            payload["message"] = {"type": "message", "user": BOT_USER, "bot_id": "BBOT", "ts": ts,
                                  "text": "", "blocks": [], **(message or {})}
        payload["state"] = {"values": state_values(state or {})}
        payload["response_url"] = response_url
        payload["actions"] = [action]
    return _payload_form(payload)


def _modal(view: dict[str, Any] | None, *, team_id: str, view_id: str | None = None,
           callback_id: str | None = None, private_metadata: str | None = None,
           values: dict[str, Any] | None = None) -> dict[str, Any]:
    base = json.loads(json.dumps(view or {}))
    full: dict[str, Any] = {
        "id": view_id or base.get("id") or "V0001",
        "team_id": base.get("team_id", team_id),
        "type": base.get("type", "modal"),
        "blocks": base.get("blocks", []),
        "private_metadata": base.get("private_metadata", "") if private_metadata is None else private_metadata,
        "callback_id": base.get("callback_id", "") if callback_id is None else callback_id,
        "state": base.get("state") or {"values": {}},
        "hash": base.get("hash", f"1700000000.{next(_seq):08d}"),
        "title": base.get("title", {"type": "plain_text", "text": "Mida", "emoji": True}),
        "clear_on_close": base.get("clear_on_close", False),
        "notify_on_close": base.get("notify_on_close", False),
        "close": base.get("close"),
        "submit": base.get("submit"),
        "previous_view_id": base.get("previous_view_id"),
        "root_view_id": base.get("root_view_id") or view_id or base.get("id") or "V0001",
        "app_id": base.get("app_id", API_APP_ID),
        "external_id": base.get("external_id", ""),
        "app_installed_team_id": base.get("app_installed_team_id", team_id),
        "bot_id": base.get("bot_id", "BBOT"),
    }
    if values is not None:
        full["state"] = {"values": state_values(values)}
    return full


def view_submission(
    callback_id: str | None,
    values: dict[str, Any],
    *,
    private_metadata: str | None = None,
    user_id: str = ALICE,
    team_id: str = TEAM,
    view_id: str | None = None,
    enterprise_id: str | None = None,
    trigger_id: str | None = None,
    view: dict[str, Any] | None = None,
    user_team_id: str | None = None,
) -> tuple[bytes, str]:
    """A modal submission. ``values`` is ``{block_id: {action_id: element}}`` (see ``state_values``).
    ``user_team_id``: the submitter's own team, as for ``block_actions``.

    ``view`` (e.g. ``SlackStandIn.view("V0001")``, what the bot opened) supplies the blocks, id,
    callback_id and private_metadata unless given here; ``view_id`` defaults to "V0001".
    """
    full_view = _modal(view, team_id=team_id, view_id=view_id, callback_id=callback_id,
                       private_metadata=private_metadata, values=values)
    payload = {
        "type": "view_submission",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, user_team_id or team_id),
        "api_app_id": API_APP_ID,
        "token": "verification-token-unused",
        "trigger_id": trigger_id or new_trigger_id(),
        "view": full_view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
    }
    return _payload_form(payload)


def view_closed(callback_id: str, *, user_id: str = ALICE, team_id: str = TEAM,
                view: dict[str, Any] | None = None, enterprise_id: str | None = None) -> tuple[bytes, str]:
    payload = {
        "type": "view_closed",
        "team": _team(team_id, enterprise_id),
        "user": _user(user_id, team_id),
        "api_app_id": API_APP_ID,
        "token": "verification-token-unused",
        "view": _modal(view, team_id=team_id, callback_id=callback_id),
        "is_cleared": False,
        "is_enterprise_install": False,
        "enterprise": _enterprise(enterprise_id),
    }
    return _payload_form(payload)


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str | None = TEAM,
    event_id: str | None = None,
    enterprise_id: str | None = None,
    bot_user_id: str = BOT_USER,
) -> tuple[bytes, str]:
    """An Events API callback (application/json) with ``authorizations``. ``team_id=None`` (with an
    ``enterprise_id``) is an org-wide install's app_uninstalled/tokens_revoked, which names only the
    enterprise: no team_id and no authorizations (bolt-python's test_events_token_revocations)."""
    now = int(time.time())
    event = {"event_ts": f"{now}.000100", **event}
    payload: dict[str, Any] = {
        "token": "verification-token-unused",
        "team_id": team_id,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_seq):08d}",
        "event_time": now,
        "authorizations": [{
            "enterprise_id": enterprise_id,
            "team_id": team_id,
            "user_id": bot_user_id,
            "is_bot": True,
            "is_enterprise_install": False,
        }],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(12)}",
    }
    if team_id is None:
        for absent in ("team_id", "authorizations", "is_ext_shared_channel", "event_context"):
            del payload[absent]
    if enterprise_id:
        payload["enterprise_id"] = enterprise_id
    return json.dumps(payload).encode(), JSON


def url_verification(challenge: str = "challenge-token") -> tuple[bytes, str]:
    return json.dumps({"token": "verification-token-unused", "challenge": challenge,
                       "type": "url_verification"}).encode(), JSON


# ---------------------------------------------------------------------------- client


class BotClient:
    """Sends signed Slack requests to ``<base_url>/slack/events`` over real HTTP (httpx).

    ``response_url`` is the default response_url put into commands and message actions
    (typically ``slack_api.response_url()``); ``team_id``/``user_id`` are defaults too.
    """

    path = "/slack/events"

    def __init__(self, base_url: str, signing_secret: str, *, response_url: str | None = None,
                 team_id: str = TEAM, user_id: str = ALICE, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.signing_secret = signing_secret
        self.response_url = response_url
        self.team_id = team_id
        self.user_id = user_id
        self.timeout = timeout

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def _headers(self, body: bytes, content_type: str, signed: bool, secret: str | None,
                 timestamp: int | None, headers: dict[str, str] | None) -> dict[str, str]:
        out = {"Content-Type": content_type}
        if signed:
            out.update(sign(self.signing_secret if secret is None else secret, body, timestamp))
        out.update(headers or {})
        return out

    def post(self, body: bytes, content_type: str, *, signed: bool = True, secret: str | None = None,
             timestamp: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        with httpx.Client(timeout=self.timeout) as client:
            return client.post(self.url, content=body,
                               headers=self._headers(body, content_type, signed, secret, timestamp, headers))

    async def apost(self, body: bytes, content_type: str, *, signed: bool = True, secret: str | None = None,
                    timestamp: int | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return await client.post(self.url, content=body,
                                     headers=self._headers(body, content_type, signed, secret, timestamp,
                                                           headers))

    # Request-shaping options (signed, secret, timestamp, headers) are split from payload options.
    _POST_KW = ("signed", "secret", "timestamp", "headers")

    def _split(self, kw: dict[str, Any], *, with_response_url: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        post_kw = {k: kw.pop(k) for k in self._POST_KW if k in kw}
        kw.setdefault("team_id", self.team_id)
        kw.setdefault("user_id", self.user_id)
        if with_response_url and self.response_url is not None:
            kw.setdefault("response_url", self.response_url)
        return kw, post_kw

    def _command(self, text: str, kw: dict[str, Any]) -> tuple[tuple[bytes, str], dict[str, Any]]:
        kw, post_kw = self._split(dict(kw), with_response_url=True)
        return slash_command(text, **kw), post_kw

    def _action(self, action_id: str, value: str | None, kw: dict[str, Any]
                ) -> tuple[tuple[bytes, str], dict[str, Any]]:
        kw, post_kw = self._split(dict(kw), with_response_url=kw.get("view") is None)
        return block_actions(action_id, value, **kw), post_kw

    def _submit(self, callback_id: str | None, values: dict[str, Any], kw: dict[str, Any]
                ) -> tuple[tuple[bytes, str], dict[str, Any]]:
        kw, post_kw = self._split(dict(kw), with_response_url=False)
        return view_submission(callback_id, values, **kw), post_kw

    def _event(self, event: dict[str, Any], kw: dict[str, Any]) -> tuple[tuple[bytes, str], dict[str, Any]]:
        post_kw = {k: kw.pop(k) for k in self._POST_KW if k in kw}
        kw.setdefault("team_id", self.team_id)
        return event_callback(event, **kw), post_kw

    def command(self, text: str, **kw: Any) -> httpx.Response:
        """``/mida <text>``; keyword arguments go to ``slash_command`` or ``post``."""
        (body, ctype), post_kw = self._command(text, kw)
        return self.post(body, ctype, **post_kw)

    def action(self, action_id: str, value: str | None = None, **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._action(action_id, value, kw)
        return self.post(body, ctype, **post_kw)

    def submit(self, callback_id: str | None, values: dict[str, Any], **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._submit(callback_id, values, kw)
        return self.post(body, ctype, **post_kw)

    def event(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._event(event, dict(kw))
        return self.post(body, ctype, **post_kw)

    async def acommand(self, text: str, **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._command(text, kw)
        return await self.apost(body, ctype, **post_kw)

    async def aaction(self, action_id: str, value: str | None = None, **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._action(action_id, value, kw)
        return await self.apost(body, ctype, **post_kw)

    async def asubmit(self, callback_id: str | None, values: dict[str, Any], **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._submit(callback_id, values, kw)
        return await self.apost(body, ctype, **post_kw)

    async def aevent(self, event: dict[str, Any], **kw: Any) -> httpx.Response:
        (body, ctype), post_kw = self._event(event, dict(kw))
        return await self.apost(body, ctype, **post_kw)
