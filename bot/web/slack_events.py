"""`POST /slack/events`: checks Slack's signature ahead of Bolt, then hands the request to Bolt.

Checking first means a malformed, stale, unsigned or replayed request gets a plain 401 (or 413/400)
without a traceback and without its body reaching any log: Bolt logs the body of a badly signed
request, and a modal's body can hold an API key someone just typed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.logs import new_correlation_id
from bot.slack.bodies import bolt_body
from bot.slack.lazy_queue import FirstDelivery
from bot.store.dedupe import Dedupe

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
MAX_SKEW = 300
REPLAY_TTL = MAX_SKEW * 2


def signature_ok(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float) -> bool:
    if not timestamp or not signature:
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > MAX_SKEW:
        return False
    if not (signature.isascii() and signature.startswith("v0=") and len(signature) == 67):
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


Shortcut = Callable[[AsyncBoltRequest, FirstDelivery], bool]
"""Takes a request Bolt need not dispatch, or says False. A request it takes is acked empty at once,
before the replay check: its work asks `FirstDelivery` before it has any effect."""


class SlackEventsHandler:
    def __init__(self, bolt: AsyncApp, signing_secret: str, dedupe: Dedupe, shortcut: Shortcut | None = None) -> None:
        self._bolt = bolt
        self._secret = signing_secret.encode()
        self._dedupe = dedupe
        self._shortcut = shortcut

    async def handle(self, request: web.Request) -> web.Response:
        new_correlation_id()  # this request's, for every line about it here and in the worker
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="request body too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="request body too large")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not signature_ok(self._secret, timestamp, signature, body, time.time()):
            log.info("refused a request with a bad or missing signature", extra={"path": request.path})
            return web.Response(status=401, text="invalid signature")
        try:  # parsed once, here; Bolt answers 500 to some bodies it cannot parse
            bolt_request = AsyncBoltRequest(
                body=bolt_body(body.decode("utf-8"), request.content_type),
                query=request.query_string,
                headers=dict(request.headers),
            )
        except (UnicodeDecodeError, ValueError, AttributeError, TypeError):  # not UTF-8, not JSON, JSON not an object
            return web.Response(status=400, text="malformed payload")
        if not isinstance(bolt_request.body, dict) or not bolt_request.body:
            return web.Response(status=400, text="malformed payload")
        first_delivery = functools.partial(self._first_delivery, signature or "")
        try:
            if self._shortcut is not None and self._shortcut(bolt_request, first_delivery):
                return web.Response(status=200, text="")
            if not await first_delivery():
                return web.Response(status=200, text="")
            answer = await self._bolt.async_dispatch(bolt_request)
        except Exception as err:
            # Bolt's own payload helpers (and its error handler) raise on a signed body of a shape
            # Slack never sends (a view without "type", an empty "actions"...): answer 400, not a
            # 500 with a traceback, and keep the body out of the log.
            log.warning("Bolt could not handle a signed request", extra={"error": type(err).__name__})
            return web.Response(status=400, text="malformed payload")
        return await to_aiohttp_response(answer)

    async def _first_delivery(self, signature: str) -> bool:
        """A signed request seen before (a replay) has no second effect. Slack's own event
        retries carry X-Slack-Retry-Num and are deduplicated by event id in the listener."""
        try:
            return await self._dedupe.first_time("signature", signature, REPLAY_TTL)
        except RedisError:
            return True  # the listener meets the same outage and says so to the person
