"""The statistics in words: plain text, pure, for every surface that shows the evidence.

Names are written as given: a caller writing mrkdwn escapes them (or the whole line) itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.evidence.analysis import Analysis, Comparison, Srm

MINUS = "\u2212"
SEP = " · "


# --- numbers -------------------------------------------------------------------------------------


def fmt_count(n: int) -> str:
    """12345 → "12,345"."""
    return f"{n:,}"


def fmt_plain_number(value: float) -> str:
    """50.0 → "50", 33.3 → "33.3" (a weight or threshold as a person would type it)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_level(threshold_percent: float) -> str:
    """95 → "95 %"."""
    return f"{fmt_plain_number(threshold_percent)} %"


def fmt_rate(rate: float | None) -> str:
    """A conversion rate (a fraction): 0.1 → "10.0 %"."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


def fmt_signed_percent(fraction: float, decimals: int = 0) -> str:
    """A relative change in percent: 0.25 → "+25 %", −0.007 → "−1 %", 0.001 → "0 %"; 0.006 → "+0.6 %"
    with one decimal."""
    text = f"{abs(fraction) * 100:.{decimals}f}"
    if float(text) == 0:
        return f"{0:.{decimals}f} %"
    return f"{'+' if fraction > 0 else MINUS}{text} %"


def lift_decimals(bounds: tuple[float, float] | None) -> int:
    """Whole percent for an interval 10 points wide or more (STATS.md's "−1 % to +57 %"), else one decimal."""
    if bounds is None or bounds[1] - bounds[0] >= 0.1:
        return 0
    return 1


def fmt_chance(p: float) -> str:
    """A chance in percent to one decimal: "97.2 %", with "> 99.9 %" and "< 0.1 %" at the extremes."""
    pct = p * 100
    if pct > 99.9:
        return "> 99.9 %"
    if pct < 0.1:
        return "< 0.1 %"
    return f"{pct:.1f} %"


def chance_to_beat_words(p: float, control_name: str) -> str:
    """ "97.2 % chance to beat Control"."""
    return f"{fmt_chance(p)} chance to beat {control_name}"


def fmt_p(p: float | None) -> str:
    """ "p = 0.0564", "p = 0.00123" (three significant digits), "p < 0.001"; "no p-value yet" if undefined."""
    if p is None:
        return "no p-value yet"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:#.3g}"


def fmt_prob_best(p: float) -> str:
    """ "78 % chance to be best", with "> 99 %" and "< 1 %" at the extremes."""
    pct = p * 100
    if pct > 99:
        text = "> 99 %"
    elif pct < 1:
        text = "< 1 %"
    else:
        text = f"{round(pct)} %"
    return f"{text} chance to be best"


def fmt_holm(p: float | None) -> str:
    """ "Holm-adjusted 0.070" (two significant digits: a secondary figure), "Holm-adjusted < 0.001"."""
    if p is None:
        return "no Holm-adjusted p yet"
    if p < 0.001:
        return "Holm-adjusted < 0.001"
    return f"Holm-adjusted {p:#.2g}"


def fmt_risk(loss: float | None) -> str:
    """ "risk 0.12 %": the expected loss, relative to the control."""
    return "risk undefined" if loss is None else f"risk {loss * 100:.2f} %"


def fmt_interval(bounds: tuple[float, float], threshold_percent: float, *, bayesian: bool) -> str:
    """ "95 % credible interval −1 % to +57 %" or "95 % CI −4 % to +54 %"."""
    name = "credible interval" if bayesian else "CI"
    lo, hi = bounds
    d = lift_decimals(bounds)
    return f"{fmt_level(threshold_percent)} {name} {fmt_signed_percent(lo, d)} to {fmt_signed_percent(hi, d)}"


def fmt_split(weights: Sequence[float]) -> str:
    """ "50/50", "34/33/33"."""
    return "/".join(fmt_plain_number(w) for w in weights)


def fmt_vs(counts: Sequence[int]) -> str:
    """ "10,000 vs 9,000"."""
    return " vs ".join(fmt_count(n) for n in counts)


# --- lines ---------------------------------------------------------------------------------------


def significance_words(outcome: str, threshold_percent: float) -> str:
    """ "significant at 95 %", "significantly worse at 95 %", "not significant at 95 %"."""
    level = fmt_level(threshold_percent)
    if outcome == "better":
        return f"significant at {level}"
    if outcome == "worse":
        return f"significantly worse at {level}"
    return f"not significant at {level}"


def variant_line(analysis: Analysis, c: Comparison) -> str:
    """The line that names a variant, in the test's own engine (STATS.md, "How it reads").

    `Red CTA Button: 10.0 % vs 8.0 % · +25 % (95 % credible interval −1 % to +57 %) · 97.2 % chance
    to beat Control · risk 0.12 %`; frequentist: `… · +25 % (95 % CI −4 % to +54 %) · p = 0.0564 ·
    not significant at 95 %`. The several-variant figure follows, in its own words.
    """
    t = analysis.threshold_percent
    bayesian = analysis.engine == "bayesian"
    parts = [f"{c.name}: {fmt_rate(c.rate)} vs {fmt_rate(analysis.control_rate)}"]
    if c.lift is None:
        parts.append(f"no lift yet ({analysis.control.name} has no conversions)")
    elif c.interval is None:
        parts.append(fmt_signed_percent(c.lift))
    else:
        lift = fmt_signed_percent(c.lift, lift_decimals(c.interval))
        parts.append(f"{lift} ({fmt_interval(c.interval, t, bayesian=bayesian)})")
    if bayesian:
        if c.chance_to_beat is not None:
            parts.append(chance_to_beat_words(c.chance_to_beat, analysis.control.name))
        parts.append(fmt_risk(c.risk))
        if c.prob_best is not None:
            parts.append(fmt_prob_best(c.prob_best))
    else:
        parts.append(fmt_p(c.p_value))
        parts.append(significance_words(c.outcome, t))
        if analysis.several:
            parts.append(fmt_holm(c.holm_p))
    return SEP.join(parts)


def revenue_line(analysis: Analysis, c: Comparison, currency: str | None = None) -> str | None:
    """ "Revenue per visitor 4.49 vs 3.87 USD (+16 %), no interval: Mida gives no per-visitor variance"."""
    rev = c.revenue
    if rev is None or rev.rpv is None or rev.control_rpv is None:
        return None
    unit = f" {currency}" if currency else ""
    lift = f" ({fmt_signed_percent(rev.lift)})" if rev.lift is not None else ""
    return (
        f"Revenue per visitor {rev.rpv:,.2f} vs {rev.control_rpv:,.2f}{unit}{lift}, "
        "no interval: Mida gives no per-visitor variance"
    )


def srm_words(srm: Srm) -> str | None:
    """The sample-ratio sentence when the split is off, e.g. STATS.md's
    "Sample ratio mismatch: 10,000 vs 9,000 visitors on a 50/50 split (p < 0.001). The numbers may
    be biased; serving needs a reason."; None when the split is fine or was not checked."""
    if srm.level is None or srm.p is None:
        return None
    seen = f"{fmt_vs([a.visitors for a in srm.arms])} visitors on a {fmt_split([a.weight for a in srm.arms])} split"
    if srm.level == "block":
        return f"Sample ratio mismatch: {seen} ({fmt_p(srm.p)}). The numbers may be biased; serving needs a reason."
    return f"The split looks off: {seen} ({fmt_p(srm.p)}). Check the traffic before trusting the numbers."


def several_note(variants: int, control_name: str) -> str:
    """ "3 variants against Control: the best of several is likely overstated."."""
    return f"{variants} variants against {control_name}: the best of several is likely overstated."


def footnote(engine: str) -> str:
    """Where the figures come from, since Mida's dashboard may differ."""
    if engine == "bayesian":
        return (
            "Computed by the bot from Mida's counts: Bayesian, Beta(1,1) prior, exact chance to beat; "
            "Mida's dashboard may differ."
        )
    return (
        "Computed by the bot from Mida's counts: fixed-horizon two-proportion z test; "
        "Mida's dashboard may use sequential testing and differ."
    )
