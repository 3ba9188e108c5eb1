"""Independent reference figures for tests/evidence (test-only dependencies: scipy, mpmath).

Nothing here uses bot/evidence or its closed forms. Probabilities over Beta posteriors are numerical
integrals (QUADPACK, `scipy.integrate.quad`) of the densities times the CDFs (`scipy.special.betainc`),
split at the posteriors' means ± up to 60σ (float64: ~1e−12 up to 1e5 visitors, ~1e−9 at 1e6, ~1e−8 at
1e7, so a reference for huge counts is built otherwise in the tests); p-values, the chi-square tail, ψ and ψ′ come from
mpmath at 40 digits, straight from the textbook formulas.
"""

from __future__ import annotations

import itertools
import math
import warnings
from functools import cache

import mpmath as mp
from scipy import integrate, special

_QUAD = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 400}


class Posterior:
    """Beta(1 + c, 1 + n − c): density, CDF and the points where its mass changes fastest."""

    def __init__(self, visitors: int, conversions: int) -> None:
        self.a = 1.0 + conversions
        self.b = 1.0 + visitors - conversions
        self.log_norm = float(special.betaln(self.a, self.b))
        self.mean = self.a / (self.a + self.b)
        self.sd = math.sqrt(self.a * self.b / ((self.a + self.b) ** 2 * (self.a + self.b + 1)))
        marks = {0.0, 1.0}
        for k in (0, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 45, 60):
            for sign in (-1, 1):
                x = self.mean + sign * k * self.sd
                if 0 < x < 1:
                    marks.add(x)
        self.marks = sorted(marks)

    def pdf(self, x: float) -> float:
        if x <= 0 or x >= 1:
            return 0.0
        return math.exp((self.a - 1) * math.log(x) + (self.b - 1) * math.log1p(-x) - self.log_norm)

    def cdf(self, x: float) -> float:
        return float(special.betainc(self.a, self.b, x))


@cache
def posterior(visitors: int, conversions: int) -> Posterior:
    return Posterior(visitors, conversions)


def _quad(f, marks) -> float:
    # QUADPACK warns when float64 roundoff stops it short of 1e−13; what it reaches is still ~1e−12.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        return math.fsum(integrate.quad(f, lo, hi, **_QUAD)[0] for lo, hi in itertools.pairwise(marks))


def prob_best(arms: tuple[tuple[int, int], ...]) -> list[float]:
    """P(arm i has the highest rate) = ∫ f_i(x) Π_{j≠i} F_j(x) dx; arms are (visitors, conversions)."""
    posts = [posterior(n, c) for n, c in arms]
    out = []
    for i, p in enumerate(posts):
        others = [q for j, q in enumerate(posts) if j != i]

        def integrand(x: float, p: Posterior = p, others: list[Posterior] = others) -> float:
            v = p.pdf(x)
            for q in others:
                if v == 0.0:
                    break
                v *= q.cdf(x)
            return v

        out.append(_quad(integrand, p.marks))
    return out


def chance_to_beat(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(pB > pA) = ∫ f_B(x) F_A(x) dx."""
    return prob_best((variant, control))[0]


def expected_loss(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """E[max(0, 1 − pB/pA)] = ∫ f_A(x) ∫_0^x f_B(y) (1 − y/x) dy dx, both integrals numerical."""
    pa, pb = posterior(*control), posterior(*variant)

    def inner(x: float) -> float:
        marks = [m for m in pb.marks if m < x] + [x]
        return _quad(lambda y: pb.pdf(y) * (1 - y / x), marks) if len(marks) > 1 else 0.0

    return _quad(lambda x: pa.pdf(x) * inner(x), pa.marks)


def z_test_p(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """Two-sided pooled two-proportion z test."""
    with mp.workdps(40):
        (nA, cA), (nB, cB) = control, variant
        pa, pb = mp.mpf(cA) / nA, mp.mpf(cB) / nB
        pooled = mp.mpf(cA + cB) / (nA + nB)
        z = (pb - pa) / mp.sqrt(pooled * (1 - pooled) * (mp.mpf(1) / nA + mp.mpf(1) / nB))
        return float(mp.erfc(abs(z) / mp.sqrt(2)))


def chi2_sf(x: float, df: int) -> float:
    """Q(df/2, x/2), mpmath's regularized upper incomplete gamma."""
    with mp.workdps(40):
        return float(mp.gammainc(mp.mpf(df) / 2, mp.mpf(x) / 2, mp.inf, regularized=True))


def srm_p(visitors: list[int], weights: list[float]) -> float:
    """Pearson's X² against the weights' shares, then its chi-square tail, all at 40 digits."""
    with mp.workdps(40):
        total, wsum = sum(visitors), mp.fsum(weights)
        x2 = mp.fsum(
            (o - total * mp.mpf(w) / wsum) ** 2 / (total * mp.mpf(w) / wsum) for o, w in zip(visitors, weights)
        )
        return float(mp.gammainc(mp.mpf(len(visitors) - 1) / 2, x2 / 2, mp.inf, regularized=True))


def z_quantile(level: float):
    with mp.workdps(40):
        return mp.sqrt(2) * mp.erfinv(mp.mpf(level))


def credible_interval(control: tuple[int, int], variant: tuple[int, int], level: float) -> tuple[float, float]:
    """exp(m ± z√v) − 1 with m, v the mean and variance of log pB − log pA (mpmath's ψ, ψ′)."""
    with mp.workdps(40):
        (nA, cA), (nB, cB) = control, variant
        aA, bA, aB, bB = 1 + cA, 1 + nA - cA, 1 + cB, 1 + nB - cB
        m = mp.psi(0, aB) - mp.psi(0, aB + bB) - mp.psi(0, aA) + mp.psi(0, aA + bA)
        v = mp.psi(1, aB) - mp.psi(1, aB + bB) + mp.psi(1, aA) - mp.psi(1, aA + bA)
        half = z_quantile(level) * mp.sqrt(v)
        return float(mp.expm1(m - half)), float(mp.expm1(m + half))


def lift_interval(control: tuple[int, int], variant: tuple[int, int], level: float) -> tuple[float, float]:
    """Delta method for p̂B/p̂A − 1."""
    with mp.workdps(40):
        (nA, cA), (nB, cB) = control, variant
        pa, pb = mp.mpf(cA) / nA, mp.mpf(cB) / nB
        se = mp.sqrt(pb * (1 - pb) / (nB * pa**2) + pa * (1 - pa) * pb**2 / (nA * pa**4))
        lift = pb / pa - 1
        half = z_quantile(level) * se
        return float(lift - half), float(lift + half)
