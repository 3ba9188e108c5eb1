"""The App Home and follow-up buttons, the listeners alone. Who is an admin is decided by the real
Access and SettingsService over the test Redis (with an in-memory directory); the draft service
and the Home service are stand-ins that answer what the test chose; Slack is the local stand-in.
The Home tab has no response URL, so a refusal there must come as a small modal; a follow-up
button's refusal comes as a private message through `respond`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import Action, ChannelRules, Origin, TeamRef
from bot.listeners.actions.followup_buttons import handle_followup_button
from bot.listeners.actions.home_buttons import handle_home_change_button, handle_home_connect, handle_home_settings
from bot.services.access import Access
from bot.services.errors import AdminOnly, NotConnected
from bot.services.ports import Profile
from bot.services.settings import SettingsService
from bot.store.audit import AuditLog
from bot.store.rules import RulesStore
from bot.views import ids, messages, modals
from bot.views.errors import explain
from tests.listeners.kit import Drafting, Recorder, click, client_on

TEAM = TeamRef(team_id="T1")


class Directory:
    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return {"U_ADMIN": Profile("U_ADMIN", "T1", is_admin=True), "U1": Profile("U1", "T1")}.get(user_id)

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return set()


class Home:
    def __init__(self, channel: str = "C_LAST", error: Exception | None = None) -> None:
        self.channel, self.error, self.asked = channel, error, []

    async def channel_for(self, team: TeamRef, test_id: int, user_id: str) -> str:
        self.asked.append((team, test_id, user_id))
        if self.error is not None:
            raise self.error
        return self.channel


@pytest.fixture
def deps(redis) -> SimpleNamespace:
    rules = RulesStore(redis)
    access = Access(rules, Directory())
    return SimpleNamespace(access=access, settings_service=SettingsService(rules, access, AuditLog(redis)),
                           rules=rules, drafting=Drafting(), home=Home())


def views_opened(slack_api) -> list[dict]:  # type: ignore[no-untyped-def]
    return [c["view"] for c in slack_api.calls("views.open")]


# ----------------------------------------------------------------------------- Connect / Settings


async def test_connect_opens_the_connect_modal_for_an_admin(deps, slack_api) -> None:
    ack = Recorder()
    await handle_home_connect(ack=ack, body=click(ids.HOME_CONNECT, "", user="U_ADMIN"), client=client_on(slack_api),
                              context=AsyncBoltContext(), deps=deps)
    assert ack.calls == [{}] and views_opened(slack_api) == [modals.connect_modal()]


@pytest.mark.parametrize("user", ["U1", "U_STRANGER"])
async def test_connect_by_a_non_admin_is_refused_in_a_modal(deps, slack_api, user) -> None:
    await handle_home_connect(ack=Recorder(), body=click(ids.HOME_CONNECT, "", user=user), client=client_on(slack_api),
                              context=AsyncBoltContext(), deps=deps)
    expected = modals.message_modal("Connect Mida", explain(AdminOnly("connect this workspace to Mida")))
    assert views_opened(slack_api) == [expected]


async def test_settings_open_with_the_workspace_rules_in_force(deps, slack_api) -> None:
    saved = ChannelRules(approvals_needed=3, min_days_running=14)
    await deps.rules.save(TEAM, None, saved, ["U1"])
    await deps.rules.save(TEAM, "C1", ChannelRules(approvals_needed=5), ["U1"])  # a channel's own: not shown here
    await handle_home_settings(ack=Recorder(), body=click(ids.HOME_SETTINGS, "", user="U1"),
                               client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    assert views_opened(slack_api) == [modals.settings_modal(saved, ["U1"], None)]  # U1 is a bot admin


async def test_settings_by_a_non_admin_are_refused_in_a_modal(deps, slack_api) -> None:
    await handle_home_settings(ack=Recorder(), body=click(ids.HOME_SETTINGS, "", user="U1"),
                               client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    [view] = views_opened(slack_api)
    assert view["callback_id"] == ids.MESSAGE_MODAL and view["title"]["text"] == "Settings"


# ----------------------------------------------------------------------------- Stop / Change rollout


@pytest.mark.parametrize(("action_id", "action"), [(ids.HOME_STOP_SERVING, Action.STOP_SERVING),
                                                   (ids.HOME_CHANGE_ROLLOUT, Action.UPDATE_ROLLOUT)])
async def test_a_home_change_opens_the_modal_for_the_experiments_channel(deps, slack_api, action_id, action) -> None:
    await handle_home_change_button(ack=Recorder(), body=click(action_id, "1234", user="U1"),
                                    client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    assert deps.home.asked == [(TEAM, 1234, "U1")]
    [opened] = deps.drafting.opened
    assert opened["channel_id"] == "C_LAST" and opened["origin"] is Origin.HOME and opened["response_url"] is None
    assert opened["change"].action is action and opened["change"].test_id == 1234
    assert len(slack_api.calls("views.open")) == 1 and len(slack_api.calls("views.update")) == 1


async def test_a_home_change_in_a_workspace_not_connected_is_refused_in_a_modal(deps, slack_api) -> None:
    deps.home = Home(error=NotConnected())
    await handle_home_change_button(ack=Recorder(), body=click(ids.HOME_STOP_SERVING, "1234"),
                                    client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    assert views_opened(slack_api) == [
        modals.message_modal(Action.STOP_SERVING.heading, explain(NotConnected(), test_id=1234))
    ]
    assert deps.drafting.opened == []


async def test_a_home_button_naming_no_experiment_is_only_acked(deps, slack_api) -> None:
    ack = Recorder()
    await handle_home_change_button(ack=ack, body=click(ids.HOME_STOP_SERVING, "not-an-id"), client=client_on(slack_api),
                  context=AsyncBoltContext(), deps=deps)
    assert ack.calls == [{}] and slack_api.calls() == [] and deps.home.asked == []


# ----------------------------------------------------------------------------- follow-up buttons


async def test_a_followup_button_opens_the_modal_in_the_cards_channel(deps, slack_api) -> None:
    respond = Recorder()
    body = click(ids.FOLLOWUP_ROLLOUT, "1234", channel={"id": "C_CARD"})
    await handle_followup_button(ack=Recorder(), body=body, respond=respond, client=client_on(slack_api),
                                 context=AsyncBoltContext(), deps=deps)
    [opened] = deps.drafting.opened
    assert opened["channel_id"] == "C_CARD" and opened["origin"] is Origin.FOLLOWUP
    assert opened["response_url"] == body["response_url"] and opened["change"].action is Action.UPDATE_ROLLOUT
    assert respond.calls == []


async def test_a_followup_button_refused_is_answered_privately(deps, slack_api) -> None:
    deps.drafting = Drafting(open_error=NotConnected())
    respond = Recorder()
    await handle_followup_button(ack=Recorder(), body=click(ids.FOLLOWUP_STOP, "1234"), respond=respond,
                                 client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    text, blocks = messages.error_message(NotConnected(), test_id=1234)
    assert respond.calls == [{"text": text, "blocks": blocks, "response_type": "ephemeral", "replace_original": False}]
    assert slack_api.calls("views.open") == []


async def test_a_followup_button_naming_no_experiment_is_only_acked(deps, slack_api) -> None:
    ack, respond = Recorder(), Recorder()
    await handle_followup_button(ack=ack, body=click(ids.FOLLOWUP_STOP, ""), respond=respond,
                                 client=client_on(slack_api), context=AsyncBoltContext(), deps=deps)
    assert ack.calls == [{}] and respond.calls == [] and deps.drafting.opened == []
