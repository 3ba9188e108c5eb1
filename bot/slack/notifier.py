"""`Notifier` over Slack: one card per request, kept up to date in place.

Several processes may report on the same request at once (the listener that accepted it, the
worker that executed it, the sweeper that expired it). A short per-request lock in Redis makes
them take turns, and each turn renders the request as Redis has it now, so the card never goes
back to an older state and is posted once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.domain import ChangeRequest, Ramp, RequestStatus, Watch, WatchAlert
from bot.links import LinkSigner
from bot.mida.models import ExperimentResult
from bot.slack.clients import SlackClients
from bot.slack.responses import ResponseSession
from bot.store.client import AnyRedis
from bot.store.keys import ws_key
from bot.store.lock import Lock
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.rules import RulesStore
from bot.views.cards import request_card, requester_notice, thread_reply
from bot.views.followups import followup_message
from bot.views.format import Links
from bot.views.ramps import ramp_card, ramp_note
from bot.views.watches import alert_message

log = logging.getLogger(__name__)

_LOCK_MS = 15_000
_NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}


def dashboard_url(settings: Settings, project_key: str) -> str:
    return settings.MIDA_DASHBOARD_URL.format(project_key=project_key)


class SlackNotifier:
    def __init__(
        self,
        settings: Settings,
        redis: AnyRedis,
        clients: SlackClients,
        requests: RequestStore,
        rules: RulesStore,
        links: LinkSigner,
        ramps: RampStore,
        responses: ResponseSession | None = None,
    ) -> None:
        self._settings = settings
        self._responses = responses or ResponseSession()
        self._redis = redis
        self._lock = Lock(redis)
        self._clients = clients
        self._requests = requests
        self._rules = rules
        self._links = links
        self._ramps = ramps

    def links_for(self, request: ChangeRequest) -> Links:
        return Links(
            results_url=self._links.results_url(request.team, request.change.test_id),
            dashboard_url=dashboard_url(self._settings, request.project_key),
        )

    async def request_updated(self, request: ChangeRequest) -> None:
        lock = ws_key(request.team, "request", request.id, "card-lock")
        token = None
        for _ in range(_LOCK_MS // 50):
            token = await self._lock.acquire(lock, _LOCK_MS)
            if token is not None:
                break
            await asyncio.sleep(0.05)
        try:
            current = await self._requests.get(request.team, request.id)
            if current is not None:
                await self._show(current)
        finally:
            if token is not None:
                await self._lock.release(lock, token)

    async def _show(self, request: ChangeRequest) -> None:
        client = await self._clients.for_team(request.team)
        links = self.links_for(request)
        text, blocks = request_card(request, links, time.time())
        if request.plan is not None:
            found = await self._ramps.get(request.team, request.id)
            if found is not None:  # the plan runs: its card is the ramp's card now
                text, blocks = ramp_card(found[0], request, links, time.time())
        if request.message_ts is None:
            try:
                answer = await client.chat_postMessage(channel=request.channel_id, text=text, blocks=blocks)
            except SlackApiError as err:
                if err.response.get("error") not in _NOT_IN_CHANNEL:
                    raise
                await self._fall_back_to_response_url(request, text, blocks)
                return
            await self._requests.set_message(request.team, request.id, answer["ts"])
            request = request.model_copy(update={"message_ts": answer["ts"]})
        else:
            await client.chat_update(channel=request.channel_id, ts=request.message_ts, text=text, blocks=blocks)

        if request.status.is_final and await self._first_time_final(request):
            await self._finish(request, links)

    async def _first_time_final(self, request: ChangeRequest) -> bool:
        key = ws_key(request.team, "request", request.id, "final-notified")
        return bool(await self._redis.set(key, b"1", nx=True, ex=30 * 24 * 3600))

    async def _finish(self, request: ChangeRequest, links: Links) -> None:
        """The thread reply, the requester's notice, and the audit channel's copy."""
        client = await self._clients.for_team(request.team)
        reply_text, reply_blocks = thread_reply(request, links)
        if request.message_ts:
            await client.chat_postMessage(
                channel=request.channel_id, thread_ts=request.message_ts, text=reply_text, blocks=reply_blocks
            )
        # The requester waited on others; when nobody else was involved they already know.
        if request.approvals_needed and request.status is not RequestStatus.CANCELLED:
            try:
                await client.chat_postEphemeral(
                    channel=request.channel_id,
                    user=request.requester.user_id,
                    text=requester_notice(request, links),
                )
            except SlackApiError as err:
                log.info("requester notice not delivered", extra={"error": err.response.get("error")})
        policy = await self._rules.rules(request.team, request.channel_id)
        if policy.audit_channel and policy.audit_channel != request.channel_id:
            text, blocks = request_card(request, links, time.time())
            try:
                await client.chat_postMessage(channel=policy.audit_channel, text=text, blocks=blocks)
            except SlackApiError as err:
                log.warning("audit channel copy not posted", extra={"error": err.response.get("error")})

    async def followup(self, request: ChangeRequest, result: ExperimentResult, hours: float) -> None:
        """The post-deploy numbers in the card's thread."""
        client = await self._clients.for_team(request.team)
        text, blocks = followup_message(result, hours, self.links_for(request))
        await client.chat_postMessage(
            channel=request.channel_id, thread_ts=request.message_ts, text=text, blocks=blocks
        )

    async def ramp_updated(self, ramp: Ramp) -> None:
        plan_request = await self._requests.get(ramp.team, ramp.id)
        if plan_request is not None:
            await self.request_updated(plan_request)

    async def ramp_note(self, ramp: Ramp, kind: str, words: str, post: ExperimentResult | None) -> None:
        """A reply in the plan card's thread."""
        plan_request = await self._requests.get(ramp.team, ramp.id)
        if plan_request is None or plan_request.message_ts is None:
            log.info("ramp note not posted: the plan has no card", extra={"ramp": ramp.id, "kind": kind})
            return
        client = await self._clients.for_team(ramp.team)
        text, blocks = ramp_note(ramp, kind, words, post, self.links_for(plan_request))
        await client.chat_postMessage(
            channel=plan_request.channel_id, thread_ts=plan_request.message_ts, text=text, blocks=blocks
        )

    async def watch_alert(self, watch: Watch, alert: WatchAlert) -> None:
        links = Links(
            results_url=self._links.results_url(watch.team, alert.test_id),
            dashboard_url=dashboard_url(self._settings, alert.project_key),
        )
        client = await self._clients.for_team(watch.team)
        text, blocks = alert_message(alert, links)
        await client.chat_postMessage(channel=watch.channel_id, thread_ts=watch.thread_ts, text=text, blocks=blocks)

    async def _fall_back_to_response_url(self, request: ChangeRequest, text: str, blocks: list[dict]) -> None:
        """The bot is not in the channel: answer through the slash command's response URL instead,
        and ask for an invitation so the card can be kept up to date."""
        invite = {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": ":information_source: Invite the bot to this channel (`/invite @Mida`) so it can keep this card up to date.",
                }
            ],
        }
        if not request.response_url:
            log.warning("card not posted: bot not in channel and no response URL", extra={"request": request.id})
            return
        await self._responses.post_json(
            request.response_url, {"response_type": "in_channel", "text": text, "blocks": [*blocks, invite][:50]}
        )
