"""An Evidence snapshot becomes the engine's input field by field; snapshots stored before the
statistics still load and are simply not judged."""

from __future__ import annotations

from bot.domain import ChannelRules, ChangeRequest, Evidence
from bot.mida.models import ExperimentResult
from bot.services.evidence import analysis_of, engine_rules, experiment_input

# Mida's docs example (get-experiment-result.md), as sent.
DOCS = {
    "success": True, "test_id": 1234, "test_name": "Homepage CTA Button Color Test", "status": "live",
    "days_running": 15, "stats_engine": "bayesian", "confidence_threshold_percent": 95, "is_mab": False,
    "has_revenue": True, "currency": "USD", "total_visitors": 2980, "total_conversions": 268,
    "variants": [
        {"variant_id": "0", "name": "Control", "visitors": 1500, "conversions": 120, "conversion_rate": 8.0,
         "revenue": 5800.00, "orders": 145, "rpv": 3.87, "traffic_weight": 50, "variant_status": "active",
         "is_control": True},
        {"variant_id": "1", "name": "Red CTA Button", "visitors": 1480, "conversions": 148, "conversion_rate": 10.0,
         "improvement": 25.0, "revenue": 6650.00, "orders": 167, "rpv": 4.49, "revenue_per_visitor_improvement": 16.02,
         "traffic_weight": 50, "variant_status": "active", "is_control": False},
    ],
}


def evidence(**changes) -> Evidence:
    return Evidence.from_result(ExperimentResult.model_validate({**DOCS, **changes}))


def test_the_docs_example_field_by_field() -> None:
    ev = evidence()
    assert (ev.stats_engine, ev.confidence_threshold_percent, ev.is_mab, ev.has_revenue, ev.currency) == (
        "bayesian", 95.0, False, True, "USD"
    )
    experiment = experiment_input(ev)
    assert experiment is not None
    assert experiment.engine == "bayesian" and experiment.days_running == 15
    control, red = experiment.arms
    assert (control.name, control.is_control, control.visitors, control.conversions) == ("Control", True, 1500, 120)
    assert (red.traffic_weight, red.variant_status, red.revenue) == (50.0, "active", 6650.0)
    analysis = analysis_of(ev)
    assert analysis is not None
    assert round(analysis.comparison("1").chance_to_beat or 0, 3) == 0.972


def test_a_snapshot_stored_before_the_statistics_loads_and_is_not_judged() -> None:
    old = {
        "test_id": 1234, "test_name": "Old", "status": "live", "days_running": 3, "taken_at": 1.0,
        "variants": [{"variant_id": "0", "name": "Control", "visitors": 10, "conversions": 1, "is_control": True},
                     {"variant_id": "1", "name": "B", "visitors": 10, "conversions": 2}],
    }
    ev = Evidence.model_validate(old)
    assert ev.stats_engine is None and ev.is_mab is False and ev.variants[0].traffic_weight is None
    assert experiment_input(ev) is None and analysis_of(ev) is None
    request = ChangeRequest.model_validate({
        "id": "r1", "team": {"team_id": "T1"}, "project_key": "p", "region": "us",
        "change": {"action": "serve_winner", "test_id": 1234, "variant_id": "1", "rollout": 50},
        "requester": {"user_id": "U1", "team_id": "T1"}, "evidence": old, "channel_id": "C1",
        "overrides": ["The experiment has run 3 days; this workspace asks for at least 7."],
    })
    assert request.evidence.stats_engine is None


def test_unusable_values_become_none_instead_of_failing_the_answer() -> None:
    ev = evidence(stats_engine="Sequential", confidence_threshold_percent="95", is_mab="yes", currency=7)
    assert (ev.stats_engine, ev.confidence_threshold_percent, ev.is_mab, ev.currency) == (None, None, False, None)
    raw = ExperimentResult.model_validate({**DOCS, "variants": [
        {**DOCS["variants"][0], "traffic_weight": "50", "revenue": True},
        {**DOCS["variants"][1], "traffic_weight": -3, "variant_status": " Paused "},
    ]})
    assert raw.variants[0].traffic_weight is None and raw.variants[0].revenue is None
    assert raw.variants[1].traffic_weight is None and raw.variants[1].paused


