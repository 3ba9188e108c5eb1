"""`create_app(settings, deps)`: the Bolt app with every listener registered. No module-level app."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.config import Settings
from bot.deps import Deps
from bot.domain import Workspace
from bot.listeners import register_listeners
from bot.listeners.commands import MIDA_COMMAND
from bot.listeners.commands.mida import is_read, read_early, run_mida_command
from bot.listeners.context import team_of
from bot.logs import correlation_id, new_correlation_id
from bot.services.errors import BotError, StoreUnavailable
from bot.slack.ack_runner import count_ack, install_fast_ack
from bot.slack.clients import web_client
from bot.slack.lazy_queue import FirstDelivery, QueuedLazyRunner
from bot.slack.responses import PooledRespond
from bot.views import messages, modals
from bot.views.errors import explain
from bot.web.slack_events import Shortcut

log = logging.getLogger(__name__)


def create_app(settings: Settings, deps: Deps, **bolt_options: Any) -> AsyncApp:
    token = settings.SLACK_BOT_TOKEN.get_secret_value() if settings.SLACK_BOT_TOKEN else None
    signing_secret = settings.SLACK_SIGNING_SECRET.get_secret_value() if settings.SLACK_SIGNING_SECRET else None
    oauth: dict[str, Any] = {}
    if settings.oauth_enabled and deps.oauth_flow is not None:
        # Many workspaces: each request gets its workspace's token from the installations.
        oauth = {
            "oauth_flow": deps.oauth_flow,
            "authorize": deps.authorize,
            "user_facing_authorize_error_message": not_installed_text(settings),
        }
        token = None
    app = AsyncApp(
        name="mida-slack",
        logger=logging.getLogger("bot.bolt"),
        signing_secret=signing_secret,
        client=web_client(settings, token),  # carries the token, and SLACK_API_URL
        # Verified ahead of Bolt, in bot.web.slack_events; queued lazy work is re-dispatched later.
        request_verification_enabled=False,
        **oauth,
        **bolt_options,
    )
    runner = install_fast_ack(app)  # answer Slack as soon as a listener acks, not on Bolt's 10 ms poll
    # The slow part of each listener goes through Redis, to whichever process works the queue.
    # A read runs in the process that acked when it has room (bot.slack.headroom).
    runner.lazy_listener_runner = QueuedLazyRunner(
        deps.redis, logging.getLogger("bot.bolt"), handle_lazy_error, deps.headroom
    )

    async def inject_deps(context: AsyncBoltContext, next: Any) -> None:
        with_deps(context, deps)
        if correlation_id() is None:  # Socket Mode; over HTTP and from the lazy queue it is set already
            new_correlation_id()
        await next()

    app.middleware(inject_deps)
    app.error(handle_listener_error)
    register_listeners(app)
    return app


def with_deps(context: AsyncBoltContext, deps: Deps) -> None:
    """What every listener finds in its context: the services, and Bolt's respond() over the
    process's pooled session."""
    context["deps"] = deps
    if context.response_url is not None:
        context["respond"] = PooledRespond(response_url=context.response_url, sessions=deps.responses)


def direct_reads(settings: Settings, deps: Deps, bolt: AsyncApp) -> Shortcut | None:
    """For a `/mida` read (`results`, `status`, `list`, `audit`) with one workspace's token: acks it
    and starts its work as Bolt would, without Bolt's dispatch (its middleware, listener matching
    and runner were a fifth of such a request's CPU). The work itself is the listener's own
    `run_mida_command`, run here or queued exactly as from Bolt (bot.slack.lazy_queue). What this
    skips is what decides nothing for such a command: Bolt's authorize is the one token's, the
    ack is empty, and so the ack need not wait for the replay check either: the work waits for it,
    with the workspace it reads first read at the same time. With OAuth (each workspace its own
    installation) Bolt's authorize decides, so every request goes through Bolt; so does anything
    else."""
    if settings.oauth_enabled:
        return None
    runner = lazy_runner(bolt)
    logger = logging.getLogger("bot.bolt")

    def take(request: AsyncBoltRequest, first_delivery: FirstDelivery, likely_first: bool) -> bool:
        started = time.time()
        body = request.body
        if body.get("command") != MIDA_COMMAND or not is_read(body):
            return False
        with_deps(request.context, deps)
        request.context["client"] = bolt.client
        request.context["logger"] = logger
        if deps.headroom.has_room():  # likely to run here, where the workspace is wanted first
            first_delivery = _reading_workspace(first_delivery, deps, request, early=likely_first)
        runner.start(run_mida_command, request, read=True, first_delivery=first_delivery)  # is_read said so
        count_ack(request, time.time() - started)
        return True

    return take


