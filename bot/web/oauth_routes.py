"""`GET /slack/install` and `GET /slack/oauth_redirect`: the aiohttp side of Bolt's OAuth flow
(`bot.slack.oauth`)."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.oauth import INSTALL_PATH, REDIRECT_PATH


class OAuthRoutes:
    """`GET /slack/install` and `GET /slack/oauth_redirect`, handed to Bolt's flow."""

    def __init__(self, flow: AsyncOAuthFlow) -> None:
        self._flow = flow

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(INSTALL_PATH, self.install)
        app.router.add_get(REDIRECT_PATH, self.redirect)

    @staticmethod
    def _bolt_request(request: web.Request) -> AsyncBoltRequest:
        return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))

    async def install(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self._flow.handle_installation(self._bolt_request(request)))

    async def redirect(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self._flow.handle_callback(self._bolt_request(request)))
