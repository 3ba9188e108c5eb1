from __future__ import annotations

import pytest

from bot.domain import Action, ApprovalMode, ChannelRules, Guardrail, GuardrailLevel
from bot.mida.models import ExperimentStatus
from bot.views import ids
from bot.views.modals import (
    change_modal,
    connect_modal,
    loading_modal,
    message_modal,
    reject_modal,
    settings_modal,
    variant_option_text,
)
from tests.views import (
    all_text,
    check_view,
    control,
    draft,
    elements,
    evidence,
    find_block,
    many_variants,
    variant,
)


def test_connect_modal_has_the_three_fields_and_us_first():
    view = check_view(connect_modal())
    assert view["callback_id"] == ids.CONNECT_MODAL
    assert view["submit"]["text"] == "Connect"
    blocks = view["blocks"]
    for block_id in (ids.PROJECT_KEY, ids.API_KEY, ids.REGION):
        block = find_block(blocks, block_id)
        assert block["type"] == "input"
        assert block["element"]["action_id"] == block_id
    assert find_block(blocks, ids.PROJECT_KEY)["element"]["type"] == "plain_text_input"
    api_key = find_block(blocks, ids.API_KEY)
    assert api_key["element"]["type"] == "plain_text_input"
    assert "encrypted" in api_key["hint"]["text"] and "never shown again" in api_key["hint"]["text"]
    region = find_block(blocks, ids.REGION)["element"]
    assert region["type"] == "static_select"
    assert [o["value"] for o in region["options"]] == ["us", "eu"]
    assert region["initial_option"]["value"] == "us"
    assert "private_metadata" not in view


def test_loading_modal_has_no_submit_and_keeps_metadata():
    view = check_view(loading_modal("Serve winner", "Loading <numbers> from Mida…", "draft-1"))
    assert view["callback_id"] == ids.CHANGE_MODAL
    assert "submit" not in view
    assert view["private_metadata"] == "draft-1"
    assert "&lt;numbers&gt;" in all_text(view)


def test_message_modal_shows_text_escaped_and_truncates_the_title():
    view = check_view(message_modal("A title that is much longer than Slack allows", "Mida said <no> & stop"))
    assert "submit" not in view
    assert len(view["title"]["text"]) <= 24 and view["title"]["text"].endswith("…")
    assert "Mida said &lt;no&gt; &amp; stop" in all_text(view)


# --- serve winner --------------------------------------------------------------------------------


def test_serve_modal_ids_metadata_and_initial_variant():
    view = check_view(change_modal(draft(Action.SERVE_WINNER), []))
    assert view["callback_id"] == ids.CHANGE_MODAL
    assert view["private_metadata"] == "draft-123"
    assert view["title"]["text"] == "Serve winner"
    assert view["submit"]["text"] == "Serve winner"
    blocks = view["blocks"]
    variant_block = find_block(blocks, ids.VARIANT)
    assert variant_block["dispatch_action"] is True
    select = variant_block["element"]
    assert select["type"] == "static_select"
    assert select["action_id"] == ids.VARIANT_SELECT
    assert [o["value"] for o in select["options"]] == ["0", "1"]
    assert select["initial_option"]["value"] == "1"
    rollout = find_block(blocks, ids.ROLLOUT)["element"]
    assert rollout["action_id"] == ids.ROLLOUT
    assert rollout["initial_value"] == "25"
    assert "0–100" in find_block(blocks, ids.ROLLOUT)["hint"]["text"]
    reason = find_block(blocks, ids.REASON)
    assert reason["optional"] is True
    assert reason["element"]["multiline"] is True
    assert reason["label"]["text"] == "Reason"


def test_serve_modal_shows_the_experiment_and_each_variants_numbers():
    view = change_modal(draft(Action.SERVE_WINNER), [])
    text = all_text(view)
    assert "Homepage CTA Button Color Test" in text
    assert "#1234" in text and "Live" in text and "14 days running" in text
    assert "not serving a winner" in text
    # Variant 1: visitors, conversions, rate, lift.
    assert "12,345" in text and "1,234" in text and "10.00 %" in text and "+25.0 %" in text
    # Control: its own numbers, and no lift.
    assert "10,000" in text and "8.00 %" in text and "—" in text


