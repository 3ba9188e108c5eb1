"""The baseline: a minimal Bolt `AsyncApp` that only acks the three kinds of request the load
generator sends, served the way Bolt serves itself over aiohttp (`app.web_app()`), with Bolt's
default listener runner.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://127.0.0.1:N/api/ \\
        python -m bench.bare_bolt --port 3100

Like the bot, it uses a single bot token (Bolt calls auth.test once, at the first request, against
SLACK_API_URL — the Slack stand-in in the bench). GET /healthz answers 200 once it listens.
"""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.views import ids


def build_app(signing_secret: str, token: str, api_url: str) -> AsyncApp:
    app = AsyncApp(
        name="bare-bolt",
        signing_secret=signing_secret,
        client=AsyncWebClient(token=token, base_url=api_url),
        logger=logging.getLogger("bare.bolt"),
    )

    @app.command("/mida")
    async def command(ack: AsyncAck) -> None:
        await ack()

    @app.action(ids.APPROVE)
    async def approve(ack: AsyncAck) -> None:
        await ack()

    @app.view(ids.CHANGE_MODAL)
    async def submission(ack: AsyncAck) -> None:
        await ack()

    return app


def build_web_app(app: AsyncApp, port: int) -> web.Application:
    web_app = app.web_app(path="/slack/events", port=port)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app.router.add_get("/healthz", healthz)
    return web_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.bare_bolt")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    app = build_app(os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"])
    web.run_app(build_web_app(app, args.port), host="127.0.0.1", port=args.port, access_log=None, print=lambda *_: None)


if __name__ == "__main__":
    main()
