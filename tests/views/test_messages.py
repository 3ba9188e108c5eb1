from __future__ import annotations

import pytest

from bot.domain import (
    Action,
    ApprovalMode,
    AuditEntry,
    AuditEvent,
    Change,
    ChannelRules,
    Outcome,
    Region,
    Workspace,
)
from bot.mida.models import Experiment, ReportPhase
from bot.services.errors import ExperimentConflict, ReconnectNeeded
from bot.views import ids
from bot.views.format import Links, fmt_rollout, slack_date
from bot.views.messages import (
    audit_export_message,
    audit_message,
    connected_message,
    disconnected_message,
    error_message,
    experiments_message,
    help_message,
    not_admin_message,
    not_connected_message,
    results_message,
    status_message,
    usage_error,
)
from bot.views.rows import fmt_int, fmt_lift, fmt_rate
from tests.views import (
    ALICE,
    BOB,
    LINKS,
    NOW,
    TEAM,
    all_text,
    check_message,
    control,
    elements,
    evidence,
    find_block,
    many_variants,
    result,
    variant,
)

WS = Workspace(
    team=TEAM,
    project_key="proj_<x>",
    region=Region.EU,
    api_key="sk_live_secretvalue_abcd",
    connected_by=ALICE,
    connected_at=NOW,
)


def test_number_formats():
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_rate(10.0) == "10.00 %"
    assert fmt_rate(8.125) == "8.12 %"  # 8.125 is exact in binary: rounded half to even
    assert fmt_lift(25.0) == "+25.0 %"
    assert fmt_lift(-3.21) == "−3.2 %"
    assert fmt_lift(None) == "—"
    assert fmt_lift(12.0, is_control=True) == "—"
    assert fmt_lift(-0.01) == "0.0 %"
    assert fmt_rollout(25) == "25 %"
    assert fmt_rollout(12.5) == "12.5 %"
    assert slack_date(1_700_000_000.7) == "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>"


def test_help_lists_every_subcommand_and_forms():
    text = all_text(check_message(help_message())[1])
    for command in (
        "/mida help",
        "/mida connect",
        "/mida disconnect",
        "/mida status",
        "/mida list",
        "/mida results &lt;test_id&gt; [pre|post|all]",
        "/mida serve-winner &lt;test_id&gt; [variant_id] [rollout%]",
        "/mida rollout &lt;test_id&gt; &lt;percent&gt;",
        "/mida stop-serving &lt;test_id&gt;",
        "/mida audit [test_id]",
        "/mida audit export",
        "/mida settings",
    ):
        assert command in text, command
    for short in ("serve", "winner", "stop"):
        assert short in text
    assert "`1234` or `#1234`" in text
    assert "`25` or `25%`" in text


def test_usage_error_says_what_was_wrong_and_the_right_form():
    text, blocks = check_message(usage_error("“abc” is not a test id <b>.", "/mida results <test_id> [pre|post|all]"))
    body = all_text(blocks)
    assert "“abc” is not a test id &lt;b&gt;." in body
    assert "`/mida results &lt;test_id&gt; [pre|post|all]`" in body
    assert "Nothing was sent to Mida" in body


def test_connected_message_masks_the_key():
    text, blocks = check_message(connected_message(WS))
    body = all_text(blocks) + text
    assert "••••abcd" in body
    assert "sk_live_secretvalue" not in body
    assert "proj_&lt;x&gt;" in body
    assert "EU" in body


def test_simple_messages():
    assert "forgotten" in check_message(disconnected_message())[0]
    assert check_message(not_connected_message())[0] == (
        "This workspace is not connected to Mida yet; a workspace admin runs `/mida connect`."
    )
    text = check_message(not_admin_message("connect Mida"))[0]
    assert "connect Mida" in text and "admin" in text


def test_status_message_shows_project_key_and_policy():
    policy = ChannelRules(mode=ApprovalMode.EVERY_CHANGE, approvers=["UBOB"], approver_group="S0123", approvals_needed=2)
    text, blocks = check_message(status_message(WS, policy, [], channel_override=True))
    body = all_text(blocks)
    assert "••••abcd" in body and "secretvalue" not in body + text
    assert "proj_&lt;x&gt;" in body and "EU" in body
    assert "<@UALICE>" in body and "<!date^1700000000^" in body
    assert "every change" in body
    assert "<@UBOB>" in body and "<!subteam^S0123>" in body
    assert "Approvals needed: 2" in body
    assert "This channel's own policy" in body
    text, blocks = status_message(WS, ChannelRules(mode=ApprovalMode.OFF), [], channel_override=False)
    assert "No approval needed" in all_text(blocks)
    assert "workspace's policy" in all_text(blocks)
    assert "anyone in the workspace except the requester" in all_text(status_message(WS, ChannelRules(), [], False)[1])


