"""Listeners whose work happens after the ack, from the lazy queue (see bot.slack.lazy_queue).

`app.action(id)(**after_ack(handle_x))` acks at once and queues `handle_x`, which then runs with
the same arguments in whichever process works the queue (its own `await ack()` is a no-op there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck


async def acknowledge(ack: AsyncAck) -> None:
    await ack()


def after_ack(handler: Callable[..., Awaitable[None]]) -> dict[str, Any]:
    return {"ack": acknowledge, "lazy": [handler]}
