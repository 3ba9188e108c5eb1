"""The HTTP server: Slack at /slack/events, health checks, the bot's own pages, and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from bot.app import create_app
from bot.config import Settings
from bot.deps import DEPS, Deps, build_deps
from bot.slack.oauth import OAuthRoutes
from bot.web.health import healthz, readyz
from bot.web.pages import audit_export_page, results_page
from bot.web.slack_events import MAX_BODY, SlackEventsHandler
from bot.worker import Worker

log = logging.getLogger(__name__)


def build_web_app(settings: Settings, deps: Deps | None = None, *, run_worker: bool = True) -> web.Application:
    deps = deps or build_deps(settings)
    app = web.Application(client_max_size=MAX_BODY)
    app[DEPS] = deps
    if settings.SLACK_SIGNING_SECRET is not None:  # absent in Socket Mode, where Slack calls no URL
        secret = settings.SLACK_SIGNING_SECRET.get_secret_value()
        events = SlackEventsHandler(create_app(settings, deps), secret, deps.dedupe)
        app.router.add_post("/slack/events", events.handle)
    if deps.oauth_flow is not None:  # SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: installs from any workspace
        OAuthRoutes(deps.oauth_flow).add_to(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(deps.redis))
    app.router.add_get("/results/{token}", results_page)
    app.router.add_get("/audit/{token}", audit_export_page)

    if run_worker:
        app.cleanup_ctx.append(_worker_context(deps))
    app.on_cleanup.append(_close(deps))
    return app


def _worker_context(deps: Deps):  # type: ignore[no-untyped-def]
    async def context(_: web.Application):  # type: ignore[no-untyped-def]
        worker = Worker(deps.jobs, deps.changes, deps.followups, sweep_every=deps.settings.MIDA_WORKER_SWEEP_SECONDS)
        task = asyncio.create_task(worker.run())
        yield
        await worker.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def _close(deps: Deps):  # type: ignore[no-untyped-def]
    async def close(_: web.Application) -> None:
        await deps.aclose()

    return close