def _experiments(n: int, long: bool = False) -> list[Experiment]:
    return [
        Experiment(
            test_id=1000 + i,
            test_name=("<script>alert(1)</script> " * 20 if long else f"Test {i}"),
            status="live" if i % 2 else 0,
            serving_variant_id="1" if i % 3 == 0 else None,
        )
        for i in range(n)
    ]


def test_experiments_message_rows():
    exps = _experiments(4)
    text, blocks = check_message(experiments_message(exps, {1000: 25.0, 1003: None}, LINKS.dashboard_url))
    body = all_text(blocks)
    assert "`#1000` *Test 0* · Inactive · :white_check_mark: serving variant `1` at 25 %" in body
    assert "`#1001` *Test 1* · Live" in body
    assert "`#1003` *Test 3* · Live · :white_check_mark: serving variant `1`" in body
    assert "more" not in body
    button = find_block(blocks, ids.RESULT_LINKS)["elements"][0]
    assert button["url"] == LINKS.dashboard_url and button["action_id"] == ids.OPEN_IN_MIDA


def test_experiments_message_empty():
    assert "no experiments" in all_text(check_message(experiments_message([], {}, LINKS.dashboard_url))[1])


@pytest.mark.parametrize("n", [51, 500])
def test_experiments_message_caps_rows(n):
    text, blocks = check_message(experiments_message(_experiments(n, long=True), {}, LINKS.dashboard_url))
    body = all_text(blocks)
    assert f"… and {n - 50} more" in body
    assert "<script>" not in body
    assert f"{n} Mida experiments" == text


def test_results_message_shows_each_variant_and_links():
    res = result(serving="1", rollout=25)
    text, blocks = check_message(results_message(res, ReportPhase.POST_DEPLOY, LINKS))
    body = all_text(blocks)
    assert blocks[0]["text"]["text"] == "Homepage CTA Button Color Test"
    assert "#1234" in body and "Live" in body and "14 days running" in body and "*Post-deploy*" in body
    assert "serving *Variant 1* (id `1`) at 25 %" in body
    variant_section = next(b for b in blocks if b.get("fields") and "Variant 1" in b["text"]["text"])
    fields = [f["text"] for f in variant_section["fields"]]
    assert fields == [
        "*Visitors*\n12,345",
        "*Conversions*\n1,234",
        "*Conversion rate*\n10.00 %",
        "*Lift vs control*\n+25.0 %",
    ]
    assert ":white_check_mark: *serving*" in variant_section["text"]["text"]
    control_section = next(b for b in blocks if b.get("fields") and "Control" in b["text"]["text"])
    assert "_control_" in control_section["text"]["text"]
    assert control_section["fields"][3]["text"] == "*Lift vs control*\n—"
    buttons = find_block(blocks, ids.RESULT_LINKS)["elements"]
    assert [(b["action_id"], b["url"]) for b in buttons] == [
        (ids.OPEN_RESULTS_PAGE, LINKS.results_url),
        (ids.OPEN_IN_MIDA, LINKS.dashboard_url),
    ]


@pytest.mark.parametrize(("phase", "label"), [(ReportPhase.PRE_DEPLOY, "Pre-deploy"), (ReportPhase.ALL_TIME, "All time")])
def test_results_message_names_the_phase(phase, label):
    text, blocks = results_message(result(), phase, LINKS)
    assert label in text and f"*{label}*" in all_text(blocks)
    assert "not serving a winner" in all_text(blocks)


def test_results_message_without_results_url_has_only_mida_button():
    _, blocks = check_message(results_message(result(), ReportPhase.PRE_DEPLOY, Links(None, "https://m/")))
    assert [b["action_id"] for b in find_block(blocks, ids.RESULT_LINKS)["elements"]] == [ids.OPEN_IN_MIDA]


def test_results_message_with_no_rows():
    _, blocks = check_message(results_message(result(variants=[]), ReportPhase.POST_DEPLOY, LINKS))
    assert "No post-deploy numbers yet" in all_text(blocks)


