"""Does Mida's 2xx answer to a write say the change was made? Pure: no I/O."""

from __future__ import annotations

from bot.domain import Action, Change
from bot.mida.models import STATUS_CODE, ServingState, StatusAnswer


def contradictions(change: Change, answer: ServingState | StatusAnswer) -> list[str]:
    """What in the answer says something other than "done as asked" (empty when it agrees)."""
    found: list[str] = []
    if not answer.success:
        found.append("success: false")
    if answer.test_id != change.test_id:
        found.append(f"test_id {answer.test_id}, not {change.test_id}")
    if isinstance(answer, StatusAnswer):
        target = change.action.target_status
        if target is not None and answer.status != STATUS_CODE[target]:
            found.append(f"status {answer.status}, not {STATUS_CODE[target]}")
        return found
    if change.action is Action.STOP_SERVING:
        if answer.is_serving:
            found.append("is_serving: true")
        if answer.serving_variant_id is not None:
            found.append(f"serving_variant_id {answer.serving_variant_id}, not null")
        return found
    if not answer.is_serving:
        found.append("is_serving: false")
    if change.action is Action.SERVE_WINNER and answer.serving_variant_id != change.variant_id:
        found.append(f"serving_variant_id {answer.serving_variant_id}, not {change.variant_id}")
    rollout = answer.traffic_allocation
    if rollout is not None and change.rollout is not None and abs(rollout - change.rollout) > 1e-9:
        found.append(f"traffic_allocation {rollout:g}, not {change.rollout:g}")
    return found


def describe(problems: list[str], message: str | None) -> str:
    """The detail kept with the outcome: what contradicted, and Mida's own message, quoted."""
    detail = "; ".join(problems)
    text = (message or "").strip()
    return f'{detail}; its message: "{text[:300]}"' if text else detail
