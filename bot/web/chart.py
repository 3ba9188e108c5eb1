"""The daily conversion-rate chart of the results page, as inline SVG. Pure: data in, markup out.

    chart = conversion_chart(series_from_timeseries(timeseries, variants), serve_day=date(2025, 11, 24))
    chart.svg     # <svg role="img" ...> with one `<path class="series" data-variant="…">` per variant
                  # and, when the serve day is known, one `<g class="serve-marker">` (a vertical line + label)
    chart.legend  # a text legend (<ul class="legend">): each variant's line style and marker, in words too
    chart.summary # the chart in one paragraph of text (also the SVG's <desc>)

Series differ by colour *and* by dash pattern *and* by marker shape, so the chart reads in greyscale
and for colour-blind readers. The SVG scales with its container (viewBox, no fixed size); its text is
sized by the page's CSS (`.chart text`), so a phone can use a larger font than a desktop.
Every name that ends up in the markup is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from bot.mida.models import TimeseriesRow

__all__ = [
    "STYLES",
    "Chart",
    "Point",
    "Series",
    "conversion_chart",
    "format_day",
    "series_from_timeseries",
    "x_for_day",
]

# Geometry, in SVG user units (the viewBox). The plot area is [LEFT, RIGHT] x [TOP, BOTTOM].
WIDTH, HEIGHT = 600, 330
LEFT, RIGHT, TOP, BOTTOM = 58, 584, 44, 286


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str | None  # stroke-dasharray; None is a solid line
    marker: str  # circle | square | triangle | diamond | cross | down
    words: str  # the line style in words, for the text legend


# Colours keep at least 4.5:1 against white (text-grade, more than the 3:1 graphics need) and are
# told apart by hue for most colour-vision types; dash and marker tell them apart without colour.
STYLES: tuple[Style, ...] = (
    Style("#4b4b4b", "7 5", "circle", "grey dashed line, round markers"),
    Style("#0b62b8", None, "square", "blue solid line, square markers"),
    Style("#b3400a", "2 4", "triangle", "orange dotted line, triangle markers"),
    Style("#157a3c", "12 4 3 4", "diamond", "green dash-dot line, diamond markers"),
    Style("#8a3aa8", "4 3", "cross", "purple short-dashed line, cross markers"),
    Style("#8a5a00", "14 5", "down", "brown long-dashed line, inverted-triangle markers"),
)


@dataclass(frozen=True)
class Point:
    day: date
    visitors: int
    conversions: int

    @property
    def rate(self) -> float | None:
        """Conversion rate in percent; None on a day without visitors (a gap in the line)."""
        return self.conversions / self.visitors * 100 if self.visitors > 0 else None


@dataclass(frozen=True)
class Series:
    variant_id: str
    label: str
    points: tuple[Point, ...]
    is_control: bool = False
    is_served: bool = False


@dataclass(frozen=True)
class Chart:
    svg: str
    legend: str
    summary: str
    first_day: date | None
    last_day: date | None


def _day(row: TimeseriesRow) -> date | None:
    for stamp in (row.created_at, row.start_date):
        if stamp:
            try:
                return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
            except ValueError:
                try:
                    return date.fromisoformat(stamp[:10])
                except ValueError:
                    continue
    return None


def series_from_timeseries(
    rows: Iterable[TimeseriesRow],
    variants: Sequence[tuple[str, str, bool]],
    *,
    served_variant_id: str | None = None,
) -> list[Series]:
    """One series per variant (`variants`: id, label, is_control, in display order), each the
    variant's daily visitors and conversions summed per day. Rows of unknown variants or without a
    date are left out; a variant without rows still gets an (empty) series."""
    per_variant: dict[str, dict[date, list[int]]] = {vid: {} for vid, _, _ in variants}
    for row in rows:
        day = _day(row)
        if day is None or row.variant_id not in per_variant:
            continue
        counts = per_variant[row.variant_id].setdefault(day, [0, 0])
        counts[0] += row.visitors
        counts[1] += row.converted
    return [
        Series(
            variant_id=vid,
            label=label,
            points=tuple(Point(d, v, c) for d, (v, c) in sorted(per_variant[vid].items())),
            is_control=is_control,
            is_served=vid == served_variant_id,
        )
        for vid, label, is_control in variants
    ]


def format_day(day: date, *, year: bool = False) -> str:
    text = f"{day.day} {day.strftime('%b')}"
    return f"{text} {day.year}" if year else text


def _num(value: float) -> str:
    """Compact coordinates: 2 decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def x_for_day(day: date, first: date, last: date) -> float:
    """Where a day sits on the x axis (a single day sits in the middle)."""
    span = (last - first).days
    if span <= 0:
        return (LEFT + RIGHT) / 2
    return LEFT + (day - first).days / span * (RIGHT - LEFT)


