"""The statistics of an A/B test from integer counts (docs: ../shared/STATS.md).

Pure and standard library only: no I/O, no Monte Carlo, the same figures on every call. Rates are
the counts' own ratios, never Mida's rounded `conversion_rate`.

Bayesian figures use the Beta(1, 1) prior: an arm with c conversions of n visitors has the
posterior Beta(1 + c, 1 + n − c).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from operator import mul
from statistics import NormalDist

__all__ = [
    "ChiSquare",
    "Counts",
    "ZTest",
    "beat_probabilities",
    "chance_to_beat",
    "chi2_sf",
    "chi_square_gof",
    "credible_interval",
    "digamma",
    "expected_loss",
    "holm",
    "lift_confidence_interval",
    "prob_best",
    "relative_lift",
    "trigamma",
    "z_for_level",
    "z_test",
]


@dataclass(frozen=True)
class Counts:
    """One arm's integer counts: `conversions` of `visitors`."""

    visitors: int
    conversions: int

    def __post_init__(self) -> None:
        for name in ("visitors", "conversions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not 0 <= self.conversions <= self.visitors:
            raise ValueError(f"need 0 ≤ conversions ≤ visitors, got {self.conversions} of {self.visitors}")

    @property
    def rate(self) -> float | None:
        return self.conversions / self.visitors if self.visitors else None

    @property
    def alpha(self) -> int:
        return 1 + self.conversions

    @property
    def beta(self) -> int:
        return 1 + self.visitors - self.conversions


def relative_lift(control: Counts, variant: Counts) -> float | None:
    """pB/pA − 1 from the counts; None when the control has no visitors or no conversions."""
    if not control.visitors or not control.conversions or not variant.visitors:
        return None
    return (variant.conversions * control.visitors) / (control.conversions * variant.visitors) - 1


def z_for_level(level: float) -> float:
    """The two-sided normal quantile for a central interval of `level` (0.95 → 1.95996…)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return NormalDist().inv_cdf(1 - (1 - level) / 2)


# --- chance to beat: Evan Miller's closed form ---------------------------------------------------

# A sum stops once what is left is below this share of what it has (terms in float64 carry ~1e-16).
_TAIL = 1e-18
# Below this many terms a sum is taken whole: cheaper than deciding where its mass is.
_DIRECT = 2000
# Past this many terms STATS.md allows the normal approximation (reached only near 1e10 visitors).
_MAX_TERMS = 1_000_000


# The terms of Evan Miller's sum are ratios of Gamma functions of arguments up to ~2n: in floats their
# logs (≈ x ln x) would carry an absolute error ≈ 1e−16 · x ln x, ~1e−8 at a million visitors. They are
# taken in 40-digit decimal arithmetic instead: exact log (x−1)! below 100, Stirling's series above.
_STIRLING_FROM = 100
_DEC = decimal.Context(prec=40)
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510")
_HALF_LOG_2PI = _DEC.divide(_DEC.ln(_DEC.multiply(2, _PI)), 2)


@lru_cache(maxsize=1024)
def _lgamma_dec(x: int) -> decimal.Decimal:
    """log Γ(x) for an integer x ≥ 1, good to ~1e−30 absolute."""
    ctx = _DEC
    if x < _STIRLING_FROM:
        return ctx.ln(decimal.Decimal(math.factorial(x - 1)))
    d = decimal.Decimal(x)
    inv = ctx.divide(1, d)
    inv2 = ctx.multiply(inv, inv)
    # (x − ½) ln x − x + ½ ln 2π + 1/(12x) − 1/(360x³) + 1/(1260x⁵) − 1/(1680x⁷) + 1/(1188x⁹); the next
    # term is < 1e−23 at x = 100.
    series = decimal.Decimal(0)
    for c in (1188, -1680, 1260, -360, 12):
        series = ctx.add(ctx.multiply(series, inv2), ctx.divide(1, c))
    series = ctx.multiply(series, inv)
    return ctx.add(
        ctx.subtract(ctx.multiply(ctx.subtract(d, decimal.Decimal("0.5")), ctx.ln(d)), d),
        ctx.add(_HALF_LOG_2PI, series),
    )


def _log_gamma_sum(plus: Sequence[int], minus: Sequence[int]) -> float:
    """Σ log Γ(plus) − Σ log Γ(minus) for integers ≥ 1, without cancelling large floats."""
    ctx = _DEC
    total = decimal.Decimal(0)
    for x in plus:
        total = ctx.add(total, _lgamma_dec(x))
    for x in minus:
        total = ctx.subtract(total, _lgamma_dec(x))
    return float(total)


def _miller_sum(a: int, b: int, r: int, k: int) -> tuple[float, float]:
    """(Σ_{i<k} t_i, Σ_{i≥k} t_i) with t_i the terms of Evan Miller's sum.

    t_i = B(a+i, b+r) / ((r+i) · B(1+i, r) · B(a, b)) is P(N = i) for N the number of successes
    before the r-th failure when the success chance is p ~ Beta(a, b), so P(Y > X) for X ~ Beta(a, b),
    Y ~ Beta(k, r) is P(N < k). Each part is summed from its largest term outwards, by the ratio
    t_{i+1}/t_i = (a+i)(r+i) / ((a+b+r+i)(1+i)), only as far as the terms matter: a few σ of N,
    not all k terms. The caller picks the parametrisation with the fewest terms, so b ≥ k and the
    upper tail (which falls like i^−(b+1)) is short whenever it is summed.
    """
    c0 = a * r - a - b - r  # t_{i+1} ≥ t_i exactly when i·(b+1) ≤ c0: one peak, at `mode`
    mode = c0 // (b + 1) + 1 if c0 >= 0 else 0

    def log_term(i: int) -> float:
        return _log_gamma_sum((a + i, r + i, b + r, a + b), (a + b + r + i, 1 + i, r, a, b))

    if k > _DIRECT and 9 * _nb_sd(a, b, r) > _MAX_TERMS:
        raise _TooManyTerms
    if k <= _DIRECT or k - 1 <= mode:
        # Σ_{i<k}: from its largest term, start = min(k − 1, mode), down to 0 and up to k − 1.
        start = min(k - 1, mode)
        total, term = 1.0, 1.0
        for i in range(start - 1, -1, -1):
            term *= ((a + b + r + i) * (1.0 + i)) / ((a + i) * (r + i))
            total += term
            if term < _TAIL * total:
                # Below the peak the ratio t_{i−1}/t_i only shrinks: what is left is a geometric tail.
                q = ((a + b + r + i - 1) * float(i)) / ((a + i - 1) * (r + i - 1)) if i else 0.0
                if term * q < (1 - q) * _TAIL * total:
                    break
        term = 1.0
        for i in range(start, k - 1):
            term *= ((a + i) * (r + i)) / ((a + b + r + i) * (1.0 + i))
            total += term
            if term * (k - 2 - i) < _TAIL * total:
                break  # past the peak the terms fall: the k − 2 − i left are each smaller
        lower = math.exp(log_term(start)) * total
        return lower, max(0.0, 1.0 - lower)
    # Σ_{i≥k}, k past the peak: falling terms, in the end like i^−(b+1) (so Σ_{i>j} t_i ≈ t_j·j/b).
    total, term = 1.0, 1.0
    i = k
    while True:
        term *= ((a + i) * (r + i)) / ((a + b + r + i) * (1.0 + i))
        i += 1
        total += term
        if term * (1 + i / b) < _TAIL * total:
            break
    upper = math.exp(log_term(k)) * total
    return max(0.0, 1.0 - upper), upper


class _TooManyTerms(Exception):
    pass


def _nb_sd(a: int, b: int, r: int) -> float:
    """Standard deviation of the beta negative binomial N of `_miller_sum` (b > 2)."""
    return math.sqrt(r * a * (r + b - 1) * (a + b - 1) / ((b - 2) * (b - 1) ** 2))


def _beta_normal(aA: int, bA: int, aB: int, bB: int) -> tuple[float, float]:
    """P(Y > X), P(Y < X) by the normal approximation of the difference (huge counts only)."""
    mean = aB / (aB + bB) - aA / (aA + bA)
    var = aA * bA / ((aA + bA) ** 2 * (aA + bA + 1)) + aB * bB / ((aB + bB) ** 2 * (aB + bB + 1))
    z = mean / math.sqrt(var)
    return 0.5 * math.erfc(-z / math.sqrt(2)), 0.5 * math.erfc(z / math.sqrt(2))


@lru_cache(maxsize=4096)
def beat_probabilities(aA: int, bA: int, aB: int, bB: int) -> tuple[float, float]:
    """(P(Y > X), P(Y < X)) for X ~ Beta(aA, bA), Y ~ Beta(aB, bB), integer parameters ≥ 1.

    Both are returned: the one summed directly keeps its relative accuracy when tiny, which
    1 − the other would not. Of the four equivalent forms of Evan Miller's sum (over aB, aA, bA or
    bB terms: by X ↔ Y and p ↔ 1 − p) the shortest is used.
    """
    for name, v in (("aA", aA), ("bA", bA), ("aB", aB), ("bB", bB)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {v!r}")
    shortest = min(aB, aA, bA, bB)
    try:
        if shortest == aB:
            gt, lt = _miller_sum(aA, bA, bB, aB)
        elif shortest == aA:
            lt, gt = _miller_sum(aB, bB, bA, aA)
        elif shortest == bA:
            # Y > X ⇔ 1 − X > 1 − Y, with 1 − Y ~ Beta(bB, aB) and 1 − X ~ Beta(bA, aA).
            gt, lt = _miller_sum(bB, aB, aA, bA)
        else:
            lt, gt = _miller_sum(bA, aA, aB, bB)
    except _TooManyTerms:
        return _beta_normal(aA, bA, aB, bB)
    return gt, lt


def chance_to_beat(control: Counts, variant: Counts) -> float:
    """P(pB > pA): the chance that the variant's true rate beats the control's."""
    return beat_probabilities(control.alpha, control.beta, variant.alpha, variant.beta)[0]


def expected_loss(control: Counts, variant: Counts) -> float | None:
    """Risk of choosing the variant, relative to the control: E[max(0, 1 − pB/pA)].

    E[(1 − pB/pA)⁺] = P(pB < pA) − E[pB/pA · 1{pB < pA}], and pB·f_B and f_A/pA are rescaled Beta
    densities, so the second part is αB/(αB+βB) · (αA+βA−1)/(αA−1) · P(B′ < A′) with
    B′ ~ Beta(αB+1, βB), A′ ~ Beta(αA−1, βA). Undefined (None) when the control has no conversions:
    E[1/pA] is infinite then.
    """
    aA, bA, aB, bB = control.alpha, control.beta, variant.alpha, variant.beta
    if aA < 2:
        return None
    _, p_lt = beat_probabilities(aA, bA, aB, bB)
    _, p_lt_shifted = beat_probabilities(aA - 1, bA, aB + 1, bB)
    scale = (aB / (aB + bB)) * ((aA + bA - 1) / (aA - 1))
    return max(0.0, p_lt - scale * p_lt_shifted)


# --- digamma and trigamma ------------------------------------------------------------------------

# Asymptotic series coefficients: B_2k / (2k) for ψ, B_2k for ψ′ (k = 1..7).
_PSI_C = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_PSI1_C = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)
_ASYMPTOTIC_FROM = 10.0


def digamma(x: float) -> float:
    """ψ(x) for x > 0: recurrence ψ(x) = ψ(x+1) − 1/x up to x ≥ 10, then the asymptotic series."""
    if not x > 0:
        raise ValueError(f"digamma needs x > 0, got {x}")
    acc = 0.0
    while x < _ASYMPTOTIC_FROM:
        acc -= 1 / x
        x += 1
    inv2 = 1 / (x * x)
    series = 0.0
    for c in reversed(_PSI_C):
        series = series * inv2 + c
    return acc + math.log(x) - 0.5 / x - series * inv2


def trigamma(x: float) -> float:
    """ψ′(x) for x > 0: recurrence ψ′(x) = ψ′(x+1) + 1/x² up to x ≥ 10, then the asymptotic series."""
    if not x > 0:
        raise ValueError(f"trigamma needs x > 0, got {x}")
    acc = 0.0
    while x < _ASYMPTOTIC_FROM:
        acc += 1 / (x * x)
        x += 1
    inv2 = 1 / (x * x)
    series = 0.0
    for c in reversed(_PSI1_C):
        series = series * inv2 + c
    return acc + 1 / x + 0.5 * inv2 + series * inv2 / x


def credible_interval(control: Counts, variant: Counts, level: float) -> tuple[float, float]:
    """Central credible interval of the relative lift pB/pA − 1 at `level` (e.g. 0.95).

    Log-normal approximation of pB/pA with the exact moments of log Beta: E[log p] = ψ(α) − ψ(α+β),
    Var[log p] = ψ′(α) − ψ′(α+β). It never crosses −100 %.
    """
    aA, bA, aB, bB = control.alpha, control.beta, variant.alpha, variant.beta
    m = (digamma(aB) - digamma(aB + bB)) - (digamma(aA) - digamma(aA + bA))
    v = (trigamma(aB) - trigamma(aB + bB)) + (trigamma(aA) - trigamma(aA + bA))
    half = z_for_level(level) * math.sqrt(v)
    return math.expm1(m - half), math.expm1(m + half)


# --- probability to be best: one-dimensional quadrature ------------------------------------------

_GL_N = 16
# Each arm's density is integrated where its log density is within this of its peak (e^−46 ≈ 1e−20).
_WINDOW_DROP = 46.0
# Panels across the narrowest window present: ~1.6σ of a normal-shaped posterior per panel.
_PANELS_PER_WINDOW = 12


def _legendre(n: int, x: float) -> tuple[float, float]:
    """(P_n(x), P_{n−1}(x))."""
    p0, p1 = 1.0, x
    if n == 0:
        return 1.0, 0.0
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    return p1, p0


def _gauss_legendre(n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    nodes, weights = [], []
    for i in range(n):
        x = math.cos(math.pi * (i + 0.75) / (n + 0.5))
        for _ in range(100):
            pn, pm = _legendre(n, x)
            dp = n * (x * pn - pm) / (x * x - 1)
            dx = pn / dp
            x -= dx
            if abs(dx) < 1e-16:
                break
        pn, pm = _legendre(n, x)
        dp = n * (x * pn - pm) / (x * x - 1)
        nodes.append(x)
        weights.append(2 / ((1 - x * x) * dp * dp))
    order = sorted(range(n), key=lambda j: nodes[j])
    return tuple(nodes[j] for j in order), tuple(weights[j] for j in order)


def _integration_matrix(nodes: tuple[float, ...], weights: tuple[float, ...]) -> tuple[tuple[float, ...], ...]:
    """S[k][m] = ∫_{−1}^{t_k} ℓ_m(t) dt for the Lagrange basis ℓ_m on the Gauss–Legendre nodes.

    ℓ_m = Σ_l (2l+1)/2 · w_m P_l(t_m) · P_l (Gauss–Legendre is exact for the products), and
    ∫_{−1}^{x} P_l = (P_{l+1}(x) − P_{l−1}(x)) / (2l+1): so the running integral of a smooth density
    is known at every node from its values at the nodes, as accurately as the density is by its
    interpolating polynomial.
    """
    n = len(nodes)
    p = [[_legendre(degree, t)[0] for degree in range(n + 1)] for t in nodes]  # p[k][d] = P_d(t_k)
    rows = []
    for k in range(n):
        row = []
        for m in range(n):
            s = (nodes[k] + 1) / 2
            for d in range(1, n):
                s += p[m][d] * (p[k][d + 1] - p[k][d - 1]) / 2
            row.append(weights[m] * s)
        rows.append(tuple(row))
    return tuple(rows)


_GL_NODES, _GL_WEIGHTS = _gauss_legendre(_GL_N)
_GL_INTEGRAL = _integration_matrix(_GL_NODES, _GL_WEIGHTS)


def _log_shape(a: int, b: int, mode: float, x: float) -> float:
    """log(f(x)/f(mode)) for Beta(a, b), a, b ≥ 1: by log1p of the offsets from the mode, which keeps
    its relative accuracy where (a−1)·log x and (b−1)·log(1−x) are huge and nearly cancel."""
    d = x - mode
    v = 0.0
    if a > 1:
        u = d / mode
        v += (a - 1) * (math.log1p(u) if u > -0.5 else math.log(x / mode))
    if b > 1:
        u = -d / (1 - mode)
        v += (b - 1) * (math.log1p(u) if u > -0.5 else math.log((1 - x) / (1 - mode)))
    return v


def _mode(a: int, b: int) -> float:
    return (a - 1) / (a + b - 2) if a + b > 2 else 0.5


def _window(a: int, b: int) -> tuple[float, float]:
    """(lo, hi): where Beta(a, b) has all but ~1e−20 of its mass (log density within 46 of its peak)."""
    mode = _mode(a, b)

    def edge(inside: float, outside: float) -> float:
        # The log density is concave (a, b ≥ 1): bisect for the drop between a point inside and the boundary.
        for _ in range(200):
            mid = (inside + outside) / 2
            if mid in (inside, outside):
                break
            if _log_shape(a, b, mode, mid) >= -_WINDOW_DROP:
                inside = mid
            else:
                outside = mid
        return outside

    lo = 0.0 if a == 1 else edge(mode, 0.0)
    hi = 1.0 if b == 1 else edge(mode, 1.0)
    return lo, hi


def prob_best(arms: Sequence[Counts]) -> tuple[float, ...]:
    """P(arm i has the highest true rate), for each arm: ∫ f_i(x) Π_{j≠i} F_j(x) dx.

    Composite 16-point Gauss–Legendre over the union of the arms' windows, panels sized by the
    narrowest posterior present; each F_j is carried across the panels and known at the nodes
    through the integration matrix. Densities are unnormalised (1 at the mode) and the result is
    divided by the product of their computed masses, so no Beta function enters.
    """
    if len(arms) < 2:
        raise ValueError("probability to be best needs at least two arms")
    params = [(arm.alpha, arm.beta) for arm in arms]
    modes = [_mode(a, b) for a, b in params]
    windows = [_window(a, b) for a, b in params]
    k = len(arms)
    cdf = [0.0] * k
    best = [0.0] * k
    cuts = sorted({w[0] for w in windows} | {w[1] for w in windows})
    nodes, weights, smat = _GL_NODES, _GL_WEIGHTS, _GL_INTEGRAL
    for u, v in pairwise(cuts):
        active = [j for j in range(k) if windows[j][0] <= u and v <= windows[j][1]]
        if not active:
            continue  # no arm has mass here: every F_j stays as it is
        width = min(windows[j][1] - windows[j][0] for j in active) / _PANELS_PER_WINDOW
        panels = max(1, math.ceil((v - u) / width))
        h = (v - u) / panels
        half = h / 2
        for s in range(panels):
            mid = u + s * h + half
            xs = [mid + half * t for t in nodes]
            dens: dict[int, list[float]] = {}
            at_nodes: list[list[float]] = [[c] * _GL_N for c in cdf]
            for j in active:
                a, b = params[j]
                f = [math.exp(_log_shape(a, b, modes[j], x)) for x in xs]
                dens[j] = f
                base = cdf[j]
                at_nodes[j] = [base + half * sum(map(mul, row, f)) for row in smat]
                cdf[j] = base + half * sum(map(mul, weights, f))
            columns = list(zip(*at_nodes, strict=False))
            for i in active:
                others = [math.prod(col[:i]) * math.prod(col[i + 1 :]) for col in columns]
                best[i] += half * sum(map(mul, weights, map(mul, dens[i], others)))
    total = math.prod(cdf)
    return tuple(b / total for b in best)


# --- frequentist ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZTest:
    """Pooled two-proportion z test; `z` and `p` are None when undefined (see `z_test`)."""

    z: float | None
    p: float | None


def z_test(control: Counts, variant: Counts) -> ZTest:
    """Two-sided pooled z test of pB = pA: z = (p̂B − p̂A)/√(p̂(1−p̂)(1/nA + 1/nB)), p = erfc(|z|/√2).

    z² is formed exactly from the integers, so p keeps its relative accuracy even when tiny.
    Undefined when an arm has no visitors, or when nobody or everybody converted in both arms.
    """
    nA, cA, nB, cB = control.visitors, control.conversions, variant.visitors, variant.conversions
    n, c = nA + nB, cA + cB
    if not nA or not nB or c == 0 or c == n:
        return ZTest(None, None)
    diff = cB * nA - cA * nB
    z2 = (diff * diff * n) / (c * (n - c) * nA * nB)
    z = math.copysign(math.sqrt(z2), diff)
    return ZTest(z, math.erfc(abs(z) / math.sqrt(2)))


def lift_confidence_interval(control: Counts, variant: Counts, level: float) -> tuple[float, float] | None:
    """Delta-method interval of the relative lift p̂B/p̂A − 1 at `level`; None without a control rate."""
    nA, nB = control.visitors, variant.visitors
    if not nA or not nB or not control.conversions:
        return None
    pa, pb = control.conversions / nA, variant.conversions / nB
    lift = pb / pa - 1
    se = math.sqrt(pb * (1 - pb) / (nB * pa * pa) + pa * (1 - pa) * pb * pb / (nA * pa**4))
    half = z_for_level(level) * se
    return lift - half, lift + half


def holm(p_values: Sequence[float | None]) -> tuple[float | None, ...]:
    """Holm step-down adjusted p-values, in the input's order; an undefined p counts as 1."""
    m = len(p_values)
    ps = [1.0 if p is None else p for p in p_values]
    adjusted: list[float | None] = [None] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=ps.__getitem__)):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = None if p_values[i] is None else running
    return tuple(adjusted)


