"""OAuth mode's pieces: `InstallationAuthorize` over the real installation store (test Redis) with a
clock the test moves, and the flow's authorize URL and failure page. (The whole install in a
browser's order is tests/e2e/test_multi_workspace.py.)"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_callback_options import AsyncFailureArgs
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.oauth.installation_store import Bot

from bot.config import Settings
from bot.domain import TeamRef
from bot.slack.oauth import AUTHORIZE_CACHE_TTL, BOT_SCOPES, InstallationAuthorize, build_oauth_flow, failed_page
from bot.store.crypto import SecretBox
from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore
from standins.bot_server import bot_env


def bot(team_id: str | None, enterprise_id: str | None = None, *, org_wide: bool = False, token: str = "") -> Bot:
    return Bot(app_id="A1", enterprise_id=enterprise_id, team_id=team_id, bot_token=token or f"xoxb-{team_id}-tok",
               bot_id="B1", bot_user_id="UBOT", bot_scopes="commands,chat:write", is_enterprise_install=org_wide,
               installed_at=time.time())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(redis):  # type: ignore[no-untyped-def]
    store = RedisInstallationStore(redis, SecretBox([Fernet.generate_key().decode()]), "1111.2222")
    clock = Clock()
    return InstallationAuthorize(store, clock=clock), store, clock


async def test_a_workspace_gets_its_own_installations_token(parts) -> None:
    authorize, store, _ = parts
    await store.async_save_bot(bot("T1"))
    await store.async_save_bot(bot("T2"))
    assert await authorize.token_for(TeamRef(team_id="T1")) == "xoxb-T1-tok"
    assert await authorize.token_for(TeamRef(team_id="T2")) == "xoxb-T2-tok"
    assert await authorize.token_for(TeamRef(team_id="T3")) is None


async def test_a_workspace_of_an_org_wide_install_gets_the_orgs_token(parts) -> None:
    authorize, store, _ = parts
    await store.async_save_bot(bot(None, "E1", org_wide=True, token="xoxb-E1-org"))
    assert await authorize.token_for(TeamRef(team_id="T_ANY", enterprise_id="E1")) == "xoxb-E1-org"
    assert await authorize.token_for(TeamRef(team_id="T_ANY", enterprise_id="E2")) is None
    assert await authorize.token_for(TeamRef(team_id="T_ANY")) is None  # the org's token is for its own teams


async def test_a_workspaces_own_install_wins_over_its_orgs(parts) -> None:
    authorize, store, _ = parts
    await store.async_save_bot(bot(None, "E1", org_wide=True, token="xoxb-E1-org"))
    await store.async_save_bot(bot("T1", "E1", token="xoxb-T1-own"))
    assert await authorize.token_for(TeamRef(team_id="T1", enterprise_id="E1")) == "xoxb-T1-own"


async def test_found_tokens_are_cached_for_the_ttl_then_read_again(parts, redis) -> None:
    authorize, store, clock = parts
    await store.async_save_bot(bot("T1"))
    assert await authorize.token_for(TeamRef(team_id="T1")) == "xoxb-T1-tok"
    await store.async_delete_bot(enterprise_id=None, team_id="T1")  # uninstalled, seen by another process
    clock.now += AUTHORIZE_CACHE_TTL - 1
    assert await authorize.token_for(TeamRef(team_id="T1")) == "xoxb-T1-tok"  # cached
    clock.now += 2
    assert await authorize.token_for(TeamRef(team_id="T1")) is None


async def test_a_missing_install_is_not_cached_so_a_new_one_works_at_once(parts) -> None:
    authorize, store, _ = parts
    assert await authorize.token_for(TeamRef(team_id="T1")) is None
    await store.async_save_bot(bot("T1"))
    assert await authorize.token_for(TeamRef(team_id="T1")) == "xoxb-T1-tok"


async def test_forget_drops_one_workspace_or_a_whole_org(parts) -> None:
    authorize, store, _ = parts
    for team in ("T1", "T2"):
        await store.async_save_bot(bot(team, "E1"))
        await authorize.token_for(TeamRef(team_id=team, enterprise_id="E1"))
    await store.async_save_bot(bot("T3"))
    await authorize.token_for(TeamRef(team_id="T3"))
    for team, enterprise in (("T1", "E1"), ("T2", "E1"), ("T3", None)):
        await store.async_delete_bot(enterprise_id=enterprise, team_id=team)

    authorize.forget("E1", "T1")
    assert await authorize.token_for(TeamRef(team_id="T1", enterprise_id="E1")) is None
    assert await authorize.token_for(TeamRef(team_id="T2", enterprise_id="E1")) == "xoxb-T2-tok"  # still cached
    authorize.forget("E1", None)
    assert await authorize.token_for(TeamRef(team_id="T2", enterprise_id="E1")) is None
    assert await authorize.token_for(TeamRef(team_id="T3")) == "xoxb-T3-tok"  # another org's, untouched


async def test_bolt_gets_the_bot_of_the_workspace_or_none(parts) -> None:
    authorize, store, _ = parts
    await store.async_save_bot(bot("T1"))
    found = await authorize(context=AsyncBoltContext(), enterprise_id=None, team_id="T1", user_id="U1")
    assert (found.bot_token, found.bot_user_id, found.user_id, found.team_id) == ("xoxb-T1-tok", "UBOT", "U1", "T1")
    assert await authorize(context=AsyncBoltContext(), enterprise_id=None, team_id="T9", user_id="U1") is None


# ----------------------------------------------------------------------------- the flow


@pytest.fixture
def flow(redis):  # type: ignore[no-untyped-def]
    env = bot_env(redis_url="redis://127.0.0.1:9/0", slack_api_url="http://127.0.0.1:9/api/",
                  mida_api_url="http://127.0.0.1:9/", oauth=True)
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    store = RedisInstallationStore(redis, SecretBox(settings.encryption_keys), settings.SLACK_CLIENT_ID or "")
    return build_oauth_flow(settings, store, RedisOAuthStateStore(redis)), settings


@pytest.mark.parametrize("team", [None, "T1&scope=admin"])
async def test_the_authorize_url_asks_for_the_bots_scopes_only(flow, team) -> None:
    oauth_flow, settings = flow
    query = f"team={team.replace('&', '%26')}" if team else ""
    url = await oauth_flow.build_authorize_url("st4te", AsyncBoltRequest(body="", query=query, headers={}))
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://slack.com/oauth/v2/authorize"
    fields = parse_qs(parts.query, keep_blank_values=True)
    assert fields["scope"] == [",".join(BOT_SCOPES)] and fields["user_scope"] == [""]
    assert fields["state"] == ["st4te"] and fields["client_id"] == [settings.SLACK_CLIENT_ID]
    assert fields["redirect_uri"] == [f"{settings.PUBLIC_URL}/slack/oauth_redirect"]
    assert fields.get("team") == ([team] if team else None)  # one field, encoded: no scope smuggled in


async def test_a_failure_slack_names_oddly_is_shown_escaped(flow) -> None:
    oauth_flow, _ = flow
    request = AsyncBoltRequest(body="", query="", headers={})
    answer = await failed_page(AsyncFailureArgs(request=request, reason="<script>alert(1)</script>",
                                                suggested_status_code=400, settings=oauth_flow.settings,
                                                default=oauth_flow.default_callback_options))
    assert answer.status == 400
    assert "<script>" not in answer.body and "&lt;script&gt;" in answer.body
    assert 'href="/slack/install"' in answer.body and answer.headers["cache-control"] == ["no-store"]