def test_variant_options_carry_rate_lift_and_visitors():
    view = change_modal(draft(Action.SERVE_WINNER), [])
    options = find_block(view["blocks"], ids.VARIANT)["element"]["options"]
    assert options[1]["text"]["text"] == "Variant 1 [1] · 10.00 % · +25.0 % · 12,345 visitors"
    assert options[0]["text"]["text"] == "Control [0] · 8.00 % · — · 10,000 visitors"


def test_variant_option_text_keeps_numbers_when_the_name_is_long():
    text = variant_option_text(variant("7", name="A" * 200, improvement=-3.24, visitors=1_234_567))
    assert len(text) <= 75
    assert text.endswith(" · 10.00 % · −3.2 % · 1,234,567 visitors")
    assert "…" in text


def test_serve_modal_current_serving_state_is_shown():
    ev = evidence(serving="1", rollout=40)
    view = change_modal(draft(Action.SERVE_WINNER, evidence=ev), [])
    assert "serving *Variant 1* (id `1`) at 40 %" in all_text(view)


def test_serve_modal_without_variant_choice_has_no_initial_option():
    view = check_view(change_modal(draft(Action.SERVE_WINNER, variant_id=None), []))
    assert "initial_option" not in find_block(view["blocks"], ids.VARIANT)["element"]
    view = check_view(change_modal(draft(Action.SERVE_WINNER, variant_id="99"), []))
    assert "initial_option" not in find_block(view["blocks"], ids.VARIANT)["element"]


def test_serve_modal_rollout_defaults_to_current_allocation_when_draft_has_none():
    view = change_modal(draft(Action.SERVE_WINNER, rollout=None, evidence=evidence(rollout=60)), [])
    assert find_block(view["blocks"], ids.ROLLOUT)["element"]["initial_value"] == "60"
    view = change_modal(draft(Action.SERVE_WINNER, rollout=12.5), [])
    assert find_block(view["blocks"], ids.ROLLOUT)["element"]["initial_value"] == "12.5"


def test_warnings_are_shown_and_make_the_reason_required():
    warnings = [Guardrail(code="below_threshold", words="Control is not shown better."),
                Guardrail(code="too_early", words="Only <3> days")]
    view = check_view(change_modal(draft(Action.SERVE_WINNER, variant_id="0"), warnings))
    reason = find_block(view["blocks"], ids.REASON)
    assert reason["optional"] is False
    assert reason["label"]["text"] == "Reason (required: overriding warnings)"
    text = all_text(view)
    assert ":warning: Control is not shown better." in text
    assert ":warning: Only &lt;3&gt; days" in text
    assert "Serving anyway needs a reason" in text
    assert find_block(view["blocks"], ids.VARIANT)["element"]["initial_option"]["value"] == "0"


def test_a_block_is_marked_apart_and_says_its_reason_is_an_override():
    warnings = [Guardrail(code="srm", level=GuardrailLevel.BLOCK, words="Sample ratio mismatch: 10,000 vs 9,000"),
                Guardrail(code="too_early", words="Too early: running 3 days (at least 7).")]
    view = check_view(change_modal(draft(Action.SERVE_WINNER), warnings))
    assert find_block(view["blocks"], ids.REASON)["label"]["text"] == "Reason (required: overriding a block)"
    text = all_text(view)
    assert ":no_entry: Sample ratio mismatch: 10,000 vs 9,000\n:warning: Too early" in text
    assert "it is recorded as an override, on the card and in the audit log" in text


def test_a_note_on_the_draft_is_shown_without_requiring_a_reason():
    view = check_view(change_modal(draft(Action.SERVE_WINNER, note="Variant 9 is not one of <these>."), []))
    assert ":information_source: Variant 9 is not one of &lt;these&gt;." in all_text(view)
    assert find_block(view["blocks"], ids.REASON)["optional"] is True


