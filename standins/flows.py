"""Conversations with the bot, as a person in Slack would have them (the end-to-end tests and the bench)."""

from __future__ import annotations

from typing import Any

from bot.views import ids
from standins.people import ADMIN, ALICE, CHANNEL, TEAM, introduce
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.slack_api import SlackStandIn
from standins.slack_requests import BotClient, plain, select


def connect(
    slack: BotClient,
    slack_api: SlackStandIn,
    *,
    user: str = ADMIN,
    project_key: str = PROJECT_KEY,
    api_key: str = API_KEY,
    region: str = "us",
) -> Any:
    """Run /mida connect and submit the modal; returns the submission's HTTP response."""
    introduce(slack_api)
    opened = len(slack_api.calls("views.open"))
    assert slack.command("connect", user_id=user).status_code == 200
    view = slack_api.wait_for("views.open", count=opened + 1)[-1]["view"]
    assert view["callback_id"] == ids.CONNECT_MODAL
    return slack.submit(
        ids.CONNECT_MODAL,
        {ids.PROJECT_KEY: plain(project_key), ids.API_KEY: plain(api_key), ids.REGION: select(region)},
        user_id=user,
    )


def connect_workspace(slack: BotClient, slack_api: SlackStandIn) -> None:
    """/mida connect by the admin, then wait for the bot's private "connected" message and empty the
    stand-in's records, so that message cannot land in a test's calls or hit a fault it sets."""
    assert connect(slack, slack_api).status_code == 200
    slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ADMIN)
    slack_api.clear()


def set_policy_off(bot: Any) -> None:
    """No approvals: changes run as soon as they are confirmed (the serving slice on its own)."""
    from bot.domain import ApprovalMode, ChannelRules, TeamRef

    bot.run(bot.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF), []))


def open_change_modal(slack: BotClient, slack_api: SlackStandIn, text: str, *, user: str = ALICE) -> dict:
    """Send a /mida command that opens the confirm modal; return the modal once filled in."""
    updates = len(slack_api.calls("views.update"))
    assert slack.command(text, user_id=user, channel_id=CHANNEL).status_code == 200
    # Generous: a worker process that has only just started may take a while on a busy machine.
    opened = slack_api.wait_for("views.open", timeout=15)[-1]
    assert opened["view"]["callback_id"] == ids.CHANGE_MODAL
    call = slack_api.wait_for("views.update", count=updates + 1, timeout=15)[-1]
    return slack_api.view(call["view_id"])


def submit_change(
    slack: BotClient,
    view: dict,
    *,
    user: str = ALICE,
    variant: str | None = None,
    rollout: str | None = None,
    reason: str = "",
) -> Any:
    values: dict[str, Any] = {ids.REASON: plain(reason)}
    if variant is not None:
        values[ids.VARIANT] = {ids.VARIANT_SELECT: select(variant)}
    if rollout is not None:
        values[ids.ROLLOUT] = plain(rollout)
    return slack.submit(ids.CHANGE_MODAL, values, user_id=user, view=view)
