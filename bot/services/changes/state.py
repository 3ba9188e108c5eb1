"""Pure rules about a change and the experiment it applies to (no I/O)."""

from __future__ import annotations

import time

from bot.domain import Action, Change, Evidence
from bot.mida.models import ExperimentStatus, ServingState, StatusAnswer, parse_status
from bot.services.errors import ExperimentConflict


def check_state_fits(action: Action, evidence: Evidence) -> None:
    """Refuse early what Mida would refuse with a 409, with the state that explains it. The words
    are the bot's own: Mida was not asked."""
    if action is Action.PAUSE_EXPERIMENT:
        if evidence.status is not ExperimentStatus.LIVE:
            raise ExperimentConflict(
                action, "The experiment is not live, so it cannot be paused.", evidence, said_by_mida=False
            )
        return
    if action is Action.RESUME_EXPERIMENT:
        if evidence.status is not ExperimentStatus.INACTIVE:
            raise ExperimentConflict(
                action, "The experiment is not paused, so it cannot be resumed.", evidence, said_by_mida=False
            )
        return
    if action is Action.SERVE_WINNER:
        if evidence.status is ExperimentStatus.DRAFT:
            raise ExperimentConflict(
                action, "The experiment is a draft and cannot serve a winner.", evidence, said_by_mida=False
            )
        if evidence.is_serving:
            raise ExperimentConflict(
                action, "The experiment is already serving a winner.", evidence, said_by_mida=False
            )
    elif not evidence.is_serving:
        raise ExperimentConflict(action, "The experiment is not serving a winner.", evidence, said_by_mida=False)


def best_variant(evidence: Evidence) -> str | None:
    """The variant a serve-winner form offers first: the best-converting challenger."""
    challengers = [v for v in evidence.variants if not v.is_control] or evidence.variants
    if not challengers:
        return None
    return max(challengers, key=lambda v: (v.conversion_rate, v.visitors)).variant_id


def applied(change: Change, state: Evidence) -> bool:
    """Is the experiment already in the state this change asks for?"""
    if change.action.is_status_change:
        return state.status is change.action.target_status
    if change.action is Action.STOP_SERVING:
        return not state.is_serving
    if not state.is_serving or state.traffic_allocation is None:
        return False
    if change.action is Action.SERVE_WINNER and state.serving_variant_id != change.variant_id:
        return False
    return abs(state.traffic_allocation - (change.rollout or 0)) < 1e-9


def changed_since(before: Evidence, now: Evidence) -> bool:
    """Did the serving state change between two snapshots (someone else acted)?"""
    if before.is_serving != now.is_serving:
        return True
    if not now.is_serving:
        return False
    return before.serving_variant_id != now.serving_variant_id or before.traffic_allocation != now.traffic_allocation


def state_from_answer(before: Evidence, answer: ServingState | StatusAnswer) -> Evidence:
    """The experiment as Mida's answer to a write describes it."""
    if isinstance(answer, StatusAnswer):
        return before.model_copy(update={"status": parse_status(answer.status), "taken_at": time.time()})
    return before.model_copy(
        update={
            "serving_variant_id": answer.serving_variant_id if answer.is_serving else None,
            "is_serving": answer.is_serving,
            "traffic_allocation": answer.traffic_allocation
            if answer.traffic_allocation is not None
            else before.traffic_allocation,
            "taken_at": time.time(),
        }
    )
