"""bot/evidence/analysis.py: comparisons, the split check, the verdict and STATS.md's guardrail table."""

from __future__ import annotations

import math

import pytest

from bot.evidence import stats, words
from bot.evidence.analysis import BLOCK, WARN, Analysis, ArmInput, ExperimentInput, Rules, analyse
from bot.evidence.stats import Counts
from tests.evidence import reference as ref

CONTROL = ArmInput("0", "Control", True, 1500, 120, 50, "active", 5800.0)
RED = ArmInput("1", "Red CTA Button", False, 1480, 148, 50, "active", 6650.0)


def arm(variant_id: str, name: str, visitors: int, conversions: int, weight: float | None = 50, **kw) -> ArmInput:
    return ArmInput(variant_id, name, variant_id == "0", visitors, conversions, weight, "active", **kw)


def run(
    engine: str,
    *arms: ArmInput,
    threshold: float = 95,
    days: int | None = 15,
    mab: bool = False,
    rules: Rules | None = None,
) -> Analysis:
    return analyse(ExperimentInput(engine, threshold, mab, days, tuple(arms)), rules or Rules())


def codes(a: Analysis, variant_id: str) -> list[tuple[str, str]]:
    return [(f.code, f.level) for f in a.guardrails(variant_id)]


# --- STATS.md, "How it reads" ------------------------------------------------------------------


def test_bayesian_line_reads_as_stats_md():
    a = run("bayesian", CONTROL, RED)
    assert words.variant_line(a, a.comparison("1")) == (
        "Red CTA Button: 10.0 % vs 8.0 % · +25 % (95 % credible interval −1 % to +57 %) · "
        "97.2 % chance to beat Control · risk 0.12 %"
    )


def test_frequentist_line_reads_as_stats_md():
    a = run("frequentist", CONTROL, RED)
    assert words.variant_line(a, a.comparison("1")) == (
        "Red CTA Button: 10.0 % vs 8.0 % · +25 % (95 % CI −4 % to +54 %) · p = 0.0564 · not significant at 95 %"
    )


def test_figures_are_the_plain_comparison_with_the_control():
    a = run("bayesian", CONTROL, RED)
    c = a.comparison("1")
    assert c.chance_to_beat == pytest.approx(ref.chance_to_beat((1500, 120), (1480, 148)), abs=1e-9)
    assert c.risk == pytest.approx(ref.expected_loss((1500, 120), (1480, 148)), rel=1e-7)
    assert c.lift == 0.25
    assert c.p_value is None and c.prob_best is None and c.holm_p is None
    f = run("frequentist", CONTROL, RED).comparison("1")
    assert f.p_value == pytest.approx(ref.z_test_p((1500, 120), (1480, 148)), rel=1e-9)
    assert f.chance_to_beat is None and f.risk is None


def test_srm_sentence_reads_as_stats_md_and_blocks_every_arm():
    a = run("bayesian", arm("0", "Control", 10_000, 500), arm("1", "B", 9000, 470))
    assert words.srm_words(a.srm) == (
        "Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split (p < 0.001). "
        "The numbers may be biased; serving needs a reason."
    )
    assert a.srm.p == pytest.approx(ref.srm_p([10_000, 9000], [50, 50]), rel=1e-9)
    assert a.srm.max_deviation_pp == pytest.approx(100 * (10_000 / 19_000 - 0.5))
    assert [(s.observed_share, s.expected_share) for s in a.srm.arms] == [(10_000 / 19_000, 0.5), (9000 / 19_000, 0.5)]
    for variant_id in ("0", "1"):
        assert a.guardrails(variant_id)[0].code == "srm"
        assert a.blocks(variant_id)[0].level == BLOCK


# --- the verdict -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "threshold", "kind", "text"),
    [
        ("bayesian", 90, "winner", "Winner: Red CTA Button — 97.2 % chance to beat Control (threshold 90 %)"),
        ("bayesian", 95, "winner", "Winner: Red CTA Button — 97.2 % chance to beat Control (threshold 95 %)"),
        (
            "bayesian",
            99,
            "too_early",
            "Too early to call: no variant reaches the 99 % threshold (best: Red CTA Button, 97.2 % chance to beat Control)",
        ),
        ("frequentist", 90, "winner", "Winner: Red CTA Button — p = 0.0564, significant at 90 %"),
        (
            "frequentist",
            95,
            "too_early",
            "Too early to call: no variant is significant at 95 % (lowest: Red CTA Button, p = 0.0564)",
        ),
        (
            "frequentist",
            99,
            "too_early",
            "Too early to call: no variant is significant at 99 % (lowest: Red CTA Button, p = 0.0564)",
        ),
    ],
)
def test_verdict_names_the_threshold_it_used(engine, threshold, kind, text):
    v = run(engine, CONTROL, RED, threshold=threshold).verdict
    assert (v.kind, v.words) == (kind, text)
    assert v.variant_id == ("1" if kind == "winner" else None)


