"""The statistics wherever a decision is made, over signed HTTP against the running bot, the Mida
sandbox (its statistics cases) and a real Redis: the results reply and the confirm modal show the
figures in the test's own engine, and a sample ratio mismatch in words with the split."""

from __future__ import annotations

import json

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.views import ids
from standins.flows import open_change_modal, set_policy_off, submit_change
from standins.people import ALICE, CHANNEL, TEAM
from tests.e2e.helpers import audit_entries


def reply(slack, slack_api, text, user=ALICE) -> str:
    before = len(slack_api.responses("cmd"))
    assert slack.command(text, user_id=user).status_code == 200
    answer = slack_api.wait_for_response("cmd", count=before + 1)[-1]
    return json.dumps(answer, ensure_ascii=False)


@pytest.fixture
def connected(connected):
    set_policy_off(connected)
    return connected


def test_results_reply_bayesian_docs_example(connected, slack, slack_api):
    text = reply(slack, slack_api, "results 1234")
    assert "97.2 % chance to beat Control · risk 0.12 % · 95 % credible interval −1 % to +57 %" in text
    assert "*Verdict:* Winner: Variant 1 — Red CTA Button — 97.2 % chance to beat Control (threshold 95 %)" in text
    assert "Computed by the bot from Mida's counts: Bayesian, Beta(1,1) prior" in text


def test_results_reply_frequentist_docs_example(connected, slack, slack_api):
    text = reply(slack, slack_api, "results 1241")
    assert "p = 0.0564 · not significant at 95 % · 95 % CI −4 % to +54 %" in text
    assert "chance to beat" not in text  # one engine per test
    assert "Too early to call: no variant is significant at 95 % (lowest: Red CTA Button, p = 0.0564)" in text
    assert "fixed-horizon two-proportion z test" in text


def test_results_reply_at_the_tests_own_threshold(connected, slack, slack_api):
    assert "p = 0.0564 · significant at 90 % · 90 % CI +1 % to +49 %" in reply(slack, slack_api, "results 1253")
    text = reply(slack, slack_api, "results 1252")
    assert "97.2 % chance to beat Control" in text and "no variant reaches the 99 % threshold" in text


def test_results_reply_names_a_sample_ratio_mismatch_with_the_split(connected, slack, slack_api):
    text = reply(slack, slack_api, "results 1244 pre")
    assert (
        "Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split (p &lt; 0.001). The numbers may be "
        "biased; serving needs a reason. Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %." in text
    )


def test_results_reply_several_arms_mab_paused_and_revenue(connected, slack, slack_api):
    four = reply(slack, slack_api, "results 1246")
    assert "p = 0.0176 · significant at 95 % · 95 % CI +2 % to +36 % · Holm-adjusted 0.053" in four
    assert "3 variants against Control: the best of several is likely overstated." in four
    assert "% chance to be best" in reply(slack, slack_api, "results 1245")
    assert "Multi-armed bandit test" in reply(slack, slack_api, "results 1247")
    assert "Paused arm with traffic: Carousel has weight 0 but 400 visitors" in reply(slack, slack_api, "results 1248")
    revenue = reply(slack, slack_api, "results 1249")
    assert "Revenue per visitor 4.49 vs 3.87 USD (+16 %; no interval: Mida gives no per-visitor variance)" in revenue


def test_serve_modal_shows_the_figures_and_the_menu_too(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, "serve-winner 1241")
    shown = json.dumps(view, ensure_ascii=False)
    assert "*Red CTA Button* (id `1`) · p = 0.0564 · not significant at 95 % · 95 % CI −4 % to +54 %" in shown
    menu = next(b for b in view["blocks"] if b.get("block_id") == "variant")["element"]["options"]
    assert menu[1]["text"]["text"] == "Red CTA Button [1] · 10.00 % · +25.0 % · p = 0.0564"
    assert "*Verdict:* Too early to call" in shown


def test_serve_modal_names_a_sample_ratio_mismatch(connected, slack, slack_api):
    shown = json.dumps(open_change_modal(slack, slack_api, "serve-winner 1244 1"), ensure_ascii=False)
    assert "Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split" in shown
    assert "Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %" in shown
    assert "99.3 % chance to beat Control" in shown


# --- guardrails: a block needs a typed reason, recorded as an override -----------------------------


