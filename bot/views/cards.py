"""Messages posted in the channel: the approval card (which becomes the outcome record), the line
in its thread when it finishes, and the private note to the requester.

The card's buttons carry only the request id; everything else is read from Redis on a click.
"""

from __future__ import annotations

from typing import Any

from bot.domain import (
    Action,
    AnswerProblem,
    ChangeRequest,
    Failure,
    FailureKind,
    Outcome,
    RequestStatus,
)
from bot.evidence import words
from bot.services.evidence import analysis_of
from bot.views import ids
from bot.views.errors import explain_outcome
from bot.views.evidence import finding_line, health_findings, secondary_block, verdict_text
from bot.views.format import (
    MAX_MESSAGE_BLOCKS,
    Links,
    button,
    change_words,
    context,
    divider,
    escape,
    experiment_ref,
    fmt_days,
    header,
    link_buttons,
    links_text,
    mention,
    mrkdwn,
    section,
    serving_words,
    slack_date,
    state_words,
    status_label,
    truncate,
    variant_lines_text,
)
from bot.views.ramps import plan_blocks

Message = tuple[str, list[dict[str, Any]]]

NO_APPROVAL = "No approval needed under this workspace's policy"
RECONCILED = "The bot read the experiment back to learn what happened."

_STATUS_HEADLINE = {
    RequestStatus.PENDING: ":hourglass_flowing_sand: *Waiting for approval*",
    RequestStatus.APPROVED: ":gear: *Approved* — sending it to Mida…",
    RequestStatus.EXECUTING: ":gear: *Approved* — sending it to Mida…",
    RequestStatus.SUCCEEDED: ":white_check_mark: *Done*",
    RequestStatus.FAILED: ":x: *Failed*",
    RequestStatus.REJECTED: ":no_entry: *Rejected*",
    RequestStatus.CANCELLED: ":heavy_multiplication_x: *Cancelled*",
    RequestStatus.EXPIRED: ":hourglass: *Expired*",
    RequestStatus.SUPERSEDED: ":twisted_rightwards_arrows: *Superseded*",
}


def _approvers(req: ChangeRequest) -> str:
    return ", ".join(mention(a.approver.user_id) for a in req.approvals)


def approvals_words(req: ChangeRequest) -> str:
    """mrkdwn: "Approvals: 1 of 2 — <@A>" or the no-approval sentence."""
    if req.approvals_needed == 0:
        return NO_APPROVAL + "."
    words = f"*Approvals:* {len(req.approvals)} of {req.approvals_needed}"
    if req.approvals:
        words += " — " + _approvers(req)
    return words


_UNTRUSTED = {
    AnswerProblem.UNREADABLE: "Mida answered with something the bot could not read",
    AnswerProblem.CONTRADICTS: "Mida's answer contradicted the change",
}


def _mida_answer(req: ChangeRequest, outcome: Outcome) -> str:
    """mrkdwn: what Mida answered on success (serving variant, rollout, is_serving, message)."""
    if outcome.answer_problem is not None and outcome.state_after is not None:
        detail = f" ({escape(truncate(outcome.answer_detail, 500))})" if outcome.answer_detail else ""
        return (
            f"{_UNTRUSTED[outcome.answer_problem]}{detail}, but the experiment read back shows the change "
            f"applied: it is {state_words(outcome.state_after)}."
        )
    body = outcome.mida_body or {}
    variants = req.evidence.variants
    if any(k in body for k in ("serving_variant_id", "is_serving", "traffic_allocation")):
        svid = body.get("serving_variant_id")
        svid = str(svid) if svid not in (None, "") else None
        is_serving = bool(body.get("is_serving"))
        traffic = body.get("traffic_allocation")
        traffic = float(traffic) if isinstance(traffic, int | float) and not isinstance(traffic, bool) else None
        status = f" (HTTP {outcome.mida_status})" if outcome.mida_status else ""
        words = f"Mida answered{status}: now {serving_words(svid, is_serving, traffic, variants)}"
        words += f" · is_serving: {'true' if is_serving else 'false'}."
        message = body.get("message")
        if message:
            words += f" “{escape(truncate(str(message), 500))}”"
        return words
    if outcome.state_after is not None:
        return f"Mida now reports the experiment as {state_words(outcome.state_after)}."
    return "Mida accepted the change."