@pytest.mark.parametrize(
    ("engine", "threshold", "interval"),
    [
        ("frequentist", 90, "+25 % (90 % CI +1 % to +49 %)"),
        ("frequentist", 99, "+25 % (99 % CI −13 % to +63 %)"),
        ("bayesian", 90, "+25 % (90 % credible interval +3 % to +51 %)"),
        ("bayesian", 99, "+25 % (99 % credible interval −8 % to +69 %)"),
    ],
)
def test_intervals_are_at_the_tests_level(engine, threshold, interval):
    a = run(engine, CONTROL, RED, threshold=threshold)
    assert words.variant_line(a, a.comparison("1")).split(" · ")[1] == interval


def test_frequentist_line_at_90_is_significant():
    a = run("frequentist", CONTROL, RED, threshold=90)
    assert words.variant_line(a, a.comparison("1")).endswith("p = 0.0564 · significant at 90 %")


def test_control_better_bayesian():
    blue = arm("1", "Blue", 1500, 120)
    a = run("bayesian", arm("0", "Control", 1480, 148), blue)
    assert (a.verdict.kind, a.verdict.words) == (
        "control_better",
        "Control is better — don't serve: Blue has a 2.8 % chance to beat Control (threshold 95 %)",
    )
    assert codes(a, "1")[0] == ("loser", BLOCK)
    assert (
        a.guardrails("1")[0].words
        == "Serving a loser: Blue has a 2.8 % chance to beat Control; serving needs a reason."
    )


def test_control_better_frequentist_with_several_variants_uses_holm():
    a = run(
        "frequentist",
        arm("0", "Control", 1000, 120, 34),
        arm("1", "B", 1000, 50, 33),
        arm("2", "C", 1000, 60, 33),
    )
    assert all(c.outcome == "worse" and c.holm_p is not None and c.holm_p < 0.05 for c in a.comparisons)
    assert (a.verdict.kind, a.verdict.words) == (
        "control_better",
        "Control is better — don't serve: every variant is significantly worse at 95 %",
    )
    assert codes(a, "1")[0] == ("loser", BLOCK)
    assert a.guardrails("1")[0].words == (
        "Serving a loser: B is significantly worse than Control (p < 0.001); serving needs a reason."
    )


def test_no_baseline_without_control_conversions():
    a = run("bayesian", arm("0", "Control", 1000, 0), arm("1", "B", 1000, 5))
    assert (a.verdict.kind, a.verdict.words) == (
        "no_baseline",
        "No baseline yet: Control has no conversions, so nothing can be compared",
    )
    assert a.comparison("1").risk is None and a.comparison("1").lift is None
    for variant_id in ("0", "1"):
        assert codes(a, variant_id)[0] == ("no_baseline", BLOCK)
    assert a.guardrails("1")[0].words == (
        "No baseline: Control has no conversions yet, so there is nothing to compare with; serving needs a reason."
    )
    assert words.variant_line(a, a.comparison("1")) == (
        "B: 0.5 % vs 0.0 % · no lift yet (Control has no conversions) · 98.4 % chance to beat Control · risk undefined"
    )


def test_no_baseline_for_an_arm_without_visitors():
    a = run("frequentist", CONTROL, arm("1", "B", 0, 0))
    assert a.comparison("1").p_value is None
    assert codes(a, "1")[0] == ("no_baseline", BLOCK)
    assert a.guardrails("1")[0].words == "No baseline: B has no visitors yet; serving needs a reason."
    assert a.verdict.words == "Too early to call: no variant has visitors yet"


# --- several variants --------------------------------------------------------------------------

FOUR = (
    arm("0", "Control", 10**6, 50_000, 25),
    arm("1", "V1", 10**6, 50_300, 25),
    arm("2", "V2", 10**6, 49_800, 25),
    arm("3", "V3", 10**6, 50_500, 25),
)


def test_several_bayesian_variants_have_a_probability_to_be_best():
    a = run("bayesian", *FOUR)
    arms = tuple((x.visitors, x.conversions) for x in FOUR)
    want = ref.prob_best(arms)
    got = [a.control_prob_best] + [c.prob_best for c in a.comparisons]
    assert max(abs(g - w) for g, w in zip(got, want)) < 1e-6  # type: ignore[operator]
    assert words.variant_line(a, a.comparison("3")) == (
        "V3: 5.1 % vs 5.0 % · +1.0 % (95 % credible interval −0.2 % to +2.2 %) · 94.7 % chance to beat Control · "
        "risk 0.01 % · 72 % chance to be best"
    )
    assert ("several_variants", WARN) in codes(a, "3")
    assert (
        a.verdict.words
        == "Too early to call: no variant reaches the 95 % threshold (best: V3, 94.7 % chance to beat Control)"
    )


