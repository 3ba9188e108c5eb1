"""`mida-slack serve | socket | sandbox | keygen` (also `python -m bot ...`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bot.config import ConfigError, Settings, load_settings


def _port(value: int | None) -> int:
    if value is not None:
        return value
    raw = os.environ.get("PORT", "3000")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"Bad settings:\n  PORT: {raw!r} is not a port number")
    return int(raw)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (everywhere but Windows): its event loop and transports take
    about a fifth off the CPU of each Slack request (bench/roundtrip.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _freeze_startup_heap() -> None:
    """What start-up made (modules, Bolt's app, pydantic's schemas) lives as long as the process:
    out of the collector's way, full collections stop walking it, and their pauses in the middle
    of answering Slack get shorter."""
    gc.collect()
    gc.freeze()


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(main())


def _register_secrets(settings: Settings) -> None:
    from bot.logs import SECRETS

    for secret in (
        settings.SLACK_BOT_TOKEN,
        settings.SLACK_SIGNING_SECRET,
        settings.SLACK_CLIENT_SECRET,
        settings.SLACK_APP_TOKEN,
        settings.BOT_ENCRYPTION_KEYS,
    ):
        if secret is not None:
            SECRETS.add(secret.get_secret_value())
    for key in settings.encryption_keys:
        SECRETS.add(key)


def serve(port: int | None, *, run_worker: bool) -> None:
    from aiohttp import web

    from bot.embedded_redis import choose_redis
    from bot.logs import configure_logging
    from bot.server import build_web_app

    settings = load_settings()
    settings.require_for_http()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    _register_secrets(settings)
    port = _port(port)
    settings, embedded = choose_redis(settings)
    try:
        app = build_web_app(settings, run_worker=run_worker, embedded_redis=embedded)
        _freeze_startup_heap()
        web.run_app(app, port=port, print=lambda *_: None, access_log=None, loop=_new_loop())
    finally:
        if embedded is not None:
            embedded.stop()


def worker() -> None:
    """The queues only (changes, follow-ups, expiry, listeners' work after the ack); HTTP only for
    its health checks and metrics, on MIDA_METRICS_PORT."""
    import signal

    from aiohttp import web

    from bot.app import create_app
    from bot.deps import build_deps
    from bot.embedded_redis import choose_redis
    from bot.logs import configure_logging
    from bot.server import background, build_worker_app

    settings = load_settings()
    settings.require("BOT_ENCRYPTION_KEYS", token=True)
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    _register_secrets(settings)
    settings, embedded = choose_redis(settings)

    async def main() -> None:
        deps = build_deps(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(build_worker_app(deps, embedded_redis=embedded), access_log=None)
        await runner.setup()
        try:
            bolt = create_app(settings, deps)
            _freeze_startup_heap()
            await web.TCPSite(runner, port=settings.MIDA_METRICS_PORT).start()
            async with background(deps, bolt):
                await stop.wait()
        finally:
            await runner.cleanup()
            await deps.aclose()

    try:
        _run(main)
    finally:
        if embedded is not None:
            embedded.stop()


def socket_mode() -> None:
    import logging
    import signal

    from aiohttp import web
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.app import create_app
    from bot.deps import build_deps
    from bot.embedded_redis import choose_redis
    from bot.logs import configure_logging
    from bot.server import build_web_app

    settings = load_settings()
    settings.require("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "BOT_ENCRYPTION_KEYS")
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    _register_secrets(settings)
    port = _port(None)
    settings, embedded = choose_redis(settings)

    async def main() -> None:
        deps = build_deps(settings)
        bolt = create_app(settings, deps)
        # The web server still runs for health checks, the results pages and the queues.
        runner = web.AppRunner(build_web_app(settings, deps, bolt=bolt, embedded_redis=embedded), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, port=port).start()
        _freeze_startup_heap()
        # The Socket Mode client logs each envelope whole at DEBUG, before any listener has seen (and
        # registered with the scrubber) a Mida API key typed into a modal: its own logger stays at INFO.
        transport_log = logging.getLogger("bot.socket_mode")
        transport_log.setLevel(max(logging.INFO, logging.getLogger().level))
        assert settings.SLACK_APP_TOKEN is not None  # settings.require() above
        handler = AsyncSocketModeHandler(bolt, settings.SLACK_APP_TOKEN.get_secret_value(), logger=transport_log)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await handler.connect_async()
            logging.getLogger(__name__).info("connected to Slack in Socket Mode")
            await stop.wait()
        finally:
            await handler.close_async()
            await runner.cleanup()

    try:
        _run(main)
    finally:
        if embedded is not None:
            embedded.stop()


def sandbox(host: str, port: int) -> None:
    from bot.mida.sandbox import run_sandbox

    run_sandbox(host=host, port=port)


def keygen() -> None:
    from bot.store.crypto import SecretBox

    print(SecretBox.generate_key())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mida-slack", description="Act on Mida A/B tests from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="HTTP mode: Slack requests at POST /slack/events")
    p_serve.add_argument("--port", type=int, help="default: $PORT, else 3000")
    p_serve.add_argument(
        "--no-worker",
        action="store_true",
        help="leave the queues to `mida-slack worker` processes (only ack and serve pages)",
    )
    sub.add_parser("worker", help="work the queues without serving HTTP (pairs with `serve --no-worker`)")
    sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    p_sandbox = sub.add_parser("sandbox", help="a local Mida API to try the bot safely")
    p_sandbox.add_argument("--port", type=int, default=8765)
    p_sandbox.add_argument("--host", default="127.0.0.1")
    sub.add_parser("keygen", help="print a new key for BOT_ENCRYPTION_KEYS")
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            serve(args.port, run_worker=not args.no_worker)
        elif args.command == "worker":
            worker()
        elif args.command == "socket":
            socket_mode()
        elif args.command == "sandbox":
            sandbox(args.host, args.port)
        else:
            keygen()
    except ConfigError as err:
        print(f"mida-slack: cannot start.\n{err}\nSee README.md → Configuration.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
