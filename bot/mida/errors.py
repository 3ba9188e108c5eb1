"""One exception per way a Mida call can fail, so callers catch names, not status codes."""

from __future__ import annotations


class MidaError(Exception):
    """Mida answered with an error, or did not answer.

    `message` is Mida's own `error` text when it sent one; it never contains the API key.
    """

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class MidaBadRequest(MidaError):
    status = 400


class MidaUnauthorized(MidaError):
    """The API key is invalid or was revoked: an admin must reconnect."""

    status = 401


class MidaForbidden(MidaError):
    status = 403


class MidaNotFound(MidaError):
    """No such experiment, or it belongs to another project."""

    status = 404


class MidaConflict(MidaError):
    """The experiment's state does not allow the change (draft, already serving, not serving)."""

    status = 409


class MidaRateLimited(MidaError):
    status = 429

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class MidaServerError(MidaError):
    """Mida answered 5xx."""


class MidaUnavailable(MidaError):
    """No answer (connect failure, timeout, dropped connection) and nothing can have changed:
    either the request never reached Mida or it was a read."""


class MidaOutcomeUnknown(MidaError):
    """A write was sent but no answer came back: it may or may not have been applied.
    Never re-send; read the experiment back instead."""


class MidaBadResponse(MidaError):
    """Mida answered 2xx with a body that is not what its docs describe."""


class MidaAnswerUnreadable(MidaOutcomeUnknown, MidaBadResponse):
    """A write was answered 2xx with a body the bot cannot read (not JSON, fields missing or of the
    wrong type): like no answer at all, it may or may not have been applied. Read the experiment back."""


ERRORS_BY_STATUS: dict[int, type[MidaError]] = {
    400: MidaBadRequest,
    401: MidaUnauthorized,
    403: MidaForbidden,
    404: MidaNotFound,
    409: MidaConflict,
    429: MidaRateLimited,
}


def error_for_status(status: int, message: str) -> MidaError:
    if status in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status](message, status=status)
    if status >= 500:
        return MidaServerError(message, status=status)
    return MidaError(message, status=status)
