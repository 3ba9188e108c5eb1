"""Modal submissions, the listeners alone: which answer goes back in the ack (an error on which
block, or a plain ack), and what happens after it. The services are stand-ins that raise what the
test chose (the fuzz test next door drives the real ones); Slack is the local stand-in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import ClickResult, Decision, Person, Region, TeamRef, Workspace
from bot.listeners.views.submissions import (
    checked_of,
    handle_change_submission,
    handle_connect_submission,
    handle_reject_submission,
    handle_settings_submission,
    text_of,
    users_of,
)
from bot.services.errors import AdminOnly, BotError, InvalidInput, MidaDown, NotConnected
from bot.views import ids, messages
from bot.views.clicks import click_refused_text
from bot.views.errors import explain
from tests.listeners.kit import Recorder, client_on
from tests.views import request

TEAM = TeamRef(team_id="T1")


class Service:
    """Any one service method: records its keyword arguments, raises or returns what it was given."""

    def __init__(self, *, raises: BotError | None = None, returns: Any = None) -> None:
        self.raises, self.returns, self.calls = raises, returns, []

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if self.raises is not None:
            raise self.raises
        return self.returns


class HomeTab:
    def __init__(self) -> None:
        self.refreshed: list[TeamRef] = []

    def refresh_soon(self, team: TeamRef) -> None:
        self.refreshed.append(team)


def submission(values: dict[str, dict[str, Any]], private_metadata: str = "") -> dict[str, Any]:
    """A view_submission body; `values` is view.state.values by block id (one element each)."""
    return {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U1", "team_id": "T1"},
        "view": {"id": "V1", "private_metadata": private_metadata,
                 "state": {"values": {block: {"el": element} for block, element in values.items()}}},
    }


def plain(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def choice(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value}}


# ----------------------------------------------------------------------------- reading the state


def test_reading_each_kind_of_input() -> None:
    view = submission({
        "a": plain("typed"), "b": choice("picked"), "c": {"type": "conversations_select", "selected_conversation": "C9"},
        "d": {"type": "multi_users_select", "selected_users": ["U1", "U2"]},
        "e": {"type": "checkboxes", "selected_options": [{"value": "yes"}]},
        "f": {"type": "static_select", "selected_option": None}, "g": {"type": "checkboxes", "selected_options": []},
    })["view"]
    assert [text_of(view, b) for b in "abcf"] == ["typed", "picked", "C9", None]
    assert text_of(view, "missing") is None and users_of(view, "d") == ["U1", "U2"] and users_of(view, "a") == []
    assert checked_of(view, "e", "yes") is True and checked_of(view, "g", "yes") is False
    assert checked_of(view, "missing", "yes") is None  # not in the form: the setting is left as it was


# ----------------------------------------------------------------------------- connect


CONNECT_FORM = {ids.PROJECT_KEY: plain("pk"), ids.API_KEY: plain("mida_sk_x"), ids.REGION: choice("us")}
WORKSPACE = Workspace(team=TEAM, project_key="pk", region=Region("us"), api_key="mida_sk_secret_1234",
                      connected_by=Person(user_id="U1", team_id="T1"), connected_at=0)


async def connect(slack_api, service: Service) -> tuple[Recorder, SimpleNamespace]:  # type: ignore[no-untyped-def]
    ack, deps = Recorder(), SimpleNamespace(connect=SimpleNamespace(connect=service), home_tab=HomeTab())
    await handle_connect_submission(ack=ack, body=submission(CONNECT_FORM), client=client_on(slack_api),
                                    context=AsyncBoltContext(), deps=deps)
    return ack, deps


async def test_a_connection_is_acked_then_told_privately_and_the_home_refreshed(slack_api) -> None:
    service = Service(returns=WORKSPACE)
    ack, deps = await connect(slack_api, service)
    assert ack.calls == [{}]
    assert service.calls[0][0][2:] == ("pk", "mida_sk_x", "us")  # the fields, as typed
    assert deps.home_tab.refreshed == [TEAM]
    [dm] = slack_api.calls("chat.postMessage")
    assert dm["channel"] == "U1" and dm["text"] == messages.connected_message(WORKSPACE)[0]


@pytest.mark.parametrize(("field", "shown_on"), [(ids.REGION, ids.REGION), (ids.PROJECT_KEY, ids.PROJECT_KEY),
                                                 ("reason", ids.API_KEY)])
async def test_a_bad_connect_value_is_shown_on_its_field(slack_api, field, shown_on) -> None:
    ack, deps = await connect(slack_api, Service(raises=InvalidInput(field, "No.")))
    assert ack.calls == [{"response_action": "errors", "errors": {shown_on: "No."}}]
    assert deps.home_tab.refreshed == [] and slack_api.calls() == []


@pytest.mark.parametrize("err", [AdminOnly("connect this workspace to Mida"), MidaDown("timeout")])
async def test_another_connect_failure_is_explained_on_the_project_key(slack_api, err) -> None:
    ack, _ = await connect(slack_api, Service(raises=err))
    assert ack.calls == [{"response_action": "errors", "errors": {ids.PROJECT_KEY: explain(err)}}]


async def test_the_private_message_failing_does_not_undo_the_connection(slack_api) -> None:
    slack_api.fail("chat.postMessage", "cannot_dm_bot")
    ack, deps = await connect(slack_api, Service(returns=WORKSPACE))
    assert ack.calls == [{}] and deps.home_tab.refreshed == [TEAM]


# ----------------------------------------------------------------------------- the confirm modal


async def change(values: dict[str, dict[str, Any]], service: Service) -> Recorder:
    ack = Recorder()
    await handle_change_submission(ack=ack, body=submission(values, "draft-1"), context=AsyncBoltContext(),
                                   deps=SimpleNamespace(drafting=SimpleNamespace(submit=service)))
    return ack


async def test_a_confirmed_change_is_submitted_and_acked() -> None:
    service = Service()
    ack = await change({ids.VARIANT: choice("1"), ids.ROLLOUT: plain("25"), ids.REASON: plain("wins")}, service)
    assert ack.calls == [{}]
    [(args, kwargs)] = service.calls
    assert args[1] == "draft-1" and kwargs == {"variant_id": "1", "rollout_text": "25", "reason": "wins"}


@pytest.mark.parametrize(
    ("blocks", "field", "shown_on"),
    [
        ([ids.VARIANT, ids.ROLLOUT, ids.REASON], ids.ROLLOUT, ids.ROLLOUT),
        ([ids.VARIANT, ids.ROLLOUT, ids.REASON], ids.VARIANT, ids.VARIANT),
        ([ids.ROLLOUT, ids.REASON], ids.VARIANT, ids.REASON),  # a field the modal lacks: on the reason
        ([ids.ROLLOUT], "reason", ids.ROLLOUT),  # no reason block either: on a block that is there
    ],
)
async def test_a_bad_change_value_is_shown_on_a_block_of_the_modal(blocks, field, shown_on) -> None:
    ack = await change({b: plain("x") for b in blocks}, Service(raises=InvalidInput(field, "No.")))
    assert ack.calls == [{"response_action": "errors", "errors": {shown_on: "No."}}]


async def test_another_change_failure_is_explained_on_the_reason() -> None:
    ack = await change({ids.REASON: plain("")}, Service(raises=NotConnected()))
    assert ack.calls == [{"response_action": "errors", "errors": {ids.REASON: explain(NotConnected())}}]


# ----------------------------------------------------------------------------- settings


SETTINGS_FORM = {
    ids.POLICY_CHANNEL: choice(ids.POLICY_SCOPE_CHANNEL), ids.POLICY_MODE: choice("every_change"),
    ids.APPROVERS: {"type": "multi_users_select", "selected_users": ["U2"]}, ids.APPROVALS_NEEDED: choice("2"),
    ids.EXPIRY_HOURS: plain("24"), ids.BOT_ADMINS: {"type": "multi_users_select", "selected_users": []},
}


async def settings(values: dict[str, dict[str, Any]], service: Service, channel: str = "C1") -> tuple[Recorder, Any]:
    ack, deps = Recorder(), SimpleNamespace(settings_service=SimpleNamespace(save=service), home_tab=HomeTab())
    await handle_settings_submission(ack=ack, body=submission(values, channel), context=AsyncBoltContext(), deps=deps)
    return ack, deps


@pytest.mark.parametrize(("scope", "channel"), [(ids.POLICY_SCOPE_CHANNEL, "C1"), (ids.POLICY_SCOPE_WORKSPACE, None)])
async def test_settings_are_saved_for_the_scope_chosen(scope, channel) -> None:
    service = Service()
    ack, deps = await settings(SETTINGS_FORM | {ids.POLICY_CHANNEL: choice(scope)}, service)
    assert ack.calls == [{}] and deps.home_tab.refreshed == [TEAM]
    kwargs = service.calls[0][1]
    assert kwargs["channel_id"] == channel and kwargs["approvers"] == ["U2"] and kwargs["mode"] == "every_change"
    # Fields the form did not have are left alone, not emptied.
    assert kwargs["followup_hours"] is None and kwargs["guests_may_approve"] is None


async def test_an_emptied_followup_field_means_no_followups() -> None:
    service = Service()
    await settings(SETTINGS_FORM | {ids.FOLLOWUP_HOURS: plain(None)}, service)
    assert service.calls[0][1]["followup_hours"] == ""


@pytest.mark.parametrize(("field", "shown_on"), [(ids.EXPIRY_HOURS, ids.EXPIRY_HOURS),
                                                 ("min_days_running", ids.POLICY_MODE)])
async def test_a_bad_setting_is_shown_on_its_field(field, shown_on) -> None:
    ack, deps = await settings(SETTINGS_FORM, Service(raises=InvalidInput(field, "No.")))
    assert ack.calls == [{"response_action": "errors", "errors": {shown_on: "No."}}]
    assert deps.home_tab.refreshed == []


async def test_settings_by_a_non_admin_are_refused_on_the_mode() -> None:
    err = AdminOnly("change this workspace's approval settings")
    ack, _ = await settings(SETTINGS_FORM, Service(raises=err))
    assert ack.calls == [{"response_action": "errors", "errors": {ids.POLICY_MODE: explain(err)}}]


# ----------------------------------------------------------------------------- reject reason


async def reject(slack_api, decision: Decision) -> Service:  # type: ignore[no-untyped-def]
    service = Service(returns=ClickResult(decision, request()))
    ack = Recorder()
    await handle_reject_submission(ack=ack, body=submission({ids.REJECT_REASON: plain("too early")}, "req-abc"),
                                   client=client_on(slack_api), context=AsyncBoltContext(),
                                   deps=SimpleNamespace(decisions=SimpleNamespace(reject=service)))
    assert ack.calls == [{}]
    return service


async def test_a_rejection_is_recorded_with_its_reason_and_nothing_said(slack_api) -> None:
    service = await reject(slack_api, Decision.REJECTED)
    assert service.calls[0][0][1] == "req-abc" and service.calls[0][0][3] == "too early"
    assert slack_api.calls() == []


@pytest.mark.parametrize("decision", [Decision.FINISHED, Decision.NOT_APPROVER, Decision.EXPIRED])
async def test_a_refused_rejection_is_told_privately(slack_api, decision) -> None:
    await reject(slack_api, decision)
    [dm] = slack_api.calls("chat.postMessage")
    assert dm["channel"] == "U1" and dm["text"] == click_refused_text(decision, request())
