"""The HTTP server: Slack at /slack/events, health checks, metrics, the bot's own pages, and the
worker (whose own process serves its health checks and metrics with `build_worker_app`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import create_app, direct_reads, lazy_runner
from bot.config import Settings
from bot.deps import DEPS, Deps, build_deps
from bot.embedded_redis import EmbeddedRedis
from bot.slack.lazy_queue import LazyConsumer, LazyQueue
from bot.web.health import healthz, readyz
from bot.web.metrics import metrics
from bot.web.oauth_routes import OAuthRoutes
from bot.web.pages import audit_export_page, results_page
from bot.web.slack_events import MAX_BODY, SlackEventsHandler
from bot.worker import Worker

log = logging.getLogger(__name__)


def build_web_app(
    settings: Settings,
    deps: Deps | None = None,
    *,
    run_worker: bool = True,
    bolt: AsyncApp | None = None,
    embedded_redis: EmbeddedRedis | None = None,
) -> web.Application:
    """`run_worker=False` (`serve --no-worker`) leaves the queues to `mida-slack worker` processes,
    so this process only answers Slack and serves pages. `embedded_redis`: the one this process
    started (bot/embedded_redis.py), named by /readyz."""
    deps = deps or build_deps(settings)
    bolt = bolt or create_app(settings, deps)
    app = web.Application(client_max_size=MAX_BODY)
    app[DEPS] = deps
    if settings.SLACK_SIGNING_SECRET is not None:  # absent in Socket Mode, where Slack calls no URL
        secret = settings.SLACK_SIGNING_SECRET.get_secret_value()
        events = SlackEventsHandler(bolt, secret, deps.dedupe, direct_reads(settings, deps, bolt))
        app.router.add_post("/slack/events", events.handle)
    if deps.oauth_flow is not None:  # SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: installs from any workspace
        OAuthRoutes(deps.oauth_flow).add_to(app)
    _add_health_and_metrics(app, deps, embedded_redis)
    app.router.add_get("/results/{token}", results_page)
    app.router.add_get("/audit/{token}", audit_export_page)

    if run_worker:
        # Reads waiting for room wait here, not in Redis; at shutdown, those still waiting go there.
        deps.headroom.waits_here = True
        app.on_shutdown.append(_hand_over(bolt))
        app.cleanup_ctx.append(_background_context(deps, bolt))
    app.on_cleanup.append(_close(deps))
    return app


def build_worker_app(deps: Deps, *, embedded_redis: EmbeddedRedis | None = None) -> web.Application:
    """What `mida-slack worker` serves on MIDA_METRICS_PORT: its own /metrics, /healthz and /readyz."""
    app = web.Application()
    app[DEPS] = deps
    _add_health_and_metrics(app, deps, embedded_redis)
    return app


def _add_health_and_metrics(app: web.Application, deps: Deps, embedded_redis: EmbeddedRedis | None) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(deps.redis, embedded_redis.describe() if embedded_redis else None))
    app.router.add_get("/metrics", metrics)


@contextlib.asynccontextmanager
async def background(deps: Deps, bolt: AsyncApp, *, acks_here: bool = False) -> AsyncIterator[None]:
    """The queues every worker works: changes to execute (and what the schedule says is due), and
    listeners' lazy work. `acks_here` (plain `serve`): the lazy work waits while the loop runs late,
    so this process's acks come first."""
    worker = Worker(
        deps.jobs,
        intake=deps.intake,
        execution=deps.execution,
        sweeps=[deps.scheduler.run_due],
        sweep_every=deps.settings.MIDA_WORKER_SWEEP_SECONDS,
    )
    lazy = LazyConsumer(LazyQueue(deps.redis, deps.jobs.consumer), bolt, headroom=deps.headroom if acks_here else None)
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(lazy.run())]
    try:
        yield
    finally:
        await lazy.stop()
        await worker.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _background_context(deps: Deps, bolt: AsyncApp):
    async def context(_: web.Application):
        async with background(deps, bolt, acks_here=True):
            yield

    return context


def _hand_over(bolt: AsyncApp):
    async def hand_over(_: web.Application) -> None:
        await lazy_runner(bolt).hand_over()

    return hand_over


def _close(deps: Deps):
    async def close(_: web.Application) -> None:
        await deps.aclose()

    return close
