"""The Events API listeners, the listeners alone, on event bodies from slack-bolt's own tests read
through Bolt (so its context is what the bot gets): which workspace, or whole org, an uninstall
names; the Home tab only for the Home tab; and the retry guard on the real Deliveries (test Redis)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.domain import TeamRef
from bot.listeners.events.app_home import handle_app_home_opened
from bot.listeners.events.retries import skip_repeated_events
from bot.listeners.events.uninstall import handle_app_uninstalled, handle_tokens_revoked
from bot.services.deliveries import Deliveries
from bot.store.dedupe import Dedupe

# tests/scenario_tests_async/test_events_token_revocations.py: an org-wide install names only its org.
ORG_UNINSTALLED = {"token": "verification-token", "enterprise_id": "E111", "api_app_id": "A111",
                   "event": {"type": "app_uninstalled"}, "type": "event_callback", "event_id": "Ev111",
                   "event_time": 1606805974}
ORG_REVOKED = {"token": "verification-token", "enterprise_id": "E111", "api_app_id": "A111",
               "event": {"type": "tokens_revoked", "tokens": {"oauth": ["W111"], "bot": ["W222"]}},
               "type": "event_callback", "event_id": "Ev111", "event_time": 1606805974}
# tests/scenario_tests_async/test_events.py: a workspace of a Grid org.
GRID_UNINSTALLED = {"token": "verification_token", "team_id": "T111", "enterprise_id": "E111", "api_app_id": "A111",
                    "event": {"type": "app_uninstalled"}, "type": "event_callback", "event_id": "Ev111",
                    "event_time": 1599616881}
# tests/scenario_tests_async/test_events_org_apps.py `test_app_home_opened`: on an org-wide install.
ORG_HOME_OPENED = {"token": "verification-token", "team_id": "T111", "enterprise_id": "E111", "api_app_id": "A111",
                   "event": {"type": "app_home_opened", "user": "W111", "channel": "D111", "tab": "home",
                             "event_ts": "1606810927.510671"},
                   "type": "event_callback", "event_id": "Ev111", "event_time": 1606810927,
                   "authorizations": [{"enterprise_id": "E111", "team_id": None, "user_id": "W111", "is_bot": True,
                                       "is_enterprise_install": True}],
                   "is_ext_shared_channel": False}


def bolt(body: dict[str, Any]) -> tuple[dict[str, Any], AsyncBoltContext]:
    request = AsyncBoltRequest(body=json.dumps(body), query="", headers={"content-type": ["application/json"]})
    return request.body, request.context


class Uninstall:
    def __init__(self) -> None:
        self.calls: list[tuple[str, TeamRef, dict]] = []

    async def app_uninstalled(self, team: TeamRef, **kw: Any) -> None:
        self.calls.append(("app_uninstalled", team, kw))

    async def tokens_revoked(self, team: TeamRef, **kw: Any) -> None:
        self.calls.append(("tokens_revoked", team, kw))


def with_team(body: dict[str, Any], team_id: str) -> dict[str, Any]:
    return {**body, "team_id": team_id}


@pytest.mark.parametrize(
    ("body", "team", "org_wide"),
    [
        (ORG_UNINSTALLED, TeamRef(team_id="", enterprise_id="E111"), True),
        (GRID_UNINSTALLED, TeamRef(team_id="T111", enterprise_id="E111"), False),
        ({k: v for k, v in GRID_UNINSTALLED.items() if k != "enterprise_id"}, TeamRef(team_id="T111"), False),
    ],
    ids=["org-wide", "grid workspace", "plain workspace"],
)
async def test_an_uninstall_forgets_the_workspace_or_the_whole_org(body, team, org_wide) -> None:
    deps = SimpleNamespace(uninstall=Uninstall())
    raw, context = bolt(body)
    await handle_app_uninstalled(body=raw, context=context, deps=deps)
    assert deps.uninstall.calls == [("app_uninstalled", team, {"org_wide": org_wide})]


async def test_an_org_wide_install_flagged_in_the_authorizations_is_org_wide_even_with_a_team() -> None:
    body = {**GRID_UNINSTALLED, "authorizations": [{"enterprise_id": "E111", "team_id": None, "user_id": "W1",
                                                    "is_bot": True, "is_enterprise_install": True}]}
    deps = SimpleNamespace(uninstall=Uninstall())
    raw, context = bolt(body)
    await handle_app_uninstalled(body=raw, context=context, deps=deps)
    assert deps.uninstall.calls[0][2] == {"org_wide": True}


async def test_revoked_tokens_are_passed_on_by_kind() -> None:
    deps = SimpleNamespace(uninstall=Uninstall())
    raw, context = bolt(ORG_REVOKED)
    await handle_tokens_revoked(event=raw["event"], body=raw, context=context, deps=deps)
    assert deps.uninstall.calls == [("tokens_revoked", TeamRef(team_id="", enterprise_id="E111"),
                                     {"bot_user_ids": ["W222"], "user_ids": ["W111"], "org_wide": True})]
    raw, context = bolt(with_team({**ORG_REVOKED, "event": {"type": "tokens_revoked", "tokens": {}}}, "T1"))
    await handle_tokens_revoked(event=raw["event"], body=raw, context=context, deps=deps)
    assert deps.uninstall.calls[-1][2] == {"bot_user_ids": [], "user_ids": [], "org_wide": False}


class HomeTab:
    def __init__(self) -> None:
        self.published: list[tuple[TeamRef, str]] = []

    async def publish(self, client: Any, team: TeamRef, user_id: str) -> None:
        self.published.append((team, user_id))


@pytest.mark.parametrize(
    ("event_changes", "expected"),
    [
        ({}, [(TeamRef(team_id="T111", enterprise_id="E111"), "W111")]),
        ({"tab": None}, [(TeamRef(team_id="T111", enterprise_id="E111"), "W111")]),  # older payloads have no tab
        ({"tab": "messages"}, []),
        ({"user": None}, []),
    ],
)
async def test_the_home_tab_is_published_for_the_home_tab_only(event_changes, expected) -> None:
    deps = SimpleNamespace(home_tab=HomeTab())
    raw, context = bolt({**ORG_HOME_OPENED, "event": {**ORG_HOME_OPENED["event"], **event_changes}})
    await handle_app_home_opened(event=raw["event"], body=raw, client=None, context=context, deps=deps)
    assert deps.home_tab.published == expected


# ----------------------------------------------------------------------------- the retry guard


async def guarded(redis, body: dict[str, Any], retry: str | None = None) -> tuple[bool, Any]:  # type: ignore[no-untyped-def]
    headers = {"content-type": ["application/json"]} | ({"x-slack-retry-num": [retry]} if retry else {})
    request = AsyncBoltRequest(body=json.dumps(body), query="", headers=headers)
    request.context["deps"] = SimpleNamespace(deliveries=Deliveries(Dedupe(redis)))
    ran: list[bool] = []

    async def next_() -> None:
        ran.append(True)

    answer = await skip_repeated_events(body=request.body, context=request.context, request=request, next=next_)
    return bool(ran), answer


async def test_an_event_runs_once_and_its_retries_are_answered_empty(redis) -> None:
    assert await guarded(redis, GRID_UNINSTALLED) == (True, None)
    ran, answer = await guarded(redis, GRID_UNINSTALLED, retry="1")
    assert not ran and answer.status == 200 and answer.body == ""


async def test_the_same_event_id_in_another_workspace_or_org_is_its_own(redis) -> None:
    assert (await guarded(redis, GRID_UNINSTALLED))[0]
    assert (await guarded(redis, with_team(GRID_UNINSTALLED, "T222")))[0]  # another workspace
    assert (await guarded(redis, ORG_UNINSTALLED))[0]  # the org itself
    assert not (await guarded(redis, ORG_UNINSTALLED))[0]
    assert (await guarded(redis, {**ORG_UNINSTALLED, "enterprise_id": "E222"}))[0]


@pytest.mark.parametrize("event_id", [None, "", 12345])
async def test_an_event_without_a_usable_id_always_runs(redis, event_id) -> None:
    body = {**GRID_UNINSTALLED, "event_id": event_id}
    assert (await guarded(redis, body))[0] and (await guarded(redis, body))[0]