def outcome_words(req: ChangeRequest) -> str:
    """mrkdwn: how the request ended, in a sentence or two (empty while it is still open)."""
    outcome = req.outcome
    status = req.status
    if status is RequestStatus.SUCCEEDED:
        words = _mida_answer(req, outcome) if outcome else "Mida accepted the change."
    elif status is RequestStatus.FAILED:
        failure = outcome.failure if outcome and outcome.failure else Failure(kind=FailureKind.UNEXPECTED)
        explained = explain_outcome(
            failure, req.change, outcome.state_after if outcome else None, test_id=req.change.test_id
        )
        words = escape(explained)
    elif status is RequestStatus.REJECTED:
        who = mention(req.rejected_by.user_id) if req.rejected_by else "an approver"
        words = f"Rejected by {who}"
        if req.reject_reason:
            words += f": “{escape(truncate(req.reject_reason, 1000))}”"
        words += ". Nothing was sent to Mida."
    elif status is RequestStatus.CANCELLED:
        words = f"Cancelled by {mention(req.requester.user_id)}. Nothing was sent to Mida."
    elif status is RequestStatus.EXPIRED:
        when = f" {slack_date(req.expires_at)}" if req.expires_at else ""
        words = (
            f"Expired{when} with {len(req.approvals)} of {req.approvals_needed} approvals. Nothing was sent to Mida."
        )
    elif status is RequestStatus.SUPERSEDED:
        words = "The experiment changed in Mida after this request was made, so it was not applied."
        if outcome and outcome.state_after is not None:
            words += f" Now it is {state_words(outcome.state_after)}."
        if outcome and outcome.failure and outcome.failure.message:
            words += f" ({escape(truncate(outcome.failure.message, 500))})"
        words += " Ask again if the change is still wanted."
    else:
        return ""
    if outcome is not None and outcome.reconciled:
        words += f" _{RECONCILED}_"
    return words


def _change_fields(req: ChangeRequest) -> dict[str, Any]:
    reason = f"“{escape(truncate(req.reason, 1500))}”" if req.reason else "_none given_"
    return {
        "type": "section",
        "fields": [
            mrkdwn(f"*Requested by*\n{mention(req.requester.user_id)}"),
            mrkdwn(f"*Experiment*\n{experiment_ref(req.change.test_id, truncate(req.evidence.test_name, 300))}"),
            mrkdwn(f"*Change*\n{change_words(req.change, req.evidence)}", 2000),
            mrkdwn(f"*Reason*\n{reason}", 2000),
        ],
    }


def _evidence_blocks(req: ChangeRequest) -> list[dict[str, Any]]:
    ev = req.evidence
    facts = [f"Evidence when requested ({slack_date(ev.taken_at)})", status_label(ev.status)]
    days = fmt_days(ev.days_running)
    if days:
        facts.append(days)
    facts.append(serving_words(ev.serving_variant_id, ev.is_serving, ev.traffic_allocation, ev.variants))
    chosen = req.change.variant_id if req.change.action is Action.SERVE_WINNER else None
    # Recomputed from the pinned counts: the engine is exact (no sampling), so it is the same figure
    # every time the card is drawn. Snapshots stored without an engine show their counts only.
    analysis = analysis_of(ev)
    lines = variant_lines_text(
        ev.variants,
        serving_id=ev.serving_variant_id,
        chosen_id=chosen,
        analysis=analysis,
        currency=ev.currency,
        limit=2400 if analysis is not None else 3000,
    )
    blocks = [context(" · ".join(facts)), section(lines)]
    if analysis is not None:
        judged = [verdict_text(analysis)]
        if req.change.action is not Action.SERVE_WINNER or not req.overrides:
            # A serve's own guardrails are on the card already (the overrides); else the experiment's health.
            judged += [finding_line(f, analysis) for f in health_findings(analysis)]
        blocks.append(section("\n".join(judged)))
        folded = secondary_block(ev)
        if folded is not None:
            blocks.append(folded)
        blocks.append(context(escape(words.footnote(analysis.engine))))
    return blocks


def _override_blocks(req: ChangeRequest) -> list[dict[str, Any]]:
    """The guardrails the requester gave the reason for: overridden blocks first, then the warnings."""
    out = []
    for heading, picked in (
        ("*Overrides these blocks* (the reason above is why):", [g for g in req.overrides if g.blocks]),
        ("*Requested despite these warnings:*", [g for g in req.overrides if not g.blocks]),
    ):
        if picked:
            mark = ":no_entry:" if picked[0].blocks else ":warning:"
            lines = "\n".join(f"{mark} {escape(truncate(g.words, 500))}" for g in picked[:10])
            out.append(section(f"{heading}\n{lines}"))
    return out


def _pending_expired(req: ChangeRequest, now: float) -> bool:
    return req.status is RequestStatus.PENDING and req.expires_at is not None and now >= req.expires_at


