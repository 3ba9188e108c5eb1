"""Opening the confirm modal, shared by `/mida serve-winner|rollout|stop-serving` and the buttons
that start the same changes (follow-ups, App Home)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.domain import Action, Change, Origin, Person, RampPlan, TeamRef, parse_test_id
from bot.services.errors import BotError
from bot.slack.clients import modal_client
from bot.views import modals
from bot.views.errors import explain

log = logging.getLogger(__name__)


async def open_change_modal(
    deps: Deps,
    client: AsyncWebClient,
    *,
    trigger_id: str,
    team: TeamRef,
    person: Person,
    channel_id: str,
    change: Change,
    origin: Origin,
    response_url: str | None = None,
    plan: RampPlan | None = None,
) -> None:
    """Open the modal at once (the trigger dies in 3 s), then fill in Mida's numbers.
    Raises BotError before opening anything when the workspace is not connected."""
    draft = await deps.drafting.open_draft(team, person, channel_id, change, response_url, origin, plan)
    opened = await modal_client(client).views_open(
        trigger_id=trigger_id,
        view=modals.loading_modal(
            "Ramp" if plan is not None else change.action.heading,
            f"Reading experiment {change.test_id} from Mida…",
            draft.id,
        ),
    )
    view_id = opened["view"]["id"]
    try:
        draft, warnings = await deps.drafting.prepare(team, draft.id, view_id)
        view = modals.change_modal(draft, warnings)
    except BotError as err:
        heading = "Ramp" if plan is not None else change.action.heading
        view = modals.message_modal(heading, explain(err, test_id=change.test_id))
    try:
        await client.views_update(view_id=view_id, view=view)
    except SlackApiError as err:
        log.info("modal closed before it was filled", extra={"error": err.response.get("error")})


def change_from_button(body: dict, stop_action_id: str) -> Change | None:
    """The change a Stop serving / Change rollout button stands for (its value is the test id)."""
    action = body["actions"][0]
    test_id = parse_test_id(action.get("value") or "")
    if test_id is None:
        return None
    kind = Action.STOP_SERVING if action["action_id"] == stop_action_id else Action.UPDATE_ROLLOUT
    return Change(action=kind, test_id=test_id)
