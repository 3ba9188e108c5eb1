from __future__ import annotations

import pytest

from bot.domain import Action, Approval, Change, Failure, FailureKind, Guardrail, GuardrailLevel, Outcome, RequestStatus
from bot.services import errors
from bot.views import ids
from bot.views.cards import request_card, requester_notice, thread_reply
from bot.views.format import Links
from tests.views import (
    BOB,
    CAROL,
    LINKS,
    NOW,
    all_text,
    check_message,
    elements,
    evidence,
    find_block,
    many_variants,
    request,
    served_outcome,
)

FINAL = [s for s in RequestStatus if s.is_final]


def _buttons(blocks):
    return elements(blocks, "button")


def test_pending_card_shows_who_what_why_evidence_and_approvals():
    req = request()
    text, blocks = check_message(request_card(req, LINKS, NOW))
    body = all_text(blocks)
    assert "<@UALICE>" in body
    assert "Variant 1 wins clearly" in body
    assert "*Homepage CTA Button Color Test* (#1234)" in body
    assert "serve *Variant 1* (id `1`) at 25 %" in body
    # The evidence as it was: both variants with their numbers.
    assert "*Control* (id `0`) _control_ · 10,000 visitors · 800 conversions · 8.00 % · lift —" in body
    assert "*Variant 1* (id `1`) :point_left: _chosen_ · 12,345 visitors · 1,234 conversions · 10.00 % · lift +25.0 %" in body
    assert "_serving_" not in body
    assert f"<!date^{int(NOW) - 3600}^" in body  # evidence taken at
    assert "*Approvals:* 1 of 2 — <@UBOB>" in body
    assert f"Expires <!date^{int(NOW) + 86400}^" in body
    assert "waiting for approval" in text and "<@UALICE>" in text


def test_pending_card_buttons_carry_only_the_request_id():
    _, blocks = request_card(request(), LINKS, NOW)
    actions = find_block(blocks, ids.REQUEST_ACTIONS)["elements"]
    assert [(b["action_id"], b["value"], b.get("style")) for b in actions] == [
        (ids.APPROVE, "req-abc", "primary"),
        (ids.REJECT, "req-abc", "danger"),
        (ids.CANCEL, "req-abc", None),
    ]
    assert ids.POST_DEPLOY_RESULTS not in [b["action_id"] for b in _buttons(blocks)]


def test_pending_card_past_expiry_offers_no_buttons():
    _, blocks = check_message(request_card(request(expires_at=NOW - 1), LINKS, NOW))
    assert not [b for b in blocks if b.get("block_id") == ids.REQUEST_ACTIONS]
    assert "expired" in all_text(blocks)


def test_rollout_change_shows_from_and_to():
    ev = evidence(serving="1", rollout=25)
    req = request(change=Change(action=Action.UPDATE_ROLLOUT, test_id=1234, rollout=50), ev=ev)
    body = all_text(check_message(request_card(req, LINKS, NOW))[1])
    assert "change the rollout of *Variant 1* (id `1`) from 25 % to 50 %" in body


def test_stop_change_names_what_stops():
    ev = evidence(serving="1", rollout=25)
    req = request(change=Change(action=Action.STOP_SERVING, test_id=1234), ev=ev)
    _, blocks = check_message(request_card(req, LINKS, NOW))
    assert blocks[0]["text"]["text"].startswith("Stop serving: ")
    assert "stop serving *Variant 1* (id `1`) (now at 25 %)" in all_text(blocks)


@pytest.mark.parametrize("status", FINAL)
def test_final_cards_have_no_decision_buttons_but_links(status):
    req = request(status, outcome=served_outcome() if status is RequestStatus.SUCCEEDED else None)
    _, blocks = check_message(request_card(req, LINKS, NOW))
    action_ids = [b["action_id"] for b in _buttons(blocks)]
    assert not {ids.APPROVE, ids.REJECT, ids.CANCEL} & set(action_ids)
    links = find_block(blocks, ids.RESULT_LINKS)["elements"]
    assert links[0]["action_id"] == ids.POST_DEPLOY_RESULTS and links[0]["value"] == "1234"
    assert {b["action_id"]: b.get("url") for b in links[1:]} == {
        ids.OPEN_RESULTS_PAGE: LINKS.results_url,
        ids.OPEN_IN_MIDA: LINKS.dashboard_url,
    }
    body = all_text(blocks)
    assert f"<{LINKS.results_url}|Post-deploy results>" in body
    assert f"<{LINKS.dashboard_url}|Open in Mida>" in body


def test_succeeded_card_shows_midas_answer():
    req = request(RequestStatus.SUCCEEDED, approvals=[Approval(approver=BOB, at=NOW), Approval(approver=CAROL, at=NOW)], outcome=served_outcome())
    body = all_text(check_message(request_card(req, LINKS, NOW))[1])
    assert ":white_check_mark: *Done*" in body
    assert "Mida answered (HTTP 200): now serving *Variant 1* (id `1`) at 25 %" in body
    assert "is_serving: true" in body
    assert "Winner is now served to eligible traffic" in body
    assert "*Approvals:* 2 of 2 — <@UBOB>, <@UCAROL>" in body
    assert "Expires" not in body


