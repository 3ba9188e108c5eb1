"""`/mida …`: parse, answer privately, or open a modal. Acks first; Mida is only called after."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Change, Person, TeamRef
from bot.listeners.change_modal import open_change_modal
from bot.listeners.commands.parser import Command, UsageError, parse
from bot.listeners.context import person_of, team_of
from bot.services.errors import AdminOnly, BotError, NotAllowed
from bot.slack.clients import modal_client
from bot.slack.notifier import dashboard_url
from bot.views import messages, modals
from bot.views.format import Links

AUDIT_EXPORT_TTL = 24 * 3600


def _parsed(body: dict) -> Command | UsageError:
    try:
        return parse(body.get("text") or "")
    except UsageError as err:
        return err


async def ack_mida_command(ack: AsyncAck, body: dict) -> None:
    """Usage and help are answered in the acknowledgement itself; everything else is acked empty
    and done by `run_mida_command`, after the ack, wherever the queue sends it."""
    command = _parsed(body)
    if isinstance(command, UsageError):
        text, blocks = messages.usage_error(command.problem, command.usage)
        await ack(text=text, blocks=blocks)
    elif command.name == "help":
        text, blocks = messages.help_message(command.unknown)
        await ack(text=text, blocks=blocks)
    else:
        await ack()


async def run_mida_command(
    body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    command = _parsed(body)
    if isinstance(command, UsageError) or command.name == "help":
        return  # answered in the ack
    team, person = team_of(body, context), person_of(body, context)
    try:
        await _run(command, body, team, person, respond, client, deps)
    except BotError as err:
        text, blocks = messages.error_message(err)
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def _run(
    command: Command,
    body: dict,
    team: TeamRef,
    person: Person,
    respond: AsyncRespond,
    client: AsyncWebClient,
    deps: Deps,
) -> None:
    async def reply(text_blocks: tuple[str, list[dict]]) -> None:
        text, blocks = text_blocks
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    if command.action is not None:
        assert command.test_id is not None
        change = Change(
            action=command.action, test_id=command.test_id, variant_id=command.variant_id, rollout=command.rollout
        )
        await open_change_modal(
            deps,
            client,
            trigger_id=body["trigger_id"],
            team=team,
            person=person,
            channel_id=body.get("channel_id", ""),
            change=change,
            response_url=body.get("response_url"),
        )
    elif command.name == "connect":
        await deps.connect.require_admin(team, person.user_id, "connect this workspace to Mida")
        await modal_client(client).views_open(trigger_id=body["trigger_id"], view=modals.connect_modal())
    elif command.name == "settings":
        if not await deps.access.is_admin(team, person.user_id):
            raise AdminOnly("change this workspace's approval settings")
        channel = body.get("channel_id")
        policy = await deps.policies.get(team, channel)
        override = channel in await deps.policies.channel_overrides(team)
        await modal_client(client).views_open(
            trigger_id=body["trigger_id"], view=modals.settings_modal(policy, channel, channel_override=override)
        )
    elif command.name == "disconnect":
        removed = await deps.connect.disconnect(team, person)
        await reply(messages.disconnected_message() if removed else messages.not_connected_message())
    elif command.name == "status":
        ws = await deps.experiments.workspace(team)
        channel = body.get("channel_id")
        overrides = await deps.policies.channel_overrides(team)
        policy = await deps.policies.get(team, channel)
        await reply(messages.status_message(ws, policy, channel in overrides))
    elif command.name == "list":
        ws, experiments, rollouts = await deps.experiments.list(team)
        await reply(messages.experiments_message(experiments, rollouts, dashboard_url(deps.settings, ws.project_key)))
    elif command.name == "results":
        assert command.test_id is not None
        ws, result = await deps.experiments.result(team, command.test_id, command.phase)
        links = Links(
            results_url=deps.links.results_url(team, command.test_id),
            dashboard_url=dashboard_url(deps.settings, ws.project_key),
        )
        await reply(messages.results_message(result, result.phase(command.phase), links))
    elif command.name == "audit":
        await deps.experiments.workspace(team)
        if command.export:
            url = deps.links.url(team, "audit", ttl=AUDIT_EXPORT_TTL)
            if url is None:
                raise NotAllowed("export the audit log: PUBLIC_URL is not set")
            expires = deps.links.verify(url.rsplit("/", 1)[1], "audit").expires_at
            await reply(messages.audit_export_message(url, expires))
        else:
            entries = await deps.audit.recent(team, limit=20, test_id=command.test_id)
            await reply(messages.audit_message(entries, command.test_id))
