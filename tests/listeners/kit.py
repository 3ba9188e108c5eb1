"""What a listener test hands a listener in place of Bolt: an `ack` and a `respond` that record
what they were given, and a Web API client on the local Slack stand-in (the listeners copy their
client for views.open, so the calls have to go over HTTP to be seen)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import Action, Guardrail
from bot.services.errors import BotError
from standins.slack_api import SlackStandIn
from tests.views import draft

TOKEN = "xoxb-T1-unit-listeners"
WARNING = Guardrail(code="below_threshold", words="Only 3 days of data.")


class Recorder:
    """An awaitable callable that keeps the keyword arguments of each call, in order."""

    def __init__(self, log: list[str] | None = None, name: str = "") -> None:
        self.calls: list[dict[str, Any]] = []
        self._log, self._name = log, name

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        assert not args, args
        self.calls.append(kwargs)
        if self._log is not None:
            self._log.append(self._name)


def client_on(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url)


def click(action_id: str, value: str, *, user: str = "U1", team: str = "T1", **extra: Any) -> dict[str, Any]:
    """A block_actions body of one button (the fields the listeners read)."""
    return {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user, "team_id": team},
        "trigger_id": "1.2.trigger",
        "channel": {"id": "C1"},
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": value}],
    } | extra


class Drafting:
    """open_draft / prepare as the test wants them; what the listener passed is kept."""

    def __init__(self, *, open_error: BotError | None = None, prepare_error: BotError | None = None) -> None:
        self.open_error, self.prepare_error = open_error, prepare_error
        self.opened: list[dict] = []
        self.prepared: list[tuple[str, str | None]] = []
        self.draft = draft(Action.STOP_SERVING, id="draft-9", test_id=1234)

    async def open_draft(self, team, person, channel_id, change, response_url, origin, plan=None):  # type: ignore[no-untyped-def]
        if self.open_error is not None:
            raise self.open_error
        self.opened.append(dict(team=team, person=person, channel_id=channel_id, change=change,
                                response_url=response_url, origin=origin, plan=plan))
        return self.draft

    async def prepare(self, team, draft_id, view_id):  # type: ignore[no-untyped-def]
        self.prepared.append((draft_id, view_id))
        if self.prepare_error is not None:
            raise self.prepare_error
        return self.draft, [WARNING]