def request_card(req: ChangeRequest, links: Links, now: float) -> Message:
    """The approval card while pending; the outcome record once the request is final."""
    change = req.change
    name = req.evidence.test_name or f"Experiment #{change.test_id}"
    blocks: list[dict[str, Any]] = [
        header(f"{'Ramp' if req.plan is not None else change.action.heading}: {name}"),
        section(_STATUS_HEADLINE[req.status]),
        _change_fields(req),
    ]
    if req.plan is not None:
        variant = req.variant
        blocks += plan_blocks(req.plan, req.created_at, variant.label if variant else f"Variant {change.variant_id}")
    blocks += _override_blocks(req)
    blocks += _evidence_blocks(req)

    approvals = approvals_words(req)
    if req.status is RequestStatus.PENDING and req.expires_at is not None:
        approvals += f" · Expires {slack_date(req.expires_at)}"
    blocks.append(section(approvals))

    if req.status is RequestStatus.PENDING:
        if _pending_expired(req, now):
            blocks.append(context(":hourglass: This request has expired; it can no longer be approved."))
        else:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": ids.REQUEST_ACTIONS,
                    "elements": [
                        button("Approve", ids.APPROVE, value=req.id, style="primary"),
                        button("Reject", ids.REJECT, value=req.id, style="danger"),
                        button("Cancel", ids.CANCEL, value=req.id),
                    ],
                }
            )
            blocks.append(context(f"Check the numbers first: {links_text(links)}. Only the requester can cancel."))
    elif req.status.is_final:
        blocks += [
            divider(),
            section(outcome_words(req)),
            context(links_text(links)),
            {
                "type": "actions",
                "block_id": ids.RESULT_LINKS,
                "elements": [
                    *_confirm_again(req),
                    button("Show post-deploy numbers", ids.POST_DEPLOY_RESULTS, value=str(change.test_id)),
                    *link_buttons(links),
                ],
            },
        ]
    return _fallback(req), blocks[:MAX_MESSAGE_BLOCKS]


def _confirm_again(req: ChangeRequest) -> list[dict[str, Any]]:
    """Stale evidence: the requester opens the confirm modal again, on the numbers as they are now."""
    failure = req.outcome.failure if req.outcome else None
    if failure is None or failure.kind is not FailureKind.STALE_EVIDENCE or req.change.variant_id is None:
        return []
    value = f"{req.change.test_id}|{req.change.variant_id}"
    return [button("Review the new numbers", ids.CONFIRM_AGAIN, value=value, style="primary")]


def _fallback(req: ChangeRequest) -> str:
    name = escape(req.evidence.test_name) if req.evidence.test_name else "experiment"
    status = {
        RequestStatus.PENDING: "waiting for approval",
        RequestStatus.APPROVED: "approved",
        RequestStatus.EXECUTING: "approved, sending to Mida",
    }.get(req.status, req.status.value)
    who = mention(req.requester.user_id)
    return f"{req.change.action.heading} on {name} (#{req.change.test_id}), asked by {who}: {status}"


def thread_reply(req: ChangeRequest, links: Links) -> Message:
    """One line for the card's thread when the request finishes."""
    status = req.status
    if status is RequestStatus.SUCCEEDED:
        who = f"Approved by {_approvers(req)} and executed" if req.approvals else f"Executed ({NO_APPROVAL.lower()})"
        line = f":white_check_mark: {who}. {outcome_words(req)}"
    elif status is RequestStatus.FAILED:
        line = f":x: Failed: {outcome_words(req)}"
    elif status in (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.EXECUTING):
        line = f"{_STATUS_HEADLINE[status]} · {approvals_words(req)}"
    else:
        line = f"{_STATUS_HEADLINE[status]}: {outcome_words(req)}"
    line += f"\n{links_text(links)}"
    return line, [section(line)]


def requester_notice(req: ChangeRequest, links: Links) -> str:
    """A private note (mrkdwn) to the requester about how their request ended."""
    experiment = experiment_ref(req.change.test_id, req.evidence.test_name)
    what = f"Your request to {change_words(req.change, req.evidence)} on {experiment}"
    status = req.status
    if status is RequestStatus.SUCCEEDED:
        by = f"was approved by {_approvers(req)} and executed" if req.approvals else "was executed"
        text = f":white_check_mark: {what} {by}. {outcome_words(req)}"
    elif status is RequestStatus.FAILED:
        text = f":x: {what} failed. {outcome_words(req)}"
    elif status is RequestStatus.REJECTED:
        text = f":no_entry: {what} was rejected. {outcome_words(req)}"
    elif status is RequestStatus.CANCELLED:
        text = f":heavy_multiplication_x: {what} was cancelled. Nothing was sent to Mida."
    elif status is RequestStatus.EXPIRED:
        when = f" {slack_date(req.expires_at)}" if req.expires_at else ""
        text = (
            f":hourglass: {what} expired{when} with {len(req.approvals)} of {req.approvals_needed} approvals. "
            "Nothing was sent to Mida."
        )
    elif status is RequestStatus.SUPERSEDED:
        text = f":twisted_rightwards_arrows: {what} was not applied. {outcome_words(req)}"
    elif status is RequestStatus.PENDING:
        text = f":hourglass_flowing_sand: {what} is waiting for approval ({approvals_words(req)})."
    else:
        text = f":gear: {what} was approved and is being sent to Mida."
    return f"{text}\n{links_text(links)}"
