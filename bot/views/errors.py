"""The one place where an error becomes the sentence a person reads.

`explain` returns plain text (not mrkdwn): it can go into a modal field error as it is, and the
builders escape it before putting it into mrkdwn. Mida's own `error` text is quoted in it.
"""

from __future__ import annotations

import logging

from bot.domain import Action, Change, Evidence, Failure, FailureKind
from bot.mida import errors as mida
from bot.mida.models import ExperimentStatus
from bot.services import errors as bot
from bot.services.mida_errors import translate
from bot.views.format import fmt_rollout

log = logging.getLogger(__name__)

GENERIC = (
    "Sorry, something went wrong inside the bot. Please try again; "
    "if it keeps happening, tell whoever runs this Slack app."
)


def _said(message: str | None) -> str:
    """Mida's text, quoted, as a clause: ' Mida said: "…".' (empty when Mida said nothing)."""
    text = (message or "").strip()
    return f' Mida said: "{text}".' if text else ""


def _id(test_id: int | None) -> str:
    return str(test_id) if test_id is not None else "<test_id>"


def _variant_plain(state: Evidence, variant_id: str) -> str:
    found = state.variant(variant_id)
    if found is None:
        return f"variant {variant_id}"
    return f"{found.label} (id {variant_id})"


def _is_serving(state: Evidence) -> bool:
    return state.is_serving or state.serving_variant_id is not None


def describe_state(state: Evidence) -> str:
    """Plain text: "Experiment #1234 (Name) is live and serving Variant B (id 1) at 25 %"."""
    name = f" ({state.test_name})" if state.test_name else ""
    subject = f"Experiment #{state.test_id}{name}"
    if _is_serving(state):
        what = "serving " + (
            _variant_plain(state, state.serving_variant_id) if state.serving_variant_id else "a winner"
        )
        if state.traffic_allocation is not None:
            what += f" at {fmt_rollout(state.traffic_allocation)}"
        if state.status is ExperimentStatus.LIVE or state.status is ExperimentStatus.UNKNOWN:
            return f"{subject} is {what}"
        return f"{subject} is {state.status.value} and {what}"
    if state.status is ExperimentStatus.DRAFT:
        return f"{subject} is a draft (not started) and not serving a winner"
    if state.status is ExperimentStatus.INACTIVE:
        return f"{subject} is inactive (stopped) and not serving a winner"
    if state.status is ExperimentStatus.LIVE:
        return f"{subject} is live and not serving a winner"
    return f"{subject} is not serving a winner"


def next_step(state: Evidence) -> str:
    """Plain text: the action that fits the experiment's current state."""
    tid = state.test_id
    if _is_serving(state):
        return f"To change it, use /mida rollout {tid} <percent> or /mida stop-serving {tid}."
    if state.status is ExperimentStatus.DRAFT:
        return f"Start it in Mida first, then use /mida serve-winner {tid}."
    if state.status is ExperimentStatus.INACTIVE:
        return f"Start it again in Mida first, then use /mida serve-winner {tid}."
    return f"To serve a winner, use /mida serve-winner {tid}."


_ACTION_WORDS = {
    Action.SERVE_WINNER: "serve a winner",
    Action.UPDATE_ROLLOUT: "change the rollout",
    Action.STOP_SERVING: "stop serving",
    Action.PAUSE_EXPERIMENT: "pause the experiment",
    Action.RESUME_EXPERIMENT: "resume the experiment",
}


def _conflict(action: Action | None, message: str | None, state: Evidence | None, test_id: int | None) -> str:
    """Mida answered 409: its own words are quoted."""
    what = _ACTION_WORDS.get(action) if action is not None else None
    if what:
        head = f"Mida refused to {what} because of the experiment's current state."
    else:
        head = "Mida refused the change because of the experiment's current state."
    head += _said(message)
    if state is None:
        return (
            f"{head} The bot could not read the experiment back to see its current state; "
            f"check with /mida results {_id(test_id)}."
        )
    return f"{head} Now: {describe_state(state)}. {next_step(state)}"


