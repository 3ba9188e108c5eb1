"""The post-deploy results button and the variant picker inside the confirm modal, the listeners
alone, with their services as stand-ins answering what the test chose."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.config import Settings
from bot.domain import Action, Person, Region, TeamRef, Workspace
from bot.links import LinkSigner
from bot.listeners.actions.modal_inputs import handle_variant_select
from bot.listeners.actions.results_buttons import handle_link_button, handle_post_deploy_results
from bot.mida.models import ReportPhase
from bot.services.errors import InvalidInput, MidaDown, UnknownExperiment
from bot.slack.notifier import dashboard_url
from bot.views import ids, messages, modals
from bot.views.format import Links
from standins.bot_server import bot_env
from tests.listeners.kit import WARNING, Recorder, click, client_on
from tests.views import draft, result

TEAM = TeamRef(team_id="T1")
WORKSPACE = Workspace(team=TEAM, project_key="pk", region=Region("us"), api_key="mida_sk_secret_1234",
                      connected_by=Person(user_id="U1", team_id="T1"), connected_at=0)


class Experiments:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.asked = error, []

    async def result(self, team: TeamRef, test_id: int, phase: ReportPhase | None = None) -> Any:
        self.asked.append((team, test_id, phase))
        if self.error is not None:
            raise self.error
        return WORKSPACE, result()


@pytest.fixture
def deps() -> SimpleNamespace:
    settings = Settings(_env_file=None, **bot_env(redis_url="redis://127.0.0.1:9/0", slack_api_url="http://127.0.0.1:9/api/",
                                                mida_api_url="http://127.0.0.1:9/"))  # type: ignore[call-arg]
    return SimpleNamespace(settings=settings, experiments=Experiments(),
                           links=LinkSigner(settings.encryption_keys, settings.PUBLIC_URL))


async def press(deps, value: str) -> Recorder:  # type: ignore[no-untyped-def]
    respond = Recorder()
    await handle_post_deploy_results(ack=Recorder(), body=click(ids.POST_DEPLOY_RESULTS, value), respond=respond,
                                     context=AsyncBoltContext(), deps=deps)
    return respond


async def test_the_results_button_answers_with_the_post_deploy_numbers_privately(deps) -> None:
    respond = await press(deps, "1234")
    assert deps.experiments.asked == [(TEAM, 1234, ReportPhase.POST_DEPLOY)]
    links = Links(results_url=deps.links.results_url(TEAM, 1234), dashboard_url=dashboard_url(deps.settings, "pk"))
    text, blocks = messages.results_message(result(), ReportPhase.POST_DEPLOY, links)
    assert respond.calls == [{"text": text, "blocks": blocks, "response_type": "ephemeral", "replace_original": False}]


@pytest.mark.parametrize("err", [UnknownExperiment(1234, "not found"), MidaDown("timeout")])
async def test_a_results_failure_is_explained_privately(deps, err) -> None:
    deps.experiments = Experiments(err)
    respond = await press(deps, "1234")
    text, blocks = messages.error_message(err)
    assert respond.calls == [{"text": text, "blocks": blocks, "response_type": "ephemeral", "replace_original": False}]


async def test_a_results_button_naming_no_experiment_says_how_to_ask(deps) -> None:
    respond = await press(deps, "tomorrow")
    assert deps.experiments.asked == []
    text, _ = messages.error_message(
        InvalidInput("button", "This button does not name an experiment; use /mida results <test_id>.")
    )
    assert [c["text"] for c in respond.calls] == [text]


async def test_a_link_button_is_only_acked() -> None:
    ack = Recorder()
    await handle_link_button(ack=ack)
    assert ack.calls == [{}]


# ----------------------------------------------------------------------------- the variant picker


class Drafting:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.asked = error, []
        self.draft = draft(Action.SERVE_WINNER, variant_id="2")

    async def select_variant(self, team: TeamRef, draft_id: str, variant_id: str) -> Any:
        self.asked.append((team, draft_id, variant_id))
        if self.error is not None:
            raise self.error
        return self.draft, [WARNING]


def picked(variant: str) -> dict[str, Any]:
    body = click(ids.VARIANT_SELECT, "")
    body["actions"][0] = {"action_id": ids.VARIANT_SELECT, "type": "static_select",
                          "selected_option": {"text": {"type": "plain_text", "text": variant}, "value": variant}}
    body["view"] = {"id": "V7", "hash": "1700000000.h", "private_metadata": "draft-123"}
    return body


async def test_picking_a_variant_redraws_the_modal_with_its_guardrails(slack_api) -> None:
    drafting = Drafting()
    await handle_variant_select(ack=Recorder(), body=picked("2"), client=client_on(slack_api),
                                context=AsyncBoltContext(), deps=SimpleNamespace(drafting=drafting))
    assert drafting.asked == [(TEAM, "draft-123", "2")]
    [update] = slack_api.calls("views.update")
    assert update["view_id"] == "V7" and update["hash"] == "1700000000.h"  # no overwrite of a newer view
    assert update["view"] == modals.change_modal(drafting.draft, [WARNING])


async def test_picking_a_variant_of_an_expired_form_changes_nothing(slack_api) -> None:
    drafting = Drafting(InvalidInput("reason", "This form has expired. Run the command again."))
    ack = Recorder()
    await handle_variant_select(ack=ack, body=picked("2"), client=client_on(slack_api),
                                context=AsyncBoltContext(), deps=SimpleNamespace(drafting=drafting))
    assert ack.calls == [{}] and slack_api.calls() == []
