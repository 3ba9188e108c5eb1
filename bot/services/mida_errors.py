"""Turn Mida's exceptions into errors a person can act on."""

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
    if isinstance(err, mida.MidaUnauthorized):
        return ReconnectNeeded(err.message)
    if isinstance(err, mida.MidaForbidden):
        return Forbidden(err.message)
    if isinstance(err, mida.MidaNotFound):
        return UnknownExperiment(test_id or 0, err.message)
    if isinstance(err, mida.MidaConflict) and action is not None:
        return ExperimentConflict(action, err.message, state)
    if isinstance(err, mida.MidaBadResponse):
        return MidaUnreadable(err.message, maybe_applied=isinstance(err, mida.MidaOutcomeUnknown))
    if isinstance(err, mida.MidaUnavailable | mida.MidaServerError | mida.MidaOutcomeUnknown):
        return MidaDown(err.message, maybe_applied=maybe_applied, state=state)
    if isinstance(err, mida.MidaRateLimited):
        return MidaDown(f"Mida is rate limiting the bot ({err.message})", maybe_applied=False, state=state)
    return MidaRejected(err.status, err.message)
