"""One view model of a variant's row, formatted once: every surface (results message, confirm modal
and its menu, approval card, follow-ups, results page) reads its numbers from here, so a column
(the statistics, next) is one edit."""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def of(cls, v: VariantResult) -> VariantRow:
        lift = fmt_lift(v.improvement, is_control=v.is_control)
        sign = 0 if lift in (DASH, "0.0 %") else (1 if lift.startswith("+") else -1)
        return cls(
            variant_id=v.variant_id,
            label=v.label,
            is_control=v.is_control,
            visitors=fmt_int(v.visitors),
            conversions=fmt_int(v.conversions),
            rate=fmt_rate(v.conversion_rate),
            lift=lift,
            lift_sign=sign,
        )