@pytest.mark.parametrize("n", [60, 200])
def test_results_message_fits_with_many_long_variants(n):
    res = result(variants=many_variants(n, long=True), name="<script>" + "N" * 300)
    text, blocks = check_message(results_message(res, ReportPhase.ALL_TIME, LINKS))
    assert len(blocks) == 50  # a message's limit: 44 variants, the line that counts the rest, links
    mrkdwn = [o["text"] for o in elements(blocks, "mrkdwn")]
    assert not any("<script>" in t for t in mrkdwn)
    assert "<script>" not in text
    assert blocks[-1]["block_id"] == ids.RESULT_LINKS
    assert blocks[-2]["elements"][0]["text"].startswith(f"… and {n - 44} more variants,")


def _entries() -> list[AuditEntry]:
    ev = evidence(name="Checkout <b>")
    change = Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25)
    return [
        AuditEntry(event=AuditEvent.REQUESTED, at=NOW - 300, actor=ALICE, test_id=1234, change=change, reason="wins <big>", evidence=ev),
        AuditEntry(event=AuditEvent.APPROVED, at=NOW - 200, actor=BOB, test_id=1234, change=change, evidence=ev),
        AuditEntry(
            event=AuditEvent.EXECUTED,
            at=NOW - 100,
            test_id=1234,
            change=change,
            evidence=ev,
            outcome=Outcome(ok=True, mida_status=200, mida_body={"message": "Winner is now served"}),
        ),
        AuditEntry(
            event=AuditEvent.FAILED,
            at=NOW,
            actor=BOB,
            test_id=1234,
            change=change,
            evidence=ev,
            outcome=Outcome(ok=False, mida_status=401, failure=ReconnectNeeded("Invalid API key").failure),
        ),
    ]


def test_audit_message_newest_first_with_who_what_why_result():
    text, blocks = check_message(audit_message(_entries(), 1234))
    assert blocks[0]["text"]["text"] == "Audit log: experiment #1234"
    rows = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert rows[0].startswith(slack_date(NOW))
    assert "<@UBOB> *failed*" in rows[0]
    assert "Invalid API key" in rows[0] and "/mida connect again" in rows[0]
    assert "the bot *executed*" in rows[1] and "Mida 200: ok" in rows[1] and "Winner is now served" in rows[1]
    assert "<@UBOB> *approved*" in rows[2]
    assert "<@UALICE> *requested*" in rows[3]
    assert "#1234 Checkout &lt;b&gt;" in rows[3]
    assert "serve *Variant 1* (id `1`) at 25 %" in rows[3]
    assert "Reason: “wins &lt;big&gt;”" in rows[3]
    assert "{date_short_pretty} {time}" in rows[3]


def test_audit_message_empty_and_capped():
    assert "Nothing recorded yet" in all_text(check_message(audit_message([], None))[1])
    many = [AuditEntry(event=AuditEvent.APPROVED, at=NOW + i, actor=BOB, test_id=1) for i in range(150)]
    _, blocks = check_message(audit_message(many, None))
    assert len([b for b in blocks if b["type"] == "section"]) == 20
    assert "130 older entries" in all_text(blocks)
    assert f"<!date^{int(NOW) + 149}^" in blocks[1]["text"]["text"]


def test_audit_export_message_has_the_link_and_expiry():
    url = "https://bot.example.com/audit/export?token=abc"
    text, blocks = check_message(audit_export_message(url, NOW + 3600))
    body = all_text(blocks)
    assert f"<{url}|Download the audit log (CSV)>" in body
    assert f"<!date^{int(NOW) + 3600}^" in body
    assert not elements(blocks, "button")  # a plain link: no interaction for the app to acknowledge


def test_error_message_uses_explain_and_escapes():
    text, blocks = check_message(error_message(ReconnectNeeded("key <revoked>")))
    assert "Mida refused the stored API key (key &lt;revoked&gt;)" in text
    assert "/mida connect again" in all_text(blocks)
    state = evidence(serving="1", rollout=25)
    _, blocks = error_message(ExperimentConflict(Action.SERVE_WINNER, "already serving", state))
    assert "/mida rollout 1234 &lt;percent&gt;" in all_text(blocks)


def test_variant_factory_sanity():
    assert control().is_control and not variant().is_control
