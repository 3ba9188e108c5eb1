"""The one translation of Mida's exceptions into errors a person can act on."""

from __future__ import annotations

from bot.domain import Action, Evidence
from bot.mida import errors as mida
from bot.services.errors import (
    BotError,
    ExperimentConflict,
    Forbidden,
    MidaDown,
    MidaRejected,
    MidaUnreadable,
    PlanLimit,
    RateLimited,
    ReconnectNeeded,
    UnknownExperiment,
)


def translate(
    err: mida.MidaError,
    *,
    test_id: int | None = None,
    action: Action | None = None,
    state: Evidence | None = None,
    maybe_applied: bool = False,
) -> BotError:
    """`maybe_applied`: the call was a write that may have reached Mida (an unknown outcome is
    always taken as one)."""
    if isinstance(err, mida.MidaUnauthorized):
        return ReconnectNeeded(err.message)
    if isinstance(err, mida.MidaForbidden):
        # Making an experiment live is the one write Mida limits by plan (Update Experiment Status docs).
        return PlanLimit(err.message) if action is Action.RESUME_EXPERIMENT else Forbidden(err.message)
    if isinstance(err, mida.MidaNotFound):
        return UnknownExperiment(test_id, err.message)
    if isinstance(err, mida.MidaConflict):
        return ExperimentConflict(action, err.message, state)
    if isinstance(err, mida.MidaRateLimited):
        return RateLimited(err.message, err.retry_after)
    if isinstance(err, mida.MidaBadResponse):
        return MidaUnreadable(err.message, maybe_applied=isinstance(err, mida.MidaOutcomeUnknown))
    if isinstance(err, mida.MidaUnavailable | mida.MidaServerError | mida.MidaOutcomeUnknown):
        unknown = isinstance(err, mida.MidaOutcomeUnknown)
        return MidaDown(
            err.message,
            maybe_applied=maybe_applied or unknown,
            state=state,
            status=err.status if isinstance(err, mida.MidaServerError) else None,
        )
    return MidaRejected(err.status, err.message)
