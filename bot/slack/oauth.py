"""Multi-workspace install: Slack's OAuth v2 flow, and Bolt's authorization from the installations.

- `build_oauth_flow`: Bolt's `AsyncOAuthFlow` at `GET /slack/install` and `GET /slack/oauth_redirect`,
  with the Redis installation and state stores. The Web API calls of the flow (`oauth.v2.access`,
  `auth.test` once per install) go to `SLACK_API_URL`; the page the installer's browser is sent
  to stays Slack's own `https://slack.com/oauth/v2/authorize`. Success and failure pages say what
  happened and what to do next.
- `InstallationAuthorize`: Bolt's `authorize` in OAuth mode. The bot token of the workspace (or of
  its org, for an org-wide install) comes from Redis through a short in-process cache: no
  `auth.test` per request, since the bot's ids were recorded at install time. `token_for` is the
  same lookup for `SlackClients` (work done outside a Slack request: cards, the worker).

Cache staleness: the process that handles an uninstall or an install forgets the cached entry at
once; other processes may use a revoked token for at most `ttl` seconds (Slack refuses it: no
other workspace's token is ever used).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from html import escape
from urllib.parse import urlencode

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth import OAuthStateUtils
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.domain import TeamRef
from bot.logs import SECRETS
from bot.slack.clients import DEFAULT_TIMEOUT
from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.views.html import page

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
# Keep in step with manifest.yml.
BOT_SCOPES = ("commands", "chat:write", "users:read", "usergroups:read")
STATE_TTL = 600
AUTHORIZE_CACHE_TTL = 30.0

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


# --- authorize ---------------------------------------------------------------------------------


class InstallationAuthorize(AsyncAuthorize):
    """Bolt's `authorize` for OAuth mode: installation lookups in Redis behind a TTL cache."""

    def __init__(
        self,
        store: RedisInstallationStore,
        *,
        ttl: float = AUTHORIZE_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._store = store
        self._ttl = ttl
        self._clock = clock
        # (enterprise id, team id) -> (cached at, bot). Only found bots are cached: an install
        # must work from the first request after it, in every process.
        self._cache: dict[tuple[str, str], tuple[float, Bot]] = {}

    async def find_bot(self, enterprise_id: str | None, team_id: str | None) -> Bot | None:
        """The workspace's own installation, else its org's org-wide one."""
        key = (enterprise_id or "", team_id or "")
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        bot: Bot | None = None
        if team_id:
            bot = await self._store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None and enterprise_id:
            bot = await self._store.async_find_bot(
                enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
            )
        if bot is None or not bot.bot_token:
            self._cache.pop(key, None)
            return None
        SECRETS.add(bot.bot_token)
        self._cache[key] = (self._clock(), bot)
        return bot

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        bot = await self.find_bot(enterprise_id, team_id)
        if bot is None:
            log.info("no installation for this workspace", extra={"enterprise": enterprise_id, "team": team_id})
            return None
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )

    async def token_for(self, team: TeamRef) -> str | None:
        """`SlackClients`' token lookup."""
        bot = await self.find_bot(team.enterprise_id, team.team_id)
        return bot.bot_token if bot is not None else None

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Drop cached entries for a workspace (team id given) or a whole org (team id None)."""
        for key in list(self._cache):
            same_org = key[0] == (enterprise_id or "")
            if same_org and (team_id is None or key[1] == team_id):
                self._cache.pop(key, None)


# --- the flow ----------------------------------------------------------------------------------


class MidaOAuthFlow(AsyncOAuthFlow):
    """Bolt's flow with this bot's pages, a properly encoded authorize URL, and the authorize
    cache told about each new installation."""

    def __init__(self, *, on_installed: Callable[[Installation], None] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._on_installed = on_installed

    async def build_authorize_url(self, state: str, request: AsyncBoltRequest) -> str:
        settings = self.settings
        query = {
            "state": state,
            "client_id": settings.client_id,
            "scope": ",".join(s for s in settings.scopes or () if s),
            "user_scope": ",".join(s for s in settings.user_scopes or () if s),
        }
        if settings.redirect_uri:
            query["redirect_uri"] = settings.redirect_uri
        teams = request.query.get("team") or []
        team = teams[0] if teams else None
        if team:
            query["team"] = team
        return f"{settings.authorization_url}?{urlencode(query)}"

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return install_page(url)

    async def append_set_cookie_headers(self, headers: dict, set_cookie_value: str | None) -> dict:
        headers = await super().append_set_cookie_headers(headers, set_cookie_value)
        return {**PAGE_HEADERS, **headers}

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        await super().store_installation(request, installation)
        if self._on_installed is not None:
            self._on_installed(installation)
        log.info(
            "installed",
            extra={
                "enterprise": installation.enterprise_id,
                "team": installation.team_id,
                "org_wide": bool(installation.is_enterprise_install),
            },
        )


def build_oauth_flow(
    settings: Settings,
    installations: RedisInstallationStore,
    states: RedisOAuthStateStore,
    authorize: InstallationAuthorize | None = None,
) -> MidaOAuthFlow:
    if not settings.oauth_enabled:
        raise ValueError("OAuth needs SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    assert settings.SLACK_CLIENT_ID is not None and settings.SLACK_CLIENT_SECRET is not None
    redirect_uri = f"{settings.PUBLIC_URL}{REDIRECT_PATH}" if settings.PUBLIC_URL else None
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        callback_options=AsyncCallbackOptions(success=installed_page, failure=failed_page),
        authorization_url=AUTHORIZE_URL,
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=states,
        state_expiration_seconds=states.expiration_seconds,
        logger=logging.getLogger("bot.oauth"),
    )

    def installed(installation: Installation) -> None:
        if authorize is not None:
            authorize.forget(
                installation.enterprise_id, None if installation.is_enterprise_install else installation.team_id
            )

    return MidaOAuthFlow(
        client=_flow_client(settings),  # oauth.v2.access and auth.test through SLACK_API_URL
        logger=logging.getLogger("bot.oauth"),
        settings=oauth_settings,
        on_installed=installed,
    )


def _flow_client(settings: Settings) -> AsyncWebClient:
    """The flow's Web API client. slack_sdk logs each request and response body at DEBUG, and here
    the response holds the new workspace's token before anything knows to scrub it: this client's
    logger never goes below INFO."""
    quiet = logging.getLogger("bot.oauth.web_api")
    quiet.setLevel(logging.INFO)
    return AsyncWebClient(base_url=settings.SLACK_API_URL, timeout=DEFAULT_TIMEOUT, logger=quiet)


# --- pages -------------------------------------------------------------------------------------

_STATE = OAuthStateUtils()


def _card(title: str, body_html: str) -> str:
    return page(title, f'<main><div class="card"><h1>{escape(title)}</h1>{body_html}</div></main>')


def install_page(authorize_url: str) -> str:
    return _card(
        "Add Mida to Slack",
        "<p>Mida lets your team read Mida A/B test results, serve a winner and change its rollout "
        "from Slack, with approvals and an audit trail.</p>"
        "<p>Slack will ask you to pick the workspace and allow Mida to post messages, answer "
        "<code>/mida</code>, and see who is a workspace admin.</p>"
        f'<p class="actions"><a class="button" href="{escape(authorize_url)}">Add to Slack</a></p>'
        '<p class="note">This link works for 10 minutes, in this browser.</p>',
    )


def _slack_link(installation: Installation) -> str:
    query = {"app": installation.app_id or ""}
    if installation.team_id and not installation.is_enterprise_install:
        query["team"] = installation.team_id
    return "https://slack.com/app_redirect?" + urlencode(query)


async def installed_page(args: AsyncSuccessArgs) -> BoltResponse:
    inst = args.installation
    where = inst.enterprise_name if inst.is_enterprise_install else inst.team_name
    where = where or inst.team_id or inst.enterprise_id or "your workspace"
    scope = "every workspace of the organisation" if inst.is_enterprise_install else "the workspace"
    body = (
        f"<p>Mida is now installed in <strong>{escape(where)}</strong>.</p>"
        "<p>Next, a workspace admin connects it to your Mida project: in Slack, type "
        "<code>/mida connect</code> (or open Mida's <strong>Home</strong> tab and click "
        "<strong>Connect</strong>) and paste the project key and an API key from Mida → Settings, "
        "with the region your Mida account is in. Each workspace connects its own project.</p>"
        f"<p>Then invite <code>@Mida</code> to the channels where {escape(scope)} will use it.</p>"
        f'<p class="actions"><a class="button" href="{escape(_slack_link(inst))}">Open Slack</a></p>'
    )
    headers: dict[str, str | Sequence[str]] = {**PAGE_HEADERS, "Set-Cookie": _STATE.build_set_cookie_for_deletion()}
    return BoltResponse(status=200, headers=headers, body=_card("Mida is installed", body))


_FAILURES = {
    "access_denied": (
        "Installation cancelled",
        "Mida was not installed: the installation was cancelled in Slack. Nothing was changed.",
    ),
    "invalid_browser": (
        "Start the installation again",
        "This installation was started in another browser, or this browser blocked its cookie, so it "
        "cannot be finished here. Nothing was installed. Start again from the link below, in this browser.",
    ),
    "invalid_state": (
        "This installation link has expired",
        "This installation link is more than 10 minutes old or was already used. Nothing was installed. "
        "Start again from the link below.",
    ),
    "missing_code": (
        "Slack did not confirm the installation",
        "Slack sent no authorization code, so nothing was installed. Start again from the link below.",
    ),
    "invalid_code": (
        "Slack did not confirm the installation",
        "Slack refused the authorization code (it may have been used already or be too old), so "
        "nothing was installed. Start again from the link below.",
    ),
    "storage_error": (
        "The installation could not be saved",
        "Slack approved the installation but the bot could not save it, so Mida will not answer in "
        "your workspace yet. Try again in a minute; if it keeps failing, ask whoever runs the bot.",
    ),
}


async def failed_page(args: AsyncFailureArgs) -> BoltResponse:
    title, sentence = _FAILURES.get(
        args.reason,
        (
            "Mida was not installed",
            f"Slack answered “{args.reason}”, so nothing was installed. Start again from the link below.",
        ),
    )
    log.info("installation failed", extra={"reason": args.reason})
    body = (
        f'<p class="error">{escape(sentence)}</p>'
        f'<p class="actions"><a class="button" href="{escape(INSTALL_PATH)}">Start again</a></p>'
    )
    headers: dict[str, str | Sequence[str]] = {**PAGE_HEADERS, "Set-Cookie": _STATE.build_set_cookie_for_deletion()}
    return BoltResponse(status=args.suggested_status_code, headers=headers, body=_card(title, body))
