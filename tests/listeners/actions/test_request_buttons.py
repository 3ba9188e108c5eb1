"""Approve / Reject / Cancel on a card, the listener alone: the decision service is a stand-in that
returns a chosen result and records what it was asked; Slack is the local Web API stand-in.
What is checked: the ack comes first, the service gets the clicking workspace, person and request
id, and a click that changed nothing is explained privately (ephemeral, the card left alone)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import ClickResult, Decision, Person, TeamRef
from bot.listeners.actions.request_buttons import handle_approve, handle_cancel, handle_reject
from bot.views import ids
from bot.views.clicks import click_refused_text
from tests.listeners.kit import Recorder, click, client_on
from tests.views import request

REQUEST = request()
SILENT = [Decision.RECORDED, Decision.APPROVED, Decision.REJECTED, Decision.CANCELLED]
REFUSED = [d for d in Decision if d not in SILENT]


class Decisions:
    def __init__(self, decision: Decision | None, log: list[str]) -> None:
        self.result = None if decision is None else ClickResult(decision, REQUEST)
        self.asked: list[tuple[str, TeamRef, str, Person]] = []
        self._log = log

    async def _answer(self, name: str, team: TeamRef, request_id: str, person: Person) -> ClickResult | None:
        self._log.append(name)
        self.asked.append((name, team, request_id, person))
        return self.result

    async def approve(self, team, request_id, person):  # type: ignore[no-untyped-def]
        return await self._answer("approve", team, request_id, person)

    async def cancel(self, team, request_id, person):  # type: ignore[no-untyped-def]
        return await self._answer("cancel", team, request_id, person)

    async def may_decide(self, team, request_id, person):  # type: ignore[no-untyped-def]
        return await self._answer("may_decide", team, request_id, person)


def parts(decision: Decision | None):  # type: ignore[no-untyped-def]
    log: list[str] = []
    decisions = Decisions(decision, log)
    return SimpleNamespace(decisions=decisions), Recorder(log, "ack"), Recorder(log, "respond"), log


@pytest.mark.parametrize(("handler", "action_id", "name"), [(handle_approve, ids.APPROVE, "approve"),
                                                             (handle_cancel, ids.CANCEL, "cancel")])
@pytest.mark.parametrize("decision", SILENT)
async def test_a_click_that_did_something_gets_no_private_answer(handler, action_id, name, decision) -> None:
    deps, ack, respond, log = parts(decision)
    body = click(action_id, "req-abc", user="U_BOB", team="T_WS", enterprise={"id": "E1"})
    await handler(ack=ack, body=body, respond=respond, context=AsyncBoltContext(enterprise_id="E1"), deps=deps)
    assert log == ["ack", name]  # acked before the (slow) decision
    assert ack.calls == [{}] and respond.calls == []
    [(_, team, request_id, person)] = deps.decisions.asked
    assert team == TeamRef(team_id="T_WS", enterprise_id="E1") and request_id == "req-abc"
    assert person.user_id == "U_BOB"


@pytest.mark.parametrize(("handler", "action_id"), [(handle_approve, ids.APPROVE), (handle_cancel, ids.CANCEL)])
@pytest.mark.parametrize("decision", REFUSED)
async def test_a_refused_click_is_explained_privately(handler, action_id, decision) -> None:
    deps, ack, respond, _ = parts(decision)
    await handler(ack=ack, body=click(action_id, "req-abc"), respond=respond, context=AsyncBoltContext(), deps=deps)
    assert respond.calls == [{
        "text": click_refused_text(decision, REQUEST), "response_type": "ephemeral", "replace_original": False,
    }]


async def test_reject_asks_for_a_reason_in_a_modal_bound_to_the_request(slack_api) -> None:
    deps, ack, respond, log = parts(None)  # may_decide: no objection
    await handle_reject(ack=ack, body=click(ids.REJECT, "req-abc"), respond=respond, client=client_on(slack_api),
                        context=AsyncBoltContext(), deps=deps)
    assert log == ["ack", "may_decide"] and respond.calls == []
    [opened] = slack_api.calls("views.open")
    assert opened["trigger_id"] == "1.2.trigger"
    assert opened["view"]["callback_id"] == ids.REJECT_MODAL and opened["view"]["private_metadata"] == "req-abc"


@pytest.mark.parametrize("decision", [Decision.NOT_APPROVER, Decision.OTHER_ORG, Decision.FINISHED])
async def test_reject_by_someone_who_may_not_decide_opens_nothing(slack_api, decision) -> None:
    deps, ack, respond, _ = parts(decision)
    await handle_reject(ack=ack, body=click(ids.REJECT, "req-abc"), respond=respond, client=client_on(slack_api),
                        context=AsyncBoltContext(), deps=deps)
    assert slack_api.calls("views.open") == []
    assert [c["text"] for c in respond.calls] == [click_refused_text(decision, REQUEST)]
