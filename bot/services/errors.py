"""Failures a person can act on. Services raise these; each carries its `Failure` value (a kind and
its fields), which is what outcomes and the audit log keep and what `bot.views.errors` words."""

from __future__ import annotations

from bot.domain import Action, Evidence, Failure, FailureKind


class BotError(Exception):
    """Base of every error that ends in a message to a person. `state` is the experiment as the bot
    found it, when that explains the failure."""

    def __init__(self, failure: Failure, state: Evidence | None = None) -> None:
        super().__init__(failure.message or failure.kind.value)
        self.failure = failure
        self.state = state


class NotConnected(BotError):
    """The workspace has no Mida project connected."""

    def __init__(self) -> None:
        super().__init__(Failure(kind=FailureKind.NOT_CONNECTED))


class NotAllowed(BotError):
    """The person may not do this (e.g. export without PUBLIC_URL); `what` completes "not allowed to …"."""

    _kind = FailureKind.NOT_ALLOWED

    def __init__(self, what: str) -> None:
        super().__init__(Failure(kind=self._kind, message=what))
        self.what = what


class AdminOnly(NotAllowed):
    """Only workspace admins, owners and bot admins may do this."""

    _kind = FailureKind.ADMIN_ONLY


class NotAMember(BotError):
    """Only members of the workspace may ask for changes; `standing` (an `access.Standing` value)
    says what the person is instead."""

    def __init__(self, standing: str) -> None:
        super().__init__(Failure(kind=FailureKind.NOT_A_MEMBER, message=standing))
        self.standing = standing


class InvalidInput(BotError):
    """A value typed by the person is wrong; `field` names the modal block it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(Failure(kind=FailureKind.INVALID_INPUT, message=message, field=field))
        self.field = field
        self.message = message


class ReconnectNeeded(BotError):
    """Mida refused the stored API key (401)."""

    def __init__(self, mida_message: str) -> None:
        super().__init__(
            Failure(kind=FailureKind.RECONNECT_NEEDED, message=mida_message, said_by_mida=True, status=401)
        )


class Forbidden(BotError):
    """Mida refused the action for this key or plan (403)."""

    def __init__(self, mida_message: str) -> None:
        super().__init__(Failure(kind=FailureKind.FORBIDDEN, message=mida_message, said_by_mida=True, status=403))


class PlanLimit(BotError):
    """Mida refused to make an experiment live (403): the plan's limit of live experiments per project."""

    def __init__(self, mida_message: str) -> None:
        super().__init__(Failure(kind=FailureKind.PLAN_LIMIT, message=mida_message, said_by_mida=True, status=403))


class UnknownExperiment(BotError):
    """Mida answered 404: no such experiment in the connected project."""

    def __init__(self, test_id: int | None, mida_message: str) -> None:
        super().__init__(
            Failure(
                kind=FailureKind.UNKNOWN_EXPERIMENT,
                message=mida_message,
                said_by_mida=True,
                status=404,
                test_id=test_id,
            )
        )


class ExperimentConflict(BotError):
    """The experiment's state does not allow the change; `state` is the experiment as read (None if
    that failed). `said_by_mida`: Mida answered 409 with `message`; otherwise the message is the
    bot's own, from checking the state before asking Mida anything."""

    def __init__(
        self, action: Action | None, message: str, state: Evidence | None, *, said_by_mida: bool = True
    ) -> None:
        super().__init__(
            Failure(
                kind=FailureKind.CONFLICT,
                message=message,
                said_by_mida=said_by_mida,
                action=action,
                status=409 if said_by_mida else None,
            ),
            state,
        )


class MidaRejected(BotError):
    """Mida answered 400 or another client error."""

    def __init__(self, status: int | None, mida_message: str) -> None:
        super().__init__(Failure(kind=FailureKind.REJECTED, message=mida_message, said_by_mida=True, status=status))


class RateLimited(BotError):
    """Mida answered 429: nothing was changed."""

    def __init__(self, mida_message: str, retry_after: float | None) -> None:
        super().__init__(
            Failure(
                kind=FailureKind.RATE_LIMITED,
                message=mida_message,
                said_by_mida=True,
                status=429,
                retry_after=retry_after,
            )
        )


class MidaDown(BotError):
    """Mida did not answer or answered 5xx. For a write, `maybe_applied` says whether the request
    may have reached Mida, and `state` is what a read-back found (None if it failed too)."""

    def __init__(
        self, detail: str, *, maybe_applied: bool = False, state: Evidence | None = None, status: int | None = None
    ) -> None:
        super().__init__(
            Failure(kind=FailureKind.MIDA_DOWN, message=detail, maybe_applied=maybe_applied, status=status), state
        )


class MidaUnreadable(BotError):
    """Mida answered 2xx with something the bot could not use (not JSON, fields missing, numbers
    that cannot be right). For a write, `maybe_applied` says it may have been applied all the same."""

    def __init__(self, detail: str, *, maybe_applied: bool = False) -> None:
        super().__init__(Failure(kind=FailureKind.UNREADABLE, message=detail, maybe_applied=maybe_applied))


class StoreUnavailable(BotError):
    """Redis did not answer: nothing was changed."""

    def __init__(self) -> None:
        super().__init__(Failure(kind=FailureKind.STORE_UNAVAILABLE))
