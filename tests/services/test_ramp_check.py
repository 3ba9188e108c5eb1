"""The check before a ramp's later step, on numbers built by hand (no I/O)."""

from __future__ import annotations

from bot.domain import ChannelRules, Evidence
from bot.mida.models import ExperimentStatus, VariantResult
from bot.services.changes.ramp_check import MISMATCH, NO_DATA, OK, REGRESSION, check_before_step

RULES = ChannelRules()


def evidence(control: tuple[int, int], served: tuple[int, int], *, engine: str = "bayesian", other=None) -> Evidence:
    rows = [
        VariantResult(variant_id="0", name="Control", visitors=control[0], conversions=control[1], is_control=True, traffic_weight=50),
        VariantResult(variant_id="1", name="Red", visitors=served[0], conversions=served[1], traffic_weight=50),
    ]
    if other is not None:
        rows = [r.model_copy(update={"traffic_weight": 100 / 3}) for r in rows] + [
            VariantResult(variant_id="2", name="Blue", visitors=other[0], conversions=other[1], traffic_weight=100 / 3)
        ]
    return Evidence(
        test_id=1, test_name="t", status=ExperimentStatus.LIVE, variants=rows, stats_engine=engine,
        confidence_threshold_percent=95, is_serving=True, serving_variant_id="1", traffic_allocation=10,
    )


PRE = evidence((1500, 120), (1480, 148))


def test_doing_as_well_since_serving_lets_the_step_go():
    # At a 10 % rollout the served arm expects 10 % + half of the other 90 %: 55 / 45.
    check = check_before_step(evidence((1800, 144), (2200, 220)), PRE, "1", 10, RULES, rollout_constant=True)
    assert check.kind == OK, check.words


def test_significantly_worse_than_the_control_since_serving_is_a_regression_in_either_engine():
    for engine in ("bayesian", "frequentist"):
        pre = PRE.model_copy(update={"stats_engine": engine})
        post = evidence((1800, 144), (2200, 110), engine=engine)
        check = check_before_step(post, pre, "1", 10, RULES, rollout_constant=True)
        assert check.kind == REGRESSION, (engine, check.words)
        assert "5.00 % since serving against 8.00 % for Control since serving" in check.words


def test_without_control_traffic_the_served_arm_is_compared_with_its_own_rate_before_serving():
    post = evidence((0, 0), (4000, 200))  # served at 100 %: 5 % against its 10 % before
    check = check_before_step(post, PRE, "1", 100, RULES, rollout_constant=True)
    assert check.kind == REGRESSION and "its own rate before serving" in check.words


def test_too_few_visitors_or_conversions_wait_for_more():
    assert check_before_step(evidence((12, 1), (12, 1)), PRE, "1", 10, RULES, rollout_constant=True).kind == NO_DATA
    few_conversions = evidence((1800, 10), (2200, 12))
    assert check_before_step(few_conversions, PRE, "1", 10, RULES, rollout_constant=True).kind == NO_DATA


def test_a_split_off_since_serving_is_a_mismatch_while_the_rollout_is_unchanged():
    post = evidence((2000, 160), (2000, 200))  # 50 / 50 where 55 / 45 is expected
    check = check_before_step(post, PRE, "1", 10, RULES, rollout_constant=True)
    assert check.kind == MISMATCH and "Sample ratio mismatch since serving" in check.words
    # After a rollout change the served arm's share depends on when visitors came: not checked.
    assert check_before_step(post, PRE, "1", 25, RULES, rollout_constant=False).kind == OK


def test_the_arms_not_served_keep_their_split_among_themselves_at_any_rollout():
    pre = evidence((1500, 120), (1480, 148), other=(1490, 130))
    fine = evidence((900, 72), (2000, 200), other=(900, 75))
    assert check_before_step(fine, pre, "1", 40, RULES, rollout_constant=False).kind == OK
    off = evidence((1200, 96), (2000, 200), other=(800, 66))
    check = check_before_step(off, pre, "1", 40, RULES, rollout_constant=False)
    assert check.kind == MISMATCH and "Control / Blue" in check.words
