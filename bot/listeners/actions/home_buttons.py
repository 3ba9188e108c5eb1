"""Buttons on the App Home tab.

Change rollout / Stop serving open the same confirm modal as `/mida rollout <id> <current>` and
`/mida stop-serving <id>` (the modal's rollout starts at the current one), so the same approval
policy applies. The request's card goes to the channel of the experiment's last request, else the
audit channel, else the person's direct messages with the bot. Connect / Settings are for admins,
checked again on click. The Home tab has no response URL: refusals are shown in a small modal.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Origin
from bot.listeners.change_modal import change_from_button, open_change_modal
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError
from bot.slack.clients import modal_client
from bot.views import ids, modals
from bot.views.errors import explain


async def handle_home_change_button(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    change = change_from_button(body, ids.HOME_STOP_SERVING)
    if change is None:
        return
    team, person = team_of(body, context), person_of(body, context)
    try:
        channel_id = await deps.home.channel_for(team, change.test_id, person.user_id)
        await open_change_modal(
            deps,
            client,
            trigger_id=body["trigger_id"],
            team=team,
            person=person,
            channel_id=channel_id,
            change=change,
            origin=Origin.HOME,
        )
    except BotError as err:
        await _refuse(client, body, change.action.heading, explain(err, test_id=change.test_id))


async def handle_home_connect(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    team, person = team_of(body, context), person_of(body, context)
    try:
        await deps.access.require_admin(team, person.user_id, "connect this workspace to Mida")
    except BotError as err:
        await _refuse(client, body, "Connect Mida", explain(err))
        return
    await modal_client(client).views_open(trigger_id=body["trigger_id"], view=modals.connect_modal())


async def handle_home_settings(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    team, person = team_of(body, context), person_of(body, context)
    try:
        form = await deps.settings_service.form(team, person, None)
    except BotError as err:
        await _refuse(client, body, "Settings", explain(err))
        return
    await modal_client(client).views_open(
        trigger_id=body["trigger_id"], view=modals.settings_modal(form.rules, form.bot_admins, None)
    )


async def _refuse(client: AsyncWebClient, body: dict, title: str, text: str) -> None:
    await modal_client(client).views_open(trigger_id=body["trigger_id"], view=modals.message_modal(title, text))
