"""Approve / Reject / Cancel on a request card. The button carries only the request id; everything
else is read from Redis under the clicking workspace, so an id from elsewhere finds nothing."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import ClickResult, Decision
from bot.listeners.context import person_of, team_of
from bot.slack.clients import modal_client
from bot.views import modals
from bot.views.clicks import click_refused_text


async def handle_approve(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    request_id = body["actions"][0]["value"]
    result = await deps.decisions.approve(team_of(body, context), request_id, person_of(body, context))
    await _explain_refusal(result, respond)


async def handle_cancel(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    request_id = body["actions"][0]["value"]
    result = await deps.decisions.cancel(team_of(body, context), request_id, person_of(body, context))
    await _explain_refusal(result, respond)


async def handle_reject(
    ack: AsyncAck, body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    """Ask for an optional reason first; the rejection itself happens on the modal's submit."""
    await ack()
    request_id = body["actions"][0]["value"]
    team, person = team_of(body, context), person_of(body, context)
    refusal = await deps.decisions.may_decide(team, request_id, person)
    if refusal is not None:
        await _explain_refusal(refusal, respond)
        return
    await modal_client(client).views_open(trigger_id=body["trigger_id"], view=modals.reject_modal(request_id))


async def _explain_refusal(result: ClickResult, respond: AsyncRespond) -> None:
    if result.decision in (Decision.RECORDED, Decision.APPROVED, Decision.REJECTED, Decision.CANCELLED):
        return
    await respond(
        text=click_refused_text(result.decision, result.request),
        response_type="ephemeral",
        replace_original=False,
    )
