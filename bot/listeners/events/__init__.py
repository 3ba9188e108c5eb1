"""Events API: the App Home tab, and the bot being uninstalled or its tokens revoked.

Slack retries an event it thinks was not received (`X-Slack-Retry-Num`); every event listener
here runs behind `skip_repeated_events`, so a retry has no second effect."""

from slack_bolt.async_app import AsyncApp

from bot.listeners.events.app_home import handle_app_home_opened
from bot.listeners.events.retries import skip_repeated_events
from bot.listeners.events.uninstall import handle_app_uninstalled, handle_tokens_revoked


def register(app: AsyncApp) -> None:
    app.event("app_home_opened", middleware=[skip_repeated_events])(handle_app_home_opened)
    app.event("app_uninstalled", middleware=[skip_repeated_events])(handle_app_uninstalled)
    app.event("tokens_revoked", middleware=[skip_repeated_events])(handle_tokens_revoked)
