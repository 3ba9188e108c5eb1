"""Who and where a Slack request comes from, as domain values."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import Person, TeamRef


def team_of(body: dict[str, Any], context: AsyncBoltContext) -> TeamRef:
    team_id = context.team_id or body.get("team_id") or (body.get("team") or {}).get("id") or ""
    return TeamRef(team_id=team_id, enterprise_id=context.enterprise_id or None)


def person_of(body: dict[str, Any], context: AsyncBoltContext) -> Person:
    if "user_id" in body:  # slash command
        return Person(user_id=body["user_id"], team_id=body.get("team_id") or context.team_id or "")
    user = body.get("user") or {}
    return Person(user_id=user.get("id", ""), team_id=user.get("team_id") or context.team_id or "")
