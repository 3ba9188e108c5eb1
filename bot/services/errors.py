"""Failures a person can act on. Services raise these; `bot.views.errors.explain` words them."""

from __future__ import annotations

from bot.domain import Action, Evidence


class BotError(Exception):
    """Base of every error that ends in a message to a person."""


class NotConnected(BotError):
    """The workspace has no Mida project connected."""


class NotAllowed(BotError):
    """The person may not do this (e.g. connect without being an admin)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class AdminOnly(NotAllowed):
    """Only workspace admins, owners and bot admins may do this."""


class NotAMember(BotError):
    """Only members of the workspace may ask for changes; `standing` (an `access.Standing` value)
    says what the person is instead."""

    def __init__(self, standing: str) -> None:
        super().__init__(standing)
        self.standing = standing


class InvalidInput(BotError):
    """A value typed by the person is wrong; `field` names the modal block it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ReconnectNeeded(BotError):
    """Mida refused the stored API key (401)."""

    def __init__(self, mida_message: str) -> None:
        super().__init__(mida_message)
        self.mida_message = mida_message


class Forbidden(BotError):
    """Mida refused the action for this key or plan (403)."""

    def __init__(self, mida_message: str) -> None:
        super().__init__(mida_message)
        self.mida_message = mida_message


class UnknownExperiment(BotError):
    """Mida answered 404: no such experiment in the connected project."""

    def __init__(self, test_id: int, mida_message: str) -> None:
        super().__init__(mida_message)
        self.test_id = test_id
        self.mida_message = mida_message


class ExperimentConflict(BotError):
    """The experiment's state does not allow the change; `state` is the experiment as read (None if
    that failed). `said_by_mida`: Mida answered 409 with `mida_message`; otherwise the message is the
    bot's own, from checking the state before asking Mida anything."""

    def __init__(self, action: Action, mida_message: str, state: Evidence | None, *, said_by_mida: bool = True) -> None:
        super().__init__(mida_message)
        self.action = action
        self.mida_message = mida_message
        self.state = state
        self.said_by_mida = said_by_mida


class MidaRejected(BotError):
    """Mida answered 400 or another client error."""

    def __init__(self, status: int | None, mida_message: str) -> None:
        super().__init__(mida_message)
        self.status = status
        self.mida_message = mida_message


class MidaDown(BotError):
    """Mida did not answer or answered 5xx. For a write, `maybe_applied` says whether the request
    may have reached Mida, and `state` is what a read-back found (None if it failed too)."""

    def __init__(self, detail: str, *, maybe_applied: bool = False, state: Evidence | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.maybe_applied = maybe_applied
        self.state = state


class MidaUnreadable(BotError):
    """Mida answered 2xx with something the bot could not use (not JSON, fields missing, numbers
    that cannot be right). For a write, `maybe_applied` says it may have been applied all the same."""

    def __init__(self, detail: str, *, maybe_applied: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.maybe_applied = maybe_applied


class StoreUnavailable(BotError):
    """Redis did not answer: nothing was changed."""
