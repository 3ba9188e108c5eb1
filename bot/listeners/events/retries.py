"""Slack delivers an event again when it did not see our 200 in time (the retry carries
`X-Slack-Retry-Num`); the retry has a new signature, so only its `event_id` tells it apart.
The first delivery of an event id runs; later ones are acknowledged and dropped."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.deps import Deps
from bot.listeners.context import team_of

log = logging.getLogger(__name__)


async def skip_repeated_events(
    body: dict, context: AsyncBoltContext, request: AsyncBoltRequest, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    deps: Deps = context["deps"]
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        await next()
        return None
    if await deps.deliveries.first_delivery(team_of(body, context), event_id):
        await next()
        return None
    retries = request.headers.get("x-slack-retry-num") or []
    retry = retries[0] if retries else None
    log.info("event already handled; dropped", extra={"event_id": event_id, "retry": retry})
    return BoltResponse(status=200, body="")