def _state_check(message: str, state: Evidence | None, test_id: int | None) -> str:
    """The bot's own check of the state, before asking Mida: nothing is quoted as Mida's."""
    head = f"{message.strip()} Nothing was sent to Mida."
    if state is None:
        return f"{head} Check with /mida results {_id(test_id)}."
    return f"{head} Now: {describe_state(state)}. {next_step(state)}"


def _unreadable(detail: str | None, *, maybe_applied: bool, test_id: int | None) -> str:
    """A 2xx answer the bot could not use. On a read nothing was changed."""
    why = f" ({detail.strip()})" if detail and detail.strip() else ""
    if maybe_applied:
        return (
            f"Mida answered with something the bot could not read{why}, so the change may or may not "
            f"have been applied. Check with /mida results {_id(test_id)} before trying again."
        )
    return (
        f"Mida answered with something the bot could not use{why}. Nothing was changed. Try again in a "
        "minute; if it keeps happening, look at the experiment in Mida's dashboard."
    )


_ANSWER_HEADS = {
    FailureKind.ANSWER_UNREADABLE: "Mida answered with something the bot could not read",
    FailureKind.ANSWER_CONTRADICTS: "Mida's answer does not match the change",
}


def _untrusted_answer(kind: FailureKind, detail: str | None, state: Evidence | None, test_id: int | None) -> str:
    """A write whose 2xx answer could not be trusted and whose read-back did not find it applied."""
    why = f" ({detail.strip()})" if detail and detail.strip() else ""
    head = _ANSWER_HEADS[kind] + why
    if state is None:
        return (
            f"{head}, so the change may or may not have been applied; the experiment could not be read back "
            f"either. Check with /mida results {_id(test_id)} before trying again."
        )
    return (
        f"{head}. The bot read the experiment back: the change was not applied. Now: {describe_state(state)}. "
        "Ask again if the change is still wanted."
    )


def _down(detail: str | None, *, maybe_applied: bool, state: Evidence | None, test_id: int | None) -> str:
    if state is not None:
        test_id = state.test_id
    why = f" ({detail.strip()})" if detail and detail.strip() else ""
    if not maybe_applied:
        return f"Mida did not answer{why}; nothing was changed. Try again in a minute."
    head = f"Mida did not answer in time{why}, so the change may or may not have reached Mida."
    if state is not None:
        return (
            f"{head} The bot read the experiment back: {describe_state(state)}. "
            f"Check with /mida results {test_id} before trying again."
        )
    return (
        f"{head} The experiment could not be read back either. "
        f"Check with /mida results {_id(test_id)} before trying again."
    )


_NOT_A_MEMBER = {
    "other_org": "Only members of this workspace can ask for changes to its experiments — you're in "
    "another organisation (Slack Connect). Nothing was changed.",
    "guest": "Guests can't ask for changes in this workspace. Nothing was changed.",
    "bot": "Bot users can't ask for changes. Nothing was changed.",
    "deactivated": "Deactivated accounts can't ask for changes. Nothing was changed.",
    "unknown": "The bot could not check who you are with Slack just now. Nothing was changed; try again in a minute.",
}


def explain(err: BaseException, *, test_id: int | None = None) -> str:
    """The sentence a person sees for `err`, naming the next step. `test_id` fills in commands
    when the error itself does not carry it. A Mida error that reaches a person untranslated is
    translated first, the one way services do."""
    if isinstance(err, mida.MidaError):
        err = translate(err, test_id=test_id)
    if isinstance(err, bot.BotError):
        return explain_failure(err.failure, state=err.state, test_id=test_id)
    log.debug("no explanation for error class", extra={"error_class": type(err).__name__})
    return GENERIC


def explain_outcome(
    failure: Failure, change: Change | None, state: Evidence | None, *, test_id: int | None = None
) -> str:
    """`explain_failure` for an executed change: the change names the action Mida refused."""
    if failure.kind is FailureKind.CONFLICT and failure.action is None and change is not None:
        failure = failure.model_copy(update={"action": change.action})
    return explain_failure(failure, state=state, test_id=test_id)