def test_a_sample_ratio_mismatch_blocks_until_a_reason_is_typed_and_the_override_is_audited(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    view = open_change_modal(slack, slack_api, "serve-winner 1244 1 20")
    shown = json.dumps(view, ensure_ascii=False)
    assert ":no_entry: Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split" in shown
    assert "Reason (required: overriding a block)" in shown

    empty = submit_change(slack, view, variant="1", rollout="20", reason="   ")
    body = empty.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [ids.REASON]
    assert body["errors"][ids.REASON].startswith("This is blocked (sample ratio mismatch): write why you serve anyway")
    assert mida_sandbox.writes() == [] and not [e for e in audit_entries(clean_redis) if e["event"] == "requested"]

    done = submit_change(slack, view, variant="1", rollout="20", reason="Bot traffic filtered on one arm")
    assert done.status_code == 200 and "errors" not in done.text
    card = slack_api.wait_for("chat.update", predicate=lambda c: "Done" in json.dumps(c.params), timeout=10)[-1]
    text = json.dumps(card.params, ensure_ascii=False)
    assert "*Overrides these blocks* (the reason above is why):" in text
    assert ":no_entry: Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split" in text
    assert "Bot traffic filtered on one arm" in text
    requested = next(e for e in audit_entries(clean_redis) if e["event"] == "requested")
    assert requested["reason"] == "Bot traffic filtered on one arm"
    assert requested["detail"]["blocks_overridden"] == ["srm"]
    assert "Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %." in requested["detail"]["overrides"][0]["words"]
    assert requested["evidence"]["stats_engine"] == "bayesian"  # the snapshot keeps what the figures need
    assert len(mida_sandbox.writes()) == 1


def test_serving_a_significant_loser_is_blocked(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1243 1 20")
    assert ":no_entry: Serving a loser: Long form is significantly worse than Control (p = 0.00197)" in json.dumps(
        view, ensure_ascii=False
    )
    body = submit_change(slack, view, variant="1", rollout="20").json()
    assert body["errors"][ids.REASON].startswith("This is blocked (serving a loser): write why")
    assert mida_sandbox.writes() == []


def test_a_clear_winner_needs_no_reason(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1242 1 20")
    shown = json.dumps(view, ensure_ascii=False)
    assert ":warning:" not in shown and ":no_entry:" not in shown
    assert submit_change(slack, view, variant="1", rollout="20").text == ""
    slack_api.wait_for("chat.update", predicate=lambda c: "Done" in json.dumps(c.params), timeout=10)
    assert len(mida_sandbox.writes()) == 1


def test_per_channel_thresholds_decide_the_warnings(connected, slack, slack_api):
    """The workspace asks for 25 conversions and a 5 % risk; this channel for 20,000 conversions and a
    0.1 % risk: experiment 1240 (160 and 170 conversions, 1.89 % risk) warns in this channel only."""
    connected.run(connected.deps.rules.save(
        TeamRef(team_id=TEAM), CHANNEL,
        ChannelRules(mode=ApprovalMode.OFF, min_conversions_per_variant=20_000, risky_loss_percent=0.1), []
    ))
    here = json.dumps(open_change_modal(slack, slack_api, "serve-winner 1240 1 20"), ensure_ascii=False)
    assert "Low sample: Control has 2,000 visitors and 160 conversions" in here
    assert "Risky: expected loss 1.89 % if Green button is worse (0.1 % or more is risky)." in here
    updates = len(slack_api.calls("views.update"))
    slack.command("serve-winner 1240 1 20", user_id=ALICE, channel_id="C_OTHER")
    elsewhere = json.dumps(slack_api.view(slack_api.wait_for("views.update", count=updates + 1)[-1]["view_id"]),
                           ensure_ascii=False)
    assert "Below the 95 % threshold" in elsewhere
    assert "Low sample" not in elsewhere and "Risky" not in elsewhere


# --- secondary metrics -----------------------------------------------------------------------------


def test_results_reply_folds_the_secondary_metrics_in_one_small_block(connected, slack, slack_api, mida_sandbox):
    answer = json.loads(reply(slack, slack_api, "results 1250"))
    folded = [b for b in answer["blocks"] if b["type"] == "context" and "Secondary metrics" in b["elements"][0]["text"]]
    assert len(folded) == 1
    text = folded[0]["elements"][0]["text"]
    assert text.startswith("*Secondary metrics* (2), compared the same way:")
    assert "• Add to cart: One-page checkout 32.0 % vs 30.0 % · " in text
    assert "• Newsletter signup: One-page checkout 7.5 % vs 10.0 % · 0.3 % chance to beat Control" in text
    assert mida_sandbox.requests(path_contains="/experiment/1250/metrics")
    assert "Secondary metrics" not in reply(slack, slack_api, "results 1234")  # none attached


def test_serve_modal_warns_when_the_chosen_variant_is_worse_on_a_secondary_metric(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, "serve-winner 1250 1 20")
    shown = json.dumps(view, ensure_ascii=False)
    assert (
        ":warning: Worse on a secondary metric: Newsletter signup, 7.5 % vs 10.0 % for One-page checkout "
        "(0.3 % chance to beat Control)." in shown
    )
    assert "Reason (required: overriding warnings)" in shown
    body = submit_change(slack, view, variant="1", rollout="20").json()
    assert body["errors"][ids.REASON] == "Give a reason to serve despite the warnings above."


def test_a_secondary_metrics_failure_leaves_the_primary_evidence_standing(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1250/metrics", status=500)
    text = reply(slack, slack_api, "results 1250")
    assert "98.6 % chance to beat Control" in text
    assert "Secondary metrics: Mida did not give the secondary metrics" in text


def test_the_audit_command_shows_an_overridden_block(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, "serve-winner 1244 1 20")
    submit_change(slack, view, variant="1", rollout="20", reason="Known bot traffic")
    slack_api.wait_for("chat.update", predicate=lambda c: "Done" in json.dumps(c.params), timeout=10)
    text = reply(slack, slack_api, "audit 1244")
    assert "Reason: “Known bot traffic”" in text
    assert ":no_entry: Overrides: Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split" in text
