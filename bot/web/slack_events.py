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
FRESH = 3  # seconds between a request's timestamp and now within which it may be guessed a first delivery


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


Shortcut = Callable[[AsyncBoltRequest, FirstDelivery, bool], bool]
"""Takes a request Bolt need not dispatch, or says False. A request it takes is acked empty at once,
before the replay check: its work asks `FirstDelivery` before it has any effect. The third argument,
`likely_first`: fresh and not seen by this process before (`RecentSignatures`), so reads that
decide nothing may start before the check answers."""


class RecentSignatures:
    """The signatures of the fresh requests this process has seen in the last 2 × FRESH seconds at
    least: a guess, before Redis answers, that a request is a first delivery. It bounds what a
    captured request replayed many times can cost before the check: once per process, only while
    fresh. The replay check in Redis stays the answer."""

    def __init__(self, fresh: float = FRESH) -> None:
        self._fresh = fresh
        self._window = 2 * fresh  # a replay may be fresh up to 2 × FRESH after the first (clock skew)
        self._current: set[str] = set()
        self._previous: set[str] = set()
        self._since = time.monotonic()

    def first_here(self, signature: str, timestamp: str, now: float) -> bool:
        """`timestamp`, `signature`: checked already (signature_ok)."""
        if abs(now - int(timestamp)) > self._fresh:
            return False
        elapsed = time.monotonic() - self._since
        if elapsed > self._window:
            self._previous = self._current if elapsed <= 2 * self._window else set()
            self._current, self._since = set(), time.monotonic()
        if signature in self._current or signature in self._previous:
            return False
        self._current.add(signature)
        return True


class SlackEventsHandler:
    def __init__(self, bolt: AsyncApp, signing_secret: str, dedupe: Dedupe, shortcut: Shortcut | None = None) -> None:
        self._bolt = bolt
        self._secret = signing_secret.encode()
        self._dedupe = dedupe
        self._shortcut = shortcut
        self._recent = RecentSignatures()

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
        now = time.time()
        if not signature_ok(self._secret, timestamp, signature, body, now):
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
        assert signature is not None and timestamp is not None  # signature_ok
        first_delivery = functools.partial(self._first_delivery, signature)
        try:
            if self._shortcut is not None and self._shortcut(
                bolt_request, first_delivery, self._recent.first_here(signature, timestamp, now)
            ):
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