def explain_failure(failure: Failure, *, state: Evidence | None = None, test_id: int | None = None) -> str:
    """The sentence for a failure value (from an error, or kept in an outcome). `state`: the
    experiment as the bot found it."""
    test_id = failure.test_id if failure.test_id is not None else test_id
    msg = failure.message
    match failure.kind:
        case FailureKind.NOT_CONNECTED:
            return "This workspace is not connected to Mida yet; a workspace admin runs /mida connect."
        case FailureKind.NOT_ALLOWED | FailureKind.ADMIN_ONLY:
            what = msg.strip()
            if not what:
                return "You are not allowed to do that here."
            return what if what[-1] in ".!?" else f"You are not allowed to {what}."
        case FailureKind.NOT_A_MEMBER:
            return _NOT_A_MEMBER.get(msg, _NOT_A_MEMBER["unknown"])
        case FailureKind.INVALID_INPUT:
            return msg
        case FailureKind.RECONNECT_NEEDED:
            return _unauthorized(msg)
        case FailureKind.FORBIDDEN:
            return _forbidden(msg)
        case FailureKind.PLAN_LIMIT:
            return (
                "Mida's plan allows only so many live experiments per project (two on the Sandbox and "
                f"Agency Lite plans), and that many are live already (403).{_said(msg)} Pause or end another "
                "experiment in Mida first, or move to a larger plan. Nothing was changed."
            )
        case FailureKind.UNKNOWN_EXPERIMENT:
            return _not_found(test_id, msg)
        case FailureKind.CONFLICT:
            if not failure.said_by_mida:
                return _state_check(msg, state, test_id)
            return _conflict(failure.action, msg, state, test_id)
        case FailureKind.REJECTED:
            return _rejected(failure.status, msg)
        case FailureKind.RATE_LIMITED:
            wait = f" in {int(failure.retry_after) + 1} seconds" if failure.retry_after else " in a minute"
            return f"Mida is limiting how fast the bot may call it; nothing was changed. Try again{wait}."
        case FailureKind.MIDA_DOWN:
            return _down(msg, maybe_applied=failure.maybe_applied, state=state, test_id=test_id)
        case FailureKind.UNREADABLE:
            return _unreadable(msg, maybe_applied=failure.maybe_applied, test_id=test_id)
        case FailureKind.ANSWER_UNREADABLE | FailureKind.ANSWER_CONTRADICTS:
            return _untrusted_answer(failure.kind, msg, state, test_id)
        case FailureKind.STALE_EVIDENCE:
            return (
                f"Not served: the numbers changed since this was asked for — {msg.strip()}. Nothing was sent "
                "to Mida. The requester can review the new numbers and confirm again."
            )
        case FailureKind.SUPERSEDED:
            now = f" Now: {describe_state(state)}." if state is not None else ""
            said = f" ({msg.strip()})" if msg.strip() else ""
            return (
                f"The experiment changed in Mida after this request was made, so it was not applied{said}.{now} "
                "Ask again if the change is still wanted."
            )
        case FailureKind.STORE_UNAVAILABLE:
            return "The bot's storage is temporarily unavailable; nothing was changed. Try again in a minute."
    return GENERIC


def _unauthorized(message: str | None) -> str:
    said = f" ({message.strip()})" if message and message.strip() else ""
    return f"Mida refused the stored API key{said}. An admin must run /mida connect again."


def _forbidden(message: str | None) -> str:
    return (
        "Mida does not allow this action with the connected API key (403)."
        f"{_said(message)} Check the key's access in Mida; an admin can connect another key with /mida connect."
    )


def _not_found(test_id: int | None, message: str | None) -> str:
    which = f"experiment #{test_id}" if test_id is not None else "that experiment"
    return (
        f"Mida found no {which} in the connected project.{_said(message)} "
        "The id may be wrong, or the experiment may belong to another Mida project than the "
        "one connected; /mida list shows this project's experiments."
    )


def _rejected(status: int | None, message: str | None) -> str:
    code = f" (HTTP {status})" if status else ""
    return f"Mida rejected the request{code}.{_said(message)} Nothing was changed; check the values and try again."