@pytest.mark.parametrize("n", [2, 30, 60, 99, 150])
def test_serve_modal_fits_slack_with_many_long_variants(n):
    view = check_view(change_modal(draft(Action.SERVE_WINNER, evidence=evidence(variants=many_variants(n, long=True), name="N" * 400)),
                                  [Guardrail(code="x", words="w" * 4000)]))
    assert len(view["blocks"]) <= 100
    options = find_block(view["blocks"], ids.VARIANT)["element"]["options"]
    assert len(options) == min(n, 100)
    assert all(len(o["text"]["text"]) <= 75 for o in options)
    assert find_block(view["blocks"], ids.REASON)["optional"] is False


def test_serve_modal_escapes_names():
    ev = evidence(name="<script>alert(1)</script>", variants=[control(), variant("1", name="<script>x</script> & co")])
    view = check_view(change_modal(draft(Action.SERVE_WINNER, evidence=ev), []))
    mrkdwn = [o["text"] for o in elements(view["blocks"], "mrkdwn")]
    assert not any("<script>" in t for t in mrkdwn)
    assert any("&lt;script&gt;x&lt;/script&gt; &amp; co" in t for t in mrkdwn)
    # plain_text is shown literally by Slack, so it is not escaped.
    assert view["blocks"][0]["text"]["text"] == "<script>alert(1)</script>"


def test_change_modal_metadata_is_only_the_draft_id():
    for action in Action:
        view = check_view(change_modal(draft(action), []))
        assert view["private_metadata"] == "draft-123"


# --- rollout / stop -------------------------------------------------------------------------------


def test_rollout_modal_shows_current_state_and_rollout_input():
    ev = evidence(serving="1", rollout=25)
    view = check_view(change_modal(draft(Action.UPDATE_ROLLOUT, evidence=ev, rollout=50.0), []))
    assert view["callback_id"] == ids.CHANGE_MODAL
    assert view["title"]["text"] == "Change rollout"
    assert view["submit"]["text"] == "Change rollout"
    blocks = view["blocks"]
    assert find_block(blocks, ids.ROLLOUT)["element"]["initial_value"] == "50"
    assert find_block(blocks, ids.REASON)["optional"] is True
    assert not [b for b in blocks if b.get("block_id") == ids.VARIANT]
    text = all_text(view)
    assert "serving *Variant 1* (id `1`) at 25 %" in text
    assert "Now 25 %" in text


def test_stop_modal_shows_state_and_reason_only():
    ev = evidence(serving="1", rollout=25)
    view = check_view(change_modal(draft(Action.STOP_SERVING, evidence=ev), []))
    assert view["title"]["text"] == "Stop serving"
    assert view["submit"]["text"] == "Stop serving"
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [ids.REASON]
    assert "serving *Variant 1* (id `1`) at 25 %" in all_text(view)


def test_change_modal_without_evidence_yet_is_a_loading_view():
    view = check_view(change_modal(draft(Action.SERVE_WINNER, evidence=None), []))
    assert "submit" not in view
    assert view["private_metadata"] == "draft-123"


def test_modal_titles_fit():
    for action in Action:
        assert len(change_modal(draft(action), [])["title"]["text"]) <= 24
    assert evidence(status=ExperimentStatus.DRAFT)  # sanity for factories


# --- settings -------------------------------------------------------------------------------------


