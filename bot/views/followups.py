"""The follow-up posted in a served card's thread: the post-deploy numbers so far, and the
buttons to stop serving or change the rollout (which go through the same modal and policy)."""

from __future__ import annotations

from typing import Any

from bot.mida.models import ExperimentResult, ReportPhase
from bot.views import ids
from bot.views.format import MAX_MESSAGE_BLOCKS, Links
from bot.views.messages import results_message


def _after(hours: float) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g} days"
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


def followup_message(result: ExperimentResult, hours: float, links: Links) -> tuple[str, list[dict[str, Any]]]:
    own = 2 if result.serving else 1  # the intro, and the buttons while it serves
    text, blocks = results_message(result, ReportPhase.POST_DEPLOY, links, max_blocks=MAX_MESSAGE_BLOCKS - own)
    intro = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": f":bar_chart: *{_after(hours)} after serving* — the post-deploy numbers so far.",
        },
    }
    blocks = [intro, *blocks]
    if result.serving:
        blocks.append(
            {
                "type": "actions",
                "block_id": ids.FOLLOWUP_ACTIONS,
                "elements": [
                    {
                        "type": "button",
                        "action_id": ids.FOLLOWUP_ROLLOUT,
                        "text": {"type": "plain_text", "text": "Change rollout"},
                        "value": str(result.test_id),
                    },
                    {
                        "type": "button",
                        "action_id": ids.FOLLOWUP_STOP,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Stop serving"},
                        "value": str(result.test_id),
                    },
                ],
            }
        )
    return f"{_after(hours)} after serving: {text}", blocks
