"""Publishing and refreshing the App Home tab: the real HomeService over the test Redis (for a
workspace not connected, so no Mida call is made), an in-memory directory, and the local Slack
stand-in. Refreshes go to the recent viewers, one per burst, and never fail what they follow."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.config import Settings
from bot.domain import TeamRef
from bot.mida.client import MidaClient
from bot.services.access import Access
from bot.services.experiments import ExperimentService
from bot.services.home import HomeService
from bot.services.ports import Profile
from bot.slack.clients import SlackClients
from bot.slack.home_tab import HomeTab, RefreshingNotifier
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.store.watches import WatchStore
from bot.store.workspaces import WorkspaceStore
from bot.views.home import home_view
from standins.bot_server import ENCRYPTION_KEY, bot_env
from tests.listeners.kit import client_on
from tests.views import request

TEAM = TeamRef(team_id="T1")
DELAY = 0.05


class Directory:
    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return Profile(user_id, "T1", is_admin=user_id == "U_ADMIN")

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return set()


@pytest.fixture
async def parts(redis, slack_api):  # type: ignore[no-untyped-def]
    workspaces, rules = WorkspaceStore(redis, SecretBox([ENCRYPTION_KEY])), RulesStore(redis)
    mida = MidaClient("http://127.0.0.1:9/{region}")
    home = HomeService(redis=redis, workspaces=workspaces, experiments=ExperimentService(workspaces, mida),
                       requests=RequestStore(redis), rules=rules, audit=AuditLog(redis),
                       access=Access(rules, Directory()), ramps=RampStore(redis), watches=WatchStore(redis))
    settings = Settings(_env_file=None, **bot_env(  # type: ignore[call-arg]
        redis_url="redis://127.0.0.1:9/0", slack_api_url=slack_api.api_url, mida_api_url="http://127.0.0.1:9/"))
    tab = HomeTab(home, SlackClients(settings), delay=DELAY)
    yield tab, home
    await tab.aclose()
    await mida.aclose()


def published(slack_api) -> list[str]:  # type: ignore[no-untyped-def]
    return [c["user_id"] for c in slack_api.calls("views.publish")]


async def test_publish_shows_the_viewer_their_tab_and_remembers_them(parts, slack_api) -> None:
    tab, home = parts
    await tab.publish(client_on(slack_api), TEAM, "U_ADMIN")
    [call] = slack_api.calls("views.publish")
    assert call["user_id"] == "U_ADMIN"
    data = await home.load(TEAM, "U_ADMIN")
    assert call["view"]["blocks"][2:] == home_view(data)["blocks"][2:]  # past the "updated at" line
    assert await home.recent_viewers(TEAM) == ["U_ADMIN"]


async def test_a_burst_of_changes_is_one_refresh_for_each_recent_viewer(parts, slack_api) -> None:
    tab, home = parts
    for viewer in ("U1", "U2"):
        await home.opened(TEAM, viewer)
    for _ in range(5):
        tab.refresh_soon(TEAM)
    assert published(slack_api) == []  # debounced: nothing at once
    await slack_api.wait_for_async("views.publish", count=2)
    await asyncio.sleep(DELAY * 3)
    assert sorted(published(slack_api)) == ["U1", "U2"]
    tab.refresh_soon(TEAM)  # a later change: a new refresh
    await slack_api.wait_for_async("views.publish", count=4)


async def test_viewers_of_another_workspace_are_not_refreshed(parts, slack_api) -> None:
    tab, home = parts
    await home.opened(TeamRef(team_id="T2"), "U_ELSEWHERE")
    assert await tab.refresh(TEAM) == 0 and slack_api.calls() == []


async def test_a_viewer_whose_publish_fails_does_not_stop_the_others(parts, slack_api) -> None:
    tab, home = parts
    await home.opened(TEAM, "U1", now=time.time() - 60)  # the earlier viewer
    await home.opened(TEAM, "U2")
    slack_api.fail("views.publish", "not_enabled")  # the first one published (the newest viewer)
    assert await tab.refresh(TEAM) == 1
    assert published(slack_api) == ["U2", "U1"]


async def test_a_workspace_without_a_token_is_skipped(parts, slack_api) -> None:
    _, home = parts
    settings = Settings(_env_file=None, **bot_env(  # type: ignore[call-arg]
        redis_url="redis://127.0.0.1:9/0", slack_api_url=slack_api.api_url, mida_api_url="http://127.0.0.1:9/"))
    no_token = HomeTab(home, SlackClients(settings.model_copy(update={"SLACK_BOT_TOKEN": None})), delay=DELAY)
    await home.opened(TEAM, "U1")
    assert await no_token.refresh(TEAM) == 0


async def test_a_refresh_pending_at_shutdown_is_dropped(parts, slack_api) -> None:
    tab, home = parts
    await home.opened(TEAM, "U1")
    tab.refresh_soon(TEAM)
    await tab.aclose()
    await asyncio.sleep(DELAY * 3)
    assert published(slack_api) == []


async def test_a_refresh_that_fails_is_only_logged_and_the_next_one_runs(parts, slack_api, monkeypatch,
                                                                         caplog) -> None:
    tab, home = parts
    await home.opened(TEAM, "U1")
    real_shared = home.shared

    async def broken(team: TeamRef):  # type: ignore[no-untyped-def]
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(home, "shared", broken)
    tab.refresh_soon(TEAM)
    await asyncio.sleep(DELAY * 4)  # the failure stays in the background task
    assert published(slack_api) == []
    assert [r.getMessage() for r in caplog.records if r.name == "bot.slack.home_tab"] == ["home tab refresh failed"]
    monkeypatch.setattr(home, "shared", real_shared)
    tab.refresh_soon(TEAM)
    await slack_api.wait_for_async("views.publish")


class Cards:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.updated = error, []

    async def request_updated(self, req) -> None:  # type: ignore[no-untyped-def]
        self.updated.append(req.id)
        if self.error is not None:
            raise self.error

    async def followup(self, req, result, hours) -> None:  # type: ignore[no-untyped-def]
        self.updated.append(("followup", req.id, hours))


@pytest.mark.parametrize("error", [None, RuntimeError("Slack is down")])
async def test_the_home_tabs_follow_every_card_update_even_a_failed_one(parts, slack_api, error) -> None:
    tab, home = parts
    await home.opened(request().team, "U1")
    cards = Cards(error)
    notifier = RefreshingNotifier(cards, tab)
    if error is None:
        await notifier.request_updated(request())
    else:
        with pytest.raises(RuntimeError):
            await notifier.request_updated(request())
    assert cards.updated == ["req-abc"]
    await slack_api.wait_for_async("views.publish")


async def test_a_followup_is_the_cards_alone(parts, slack_api) -> None:
    tab, _ = parts
    cards = Cards()
    await RefreshingNotifier(cards, tab).followup(request(), None, 24.0)  # type: ignore[arg-type]
    assert cards.updated == [("followup", "req-abc", 24.0)]