def test_engine_names_are_read_case_blind_and_the_threshold_defaults_to_mida_s() -> None:
    ev = evidence(stats_engine="Frequentist", confidence_threshold_percent=None)
    experiment = experiment_input(ev)
    assert experiment is not None and experiment.engine == "frequentist"
    assert experiment.confidence_threshold_percent == 95.0


def test_a_paused_arm_without_a_weight_counts_as_weight_zero_and_mab_has_none() -> None:
    paused = {**DOCS["variants"][1], "variant_id": "2", "traffic_weight": None, "variant_status": "paused"}
    experiment = experiment_input(evidence(variants=[*DOCS["variants"], paused]))
    assert experiment is not None and experiment.arms[2].traffic_weight == 0.0
    mab = experiment_input(evidence(is_mab=True, variants=[{**v, "traffic_weight": None} for v in DOCS["variants"]]))
    assert mab is not None and mab.is_mab and all(a.traffic_weight is None for a in mab.arms)


def test_no_revenue_goal_means_no_revenue_to_the_engine() -> None:
    experiment = experiment_input(evidence(has_revenue=False))
    assert experiment is not None and all(a.revenue is None for a in experiment.arms)


def test_without_one_control_and_another_arm_nothing_is_judged() -> None:
    control = DOCS["variants"][0]
    assert experiment_input(evidence(variants=[control])) is None
    assert experiment_input(evidence(variants=[{**v, "is_control": False} for v in DOCS["variants"]])) is None


def test_channel_rules_are_the_engine_s_thresholds() -> None:
    rules = engine_rules(ChannelRules(min_days_running=3, min_visitors_per_variant=50,
                                      min_conversions_per_variant=10, risky_loss_percent=2.5))
    assert (rules.min_days, rules.min_visitors, rules.min_conversions, rules.risky_loss) == (3, 50, 10, 0.025)


# --- secondary metrics ---------------------------------------------------------------------------

METRICS = {
    "success": True, "test_id": 1234, "count": 2, "metric_count": 2,
    "metric_definitions": [{"metric_key": "signup", "name": "Signup"}, {"metric_key": "rev", "goal": {"goal_name": "Revenue"}}],
    "metrics": [{"variant_id": "0", "total": 1500, "result_1": 150, "result_2": 5800.5},
                {"variant_id": 1, "total": 1480, "result_1": 100, "result_2": 6650.25}],
}


def test_metrics_become_counts_and_sums_are_not_compared() -> None:
    from bot.domain import SecondaryMetrics
    from bot.mida.models import ExperimentMetrics
    from bot.services.evidence import metric_analyses, worse_on
    from bot.services.guardrails import guardrails_for

    secondary = SecondaryMetrics.from_answer(ExperimentMetrics.model_validate(METRICS))
    signup, revenue = secondary.metrics
    assert (signup.name, signup.comparable, [c.conversions for c in signup.counts]) == ("Signup", True, [150, 100])
    assert (revenue.name, revenue.comparable) == ("Revenue", False)  # a sum of money is no conversion count
    ev = evidence().model_copy(update={"secondary": secondary})
    judged = metric_analyses(ev)
    assert judged[1].analysis is None
    assert judged[0].analysis is not None and judged[0].analysis.comparison("1").outcome == "worse"
    assert [m.name for m, _, _ in worse_on(ev, "1")] == ["Signup"]
    found = guardrails_for(ChannelRules(min_days_running=0), ev, "1")
    assert [g.code for g in found] == ["secondary_worse"]
    assert found[0].words.startswith("Worse on a secondary metric: Signup, 6.8 % vs 10.0 % for Red CTA Button (")
    assert guardrails_for(ChannelRules(min_days_running=0), ev, "0")[-1].code != "secondary_worse"
