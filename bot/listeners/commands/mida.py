"""`/mida …`: parse, answer privately, or open a modal. Acks first; Mida is only called after.

Each command is one handler in `HANDLERS`: a service call, and its answer turned into a message or a
modal. Who may do what is the services' business (`Access.require_admin`, the change services)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Action, Change, Origin, Person, RampPlan, TeamRef, Workspace
from bot.listeners.change_modal import open_change_modal
from bot.listeners.commands.parser import USAGE, Command, UsageError, parse
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError, NotAllowed
from bot.services.experiments import EarlyRead
from bot.slack.clients import modal_client
from bot.slack.headroom import may_run_here, waiting_elsewhere
from bot.slack.notifier import dashboard_url
from bot.views import messages, modals
from bot.views.format import Links
from bot.views.ramps import fmt_interval, ramps_list
from bot.views.watches import unwatched, watch_all_started, watch_started, watching_list

AUDIT_EXPORT_TTL = 24 * 3600


def _parsed(body: dict, deps: Deps | None) -> Command | UsageError:
    try:
        command = parse(body.get("text") or "")
    except UsageError as err:
        return err
    if command.interval_seconds is None or deps is None:
        return command
    min_ramp_interval = deps.settings.MIDA_RAMP_MIN_INTERVAL_SECONDS
    if command.interval_seconds < min_ramp_interval:
        return UsageError(
            f"A ramp waits at least {fmt_interval(min_ramp_interval)} between steps in this workspace.",
            USAGE["ramp"],
        )
    return command


async def ack_mida_command(ack: AsyncAck, body: dict, context: AsyncBoltContext | None = None) -> None:
    """Usage and help are answered in the acknowledgement itself; everything else is acked empty
    and done by `run_mida_command`, after the ack, wherever the queue sends it."""
    command = _parsed(body, context.get("deps") if context is not None else None)
    if isinstance(command, UsageError):
        text, blocks = messages.usage_error(command.problem, command.usage)
        await ack(text=text, blocks=blocks)
    elif command.name == "help":
        text, blocks = messages.help_message(command.unknown)
        await ack(text=text, blocks=blocks)
    else:
        await ack()


@dataclass(frozen=True)
class Invocation:
    """One `/mida` command, after the ack: who asked, where, and how to answer them."""

    command: Command
    body: dict
    team: TeamRef
    person: Person
    respond: AsyncRespond
    client: AsyncWebClient
    deps: Deps
    workspace: Workspace | None = None  # read beside the replay check (bot.app.direct_reads), if it was
    early: EarlyRead | None = None  # this command's Mida reads, started before that (`read_early`)

    @property
    def channel_id(self) -> str | None:
        return self.body.get("channel_id")

    async def reply(self, message: messages.Message) -> None:
        text, blocks = message
        async with waiting_elsewhere(then_done=True):
            await self.respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    async def open_modal(self, view: dict) -> None:
        await modal_client(self.client).views_open(trigger_id=self.body["trigger_id"], view=view)


async def _change(call: Invocation) -> None:
    command = call.command
    assert command.action is not None and command.test_id is not None
    await open_change_modal(
        call.deps,
        call.client,
        trigger_id=call.body["trigger_id"],
        team=call.team,
        person=call.person,
        channel_id=call.channel_id or "",
        change=Change(
            action=command.action, test_id=command.test_id, variant_id=command.variant_id, rollout=command.rollout
        ),
        origin=Origin.COMMAND,
        response_url=call.body.get("response_url"),
    )


async def _connect(call: Invocation) -> None:
    await call.deps.access.require_admin(call.team, call.person.user_id, "connect this workspace to Mida")
    await call.open_modal(modals.connect_modal())


async def _settings(call: Invocation) -> None:
    form = await call.deps.settings_service.form(call.team, call.person, call.channel_id)
    await call.open_modal(
        modals.settings_modal(form.rules, form.bot_admins, call.channel_id, channel_override=form.channel_override)
    )


async def _disconnect(call: Invocation) -> None:
    removed = await call.deps.connect.disconnect(call.team, call.person)
    await call.reply(messages.disconnected_message() if removed else messages.not_connected_message())


async def _status(call: Invocation) -> None:
    ws = await call.deps.experiments.workspace(call.team, call.workspace)
    in_force = await call.deps.settings_service.in_force(call.team, call.channel_id)
    await call.reply(messages.status_message(ws, in_force.rules, in_force.bot_admins, in_force.channel_override))


async def _list(call: Invocation) -> None:
    async with waiting_elsewhere():
        ws, experiments, rollouts = await call.deps.experiments.list(call.team, call.workspace)
    await call.reply(
        messages.experiments_message(experiments, rollouts, dashboard_url(call.deps.settings, ws.project_key))
    )


async def _results(call: Invocation) -> None:
    command = call.command
    assert command.test_id is not None
    async with waiting_elsewhere():
        ws, result, secondary = await call.deps.experiments.result_and_secondary(
            call.team, command.test_id, command.phase, call.workspace, call.early
        )
    links = Links(
        results_url=call.deps.links.results_url(call.team, command.test_id),
        dashboard_url=dashboard_url(call.deps.settings, ws.project_key),
    )
    await call.reply(messages.results_message(result, result.phase(command.phase), links, secondary=secondary))


async def _audit(call: Invocation) -> None:
    command = call.command
    if not command.export:
        entries = await call.deps.audit_trail.recent(call.team, test_id=command.test_id)
        await call.reply(messages.audit_message(entries, command.test_id))
        return
    await call.deps.audit_trail.require_connected(call.team)
    url = call.deps.links.url(call.team, "audit", ttl=AUDIT_EXPORT_TTL)
    if url is None:
        raise NotAllowed("export the audit log: PUBLIC_URL is not set")
    expires = call.deps.links.verify(url.rsplit("/", 1)[1], "audit").expires_at
    await call.reply(messages.audit_export_message(url, expires))


async def _ramp(call: Invocation) -> None:
    command = call.command
    assert command.test_id is not None and command.variant_id is not None and command.interval_seconds is not None
    await open_change_modal(
        call.deps,
        call.client,
        trigger_id=call.body["trigger_id"],
        team=call.team,
        person=call.person,
        channel_id=call.channel_id or "",
        change=Change(
            action=Action.SERVE_WINNER,
            test_id=command.test_id,
            variant_id=command.variant_id,
            rollout=command.steps[0],
        ),
        origin=Origin.COMMAND,
        response_url=call.body.get("response_url"),
        plan=RampPlan(steps=list(command.steps), interval_seconds=command.interval_seconds),
    )


async def _ramps(call: Invocation) -> None:
    await call.deps.experiments.workspace(call.team)  # not connected: say so, as every command does
    await call.reply(ramps_list(await call.deps.ramps.list(call.team)))


async def _watch(call: Invocation) -> None:
    command, watches = call.command, call.deps.watches
    if command.every_experiment:
        chosen, left_out = await watches.watch_all(call.team, call.channel_id or "", call.person)
        await call.reply(watch_all_started(chosen, left_out))
        return
    assert command.test_id is not None
    watch, added = await watches.watch(call.team, call.channel_id or "", call.person, command.test_id)
    await call.reply(watch_started(watch, added, call.deps.settings.MIDA_WATCH_INTERVAL_SECONDS))


async def _unwatch(call: Invocation) -> None:
    assert call.command.test_id is not None
    removed = await call.deps.watches.unwatch(call.team, call.channel_id or "", call.command.test_id)
    await call.reply(unwatched(call.command.test_id, removed))


async def _watching(call: Invocation) -> None:
    await call.deps.experiments.workspace(call.team)
    await call.reply(watching_list(await call.deps.watches.watching(call.team, call.channel_id)))


HANDLERS: dict[str, Callable[[Invocation], Awaitable[None]]] = {
    "watch": _watch,
    "unwatch": _unwatch,
    "watching": _watching,
    "pause": _change,
    "resume": _change,
    "ramp": _ramp,
    "ramps": _ramps,
    "serve-winner": _change,
    "rollout": _change,
    "stop-serving": _change,
    "connect": _connect,
    "settings": _settings,
    "disconnect": _disconnect,
    "status": _status,
    "list": _list,
    "results": _results,
    "audit": _audit,
}


# Commands that only read and answer: lost in a crash they cost one answer, so they may run in the
# process that acked when it has room (bot.slack.headroom). Every other command goes through the queue.
READS = frozenset({"results", "status", "list"})


def is_read(body: dict) -> bool:
    command = _parsed(body, None)
    if isinstance(command, UsageError):
        return False
    return command.name in READS or (command.name == "audit" and not command.export)


def read_early(body: dict, team: TeamRef, deps: Deps) -> EarlyRead | None:
    """For `/mida results`, its Mida reads started at once with the workspace last seen here (see
    `ExperimentService.early_result`), to hand to `run_mida_command` as `context["early_read"]`."""
    command = _parsed(body, deps)
    if isinstance(command, UsageError) or command.name != "results" or command.test_id is None:
        return None
    return deps.experiments.early_result(team, command.test_id, command.phase)


@may_run_here(is_read)
async def run_mida_command(
    body: dict, respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    command = _parsed(body, deps)
    if isinstance(command, UsageError) or command.name not in HANDLERS:
        return  # usage and help: answered in the ack
    call = Invocation(
        command,
        body,
        team_of(body, context),
        person_of(body, context),
        respond,
        client,
        deps,
        context.get("workspace"),
        context.get("early_read"),
    )
    try:
        await HANDLERS[command.name](call)
    except BotError as err:
        await call.reply(messages.error_message(err))