def test_settings_modal_defaults():
    view = check_view(settings_modal(ChannelRules(), [], "C0001"))
    assert view["callback_id"] == ids.SETTINGS_MODAL
    assert view["private_metadata"] == "C0001"
    blocks = view["blocks"]
    mode = find_block(blocks, ids.POLICY_MODE)["element"]
    assert mode["type"] == "radio_buttons"
    assert [o["value"] for o in mode["options"]] == [m.value for m in ApprovalMode]
    assert mode["initial_option"]["value"] == ApprovalMode.SERVING_AND_INCREASES.value
    assert find_block(blocks, ids.APPROVERS)["element"]["type"] == "multi_users_select"
    assert "initial_users" not in find_block(blocks, ids.APPROVERS)["element"]
    assert find_block(blocks, ids.APPROVER_GROUP)["optional"] is True
    count = find_block(blocks, ids.APPROVALS_NEEDED)["element"]
    assert [o["value"] for o in count["options"]] == ["1", "2", "3", "4", "5"]
    assert count["initial_option"]["value"] == "1"
    assert find_block(blocks, ids.EXPIRY_HOURS)["element"]["initial_value"] == "24"
    audit = find_block(blocks, ids.AUDIT_CHANNEL)
    assert audit["element"]["type"] == "conversations_select" and audit["optional"] is True
    assert find_block(blocks, ids.BOT_ADMINS)["element"]["type"] == "multi_users_select"
    scope = find_block(blocks, ids.POLICY_CHANNEL)["element"]
    assert [o["value"] for o in scope["options"]] == [ids.POLICY_SCOPE_WORKSPACE, ids.POLICY_SCOPE_CHANNEL]
    assert scope["initial_option"]["value"] == ids.POLICY_SCOPE_WORKSPACE
    for block in blocks:
        if block["type"] == "input":
            assert block["element"]["action_id"] == block["block_id"]


def test_settings_modal_shows_the_stored_policy():
    policy = ChannelRules(
        mode=ApprovalMode.EVERY_CHANGE,
        approvers=["UBOB", "UCAROL"],
        approver_group="S0123",
        approvals_needed=3,
        expiry_hours=48,
        audit_channel="CAUDIT",
    )
    view = check_view(settings_modal(policy, ["UADMIN"], "C0001", channel_override=True))
    blocks = view["blocks"]
    assert find_block(blocks, ids.POLICY_MODE)["element"]["initial_option"]["value"] == "every_change"
    assert find_block(blocks, ids.APPROVERS)["element"]["initial_users"] == ["UBOB", "UCAROL"]
    assert find_block(blocks, ids.APPROVER_GROUP)["element"]["initial_value"] == "S0123"
    assert find_block(blocks, ids.APPROVALS_NEEDED)["element"]["initial_option"]["value"] == "3"
    assert find_block(blocks, ids.EXPIRY_HOURS)["element"]["initial_value"] == "48"
    assert find_block(blocks, ids.AUDIT_CHANNEL)["element"]["initial_conversation"] == "CAUDIT"
    assert find_block(blocks, ids.BOT_ADMINS)["element"]["initial_users"] == ["UADMIN"]
    assert find_block(blocks, ids.POLICY_CHANNEL)["element"]["initial_option"]["value"] == ids.POLICY_SCOPE_CHANNEL


def test_settings_modal_guests_checkbox_is_off_by_default():
    off = find_block(check_view(settings_modal(ChannelRules(), [], "C0001"))["blocks"], ids.GUESTS_MAY_APPROVE)
    assert off["optional"] is True and off["element"]["type"] == "checkboxes"
    assert [o["value"] for o in off["element"]["options"]] == [ids.GUESTS_ALLOWED]
    assert "initial_options" not in off["element"]
    on = find_block(check_view(settings_modal(ChannelRules(guests_may_approve=True), [], "C0001"))["blocks"], ids.GUESTS_MAY_APPROVE)
    assert on["element"]["initial_options"] == on["element"]["options"]


def test_settings_modal_without_a_channel_has_no_scope_choice():
    view = check_view(settings_modal(ChannelRules(), [], None))
    assert "private_metadata" not in view
    assert not [b for b in view["blocks"] if b.get("block_id") == ids.POLICY_CHANNEL]


# --- reject ---------------------------------------------------------------------------------------


def test_reject_modal_carries_only_the_request_id():
    view = check_view(reject_modal("req-abc"))
    assert view["callback_id"] == ids.REJECT_MODAL
    assert view["private_metadata"] == "req-abc"
    block = find_block(view["blocks"], ids.REJECT_REASON)
    assert block["optional"] is True
    assert block["element"]["multiline"] is True
    assert block["element"]["action_id"] == ids.REJECT_REASON