def test_succeeded_without_approval_says_so():
    req = request(RequestStatus.SUCCEEDED, approvals_needed=0, approvals=[], outcome=served_outcome())
    body = all_text(request_card(req, LINKS, NOW)[1])
    assert "No approval needed under this workspace's policy" in body
    line, _ = thread_reply(req, LINKS)
    assert "no approval needed" in line.lower()


def test_reconciled_success_says_the_bot_read_it_back():
    state = evidence(serving="1", rollout=25)
    out = Outcome(ok=True, mida_status=None, state_after=state, reconciled=True)
    body = all_text(request_card(request(RequestStatus.SUCCEEDED, outcome=out), LINKS, NOW)[1])
    assert "serving *Variant 1* (id `1`) at 25 %" in body
    assert "The bot read the experiment back to learn what happened." in body


def test_stop_success_shows_not_serving():
    out = served_outcome(mida_body={"serving_variant_id": None, "is_serving": False, "message": "Serving stopped."})
    req = request(RequestStatus.SUCCEEDED, change=Change(action=Action.STOP_SERVING, test_id=1234), outcome=out)
    body = all_text(request_card(req, LINKS, NOW)[1])
    assert "now not serving a winner" in body and "is_serving: false" in body and "Serving stopped." in body


def test_failed_card_explains_the_error_and_next_step():
    out = Outcome(ok=False, mida_status=401, failure=errors.ReconnectNeeded("Invalid or missing API key").failure)
    body = all_text(check_message(request_card(request(RequestStatus.FAILED, outcome=out), LINKS, NOW))[1])
    assert ":x: *Failed*" in body
    assert "Mida refused the stored API key (Invalid or missing API key). An admin must run /mida connect again." in body


def test_failed_conflict_card_shows_current_state():
    state = evidence(serving="1", rollout=40)
    out = Outcome(ok=False, mida_status=409, failure=errors.ExperimentConflict(None, "already <serving>", None).failure, state_after=state)
    body = all_text(request_card(request(RequestStatus.FAILED, outcome=out), LINKS, NOW)[1])
    assert "already &lt;serving&gt;" in body
    assert "serving Variant 1 (id 1) at 40 %" in body
    assert "/mida rollout 1234 &lt;percent&gt;" in body


def test_failed_timeout_with_read_back():
    state = evidence(serving=None)
    out = Outcome(ok=False, failure=errors.MidaDown("timed out", maybe_applied=True).failure, state_after=state, reconciled=True)
    body = all_text(request_card(request(RequestStatus.FAILED, outcome=out), LINKS, NOW)[1])
    assert "/mida results 1234 before trying again" in body
    assert "The bot read the experiment back to learn what happened." in body


def test_rejected_card_names_who_and_why():
    req = request(RequestStatus.REJECTED, rejected_by=CAROL, reject_reason="too early <b>")
    body = all_text(request_card(req, LINKS, NOW)[1])
    assert "Rejected by <@UCAROL>: “too early &lt;b&gt;”" in body
    line, blocks = check_message(thread_reply(req, LINKS))
    assert "<@UCAROL>" in line and "too early" in line


def test_cancelled_expired_superseded_cards():
    body = all_text(request_card(request(RequestStatus.CANCELLED), LINKS, NOW)[1])
    assert "Cancelled by <@UALICE>" in body
    body = all_text(request_card(request(RequestStatus.EXPIRED), LINKS, NOW)[1])
    assert "Expired" in body and "1 of 2 approvals" in body
    state = evidence(serving="0", rollout=100)
    out = Outcome(ok=False, mida_status=409, failure=Failure(kind=FailureKind.SUPERSEDED, message="Mida answered: already serving", status=409), state_after=state, reconciled=True)
    body = all_text(request_card(request(RequestStatus.SUPERSEDED, outcome=out), LINKS, NOW)[1])
    assert ":twisted_rightwards_arrows: *Superseded*" in body
    assert "changed in Mida after this request" in body
    assert "serving *Control* (id `0`) at 100 %" in body
    assert "Mida answered: already serving" in body
    assert "read the experiment back" in body


def test_overridden_warnings_are_on_the_card():
    # Stored before guardrails had levels: plain sentences, read as warnings.
    req = request(overrides=["Control is the control <x>", "Only 2 days"])
    body = all_text(request_card(req, LINKS, NOW)[1])
    assert "*Requested despite these warnings:*\n:warning: Control is the control &lt;x&gt;\n:warning: Only 2 days" in body


