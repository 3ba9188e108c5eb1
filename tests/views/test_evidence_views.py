"""The statistics on every surface, from the one row view model (VariantRow) and the evidence
builders: in the test's own engine, the verdict naming its threshold, several-variant figures
after the plain ones, revenue without an interval, the split's health and the footnote."""

from __future__ import annotations

from bot.domain import Action
from bot.mida.models import ReportPhase
from bot.services.evidence import analysis_of
from bot.views.cards import request_card
from bot.views.followups import followup_message
from bot.views.messages import results_message
from bot.views.modals import change_modal, variant_option_text
from bot.views.rows import VariantRow
from tests.views import (
    LINKS,
    NOW,
    all_text,
    check_message,
    check_view,
    control,
    draft,
    evidence,
    many_variants,
    request,
    result,
    variant,
)

def blocks_of(message) -> list:
    return check_message(message)[1]


# Mida's docs example: 120/1,500 vs 148/1,480.
DOCS = [
    control(visitors=1500, conversions=120, conversion_rate=8.0, traffic_weight=50),
    variant("1", name="Red CTA Button", visitors=1480, conversions=148, conversion_rate=10.0, traffic_weight=50),
]
BAYES = {"stats_engine": "bayesian", "confidence_threshold_percent": 95}
FREQ = {"stats_engine": "frequentist", "confidence_threshold_percent": 95}


def rows_of(engine: dict, variants=DOCS, **kw) -> list[VariantRow]:
    ev = evidence(variants=variants, **engine, **kw)
    analysis = analysis_of(ev)
    return [VariantRow.of(v, analysis, ev.currency) for v in ev.variants]


def test_bayesian_row_says_chance_to_beat_the_control_by_name_risk_and_credible_interval():
    control_row, red = rows_of(BAYES)
    assert red.chance == "97.2 % chance to beat Control"
    assert red.judgement == "risk 0.12 %"
    assert red.interval == "95 % credible interval −1 % to +57 %"
    assert red.figures == "97.2 % chance to beat Control · risk 0.12 % · 95 % credible interval −1 % to +57 %"
    assert red.short == "97.2 % to beat"
    assert red.cells == ("97.2 %", "0.12 %", "−1 % to +57 %", "")
    assert control_row.figures == "" and control_row.chance == ""


def test_frequentist_row_says_p_with_three_digits_ci_and_significance():
    _, red = rows_of(FREQ)
    assert red.figures == "p = 0.0564 · not significant at 95 % · 95 % CI −4 % to +54 %"
    assert red.cells == ("0.0564", "not significant", "−4 % to +54 %", "")
    assert "chance" not in red.figures  # never the other engine's words


def test_the_threshold_is_the_tests_own():
    _, red = rows_of({**FREQ, "confidence_threshold_percent": 90})
    assert red.figures == "p = 0.0564 · significant at 90 % · 90 % CI +1 % to +49 %"


def test_several_variants_figures_come_after_the_plain_ones_in_their_own_words():
    three = [*DOCS, variant("2", name="Green", visitors=1490, conversions=125, conversion_rate=8.39)]
    _, red, green = rows_of(BAYES, three)
    assert red.figures.startswith("97.2 % chance to beat Control · risk")
    assert red.figures.endswith("% chance to be best") and green.several.endswith("% chance to be best")
    _, red_f, _ = rows_of(FREQ, three)
    assert red_f.figures.startswith("p = 0.0564 · not significant at 95 %")
    assert red_f.several.startswith("Holm-adjusted ")


def test_revenue_per_visitor_and_its_lift_without_an_interval():
    revenue = [DOCS[0].model_copy(update={"revenue": 5800.0}), DOCS[1].model_copy(update={"revenue": 6650.0})]
    control_row, red = rows_of(BAYES, revenue, has_revenue=True, currency="USD")
    assert red.revenue == (
        "revenue per visitor 4.49 vs 3.87 USD (+16 %; no interval: Mida gives no per-visitor variance)"
    )
    assert (red.rpv, red.rpv_lift, control_row.rpv) == ("4.49 USD", "+16 %", "3.87 USD")


def test_no_figures_without_visitors_and_none_without_an_engine():
    empty = [control(visitors=0, conversions=0, conversion_rate=0), variant("1", visitors=0, conversions=0)]
    _, row = rows_of(BAYES, empty)
    assert row.chance == "" and row.judgement == "no figures yet (an arm has no visitors)"
    _, plain = rows_of({}, DOCS)  # a snapshot from before the statistics
    assert plain.figures == "" and plain.rate == "10.00 %"


def test_results_message_bayesian():
    text = all_text(blocks_of(results_message(result(variants=DOCS, **BAYES), ReportPhase.PRE_DEPLOY, LINKS)))
    assert "*Red CTA Button* (id `1`) · 97.2 % chance to beat Control · risk 0.12 %" in text
    assert "*Verdict:* Winner: Red CTA Button — 97.2 % chance to beat Control (threshold 95 %)" in text
    assert "Computed by the bot from Mida's counts: Bayesian, Beta(1,1) prior" in text
    assert "sample ratio mismatch" not in text.lower()


def test_results_message_frequentist():
    text = all_text(blocks_of(results_message(result(variants=DOCS, **FREQ), ReportPhase.PRE_DEPLOY, LINKS)))
    assert "p = 0.0564 · not significant at 95 % · 95 % CI −4 % to +54 %" in text
    assert "Too early to call: no variant is significant at 95 % (lowest: Red CTA Button, p = 0.0564)" in text
    assert "fixed-horizon two-proportion z test" in text


