"""Stop serving / Change rollout from a follow-up in a card's thread: the same modal and policy
as the slash commands."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Origin
from bot.listeners.change_modal import change_from_button, open_change_modal
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError
from bot.views import ids, messages


async def handle_followup_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    change = change_from_button(body, ids.FOLLOWUP_STOP)
    if change is None:
        return
    try:
        await open_change_modal(
            deps,
            client,
            trigger_id=body["trigger_id"],
            team=team_of(body, context),
            person=person_of(body, context),
            channel_id=(body.get("channel") or {}).get("id", ""),
            change=change,
            origin=Origin.FOLLOWUP,
            response_url=body.get("response_url"),
        )
    except BotError as err:
        text, blocks = messages.error_message(err, test_id=change.test_id)
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