def test_an_overridden_block_is_on_the_card_apart_from_the_warnings():
    req = request(overrides=[Guardrail(code="srm", level=GuardrailLevel.BLOCK, words="Sample ratio mismatch: 10,000 vs 9,000"),
                             Guardrail(code="too_early", words="Too early: running 3 days (at least 7).")])
    body = all_text(request_card(req, LINKS, NOW)[1])
    assert "*Overrides these blocks* (the reason above is why):\n:no_entry: Sample ratio mismatch: 10,000 vs 9,000" in body
    assert "*Requested despite these warnings:*\n:warning: Too early" in body
    assert body.index("Overrides these blocks") < body.index("Requested despite")


def test_card_without_results_url():
    req = request(RequestStatus.SUCCEEDED, outcome=served_outcome())
    _, blocks = check_message(request_card(req, Links(None, "https://m/"), NOW))
    assert [b["action_id"] for b in find_block(blocks, ids.RESULT_LINKS)["elements"]] == [
        ids.POST_DEPLOY_RESULTS,
        ids.OPEN_IN_MIDA,
    ]


@pytest.mark.parametrize("status", list(RequestStatus))
def test_card_fits_slack_with_60_long_variants_and_script_names(status):
    ev = evidence(variants=many_variants(60, long=True), name="<script>alert(1)</script>" * 20)
    req = request(
        status,
        ev=ev,
        reason="<script>" * 1000,
        overrides=["<script>warn</script>" * 100] * 20,
        outcome=served_outcome() if status is RequestStatus.SUCCEEDED else None,
    )
    text, blocks = check_message(request_card(req, LINKS, NOW))
    assert len(blocks) <= 50
    assert "<script>" not in text
    assert not any("<script>" in o["text"] for o in elements(blocks, "mrkdwn"))
    assert "more variants" in all_text(blocks)
    line, reply = check_message(thread_reply(req, LINKS))
    assert "<script>" not in line
    assert "<script>" not in requester_notice(req, LINKS)


def test_thread_reply_lines():
    ok = request(RequestStatus.SUCCEEDED, approvals=[Approval(approver=BOB, at=NOW)], outcome=served_outcome())
    line, _ = check_message(thread_reply(ok, LINKS))
    assert line.startswith(":white_check_mark: Approved by <@UBOB> and executed. Mida answered (HTTP 200): now serving")
    assert LINKS.results_url in line
    fail = request(RequestStatus.FAILED, outcome=Outcome(ok=False, failure=errors.UnknownExperiment(None, "Experiment not found").failure))
    line, _ = thread_reply(fail, LINKS)
    assert line.startswith(":x: Failed") and "Experiment not found" in line and "another Mida project" in line
    for status, word in [
        (RequestStatus.CANCELLED, "Cancelled"),
        (RequestStatus.EXPIRED, "Expired"),
        (RequestStatus.SUPERSEDED, "Superseded"),
    ]:
        assert word in thread_reply(request(status), LINKS)[0]


def test_requester_notice():
    ok = request(RequestStatus.SUCCEEDED, approvals=[Approval(approver=BOB, at=NOW)], outcome=served_outcome())
    note = requester_notice(ok, LINKS)
    assert "Your request to serve *Variant 1* (id `1`) at 25 %" in note
    assert "approved by <@UBOB> and executed" in note
    assert LINKS.results_url in note and LINKS.dashboard_url in note
    note = requester_notice(request(RequestStatus.REJECTED, rejected_by=CAROL), LINKS)
    assert "rejected" in note and "<@UCAROL>" in note
    assert "waiting for approval" in requester_notice(request(), LINKS)
    note = requester_notice(request(RequestStatus.EXPIRED), LINKS)
    assert note.count("xpired") == 1 and "1 of 2 approvals" in note


def test_success_settled_by_reading_back_says_midas_answer_was_not_trusted():
    from bot.domain import AnswerProblem

    state = evidence(serving="1", rollout=25)
    out = Outcome(
        ok=True, mida_status=200, state_after=state, reconciled=True,
        answer_problem=AnswerProblem.CONTRADICTS, answer_detail="success: false <x>",
        mida_body={"success": False, "is_serving": True, "serving_variant_id": "1", "traffic_allocation": 25},
    )
    body = all_text(request_card(request(RequestStatus.SUCCEEDED, outcome=out), LINKS, NOW)[1])
    assert (
        "Mida's answer contradicted the change (success: false &lt;x&gt;), but the experiment read back shows "
        "the change applied: it is live, serving *Variant 1* (id `1`) at 25 %."
    ) in body
    assert "Mida answered (HTTP 200)" not in body
    out = out.model_copy(update={"answer_problem": AnswerProblem.UNREADABLE, "answer_detail": "not JSON"})
    body = all_text(request_card(request(RequestStatus.SUCCEEDED, outcome=out), LINKS, NOW)[1])
    assert "Mida answered with something the bot could not read (not JSON), but the experiment read back" in body
