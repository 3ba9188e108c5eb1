"""Slack Web API clients, all pointed at SLACK_API_URL and retrying when Slack rate-limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.domain import TeamRef

# Slack's trigger_id lives 3 s: a views.open slower than this has already failed.
MODAL_TIMEOUT = 2.5
DEFAULT_TIMEOUT = 10

TokenLookup = Callable[[TeamRef], Awaitable[str | None]]


class NoToken(Exception):
    """No bot token for this workspace (not installed, or uninstalled)."""


def web_client(settings: Settings, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=settings.SLACK_API_URL,
        timeout=timeout,  # type: ignore[arg-type]
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def modal_client(client: AsyncWebClient) -> AsyncWebClient:
    """A copy of `client` that gives up on views.open before the trigger expires."""
    return AsyncWebClient(token=client.token, base_url=client.base_url, timeout=MODAL_TIMEOUT)  # type: ignore[arg-type]


class SlackClients:
    """A Web API client for a workspace: the single bot token, or the installation's token."""

    def __init__(self, settings: Settings, token_lookup: TokenLookup | None = None) -> None:
        self._settings = settings
        self._lookup = token_lookup
        self._single = (
            web_client(settings, settings.SLACK_BOT_TOKEN.get_secret_value()) if settings.SLACK_BOT_TOKEN else None
        )

    async def for_team(self, team: TeamRef) -> AsyncWebClient:
        if self._lookup is not None:
            token = await self._lookup(team)
            if token:
                return web_client(self._settings, token)
        if self._single is not None:
            return self._single
        raise NoToken(team.key)
