"""`/mida`'s two halves, the listener alone: what the ack carries (usage and help answer at once,
everything else acks empty), and after the ack one handler per command whose refusals come back
privately. Services are stand-ins answering what the test chose; Slack is the local stand-in."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import ChannelRules, TeamRef
from bot.links import LinkSigner
from bot.listeners.commands.mida import ack_mida_command, run_mida_command
from bot.listeners.commands.parser import UsageError, parse
from bot.services.errors import AdminOnly, NotAllowed, NotConnected
from bot.services.settings import RulesInForce
from bot.views import messages, modals
from standins.bot_server import ENCRYPTION_KEY
from tests.listeners.kit import Recorder, client_on

TEAM = TeamRef(team_id="T1")


def command(text: str, **extra: Any) -> dict[str, Any]:
    return {"command": "/mida", "text": text, "team_id": "T1", "user_id": "U1", "channel_id": "C1",
            "trigger_id": "1.2.t", "response_url": "https://hooks.slack.com/commands/T1/1/x"} | extra


@pytest.mark.parametrize("text", ["serve-winner", "results soon", "rollout 1234 1 150%"])
async def test_a_usage_error_is_the_ack_itself(text) -> None:
    ack = Recorder()
    await ack_mida_command(ack=ack, body=command(text))
    with pytest.raises(UsageError) as raised:
        parse(text)
    text_, blocks = messages.usage_error(raised.value.problem, raised.value.usage)
    assert ack.calls == [{"text": text_, "blocks": blocks}]


@pytest.mark.parametrize(("text", "unknown"), [("", None), ("help", None), ("frobnicate", "frobnicate")])
async def test_help_is_the_ack_itself(text, unknown) -> None:
    ack = Recorder()
    await ack_mida_command(ack=ack, body=command(text))
    help_text, blocks = messages.help_message(unknown)
    assert ack.calls == [{"text": help_text, "blocks": blocks}]


@pytest.mark.parametrize("text", ["results 1234", "list", "status", "connect", "audit export"])
async def test_other_commands_ack_empty(text) -> None:
    ack = Recorder()
    await ack_mida_command(ack=ack, body=command(text))
    assert ack.calls == [{}]


class Raising:
    def __init__(self, err: Exception) -> None:
        self.err = err

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.err


async def run(text: str, deps: Any, slack_api=None) -> Recorder:  # type: ignore[no-untyped-def]
    respond = Recorder()
    await run_mida_command(body=command(text), respond=respond, client=client_on(slack_api) if slack_api else None,
                           context=AsyncBoltContext(), deps=deps)
    return respond


def private(message: tuple[str, list]) -> dict[str, Any]:
    return {"text": message[0], "blocks": message[1], "response_type": "ephemeral", "replace_original": False}


async def test_usage_and_help_run_nothing_after_the_ack() -> None:
    for text in ("", "help", "serve-winner", "frobnicate"):
        assert (await run(text, SimpleNamespace())).calls == []


async def test_a_refusal_after_the_ack_is_answered_privately() -> None:
    deps = SimpleNamespace(experiments=SimpleNamespace(workspace=Raising(NotConnected())))
    respond = await run("status", deps)
    assert respond.calls == [private(messages.error_message(NotConnected()))]


async def test_connect_by_a_non_admin_is_refused_privately_and_opens_nothing(slack_api) -> None:
    err = AdminOnly("connect this workspace to Mida")
    respond = await run("connect", SimpleNamespace(access=SimpleNamespace(require_admin=Raising(err))), slack_api)
    assert respond.calls == [private(messages.error_message(err))] and slack_api.calls() == []


async def test_settings_open_for_the_channel_the_command_ran_in(slack_api) -> None:
    asked: list[Any] = []
    rules = ChannelRules(approvals_needed=2)

    async def form(team, person, channel_id):  # type: ignore[no-untyped-def]
        asked.append((team, person.user_id, channel_id))
        return RulesInForce(rules, True, ["U9"])

    respond = await run("settings", SimpleNamespace(settings_service=SimpleNamespace(form=form)), slack_api)
    assert asked == [(TEAM, "U1", "C1")] and respond.calls == []
    [opened] = slack_api.calls("views.open")
    assert opened["view"] == modals.settings_modal(rules, ["U9"], "C1", channel_override=True)


@pytest.mark.parametrize(("removed", "message"), [(True, messages.disconnected_message()),
                                                  (False, messages.not_connected_message())])
async def test_disconnect_says_what_it_did(removed, message) -> None:
    async def disconnect(team, person):  # type: ignore[no-untyped-def]
        return removed

    respond = await run("disconnect", SimpleNamespace(connect=SimpleNamespace(disconnect=disconnect)))
    assert respond.calls == [private(message)]


def audit_deps(public_url: str | None) -> SimpleNamespace:
    async def require_connected(team):  # type: ignore[no-untyped-def]
        return None

    return SimpleNamespace(audit_trail=SimpleNamespace(require_connected=require_connected),
                           links=LinkSigner([ENCRYPTION_KEY], public_url))


async def test_the_audit_export_link_is_signed_for_24_hours() -> None:
    deps = audit_deps("https://bot.example.com")
    [answer] = (await run("audit export", deps)).calls
    url = answer["text"].removeprefix("Audit log CSV: ")
    assert url.startswith("https://bot.example.com/audit/")
    target = deps.links.verify(url.rsplit("/", 1)[1], "audit")
    assert target.team == TEAM and target.kind == "audit"
    assert answer["text"] == messages.audit_export_message(url, target.expires_at)[0]
    assert 24 * 3600 - 60 < target.expires_at - time.time() <= 24 * 3600  # README: "valid 24 h"


async def test_the_audit_export_without_a_public_url_says_why() -> None:
    [answer] = (await run("audit export", audit_deps(None))).calls
    assert answer == private(messages.error_message(NotAllowed("export the audit log: PUBLIC_URL is not set")))