def _nice_top(peak: float) -> tuple[float, float]:
    """The y axis top and tick step: 3 to 5 round steps that cover the peak."""
    if peak <= 0:
        return 1.0, 0.25
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25):
        if peak / step <= 5:
            return step * max(math.ceil(peak / step - 1e-9), 1), step
    return 100.0, 25.0


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    s = 4.0
    if shape == "circle":
        return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(s)}"/>'
    if shape == "square":
        return f'<rect x="{_num(x - s + 0.4)}" y="{_num(y - s + 0.4)}" width="{_num(2 * s - 0.8)}" height="{_num(2 * s - 0.8)}"/>'
    if shape == "triangle":
        return f'<path d="M{_num(x)} {_num(y - s - 1)}L{_num(x + s + 0.5)} {_num(y + s - 0.5)}H{_num(x - s - 0.5)}Z"/>'
    if shape == "down":
        return f'<path d="M{_num(x)} {_num(y + s + 1)}L{_num(x + s + 0.5)} {_num(y - s + 0.5)}H{_num(x - s - 0.5)}Z"/>'
    if shape == "diamond":
        return f'<path d="M{_num(x)} {_num(y - s - 1)}L{_num(x + s + 1)} {_num(y)}L{_num(x)} {_num(y + s + 1)}L{_num(x - s - 1)} {_num(y)}Z"/>'
    # cross: drawn with the stroke
    return (
        f'<path d="M{_num(x - s)} {_num(y - s)}L{_num(x + s)} {_num(y + s)}M{_num(x - s)} {_num(y + s)}L{_num(x + s)} {_num(y - s)}"'
        f' fill="none" stroke="{colour}" stroke-width="2"/>'
    )


def _swatch(style: Style, *, served: bool = False) -> str:
    """The line style and marker of a series, small, for the legend (decorative: the words say it)."""
    dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
    return (
        '<svg class="swatch" aria-hidden="true" focusable="false" viewBox="0 0 44 14" width="44" height="14">'
        f'<line x1="1" y1="7" x2="43" y2="7" stroke="{style.colour}" stroke-width="{3 if served else 2.25}"{dash}/>'
        f'<g fill="{style.colour}">{_marker(style.marker, 22, 7, style.colour)}</g></svg>'
    )


def _average(points: Iterable[Point]) -> float | None:
    visitors = conversions = 0
    for p in points:
        visitors += p.visitors
        conversions += p.conversions
    return conversions / visitors * 100 if visitors else None


