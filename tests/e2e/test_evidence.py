"""The statistics wherever a decision is made, over signed HTTP against the running bot, the Mida
sandbox (its statistics cases) and a real Redis: the results reply and the confirm modal show the
figures in the test's own engine, and a sample ratio mismatch in words with the split."""

from __future__ import annotations

import json

import pytest

from tests.e2e.flows import ALICE, open_change_modal, set_policy_off


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
