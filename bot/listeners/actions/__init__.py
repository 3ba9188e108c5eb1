from slack_bolt.async_app import AsyncApp

from bot.listeners.actions.followup_buttons import handle_followup_button
from bot.listeners.actions.home_buttons import (
    handle_home_change_button,
    handle_home_connect,
    handle_home_settings,
)
from bot.listeners.actions.modal_inputs import handle_variant_select
from bot.listeners.actions.ramp_buttons import handle_ramp_button
from bot.listeners.actions.request_buttons import (
    handle_approve,
    handle_cancel,
    handle_reject,
)
from bot.listeners.actions.results_buttons import (
    handle_link_button,
    handle_post_deploy_results,
    handle_results,
)
from bot.listeners.actions.watch_buttons import handle_watch_change
from bot.listeners.deferred import after_ack
from bot.views import ids


def register(app: AsyncApp) -> None:
    app.action(ids.APPROVE)(**after_ack(handle_approve))
    app.action(ids.REJECT)(**after_ack(handle_reject))
    app.action(ids.CANCEL)(**after_ack(handle_cancel))
    app.action(ids.VARIANT_SELECT)(**after_ack(handle_variant_select))
    app.action(ids.POST_DEPLOY_RESULTS)(**after_ack(handle_post_deploy_results))
    app.action(ids.OPEN_RESULTS_PAGE)(handle_link_button)
    app.action(ids.OPEN_IN_MIDA)(handle_link_button)
    app.action(ids.FOLLOWUP_STOP)(**after_ack(handle_followup_button))
    app.action(ids.FOLLOWUP_ROLLOUT)(**after_ack(handle_followup_button))
    app.action(ids.HOME_STOP_SERVING)(**after_ack(handle_home_change_button))
    app.action(ids.HOME_CHANGE_ROLLOUT)(**after_ack(handle_home_change_button))
    app.action(ids.HOME_CONNECT)(**after_ack(handle_home_connect))
    app.action(ids.HOME_SETTINGS)(**after_ack(handle_home_settings))
    for ramp_action in (ids.RAMP_PAUSE, ids.RAMP_RESUME, ids.RAMP_ADVANCE, ids.RAMP_ABORT, ids.RAMP_ABORT_STOP):
        app.action(ramp_action)(**after_ack(handle_ramp_button))
    app.action(ids.WATCH_SERVE)(**after_ack(handle_watch_change))
    app.action(ids.WATCH_PAUSE)(**after_ack(handle_watch_change))
    app.action(ids.CONFIRM_AGAIN)(**after_ack(handle_watch_change))
    app.action(ids.WATCH_RESULTS)(**after_ack(handle_results))
