"""Modal submissions. Validation happens before the ack, so a bad value is shown on its field
(`response_action: errors`) and nothing is recorded; slow work happens after the ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Decision
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError, InvalidInput
from bot.views import ids, messages
from bot.views.clicks import click_refused_text
from bot.views.errors import explain

log = logging.getLogger(__name__)


def _element(view: dict, block_id: str) -> dict[str, Any]:
    """The state of the (only) input in a block, whatever its action_id."""
    actions = view.get("state", {}).get("values", {}).get(block_id) or {}
    return next(iter(actions.values()), {})


def text_of(view: dict, block_id: str) -> str | None:
    element = _element(view, block_id)
    option = element.get("selected_option")
    if option is not None:
        return option.get("value")
    if "selected_conversation" in element:
        return element.get("selected_conversation")
    return element.get("value")


def users_of(view: dict, block_id: str) -> list[str]:
    return list(_element(view, block_id).get("selected_users") or [])


def checked_of(view: dict, block_id: str, value: str) -> bool | None:
    """Whether a checkbox option is ticked; None when the block was not in the form."""
    if block_id not in view.get("state", {}).get("values", {}):
        return None
    return any(o.get("value") == value for o in _element(view, block_id).get("selected_options") or [])


async def _field_error(ack: AsyncAck, err: InvalidInput, fields: set[str], fallback: str) -> None:
    block = err.field if err.field in fields else fallback
    await ack(response_action="errors", errors={block: err.message})


async def handle_connect_submission(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    """Checks the key live against Mida before answering: the modal shows Mida's verdict on the
    right field, and nothing is stored unless Mida accepted the pair."""
    view = body["view"]
    team, person = team_of(body, context), person_of(body, context)
    try:
        ws = await deps.connect.connect(
            team,
            person,
            text_of(view, ids.PROJECT_KEY),
            text_of(view, ids.API_KEY),
            text_of(view, ids.REGION),
        )
    except InvalidInput as err:
        await _field_error(ack, err, {ids.PROJECT_KEY, ids.API_KEY, ids.REGION}, ids.API_KEY)
        return
    except BotError as err:
        await ack(response_action="errors", errors={ids.PROJECT_KEY: explain(err)})
        return
    await ack()
    deps.home_tab.refresh_soon(team)
    text, blocks = messages.connected_message(ws)
    await _tell_privately(client, person.user_id, text, blocks)


async def handle_change_submission(ack: AsyncAck, body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    view = body["view"]
    team, person = team_of(body, context), person_of(body, context)
    try:
        await deps.drafting.submit(
            team,
            view.get("private_metadata", ""),
            person,
            variant_id=text_of(view, ids.VARIANT),
            rollout_text=text_of(view, ids.ROLLOUT),
            reason=text_of(view, ids.REASON),
        )
    except InvalidInput as err:
        present = set(view.get("state", {}).get("values", {}))
        await _field_error(ack, err, present, ids.REASON if ids.REASON in present else next(iter(present), ids.REASON))
        return
    except BotError as err:
        await ack(response_action="errors", errors={ids.REASON: explain(err)})
        return
    await ack()  # the request is recorded; its card is posted from the job queue


async def handle_settings_submission(ack: AsyncAck, body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    view = body["view"]
    team, person = team_of(body, context), person_of(body, context)
    scope = text_of(view, ids.POLICY_CHANNEL)
    channel_id = view.get("private_metadata") or None
    try:
        await deps.settings_service.save(
            team,
            person,
            mode=text_of(view, ids.POLICY_MODE),
            approvers=users_of(view, ids.APPROVERS),
            approver_group=text_of(view, ids.APPROVER_GROUP),
            approvals_needed=text_of(view, ids.APPROVALS_NEEDED),
            expiry_hours=text_of(view, ids.EXPIRY_HOURS),
            audit_channel=text_of(view, ids.AUDIT_CHANNEL),
            bot_admins=users_of(view, ids.BOT_ADMINS),
            guests_may_approve=checked_of(view, ids.GUESTS_MAY_APPROVE, ids.GUESTS_ALLOWED),
            channel_id=channel_id if scope == ids.POLICY_SCOPE_CHANNEL else None,
            min_days_running=text_of(view, ids.MIN_DAYS_RUNNING),
            min_visitors_per_variant=text_of(view, ids.MIN_VISITORS),
            min_conversions_per_variant=text_of(view, ids.MIN_CONVERSIONS),
            risky_loss_percent=text_of(view, ids.RISKY_LOSS),
            followup_hours=(text_of(view, ids.FOLLOWUP_HOURS) or "")
            if ids.FOLLOWUP_HOURS in view["state"]["values"]
            else None,
        )
    except InvalidInput as err:
        await _field_error(ack, err, set(view.get("state", {}).get("values", {})), ids.POLICY_MODE)
        return
    except BotError as err:
        await ack(response_action="errors", errors={ids.POLICY_MODE: explain(err)})
        return
    await ack()
    deps.home_tab.refresh_soon(team)


async def handle_reject_submission(
    ack: AsyncAck, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    view = body["view"]
    team, person = team_of(body, context), person_of(body, context)
    result = await deps.decisions.reject(
        team, view.get("private_metadata", ""), person, text_of(view, ids.REJECT_REASON)
    )
    if result.decision is not Decision.REJECTED:
        await _tell_privately(client, person.user_id, click_refused_text(result.decision, result.request), None)


async def _tell_privately(client: AsyncWebClient, user_id: str, text: str, blocks: list[dict] | None) -> None:
    """A DM from the bot: modals have no channel to answer in."""
    try:
        await client.chat_postMessage(channel=user_id, text=text, blocks=blocks)
    except SlackApiError as err:
        log.info("private message not delivered", extra={"error": err.response.get("error")})