def _reading_workspace(
    first_delivery: FirstDelivery, deps: Deps, request: AsyncBoltRequest, *, early: bool
) -> FirstDelivery:
    """The replay check, with the workspace read beside it: one Redis round trip's wait, not two.
    The listener finds it as `context["workspace"]`; a failed read leaves it to the listener, which
    meets the same failure and says so. `early` (a request likely a first delivery, see
    bot.web.slack_events.RecentSignatures): meanwhile the command's Mida reads start with the
    workspace seen last (`read_early`); the listener uses them only if this read finds the same
    one, and a replay cancels them, so they change no answer, only how soon it comes."""

    async def check() -> bool:
        team = team_of(request.body, request.context)
        reads = read_early(request.body, team, deps) if early else None
        first, ws = await asyncio.gather(first_delivery(), deps.workspaces.get(team), return_exceptions=True)
        if isinstance(ws, Workspace):
            request.context["workspace"] = ws
        if reads is not None:
            # Kept only for work that starts now, here (the runner takes the slot in this same step):
            # a read that waits or is queued reads afresh when its turn comes.
            if first is True and deps.headroom.has_room():
                request.context["early_read"] = reads
            else:
                reads.cancel()
        if isinstance(first, BaseException):
            raise first
        return first

    return check


def lazy_runner(app: AsyncApp) -> QueuedLazyRunner:
    """The runner `create_app` gave the app's listeners' work after the ack."""
    runner = app._async_listener_runner.lazy_listener_runner
    assert isinstance(runner, QueuedLazyRunner)
    return runner


def not_installed_text(settings: Settings) -> str:
    where = f" at {settings.PUBLIC_URL}/slack/install" if settings.PUBLIC_URL else ""
    return (
        f":warning: Mida is not installed in this workspace (any more). A workspace admin can install it again{where}."
    )


async def handle_lazy_error(error: Exception, request: AsyncBoltRequest) -> None:
    await handle_listener_error(error, request.body, None, request.context.respond)


async def handle_listener_error(
    error: Exception, body: dict, response: BoltResponse | None, respond: Any
) -> BoltResponse | None:
    """The last word when a listener fails: the person hears what happened, never a traceback.
    Redis being down becomes "temporarily unavailable, nothing was changed"."""
    err: Exception = StoreUnavailable() if isinstance(error, RedisError | ConnectionError) else error
    if not isinstance(err, BotError):
        log.error("listener failed", exc_info=error, extra={"type": body.get("type") or "command"})
    text = explain(err)
    if response is not None:  # not acknowledged yet: answer in the acknowledgement
        if body.get("type") == "view_submission":
            view = modals.message_modal("Nothing was changed", text)
            return BoltResponse(status=200, body=json.dumps({"response_action": "update", "view": view}))
        if body.get("type") == "block_actions":
            return BoltResponse(status=200, body="")
        fallback, blocks = messages.error_message(err) if isinstance(err, BotError) else (text, [])
        return BoltResponse(
            status=200,
            body=json.dumps({"response_type": "ephemeral", "text": fallback, "blocks": blocks}),
            headers={"content-type": ["application/json"]},
        )
    if respond is not None and (body.get("response_url") or body.get("response_urls")):
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:  # the person is already gone; the log line above is what remains
            log.warning("could not tell the person about a failure")
    return None