def test_several_bayesian_winners_the_verdict_picks_the_likeliest_best():
    a = run(
        "bayesian",
        arm("0", "Control", 10_000, 500, 34),
        arm("1", "B", 10_000, 600, 33),
        arm("2", "C", 10_000, 640, 33),
    )
    assert [c.outcome for c in a.comparisons] == ["better", "better"]
    assert a.comparison("2").prob_best > a.comparison("1").prob_best  # type: ignore[operator]
    assert (a.verdict.kind, a.verdict.variant_id) == ("winner", "2")
    assert a.verdict.words == "Winner: C — > 99.9 % chance to beat Control (threshold 95 %)"


def test_several_frequentist_variants_are_holm_adjusted_for_the_verdict():
    a = run(
        "frequentist",
        arm("0", "Control", 10_000, 1000, 34),
        arm("1", "B", 10_000, 1091, 33),
        arm("2", "C", 10_000, 1010, 33),
    )
    b = a.comparison("1")
    plain = [c.p_value for c in a.comparisons]
    assert [c.holm_p for c in a.comparisons] == list(stats.holm(plain))
    assert b.p_value is not None and b.p_value < 0.05 and b.outcome == "better"
    assert words.variant_line(a, b).endswith("p = 0.0355 · significant at 95 % · Holm-adjusted 0.071")
    assert a.verdict.words == "Too early to call: no variant is significant at 95 % (lowest: B, Holm-adjusted 0.071)"
    assert a.guardrails("1")[0].words == "Not significant at 95 % (Holm-adjusted 0.071)."
    assert codes(a, "1") == [("below_threshold", WARN), ("several_variants", WARN)]
    assert a.guardrails("1")[1].words == "2 variants against Control: the best of several is likely overstated."


# --- the guardrail table -----------------------------------------------------------------------


def test_a_clean_winner_has_no_guardrail_findings():
    a = run("bayesian", arm("0", "Control", 10_000, 500), arm("1", "B", 10_010, 600))
    assert a.srm.checked and a.srm.level is None
    assert a.guardrails("1") == ()


def test_serving_the_control_against_a_winner_is_serving_a_loser():
    a = run("bayesian", CONTROL, RED)
    assert codes(a, "0") == [("loser", BLOCK)]
    assert a.guardrails("0")[0].words == (
        "Serving a loser: Red CTA Button beats Control (97.2 % chance to beat Control); serving needs a reason."
    )
    assert run("bayesian", CONTROL, RED, threshold=99).guardrails("0")[0].code == "below_threshold"


