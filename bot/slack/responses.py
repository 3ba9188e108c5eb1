"""Posts to Slack's response_urls over one pooled HTTP session per process.

Bolt's `respond()` builds a new `AsyncWebhookClient` for every call, and with no session given
slack_sdk opens (and closes) a new aiohttp session, so a new TCP and TLS connection, for each
answer. `PooledRespond` is Bolt's `AsyncRespond` posting the same message over the process's
session (one JSON POST: the webhook client's own machinery cost as much CPU as the post); the
bot's middleware puts it in each request's context, where Bolt's `respond` argument is read from.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookResponse

__all__ = ["PooledRespond", "ResponseSession"]

TIMEOUT = 10
_JSON = {"Content-Type": "application/json;charset=utf-8"}
# Failures before Slack can have read the message (a pooled connection Slack had closed): tried
# once more, as slack_sdk's webhook client does.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError)


class ResponseSession:
    """One aiohttp session for the process's response_url posts, made on first use in the running
    loop (a new one if the loop changed, as between tests)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
            self._loop = loop
        return self._session

    async def post_json(self, url: str, body: dict[str, Any]) -> int:
        return (await self.post(url, body)).status_code

    async def post(self, url: str, body: dict[str, Any]) -> WebhookResponse:
        data = json.dumps(body)
        try:
            return await self._post_once(url, data)
        except _NOT_SENT:
            return await self._post_once(url, data)

    async def _post_once(self, url: str, data: str) -> WebhookResponse:
        async with self.get().post(url, data=data, headers=_JSON) as answer:
            text = await answer.text()
            return WebhookResponse(url=url, status_code=answer.status, body=text, headers=dict(answer.headers))

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()


class PooledRespond(AsyncRespond):
    """Bolt's `respond()` (same arguments, same message), over the pooled session."""

    def __init__(self, *, response_url: str | None, sessions: ResponseSession) -> None:
        super().__init__(response_url=response_url)
        self._sessions = sessions

    async def __call__(
        self,
        text: str | dict = "",
        blocks: Sequence[dict | Block] | None = None,
        attachments: Sequence[dict | Attachment] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if isinstance(text, dict):
            message = _build_message(**text)
        elif isinstance(text, str):
            message = _build_message(
                text=text,
                blocks=blocks,
                attachments=attachments,
                response_type=response_type,
                replace_original=replace_original,
                delete_original=delete_original,
                unfurl_links=unfurl_links,
                unfurl_media=unfurl_media,
                thread_ts=thread_ts,
                metadata=metadata,
            )
        else:
            raise ValueError(f"The arg is unexpected type ({type(text)})")
        return await self._sessions.post(self.response_url, message)
