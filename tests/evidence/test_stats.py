"""bot/evidence/stats.py against an independent computation (tests/evidence/reference.py)."""

from __future__ import annotations

import itertools
import math
import random

import mpmath as mp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.evidence import stats
from bot.evidence.stats import Counts
from tests.evidence import reference as ref

PROB_TOL = 1e-6  # chance to beat, probability to be best (issue 11)
M = 10**6


def close_p(got: float | None, want: float) -> bool:
    """p-values: within 1e-9 relative or 1e-12 absolute (issue 11)."""
    assert got is not None
    return abs(got - want) <= max(1e-9 * abs(want), 1e-12)


def _generated_pairs() -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """Control and variant as (visitors, conversions); ids say what each case is for."""
    cases = [
        ("docs-example", (1500, 120), (1480, 148)),
        ("tiny-empty", (0, 0), (0, 0)),
        ("tiny-one-visitor", (1, 0), (1, 1)),
        ("tiny-3v2", (3, 1), (2, 2)),
        ("tiny-all-converted", (5, 5), (5, 0)),
        ("tiny-10", (10, 0), (10, 3)),
        ("zero-control", (1000, 0), (1000, 5)),
        ("zero-variant", (1000, 5), (1000, 0)),
        ("zero-both", (1000, 0), (1000, 0)),
        ("zero-control-1e6", (M, 0), (M, 3)),
        ("equal-small", (1000, 100), (1000, 100)),
        ("equal-1e6", (M, 50_000), (M, 50_000)),
        ("winner", (1000, 50), (1000, 120)),
        ("loser", (1000, 120), (1000, 50)),
        ("winner-1e6", (M, 50_000), (M, 52_000)),
        ("borderline-95", (10_000, 1000), (10_000, 1070)),
        ("borderline-90", (10_000, 1000), (10_000, 1055)),
        ("borderline-99", (10_000, 1000), (10_000, 1100)),
        ("near-1e6", (M, 50_000), (M, 50_300)),
        ("half-1e6", (M, 500_000), (M, 501_000)),
        ("rare-1e6", (M, 10), (M, 25)),
        ("almost-all-1e6", (M, 999_990), (M, 999_995)),
        ("unequal-visitors", (50, 3), (5000, 400)),
        ("small-control-big-variant", (3, 3), (2000, 1990)),
    ]
    rng = random.Random(11)
    for k in range(16):
        n_a = int(10 ** rng.uniform(0.5, 6))
        n_b = int(10 ** rng.uniform(0.5, 6))
        rate = 10 ** rng.uniform(-3, -0.05)
        c_a = min(n_a, round(n_a * rate))
        c_b = min(n_b, round(n_b * rate * rng.uniform(0.8, 1.25)))
        cases.append((f"random-{k}", (n_a, c_a), (n_b, c_b)))
    return cases


PAIRS = _generated_pairs()


