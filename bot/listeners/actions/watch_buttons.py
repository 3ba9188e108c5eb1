"""The buttons on a watch's alert — Serve (the serve-winner confirm modal for that experiment and
variant), Pause experiment (the pause confirm modal); and a stale card's Review the new numbers.
Results is `results_buttons.handle_results`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Action, Change, Origin, parse_test_id
from bot.listeners.change_modal import open_change_modal
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError, InvalidInput
from bot.views import ids, messages


async def handle_watch_change(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    action = body["actions"][0]
    test_text, _, variant_id = (action.get("value") or "").partition("|")
    test_id = parse_test_id(test_text)
    try:
        if test_id is None:
            raise InvalidInput("button", "This button does not name an experiment.")
        if action["action_id"] in (ids.WATCH_SERVE, ids.CONFIRM_AGAIN):
            change = Change(action=Action.SERVE_WINNER, test_id=test_id, variant_id=variant_id or None)
        else:
            change = Change(action=Action.PAUSE_EXPERIMENT, test_id=test_id)
        await open_change_modal(
            deps,
            client,
            trigger_id=body["trigger_id"],
            team=team_of(body, context),
            person=person_of(body, context),
            channel_id=(body.get("channel") or {}).get("id", ""),
            change=change,
            origin=Origin.ALERT if action["action_id"] != ids.CONFIRM_AGAIN else Origin.COMMAND,
            response_url=body.get("response_url"),
        )
    except BotError as err:
        text, blocks = messages.error_message(err, test_id=test_id)
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
