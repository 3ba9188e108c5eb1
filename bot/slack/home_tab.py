"""Publishing the App Home tab: `HomeService` (what to show) → `views.home` (blocks) → views.publish.

`HomeTab.publish` answers `app_home_opened` and the Home tab's own buttons. `HomeTab.refresh_soon`
re-publishes the tab of the people who opened it lately (the last 24 h, at most 10) when a
request of their workspace changes; `RefreshingNotifier` calls it after every card update, so
a request asked for, approved, cancelled or executed shows up in their Home tab without reopening
it. Refreshes are debounced per workspace (a burst of clicks is one refresh), run in the
background, and never fail the card update they follow.

Not a listener: kept here because it is the Slack side of the Home tab; `bot.deps` builds it.
"""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import ChangeRequest, Ramp, TeamRef, Watch, WatchAlert
from bot.mida.models import ExperimentResult
from bot.services.home import HomeService
from bot.services.ports import Notifier
from bot.slack.clients import NoToken, SlackClients
from bot.views.home import home_view

log = logging.getLogger(__name__)

REFRESH_DELAY = 0.5


class HomeTab:
    def __init__(self, home: HomeService, clients: SlackClients, *, delay: float = REFRESH_DELAY) -> None:
        self._home = home
        self._clients = clients
        self._delay = delay
        self._scheduled: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, client: AsyncWebClient, team: TeamRef, user_id: str) -> None:
        """Show `user_id` their Home tab now, and remember they look at it."""
        await self._home.opened(team, user_id)
        data = await self._home.load(team, user_id)
        await client.views_publish(user_id=user_id, view=home_view(data))

    async def aclose(self) -> None:
        """Stop the refreshes not done yet (the process is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def refresh_soon(self, team: TeamRef) -> None:
        if team.key in self._scheduled:
            return  # the scheduled refresh has not read anything yet: it will see this change too
        self._scheduled.add(team.key)
        task = asyncio.ensure_future(self._refresh_later(team))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_later(self, team: TeamRef) -> None:
        try:
            await asyncio.sleep(self._delay)
        finally:
            self._scheduled.discard(team.key)
        try:
            await self.refresh(team)
        except Exception:  # a Home tab refresh is never worth a failure elsewhere
            log.warning("home tab refresh failed", exc_info=True, extra={"team": team.key})

    async def refresh(self, team: TeamRef) -> int:
        """Re-publish the Home tab of the workspace's recent viewers; returns how many."""
        viewers = await self._home.recent_viewers(team)
        if not viewers:
            return 0
        try:
            client = await self._clients.for_team(team)
        except NoToken:
            return 0
        shared = await self._home.shared(team)
        done = 0
        for user_id in viewers:
            data = await self._home.for_viewer(shared, user_id)
            try:
                await client.views_publish(user_id=user_id, view=home_view(data))
                done += 1
            except SlackApiError as err:
                log.info("home tab not refreshed", extra={"team": team.key, "error": err.response.get("error")})
        return done


class RefreshingNotifier:
    """A `Notifier` that refreshes the Home tabs of the request's workspace after each update;
    everything else is the wrapped notifier's."""

    def __init__(self, inner: Notifier, home_tab: HomeTab) -> None:
        self._inner = inner
        self._home_tab = home_tab

    async def request_updated(self, request: ChangeRequest) -> None:
        try:
            await self._inner.request_updated(request)
        finally:
            self._home_tab.refresh_soon(request.team)

    async def followup(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None:
        await self._inner.followup(request, result, hours)

    async def ramp_updated(self, ramp: Ramp) -> None:
        try:
            await self._inner.ramp_updated(ramp)
        finally:
            self._home_tab.refresh_soon(ramp.team)

    async def watch_alert(self, watch: Watch, alert: WatchAlert) -> None:
        await self._inner.watch_alert(watch, alert)

    async def ramp_note(self, ramp: Ramp, kind: str, words: str, post: ExperimentResult | None) -> None:
        await self._inner.ramp_note(ramp, kind, words, post)
