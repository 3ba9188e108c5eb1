"""One view model of a variant's row, formatted once: every surface (results message, confirm modal
and its menu, approval card, follow-ups, results page) reads its numbers from here, the statistics
(bot/evidence, in the test's own engine) included."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.evidence import words
from bot.evidence.analysis import BAYESIAN, Analysis, Comparison
from bot.mida.models import VariantResult

DASH = "—"
MINUS = "\u2212"


def fmt_int(n: int | float | None) -> str:
    return DASH if n is None else f"{int(n):,}"


def fmt_rate(rate: float | None) -> str:
    """Mida's conversion rate is already a percentage: 10.0 → "10.00 %"."""
    return DASH if rate is None else f"{rate:.2f} %"


def fmt_lift(improvement: float | None, *, is_control: bool = False) -> str:
    """Relative lift vs control, in percent: "+25.0 %", "−3.2 %", "—" for control or absent."""
    if is_control or improvement is None:
        return DASH
    value = round(float(improvement), 1)
    if value > 0:
        return f"+{value:.1f} %"
    if value < 0:
        return f"{MINUS}{abs(value):.1f} %"
    return "0.0 %"


@dataclass(frozen=True)
class VariantRow:
    """A variant's numbers as text (plain; surfaces escape `label` and `variant_id` their way)."""

    variant_id: str
    label: str
    is_control: bool
    visitors: str
    conversions: str
    rate: str
    lift: str
    lift_sign: int  # +1 better than control, −1 worse, 0 level or not known (for colour)
    # The plain comparison with the control, in the test's engine ("" when it cannot be judged):
    chance: str = ""  # Bayesian "97.2 % chance to beat Control"; frequentist "p = 0.0564"
    judgement: str = ""  # Bayesian "risk 0.12 %"; frequentist "not significant at 95 %"
    interval: str = ""  # "95 % credible interval −1 % to +57 %" / "95 % CI −4 % to +54 %"
    several: str = ""  # several variants, in its own words: "78 % chance to be best" / "Holm-adjusted 0.070"
    short: str = ""  # the menu's figure: "97.2 % to beat" / "p = 0.0564"
    revenue: str = ""  # "revenue per visitor 4.49 vs 3.87 USD (+16 %; no interval: …)"
    rpv: str = ""  # the variant's revenue per visitor, for tables
    rpv_lift: str = ""  # its lift vs the control's
    # The same figures bare, for a table whose column heads name them: "97.2 %", "0.12 %", "−1 % to +57 %", "78 %"
    # (frequentist: "0.0564", "not significant", "−4 % to +54 %", "0.070").
    cells: tuple[str, str, str, str] = ("", "", "", "")

    @property
    def figures(self) -> str:
        """The statistics on the line that names the variant: the plain comparison first, then the
        several-variant figure in its own words."""
        return words.SEP.join(p for p in (self.chance, self.judgement, self.interval, self.several) if p)

    @classmethod
    def of(cls, v: VariantResult, analysis: Analysis | None = None, currency: str | None = None) -> VariantRow:
        """The row's counts from Mida, and with `analysis` (of the same numbers) its statistics."""
        lift = fmt_lift(v.improvement, is_control=v.is_control)
        sign = 0 if lift in (DASH, "0.0 %") else (1 if lift.startswith("+") else -1)
        row = cls(
            variant_id=v.variant_id,
            label=v.label,
            is_control=v.is_control,
            visitors=fmt_int(v.visitors),
            conversions=fmt_int(v.conversions),
            rate=fmt_rate(v.conversion_rate),
            lift=lift,
            lift_sign=sign,
        )
        if analysis is not None and v.is_control and analysis.has_revenue and analysis.comparisons:
            control_rpv = analysis.comparisons[0].revenue.control_rpv if analysis.comparisons[0].revenue else None
            return replace(row, rpv=_money(control_rpv, currency)) if control_rpv is not None else row
        comparison = _comparison(analysis, v.variant_id)
        if analysis is None or comparison is None:
            return row
        return _with_statistics(row, analysis, comparison, currency)


def _comparison(analysis: Analysis | None, variant_id: str) -> Comparison | None:
    if analysis is None:
        return None
    return next((c for c in analysis.comparisons if c.variant_id == variant_id), None)


def _with_statistics(row: VariantRow, a: Analysis, c: Comparison, currency: str | None) -> VariantRow:
    t = a.threshold_percent
    bayesian = a.engine == BAYESIAN
    revenue, rpv, rpv_lift = _revenue(a, c, currency)
    row = replace(row, revenue=revenue, rpv=rpv, rpv_lift=rpv_lift)
    if a.control.visitors == 0 or c.visitors == 0:
        # Nothing to compare yet: a 50 % chance on no data would read as a coin toss that was measured.
        return replace(row, judgement="no figures yet (an arm has no visitors)")
    interval = words.fmt_interval(c.interval, t, bayesian=bayesian) if c.interval is not None else ""
    bounds = ""
    if c.interval is not None:
        d = words.lift_decimals(c.interval)
        bounds = f"{words.fmt_signed_percent(c.interval[0], d)} to {words.fmt_signed_percent(c.interval[1], d)}"
    if bayesian:
        chance = words.chance_to_beat_words(c.chance_to_beat or 0.0, a.control.name)
        short = f"{words.fmt_chance(c.chance_to_beat or 0.0)} to beat"
        judgement = words.fmt_risk(c.risk)
        several = words.fmt_prob_best(c.prob_best) if c.prob_best is not None else ""
        cells = (
            words.fmt_chance(c.chance_to_beat or 0.0),
            judgement.removeprefix("risk "),
            bounds,
            several.removesuffix(" chance to be best"),
        )
    else:
        chance = short = words.fmt_p(c.p_value)
        judgement = words.significance_words(c.outcome, t)
        several = words.fmt_holm(c.holm_p) if a.several else ""
        cells = (
            chance.removeprefix("p = "),
            judgement.removesuffix(f" at {words.fmt_level(t)}"),
            bounds,
            several.removeprefix("Holm-adjusted "),
        )
    return replace(
        row,
        chance=chance,
        judgement=judgement,
        interval=interval,
        several=several,
        short=short,
        cells=cells,
    )


def _money(amount: float, currency: str | None) -> str:
    return f"{amount:,.2f}" + (f" {currency}" if currency else "")


def _revenue(a: Analysis, c: Comparison, currency: str | None) -> tuple[str, str, str]:
    """The revenue line, the revenue per visitor and its lift; empty without a revenue goal."""
    rev = c.revenue
    if not a.has_revenue or rev is None or rev.rpv is None:
        return "", "", ""
    lift = words.fmt_signed_percent(rev.lift) if rev.lift is not None else DASH
    control = f" vs {_money(rev.control_rpv, currency)}" if rev.control_rpv is not None else ""
    mine = _money(rev.rpv, currency if rev.control_rpv is None else None)
    line = f"revenue per visitor {mine}{control} ({lift}; no interval: Mida gives no per-visitor variance)"
    return line, _money(rev.rpv, currency), lift
