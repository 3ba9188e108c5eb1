"""`material_change`: when the numbers a request pinned no longer hold (pure)."""

from bot.domain import Evidence
from bot.mida.models import ExperimentStatus, VariantResult
from bot.services.evidence import material_change


def evidence(control: tuple[int, int], variant: tuple[int, int], engine: str = "bayesian") -> Evidence:
    return Evidence(
        test_id=1, test_name="t", status=ExperimentStatus.LIVE, stats_engine=engine, confidence_threshold_percent=95,
        variants=[
            VariantResult(variant_id="0", name="Control", visitors=control[0], conversions=control[1], is_control=True, traffic_weight=50),
            VariantResult(variant_id="1", name="Red", visitors=variant[0], conversions=variant[1], traffic_weight=50),
        ],
    )


BEFORE = evidence((1500, 120), (1480, 148))  # +25 %, 97.2 % chance to beat Control


def test_more_of_the_same_is_not_a_material_change():
    assert material_change(BEFORE, evidence((1600, 128), (1580, 158)), "1") is None


def test_a_lift_that_turns_negative_is():
    words = material_change(BEFORE, evidence((3000, 240), (2960, 59)), "1")
    assert words is not None and "lift went from +25 % to -75 %" in words and "verdict changed" in words


def test_a_chance_that_falls_below_the_threshold_is():
    words = material_change(BEFORE, evidence((1500, 120), (1480, 131)), "1")
    assert words is not None and "below the test's 95 %" in words


def test_a_block_that_appears_is():
    words = material_change(BEFORE, evidence((11000, 880), (9000, 900)), "1")
    assert words is not None and "a block appeared" in words


def test_frequentist_significance_lost_is():
    before = evidence((15000, 1200), (14800, 1480), engine="frequentist")
    after = evidence((15000, 1200), (14800, 1230), engine="frequentist")
    words = material_change(before, after, "1")
    assert words is not None and "p =" in words
