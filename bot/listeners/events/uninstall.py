"""`app_uninstalled` and `tokens_revoked`: the workspace is forgotten (installation, Mida
credentials, pending requests, follow-ups). No token is needed or available for these events.

For an org-wide install Slack names only the enterprise: no team_id and no authorizations
(or an authorization with team_id null and is_enterprise_install). Then every workspace of the
org is forgotten."""

from __future__ import annotations

from slack_bolt.context.async_context import AsyncBoltContext

from bot.deps import Deps
from bot.domain import TeamRef
from bot.listeners.context import team_of


def _org_wide(team: TeamRef, context: AsyncBoltContext) -> bool:
    return bool(context.is_enterprise_install) or (bool(team.enterprise_id) and not team.team_id)


async def handle_app_uninstalled(body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    team = team_of(body, context)
    await deps.uninstall.app_uninstalled(team, org_wide=_org_wide(team, context))


async def handle_tokens_revoked(event: dict, body: dict, context: AsyncBoltContext, deps: Deps) -> None:
    tokens = event.get("tokens") or {}
    team = team_of(body, context)
    await deps.uninstall.tokens_revoked(
        team,
        bot_user_ids=list(tokens.get("bot") or []),
        user_ids=list(tokens.get("oauth") or []),
        org_wide=_org_wide(team, context),
    )
