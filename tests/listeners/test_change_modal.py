"""The confirm modal's opening, shared by the commands and the buttons, with the draft service as a
stand-in (open / prepare answer what the test chose) and Slack as the local Web API stand-in; and
`change_from_button`, the change a button's value stands for."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.domain import Action, Change, Origin, Person, TeamRef
from bot.listeners.change_modal import change_from_button, open_change_modal
from bot.services.errors import NotConnected, UnknownExperiment
from bot.views import ids, modals
from bot.views.errors import explain
from tests.listeners.kit import WARNING, Drafting, click, client_on

TEAM = TeamRef(team_id="T1")
PERSON = Person(user_id="U1", team_id="T1")


@pytest.mark.parametrize(
    ("action_id", "value", "expected"),
    [
        (ids.FOLLOWUP_STOP, "1234", Change(action=Action.STOP_SERVING, test_id=1234)),
        (ids.FOLLOWUP_ROLLOUT, "#1234", Change(action=Action.UPDATE_ROLLOUT, test_id=1234)),
        (ids.FOLLOWUP_ROLLOUT, "", None),
        (ids.FOLLOWUP_ROLLOUT, "0", None),
        (ids.FOLLOWUP_ROLLOUT, "12a", None),
        (ids.FOLLOWUP_ROLLOUT, "١٢", None),
        (ids.FOLLOWUP_ROLLOUT, "9" * 13, None),
    ],
)
def test_change_from_button(action_id, value, expected) -> None:
    assert change_from_button(click(action_id, value), ids.FOLLOWUP_STOP) == expected


def test_stop_is_whichever_button_the_caller_names_stop() -> None:
    body = click(ids.HOME_STOP_SERVING, " 77 ")
    assert change_from_button(body, ids.HOME_STOP_SERVING) == Change(action=Action.STOP_SERVING, test_id=77)
    assert change_from_button(body, ids.FOLLOWUP_STOP) == Change(action=Action.UPDATE_ROLLOUT, test_id=77)


def test_a_button_without_a_value_stands_for_nothing() -> None:
    body = click(ids.FOLLOWUP_STOP, "")
    del body["actions"][0]["value"]
    assert change_from_button(body, ids.FOLLOWUP_STOP) is None


async def open_modal(slack_api, drafting: Drafting) -> None:  # type: ignore[no-untyped-def]
    await open_change_modal(
        SimpleNamespace(drafting=drafting), client_on(slack_api), trigger_id="1.2.t", team=TEAM, person=PERSON,
        channel_id="C1", change=Change(action=Action.STOP_SERVING, test_id=1234), origin=Origin.FOLLOWUP,
        response_url="https://hooks.slack.com/x",
    )


async def test_the_modal_opens_loading_then_shows_the_prepared_draft(slack_api) -> None:
    drafting = Drafting()
    await open_modal(slack_api, drafting)
    [opened] = slack_api.calls("views.open")
    assert opened["trigger_id"] == "1.2.t"
    assert opened["view"]["private_metadata"] == "draft-9" and "Reading experiment 1234" in str(opened["view"])
    view_id = opened.response["view"]["id"]
    assert drafting.prepared == [("draft-9", view_id)]  # prepared for the modal that is open
    [updated] = slack_api.calls("views.update")
    assert updated["view_id"] == view_id and updated["view"] == modals.change_modal(drafting.draft, [WARNING])
    assert drafting.opened[0]["origin"] is Origin.FOLLOWUP and drafting.opened[0]["channel_id"] == "C1"
    assert drafting.opened[0]["response_url"] == "https://hooks.slack.com/x"


async def test_a_failure_while_preparing_is_shown_in_the_open_modal(slack_api) -> None:
    err = UnknownExperiment(1234, "Experiment not found")
    await open_modal(slack_api, Drafting(prepare_error=err))
    [updated] = slack_api.calls("views.update")
    assert updated["view"] == modals.message_modal(Action.STOP_SERVING.heading, explain(err, test_id=1234))


async def test_not_connected_raises_before_any_modal_opens(slack_api) -> None:
    with pytest.raises(NotConnected):
        await open_modal(slack_api, Drafting(open_error=NotConnected()))
    assert slack_api.calls() == []


async def test_a_modal_closed_before_it_was_filled_is_no_error(slack_api) -> None:
    slack_api.fail("views.update", "not_found")
    await open_modal(slack_api, Drafting())  # does not raise
    assert [c.response["ok"] for c in slack_api.calls("views.update")] == [False]
