"""`app_uninstalled` and `tokens_revoked`: the workspace is forgotten (installation, Mida
credentials, pending requests, follow-ups). No token is needed or available for these events."""

from __future__ import annotations

from slack_bolt.context.async_context import AsyncBoltContext

from bot.deps import Deps
from bot.listeners.context import team_of


async def handle_app_uninstalled(body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    await deps.uninstall.app_uninstalled(team_of(body, context), org_wide=bool(context.is_enterprise_install))


async def handle_tokens_revoked(event: dict, body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    tokens = event.get("tokens") or {}
    await deps.uninstall.tokens_revoked(
        team_of(body, context),
        bot_user_ids=list(tokens.get("bot") or []),
        user_ids=list(tokens.get("oauth") or []),
        org_wide=bool(context.is_enterprise_install),
    )