# --- sample ratio mismatch -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    df: int
    p: float


def chi2_sf(x: float, df: int) -> float:
    """P(χ²_df > x) for integer df ≥ 1: the regularized upper gamma Q(df/2, x/2) in closed form.

    Even df: e^−y Σ_{k<df/2} y^k/k!. Odd df: erfc(√y) + e^−y Σ_{k=1}^{(df−1)/2} y^(k−½)/Γ(k+½).
    All terms are positive (no cancellation); each is taken in log space so none overflows.
    """
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise ValueError(f"df must be an integer ≥ 1, got {df!r}")
    if x <= 0:
        return 1.0
    y = x / 2
    ly = math.log(y)
    if df % 2 == 0:
        return math.fsum(math.exp(k * ly - y - math.lgamma(k + 1)) for k in range(df // 2))
    head = math.erfc(math.sqrt(y))
    return math.fsum(
        [head] + [math.exp((k - 0.5) * ly - y - math.lgamma(k + 0.5)) for k in range(1, (df - 1) // 2 + 1)]
    )


def chi_square_gof(observed: Sequence[int], weights: Sequence[float]) -> ChiSquare:
    """Pearson's goodness of fit of `observed` counts to shares ∝ `weights` (all > 0), no correction."""
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("need the same number (≥ 2) of counts and weights")
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be > 0")
    total, wsum = sum(observed), math.fsum(weights)
    if total <= 0:
        raise ValueError("need at least one observation")
    x2 = math.fsum((o - total * w / wsum) ** 2 / (total * w / wsum) for o, w in zip(observed, weights, strict=False))
    df = len(observed) - 1
    return ChiSquare(x2, df, chi2_sf(x2, df))