def _summary(series: Sequence[Series], first: date | None, last: date | None, serve_day: date | None) -> str:
    if first is None or last is None:
        tail = f" The winner was served on {format_day(serve_day, year=True)}." if serve_day else ""
        return "No daily numbers are available yet, so the chart is empty." + tail
    names = ", ".join(s.label for s in series)
    text = (
        f"Line chart of the daily conversion rate of {len(series)} variant{'s' if len(series) != 1 else ''} "
        f"({names}) from {format_day(first, year=True)} to {format_day(last, year=True)}."
    )
    if serve_day is not None:
        text += f" A vertical line marks {format_day(serve_day, year=True)}, when the winner was served."
    for s in series:
        if serve_day is not None:
            before = _average(p for p in s.points if p.day < serve_day)
            after = _average(p for p in s.points if p.day >= serve_day)
            parts = []
            if before is not None:
                parts.append(f"{before:.2f}% before serving")
            if after is not None:
                parts.append(f"{after:.2f}% since")
            text += f" {s.label}: {', '.join(parts) if parts else 'no visitors'}."
        else:
            overall = _average(s.points)
            text += f" {s.label}: {overall:.2f}% overall." if overall is not None else f" {s.label}: no visitors."
    return text


def conversion_chart(
    series: Sequence[Series],
    *,
    serve_day: date | None = None,
    title: str = "Daily conversion rate per variant",
    chart_id: str = "chart",
) -> Chart:
    """The chart of `series` (at most len(STYLES) styles; more variants reuse them in order)."""
    days = sorted({p.day for s in series for p in s.points})
    first = days[0] if days else None
    last = days[-1] if days else None
    summary = _summary(series, first, last, serve_day)
    if first is not None and last is not None and serve_day is not None:
        first, last = min(first, serve_day), max(last, serve_day)

    ids = escape(chart_id)
    out = [
        f'<svg class="chart" id="{ids}" role="img" aria-labelledby="{ids}-title {ids}-desc" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ids}-title">{escape(title)}</title>',
        f'<desc id="{ids}-desc">{escape(summary)}</desc>',
    ]
    legend_items = []

    if first is None or last is None:
        out.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" class="plot-bg" fill="#fff"/>'
        )
        out.append(
            f'<text x="{(LEFT + RIGHT) / 2:g}" y="{(TOP + BOTTOM) / 2:g}" text-anchor="middle" class="empty" fill="#454245">'
            "No daily numbers yet</text>"
        )
        out.append("</svg>")
        return Chart("".join(out), "", summary, None, None)

    peak = max((p.rate for s in series for p in s.points if p.rate is not None), default=0.0)
    top, step = _nice_top(peak)

    def y_for(rate: float) -> float:
        return BOTTOM - rate / top * (BOTTOM - TOP)

    def x_for(day: date) -> float:
        return x_for_day(day, first, last)

    # Plot background, post-deploy shading, grid and axes.
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{RIGHT - LEFT}" height="{BOTTOM - TOP}" class="plot-bg" fill="#fff"/>'
    )
    serve_x = x_for(serve_day) if serve_day is not None else None
    if serve_x is not None:
        out.append(
            f'<rect class="post-phase" fill="#e8f1fb" x="{_num(serve_x)}" y="{TOP}" width="{_num(RIGHT - serve_x)}" height="{BOTTOM - TOP}"/>'
        )
    ticks = round(top / step)
    for i in range(ticks + 1):
        value = i * step
        y = y_for(value)
        out.append(f'<line class="grid" stroke="#e1e1e1" x1="{LEFT}" y1="{_num(y)}" x2="{RIGHT}" y2="{_num(y)}"/>')
        out.append(
            f'<text class="tick" fill="#454245" x="{LEFT - 8}" y="{_num(y)}" dy="0.35em" text-anchor="end">{_pct(value)}</text>'
        )
    span = (last - first).days
    every = max(1, math.ceil((span + 1) / 6))
    for k in range(0, span + 1, every):
        day = first.fromordinal(first.toordinal() + k)
        x = x_for(day)
        anchor = "start" if x < LEFT + 24 and span else ("end" if x > RIGHT - 24 and span else "middle")
        out.append(
            f'<line class="axis" stroke="#767676" x1="{_num(x)}" y1="{BOTTOM}" x2="{_num(x)}" y2="{BOTTOM + 5}"/>'
        )
        out.append(
            f'<text class="tick" fill="#454245" x="{_num(x)}" y="{BOTTOM + 22}" text-anchor="{anchor}">{escape(format_day(day))}</text>'
        )
    out.append(f'<line class="axis" stroke="#767676" x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}"/>')

    # The moment of serving: a vertical line and its label above the plot.
    if serve_day is not None and serve_x is not None:
        near_right, near_left = serve_x > RIGHT - 110, serve_x < LEFT + 110
        anchor = "end" if near_right else ("start" if near_left else "middle")
        label = f"Winner served {format_day(serve_day)}"
        out.append(
            f'<g class="serve-marker" data-day="{serve_day.isoformat()}" data-x="{_num(serve_x)}">'
            f"<title>{escape(label)}</title>"
            f'<line x1="{_num(serve_x)}" y1="{TOP - 8}" x2="{_num(serve_x)}" y2="{BOTTOM}" stroke="#1d1c1d" stroke-width="2"/>'
            f'<text x="{_num(serve_x)}" y="{TOP - 14}" text-anchor="{anchor}" fill="#1d1c1d" font-weight="600">{escape(label)}</text></g>'
        )

    # One line per variant, then its markers (thinned out on long ranges).
    for index, s in enumerate(series):
        style = STYLES[index % len(STYLES)]
        width = 3 if s.is_served else 2.25
        segments: list[str] = []
        pen_down = False
        previous: date | None = None
        coords: list[tuple[Point, float, float]] = []
        for p in s.points:
            rate = p.rate
            if rate is None:
                pen_down = False
                continue
            x, y = x_for(p.day), y_for(rate)
            coords.append((p, x, y))
            gap = previous is not None and (p.day - previous).days > 1
            segments.append(f"{'L' if pen_down and not gap else 'M'}{_num(x)} {_num(y)}")
            pen_down = True
            previous = p.day
        dash = f' stroke-dasharray="{style.dash}"' if style.dash else ""
        label = escape(s.label)
        vid = escape(s.variant_id)
        out.append(
            f'<path class="series" data-variant="{vid}" d="{"".join(segments)}" fill="none" stroke="{style.colour}" '
            f'stroke-width="{width}"{dash} stroke-linejoin="round" stroke-linecap="round"><title>{label}</title></path>'
        )
        thin = max(1, math.ceil(len(coords) / 16))
        marks = [
            f"<g>{_marker(style.marker, x, y, style.colour)}<title>{label}, {escape(format_day(p.day))}: "
            f"{p.rate:.2f}% ({p.conversions:,} of {p.visitors:,})</title></g>"
            for i, (p, x, y) in enumerate(coords)
            if i % thin == 0 or i == len(coords) - 1
        ]
        out.append(f'<g class="points" data-variant="{vid}" fill="{style.colour}">{"".join(marks)}</g>')
        role = " (control)" if s.is_control else ""
        served = " — served" if s.is_served else ""
        legend_items.append(
            f'<li data-variant="{vid}">{_swatch(style, served=s.is_served)}'
            f'<span><strong>{label}</strong>{role}{served} <span class="note">{escape(style.words)}</span></span></li>'
        )
    out.append("</svg>")

    if serve_day is not None:
        legend_items.append(
            "<li>"
            '<svg class="swatch" aria-hidden="true" focusable="false" viewBox="0 0 44 14" width="44" height="14">'
            '<rect x="22" y="0" width="22" height="14" fill="#e8f1fb"/>'
            '<line x1="22" y1="0" x2="22" y2="14" stroke="#1d1c1d" stroke-width="2"/></svg>'
            f"<span><strong>Winner served</strong> {escape(format_day(serve_day, year=True))} "
            '<span class="note">vertical line; the shaded part is post-deploy</span></span></li>'
        )
    legend = f'<ul class="legend" aria-label="Legend">{"".join(legend_items)}</ul>'
    return Chart("".join(out), legend, summary, first, last)