SRM = [
    control(visitors=10_000, conversions=800, traffic_weight=50),
    variant("1", name="New nav", visitors=9_000, conversions=810, conversion_rate=9.0, improvement=12.5, traffic_weight=50),
]


def test_sample_ratio_mismatch_with_the_split_seen_and_expected():
    text = all_text(blocks_of(results_message(result(variants=SRM, **BAYES), ReportPhase.PRE_DEPLOY, LINKS)))
    assert (
        ":no_entry: Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split (p &lt; 0.001). The numbers "
        "may be biased; serving needs a reason. Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %." in text
    )
    # After serving, traffic goes to the winner by design: no split check on those numbers.
    served = result(variants=SRM, serving="1", **BAYES)
    post = all_text(blocks_of(results_message(served, ReportPhase.POST_DEPLOY, LINKS)))
    assert "mismatch" not in post.lower() and "chance to beat Control" in post


def test_followup_shows_the_post_deploy_figures():
    text = all_text(blocks_of(followup_message(result(variants=DOCS, serving="1", **BAYES), 24, LINKS)))
    assert "97.2 % chance to beat Control" in text and "*Verdict:*" in text


def test_modal_shows_figures_verdict_health_and_a_menu_with_the_figure():
    ev = evidence(variants=SRM, **BAYES)
    view = check_view(change_modal(draft(evidence=ev), []))
    text = all_text(view)
    assert "*New nav* (id `1`) · 99.3 % chance to beat Control" in text
    assert "Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split" in text
    options = [o["text"]["text"] for o in view["blocks"][-3]["element"]["options"]]
    assert options[1] == "New nav [1] · 9.00 % · +12.5 % · 99.3 % chance to beat Control"
    long = evidence(variants=[SRM[0], SRM[1].model_copy(update={"name": "N" * 100})], **BAYES)
    text = variant_option_text(long.variants[1], analysis_of(long))
    assert len(text) <= 75 and text.endswith(" · 9.00 % · +12.5 % · 99.3 % to beat")
    assert "chance to beat Control" in view["blocks"][-3]["hint"]["text"]


def test_menu_option_fits_with_a_long_name_and_says_p_for_frequentist_tests():
    ev = evidence(variants=[DOCS[0], DOCS[1].model_copy(update={"name": "R" * 200})], **FREQ)
    text = variant_option_text(ev.variants[1], analysis_of(ev))
    assert len(text) <= 75 and text.endswith(" · 10.00 % · +25.0 % · p = 0.0564")


def test_card_pins_the_evidence_with_its_statistics():
    req = request(ev=evidence(variants=DOCS, **FREQ))
    text = all_text(blocks_of(request_card(req, LINKS, NOW)))
    assert "p = 0.0564 · not significant at 95 % · 95 % CI −4 % to +54 %" in text
    assert "*Verdict:* Too early to call" in text and "fixed-horizon" in text
    old = all_text(blocks_of(request_card(request(ev=evidence(variants=DOCS)), LINKS, NOW)))
    assert "Verdict" not in old and "10.00 %" in old  # a snapshot without an engine: counts only


def test_surfaces_stay_within_slack_limits_with_statistics_on_many_long_variants():
    variants = many_variants(60, long=True)
    _, blocks = check_message(results_message(result(variants=variants, **BAYES), ReportPhase.ALL_TIME, LINKS))
    assert "*Verdict:*" in all_text(blocks) and "more variants" in all_text(blocks)
    check_view(change_modal(draft(evidence=evidence(variants=variants, **FREQ)), []))
    check_message(request_card(request(ev=evidence(variants=variants, **FREQ)), LINKS, NOW))
    check_message(followup_message(result(variants=variants, serving="1", **FREQ), 1, LINKS))


def test_rollout_and_stop_modals_are_unchanged_by_the_statistics():
    view = check_view(change_modal(draft(Action.STOP_SERVING, evidence=evidence(variants=DOCS, serving="1", **BAYES)), []))
    assert "chance to beat" not in all_text(view)


def test_secondary_metrics_are_folded_into_one_context_block_within_limits():
    from bot.domain import MetricCounts, SecondaryMetric, SecondaryMetrics
    from bot.views.evidence import secondary_block

    def metric(i: int, comparable: bool = True) -> SecondaryMetric:
        counts = [MetricCounts(variant_id="0", visitors=1500, conversions=300),
                  MetricCounts(variant_id="1", visitors=1480, conversions=200 + i)]
        return SecondaryMetric(key=f"m{i}", name=f"Metric <{i}>" + "x" * 300, counts=counts, comparable=comparable)

    ev = evidence(variants=DOCS, **BAYES).model_copy(
        update={"secondary": SecondaryMetrics(metrics=[metric(0, comparable=False)] + [metric(i) for i in range(1, 14)])}
    )
    block = secondary_block(ev)
    assert block is not None and block["type"] == "context"
    text = block["elements"][0]["text"]
    assert text.startswith("*Secondary metrics* (14), compared the same way:\n• Metric &lt;0&gt;")
    assert "Mida's results are not conversion counts" in text and "… and 4 more: Mida shows them all." in text
    assert len(text) <= 3000
    failed = ev.model_copy(update={"secondary": SecondaryMetrics(error="Mida did not give the secondary metrics (x)")})
    assert secondary_block(failed)["elements"][0]["text"] == "Secondary metrics: Mida did not give the secondary metrics (x)."
    assert secondary_block(evidence(variants=DOCS, **BAYES)) is None  # not read: nothing said
    view = check_view(change_modal(draft(evidence=ev), []))
    assert "*Secondary metrics* (14)" in all_text(view)
    card = all_text(blocks_of(request_card(request(ev=ev), LINKS, NOW)))
    assert "*Secondary metrics* (14)" in card
