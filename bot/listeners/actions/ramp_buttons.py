"""Pause / Resume / Advance now / Abort on a ramp's plan card. The button carries only the ramp id;
the ramp is read under the clicking workspace. The answer goes to the person who clicked."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext

from bot.deps import Deps
from bot.listeners.context import person_of, team_of
from bot.services.errors import BotError
from bot.views import ids, messages
from bot.views.ramps import ramp_click_text


async def handle_ramp_button(
    ack: AsyncAck, body: dict, respond: AsyncRespond, context: AsyncBoltContext, deps: Deps
) -> None:
    await ack()
    action = body["actions"][0]
    ramp_id, action_id = action.get("value") or "", action["action_id"]
    team, person = team_of(body, context), person_of(body, context)
    ramps = deps.ramps
    try:
        if action_id == ids.RAMP_PAUSE:
            text = ramp_click_text(action_id, ramp=await ramps.pause(team, ramp_id, person))
        elif action_id == ids.RAMP_RESUME:
            text = ramp_click_text(action_id, ramp=await ramps.resume(team, ramp_id, person))
        elif action_id == ids.RAMP_ADVANCE:
            text = ramp_click_text(action_id, request=await ramps.advance_now(team, ramp_id, person))
        else:
            stop = action_id == ids.RAMP_ABORT_STOP
            text = ramp_click_text(action_id, request=await ramps.abort(team, ramp_id, person, stop_serving=stop))
    except BotError as err:
        text, blocks = messages.error_message(err)
        await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        return
    await respond(text=text, response_type="ephemeral", replace_original=False)
