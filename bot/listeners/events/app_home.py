"""`app_home_opened`: publish the person's Home tab (health, serving, approvals, last actions)."""

from __future__ import annotations

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.listeners.context import team_of


async def handle_app_home_opened(
    event: dict, body: dict, client: AsyncWebClient, context: AsyncBoltContext, deps: Deps
) -> None:
    if event.get("tab") not in (None, "home"):  # the Messages tab opened: nothing to publish
        return
    user_id = event.get("user")
    if not user_id:
        return
    await deps.home_tab.publish(client, team_of(body, context), user_id)
