"""Interactions inside the confirm modal: picking a variant re-checks the guardrails."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.listeners.context import team_of
from bot.services.errors import BotError
from bot.views import modals


async def handle_variant_select(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    view = body["view"]
    variant_id = body["actions"][0]["selected_option"]["value"]
    try:
        draft, warnings = await deps.drafting.select_variant(
            team_of(body, context), view["private_metadata"], variant_id
        )
    except BotError:
        return
    await client.views_update(view_id=view["id"], hash=view.get("hash"), view=modals.change_modal(draft, warnings))
