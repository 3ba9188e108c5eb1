"""The obvious Bolt app for `/mida results`, the one a competent developer writes in an afternoon:
a Bolt `AsyncApp` served by Bolt's aiohttp adapter, whose `/mida` listener acks, makes one httpx
call to Mida's result endpoint (one `httpx.AsyncClient` for the process) and `respond()`s, all in
the listener, with Bolt's default listener runner. No Redis, no queue: a crash loses what is in
flight. The baseline of `python -m bench.roundtrip`.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=xoxb-... SLACK_API_URL=http://127.0.0.1:N/api/ \\
    MIDA_API_URL=http://127.0.0.1:M/{region}/v2 MIDA_PROJECT_KEY=... MIDA_REGION=us MIDA_API_KEY=... \\
        python -m bench.plain_bolt --port 3100

The answer carries the same `result_links` block as the bot's results message, so the bench can
tell a results message from anything else at the response_url. GET /healthz answers 200 once it
listens.
"""

from __future__ import annotations

import argparse
import logging
import os

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.views import ids


def build_app(signing_secret: str, token: str, api_url: str, mida: httpx.AsyncClient, project_key: str) -> AsyncApp:
    app = AsyncApp(
        name="plain-bolt",
        signing_secret=signing_secret,
        client=AsyncWebClient(token=token, base_url=api_url),
        logger=logging.getLogger("plain.bolt"),
    )

    @app.command("/mida")
    async def mida_command(ack: AsyncAck, command: dict, respond: AsyncRespond) -> None:
        await ack()
        words = (command.get("text") or "").split()
        if len(words) != 2 or words[0] != "results" or not words[1].isdigit():
            await respond(text="Usage: /mida results <test id>")
            return
        answer = await mida.get(f"/project/{project_key}/experiment/{words[1]}/result")
        if answer.status_code != 200:
            await respond(text=f"Mida answered {answer.status_code}")
            return
        result = answer.json()
        lines = [f"*{result.get('test_name') or 'Experiment ' + words[1]}*"]
        for variant in result.get("variants") or []:
            lines.append(f"{variant.get('name')}: {variant.get('conversion_rate')} ({variant.get('visitors')} visitors)")
        await respond(
            text=lines[0],
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
                {"type": "context", "block_id": ids.RESULT_LINKS,
                 "elements": [{"type": "mrkdwn", "text": "Open in Mida"}]},
            ],
            response_type="ephemeral",
        )

    return app


def build_web_app(app: AsyncApp, port: int, mida: httpx.AsyncClient) -> web.Application:
    web_app = app.web_app(path="/slack/events", port=port)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def close(_: web.Application) -> None:
        await mida.aclose()

    web_app.router.add_get("/healthz", healthz)
    web_app.on_cleanup.append(close)
    return web_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.plain_bolt")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    env = os.environ
    mida = httpx.AsyncClient(
        base_url=env["MIDA_API_URL"].replace("{region}", env["MIDA_REGION"]),
        headers={"Authorization": f"Bearer {env['MIDA_API_KEY']}"},
        timeout=10,
    )
    app = build_app(env["SLACK_SIGNING_SECRET"], env["SLACK_BOT_TOKEN"], env["SLACK_API_URL"], mida,
                    env["MIDA_PROJECT_KEY"])
    web.run_app(build_web_app(app, args.port, mida), host="127.0.0.1", port=args.port, access_log=None,
                print=lambda *_: None)


if __name__ == "__main__":
    main()
