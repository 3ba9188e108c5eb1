from slack_bolt.async_app import AsyncApp

from bot.listeners.deferred import after_ack
from bot.listeners.views.submissions import (
    handle_change_submission,
    handle_connect_submission,
    handle_reject_submission,
    handle_settings_submission,
)
from bot.views import ids


def register(app: AsyncApp) -> None:
    app.view(ids.CONNECT_MODAL)(handle_connect_submission)
    app.view(ids.CHANGE_MODAL)(handle_change_submission)
    app.view(ids.SETTINGS_MODAL)(handle_settings_submission)
    app.view(ids.REJECT_MODAL)(**after_ack(handle_reject_submission))
