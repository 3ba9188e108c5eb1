"""Buttons that show numbers: the post-deploy results, privately, without leaving Slack."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.deps import Deps
from bot.domain import parse_test_id
from bot.listeners.context import team_of
from bot.mida.models import ReportPhase
from bot.services.errors import BotError, InvalidInput
from bot.slack.notifier import dashboard_url
from bot.views import messages
from bot.views.format import Links


async def handle_post_deploy_results(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    await _private_results(body, respond, context, deps, ReportPhase.POST_DEPLOY)


async def handle_results(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps
) -> None:
    """A watch alert's Results: the experiment's numbers in Mida's default phase."""
    await ack()
    await _private_results(body, respond, context, deps, None)


async def _private_results(
    body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps, phase: ReportPhase | None
) -> None:
    team = team_of(body, context)
    test_id = parse_test_id(body["actions"][0].get("value") or "")
    try:
        if test_id is None:
            raise InvalidInput("button", "This button does not name an experiment; use /mida results <test_id>.")
        ws, result = await deps.experiments.result(team, test_id, phase)
        links = Links(
            results_url=deps.links.results_url(team, test_id),
            dashboard_url=dashboard_url(deps.settings, ws.project_key),
        )
        text, blocks = messages.results_message(result, result.phase(phase), links)
    except BotError as err:
        text, blocks = messages.error_message(err)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def handle_link_button(ack: AsyncAck) -> None:
    """Link buttons open their URL in the browser; Slack still sends the click, which needs an ack."""
    await ack()