@pytest.mark.parametrize(("control", "variant"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_chance_to_beat_matches_numerical_integration(control, variant):
    got = stats.chance_to_beat(Counts(*control), Counts(*variant))
    assert abs(got - ref.chance_to_beat(control, variant)) < PROB_TOL


@pytest.mark.parametrize(("control", "variant"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_z_test_p_matches_forty_digits(control, variant):
    test = stats.z_test(Counts(*control), Counts(*variant))
    (n_a, c_a), (n_b, c_b) = control, variant
    if n_a == 0 or n_b == 0 or c_a + c_b in (0, n_a + n_b):
        assert test == stats.ZTest(None, None)
    else:
        assert close_p(test.p, ref.z_test_p(control, variant))


@pytest.mark.parametrize("level", [0.90, 0.95, 0.99])
@pytest.mark.parametrize(("control", "variant"), [p[1:] for p in PAIRS], ids=[p[0] for p in PAIRS])
def test_intervals_match_forty_digits(control, variant, level):
    cA, cB = Counts(*control), Counts(*variant)
    lo, hi = stats.credible_interval(cA, cB, level)
    want_lo, want_hi = ref.credible_interval(control, variant, level)
    assert lo == pytest.approx(want_lo, rel=1e-9, abs=1e-12)
    assert hi == pytest.approx(want_hi, rel=1e-9, abs=1e-12)
    assert lo > -1
    ci = stats.lift_confidence_interval(cA, cB, level)
    if control[1] == 0 or variant[0] == 0:
        assert ci is None
    else:
        want = ref.lift_interval(control, variant, level)
        assert ci == pytest.approx(want, rel=1e-9, abs=1e-12)


RISK_PAIRS = [
    p
    for p in PAIRS
    if p[0]
    in {
        "docs-example",
        "tiny-3v2",
        "tiny-all-converted",
        "zero-variant",
        "equal-small",
        "winner",
        "loser",
        "borderline-95",
        "near-1e6",
        "rare-1e6",
        "unequal-visitors",
        "random-0",
        "random-1",
    }
]


@pytest.mark.parametrize(("control", "variant"), [p[1:] for p in RISK_PAIRS], ids=[p[0] for p in RISK_PAIRS])
def test_expected_loss_matches_double_integral(control, variant):
    got = stats.expected_loss(Counts(*control), Counts(*variant))
    assert got == pytest.approx(ref.expected_loss(control, variant), rel=1e-7, abs=1e-9)


def test_expected_loss_is_undefined_without_control_conversions():
    assert stats.expected_loss(Counts(1000, 0), Counts(1000, 5)) is None


def test_docs_example_figures():
    """STATS.md's "How it reads" numbers, 120/1,500 vs 148/1,480, to the digits shown."""
    cA, cB = Counts(1500, 120), Counts(1480, 148)
    assert round(stats.chance_to_beat(cA, cB), 3) == 0.972
    assert round(stats.expected_loss(cA, cB) or 0, 4) == 0.0012
    lo, hi = stats.credible_interval(cA, cB, 0.95)
    assert (round(lo, 2), round(hi, 2)) == (-0.01, 0.57)
    assert round(stats.z_test(cA, cB).p or 0, 4) == 0.0564
    lo, hi = stats.lift_confidence_interval(cA, cB, 0.95) or (0, 0)
    assert (round(lo, 2), round(hi, 2)) == (-0.04, 0.54)


def test_a_million_visitors_at_half_rate_is_windowed_not_summed_whole():
    """500,001 terms in the shortest sum; the windowed walk needs a few thousand: well under 20 ms."""
    import time

    start = time.perf_counter()
    stats.beat_probabilities.cache_clear()
    stats.chance_to_beat(Counts(M, 500_000), Counts(M, 501_000))
    assert time.perf_counter() - start < 0.05


def test_ten_million_visitors_match_the_exact_sum_at_thirty_digits():
    """Past scipy's float64 reference (~1e-8 here): Evan Miller's sum summed whole-window in mpmath."""
    a = b = 5 * 10**6 + 1
    k, r = 5 * 10**6 + 3001, 5 * 10**6 - 2999  # variant 5,003,000 of 10,000,000

    with mp.workdps(30):

        def log_term(i: int):
            return (
                mp.loggamma(a + i)
                + mp.loggamma(r + i)
                + mp.loggamma(b + r)
                + mp.loggamma(a + b)
                - mp.loggamma(a + b + r + i)
                - mp.loggamma(1 + i)
                - mp.loggamma(r)
                - mp.loggamma(a)
                - mp.loggamma(b)
            )

        i, term = k, mp.exp(log_term(k))
        upper = term
        while term > upper * mp.mpf(10) ** -22:
            term *= mp.mpf((a + i) * (r + i)) / ((a + b + r + i) * (1 + i))
            i += 1
            upper += term
        want = float(1 - upper)
    got = stats.chance_to_beat(Counts(10**7, 5 * 10**6), Counts(10**7, 5 * 10**6 + 3000))
    assert abs(got - want) < 1e-12


def test_past_a_million_terms_the_normal_approximation_agrees_with_the_sum(monkeypatch):
    """2e10 visitors per arm: ~2e6 terms, so the normal approximation answers; the sum, forced, agrees."""
    control, variant = Counts(2 * 10**10, 10**10), Counts(2 * 10**10, 10**10 + 200_000)
    stats.beat_probabilities.cache_clear()
    approx = stats.chance_to_beat(control, variant)
    stats.beat_probabilities.cache_clear()
    monkeypatch.setattr(stats, "_MAX_TERMS", 10**9)
    exact = stats.chance_to_beat(control, variant)
    stats.beat_probabilities.cache_clear()
    assert abs(approx - exact) < 1e-7
    assert approx != exact  # two different computations


BEST_CASES = [
    ("two-arms", ((1500, 120), (1480, 148))),
    ("three-small", ((100, 10), (100, 14), (100, 8))),
    ("three-tiny", ((3, 0), (2, 1), (5, 2))),
    ("three-zero", ((1000, 0), (1000, 0), (1000, 2))),
    ("three-equal", ((5000, 250), (5000, 250), (5000, 250))),
    ("four-1e6", ((M, 50_000), (M, 50_300), (M, 49_800), (M, 50_500))),
    ("four-1e6-half", ((M, 500_000), (M, 500_900), (M, 499_500), (M, 501_000))),
    ("four-dominated", ((M, 50_000), (M, 60_000), (M, 49_000), (M, 50_100))),
    ("four-mixed-sizes", ((50, 4), (M, 80_000), (2000, 170), (10, 1))),
    ("four-equal-tiny", ((0, 0), (0, 0), (0, 0), (0, 0))),
]


@pytest.mark.parametrize("arms", [c[1] for c in BEST_CASES], ids=[c[0] for c in BEST_CASES])
def test_prob_best_matches_numerical_integration(arms):
    got = stats.prob_best([Counts(*a) for a in arms])
    want = ref.prob_best(arms)
    assert max(abs(g - w) for g, w in zip(got, want)) < PROB_TOL
    assert math.fsum(got) == pytest.approx(1, abs=1e-9)


def test_prob_best_of_identical_arms_is_a_fair_share():
    assert stats.prob_best([Counts(5000, 250)] * 4) == pytest.approx((0.25,) * 4, abs=1e-12)


DF_X = [(1, 0.5), (1, 52.63), (1, 2000.0), (2, 3.0), (3, 0.1), (3, 40.0), (4, 13.3), (5, 7.0), (9, 100.0), (9, 1e-3)]


@pytest.mark.parametrize(("df", "x"), DF_X)
def test_chi2_survival_matches_regularized_upper_gamma(df, x):
    assert close_p(stats.chi2_sf(x, df), ref.chi2_sf(x, df))


SRM_CASES = [
    ("docs-10000-9000", [10_000, 9000], [50, 50]),
    ("no-srm", [10_010, 9990], [50, 50]),
    ("borderline", [10_000, 9600], [50, 50]),
    ("three-custom", [20_000, 10_300, 9700], [50, 25, 25]),
    ("four-even", [2500, 2400, 2600, 2550], [25, 25, 25, 25]),
    ("fractional-weights", [3330, 3330, 3340], [33.3, 33.3, 33.4]),
    ("tiny", [2, 30], [50, 50]),
    ("huge-small-deviation", [10_018_000, 9_982_000], [50, 50]),
]


@pytest.mark.parametrize(("visitors", "weights"), [c[1:] for c in SRM_CASES], ids=[c[0] for c in SRM_CASES])
def test_srm_p_matches_forty_digits(visitors, weights):
    gof = stats.chi_square_gof(visitors, weights)
    assert gof.df == len(visitors) - 1
    assert close_p(gof.p, ref.srm_p(visitors, weights))


def test_docs_srm_example():
    assert stats.chi_square_gof([10_000, 9000], [50, 50]).p == pytest.approx(4.02e-13, rel=1e-3)


@pytest.mark.parametrize("x", [1, 2, 3.5, 9.99, 10, 121, 1381, 1e5, 1e6 + 3, 2e10])
def test_digamma_and_trigamma_match_mpmath(x):
    assert stats.digamma(x) == pytest.approx(float(mp.psi(0, x)), rel=1e-14, abs=1e-15)
    assert stats.trigamma(x) == pytest.approx(float(mp.psi(1, x)), rel=1e-14)


def test_holm_adjusts_step_down_in_input_order():
    # Sorted 0.01, 0.03, 0.04 → 3·0.01, max(0.03, 2·0.03), max(0.06, 1·0.04).
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx((0.03, 0.06, 0.06))
    assert stats.holm([0.5, None, 0.01]) == (pytest.approx(1.0), None, pytest.approx(0.03))


def test_counts_refuse_impossible_numbers():
    with pytest.raises(ValueError):
        Counts(10, 11)
    with pytest.raises(TypeError):
        Counts(10.0, 1)  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

sizes = st.integers(min_value=0, max_value=200_000)


@st.composite
def counts(draw) -> Counts:
    n = draw(sizes)
    return Counts(n, draw(st.integers(min_value=0, max_value=n)))


@settings(max_examples=150, deadline=None)
@given(counts(), counts())
def test_both_directions_add_up_to_one(a, b):
    gt, lt = stats.beat_probabilities(a.alpha, a.beta, b.alpha, b.beta)
    assert gt + lt == pytest.approx(1, abs=1e-12)
    assert stats.chance_to_beat(a, b) + stats.chance_to_beat(b, a) == pytest.approx(1, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(counts(), counts())
def test_chance_is_symmetric_under_swapping_conversions_and_non_conversions(a, b):
    # pB > pA ⇔ 1 − pA > 1 − pB.
    flipped_a = Counts(a.visitors, a.visitors - a.conversions)
    flipped_b = Counts(b.visitors, b.visitors - b.conversions)
    assert stats.chance_to_beat(a, b) == pytest.approx(stats.chance_to_beat(flipped_b, flipped_a), abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(counts(), counts())
def test_one_more_conversion_never_lowers_the_chance(a, b):
    if b.conversions < b.visitors:
        more = Counts(b.visitors, b.conversions + 1)
        assert stats.chance_to_beat(a, more) >= stats.chance_to_beat(a, b) - 1e-12


@settings(max_examples=60, deadline=None)
@given(counts(), counts())
def test_prob_best_of_two_is_the_chance_to_beat(a, b):
    assert stats.prob_best([a, b])[1] == pytest.approx(stats.chance_to_beat(a, b), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(counts(), min_size=3, max_size=4))
def test_prob_best_sums_to_one_and_follows_the_arms(arms):
    best = stats.prob_best(arms)
    assert math.fsum(best) == pytest.approx(1, abs=1e-9)
    assert stats.prob_best(arms[::-1]) == pytest.approx(best[::-1], abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(counts(), counts())
def test_z_test_is_symmetric(a, b):
    assert stats.z_test(a, b).p == stats.z_test(b, a).p


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=6))
def test_holm_never_lowers_a_p_and_keeps_their_order(ps):
    adj = stats.holm(ps)
    assert all(q is not None and p <= q <= 1 for p, q in zip(ps, adj))
    ranked = sorted(range(len(ps)), key=ps.__getitem__)
    assert all(adj[i] <= adj[j] for i, j in itertools.pairwise(ranked))  # type: ignore[operator]