@pytest.mark.parametrize(
    ("visitors", "level", "code"),
    [
        ([10_010, 9990], None, None),
        ([10_000, 9600], WARN, "split_off"),  # 0.001 ≤ p < 0.01
        ([10_018_000, 9_982_000], WARN, "split_off"),  # p < 0.001 but a 0.09 pp deviation
        ([2, 30], WARN, "split_off"),  # p < 0.001 on an arm under 8 visitors
        ([10_000, 9000], BLOCK, "srm"),
    ],
)
def test_sample_ratio_rows(visitors, level, code):
    a = run(
        "bayesian", arm("0", "Control", visitors[0], visitors[0] // 10), arm("1", "B", visitors[1], visitors[1] // 10)
    )
    assert a.srm.level == level
    assert a.srm.p == pytest.approx(ref.srm_p(visitors, [50, 50]), rel=1e-9, abs=1e-12)
    found = [f for f in a.guardrails("1") if f.code in ("srm", "split_off")]
    assert [(f.code, f.level) for f in found] == ([] if code is None else [(code, level)])


def test_split_looks_off_words():
    a = run("frequentist", arm("0", "Control", 10_000, 1000), arm("1", "B", 9600, 960))
    assert words.srm_words(a.srm) == (
        "The split looks off: 10,000 vs 9,600 visitors on a 50/50 split (p = 0.00427). "
        "Check the traffic before trusting the numbers."
    )


def test_mab_skips_the_split_check_and_warns():
    a = run("bayesian", arm("0", "Control", 10_000, 500, None), arm("1", "B", 3000, 180, None), mab=True)
    assert (a.srm.checked, a.srm.skipped_because) == (False, "mab")
    assert a.comparison("1").outcome == "better"
    assert codes(a, "1") == [("mab", WARN)]
    assert a.guardrails("1")[0].words == (
        "Multi-armed bandit test: traffic moved toward the leaders, so fixed-split statistics are only a guide."
    )


def test_paused_arm_with_traffic_is_left_out_of_the_split_and_warned():
    a = run(
        "bayesian",
        arm("0", "Control", 10_000, 500, 50),
        arm("1", "B", 10_000, 600, 50),
        arm("2", "Old", 4000, 200, 0),
    )
    assert [s.variant_id for s in a.srm.arms] == ["0", "1"]
    assert [s.variant_id for s in a.srm.excluded] == ["2"]
    assert a.srm.p == pytest.approx(1.0)
    paused = [f for f in a.guardrails("1") if f.code == "paused_arm"]
    assert [f.words for f in paused] == [
        "Paused arm with traffic: Old has weight 0 but 4,000 visitors; it is left out of the split check."
    ]


def test_risky_low_sample_and_too_early_follow_the_rules():
    a = run("bayesian", arm("0", "Control", 100, 10), arm("1", "B", 100, 10), days=3)
    risk = a.comparison("1").risk
    assert risk == pytest.approx(ref.expected_loss((100, 10), (100, 10)), rel=1e-7)
    assert codes(a, "1") == [
        ("below_threshold", WARN),
        ("risky", WARN),
        ("low_sample", WARN),
        ("low_sample", WARN),
        ("too_early", WARN),
    ]
    texts = [f.words for f in a.guardrails("1")]
    assert texts[1] == "Risky: expected loss 12.93 % if B is worse (5 % or more is risky)."
    assert (
        texts[2]
        == "Low sample: Control has 100 visitors and 10 conversions (at least 100 visitors and 25 conversions per arm)."
    )
    assert texts[4] == "Too early: running 3 days (at least 7)."
    lenient = Rules(min_days=2, min_visitors=50, min_conversions=5, risky_loss=0.2)
    relaxed = run("bayesian", arm("0", "Control", 100, 10), arm("1", "B", 100, 10), days=3, rules=lenient)
    assert codes(relaxed, "1") == [("below_threshold", WARN)]
    assert codes(
        run("bayesian", arm("0", "Control", 100, 10), arm("1", "B", 100, 10), days=None, rules=lenient), "1"
    ) == [("below_threshold", WARN)]


def test_blocks_come_first():
    a = run("bayesian", arm("0", "Control", 10_000, 600), arm("1", "B", 9000, 400), days=2)
    assert codes(a, "1") == [("srm", BLOCK), ("loser", BLOCK), ("risky", WARN), ("too_early", WARN)]
    assert [f.code for f in a.blocks("1")] == ["srm", "loser"]


# --- revenue and inputs ------------------------------------------------------------------------


def test_revenue_per_visitor_and_its_lift_without_an_interval():
    a = run("bayesian", CONTROL, RED)
    rev = a.comparison("1").revenue
    assert rev is not None
    assert (rev.rpv, rev.control_rpv) == (6650 / 1480, 5800 / 1500)
    assert rev.lift == pytest.approx((6650 / 1480) / (5800 / 1500) - 1)
    assert words.revenue_line(a, a.comparison("1"), "USD") == (
        "Revenue per visitor 4.49 vs 3.87 USD (+16 %), no interval: Mida gives no per-visitor variance"
    )
    plain = run("bayesian", arm("0", "Control", 1500, 120), arm("1", "B", 1480, 148))
    assert not plain.has_revenue and plain.comparison("1").revenue is None


@pytest.mark.parametrize(
    "experiment",
    [
        ExperimentInput("sequential", 95, False, 3, (CONTROL, RED)),
        ExperimentInput("bayesian", 100, False, 3, (CONTROL, RED)),
        ExperimentInput("bayesian", 95, False, 3, (RED,)),
        ExperimentInput("bayesian", 95, False, 3, (CONTROL, ArmInput("1", "C2", True, 10, 1))),
        ExperimentInput("bayesian", 95, False, 3, (CONTROL,)),
    ],
)
def test_malformed_input_is_refused(experiment):
    with pytest.raises(ValueError):
        analyse(experiment)


def test_analysis_matches_the_statistics_module():
    a = run("bayesian", *FOUR)
    for c, x in zip(a.comparisons, FOUR[1:]):
        assert c.chance_to_beat == stats.chance_to_beat(Counts(10**6, 50_000), Counts(x.visitors, x.conversions))
    assert math.isclose(sum(c.prob_best or 0 for c in a.comparisons) + (a.control_prob_best or 0), 1, abs_tol=1e-9)
