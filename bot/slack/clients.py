"""Slack Web API clients, all pointed at SLACK_API_URL, retrying when Slack rate-limits, and counted
in the metrics (requests, errors, rate limits by Web API method)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.domain import TeamRef
from bot.metrics import SLACK_ERRORS, SLACK_RATE_LIMITED, SLACK_REQUESTS

# Slack's trigger_id lives 3 s: a views.open slower than this has already failed.
MODAL_TIMEOUT = 2.5
DEFAULT_TIMEOUT = 10

TokenLookup = Callable[[TeamRef], Awaitable[str | None]]


class NoToken(Exception):
    """No bot token for this workspace (not installed, or uninstalled)."""


class CountingHandler(AsyncRetryHandler):
    """Retries nothing: slack_sdk shows every answer (and every connection error) to its retry
    handlers, first to this one, which counts it. Bolt's per-request clients copy the handlers, so
    their calls are counted too."""

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rsplit("/", 1)[-1].split("?", 1)[0][:64]
        SLACK_REQUESTS.labels(method).inc()
        if error is not None:
            SLACK_ERRORS.labels(method, type(error).__name__).inc()
        elif response is not None and response.status_code == 429:
            SLACK_RATE_LIMITED.labels(method).inc()
        elif response is not None and isinstance(response.body, dict) and response.body.get("ok") is False:
            SLACK_ERRORS.labels(method, str(response.body.get("error") or "unknown")[:64]).inc()
        elif response is not None and response.status_code >= 400:
            SLACK_ERRORS.labels(method, f"http_{response.status_code}").inc()
        return False


_COUNTING = CountingHandler()


def web_client(settings: Settings, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=settings.SLACK_API_URL,
        timeout=timeout,  # type: ignore[arg-type]
        retry_handlers=[
            _COUNTING,
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def modal_client(client: AsyncWebClient) -> AsyncWebClient:
    """A copy of `client` that gives up on views.open before the trigger expires."""
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=MODAL_TIMEOUT,  # type: ignore[arg-type]
        retry_handlers=[_COUNTING, *async_default_handlers()],  # slack_sdk's default, counted
    )


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
