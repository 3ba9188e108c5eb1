"""The results page's chart, as pure SVG: one series per variant, the serve marker at the serve day,
empty data, and names that must not break the markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from bot.mida.models import TimeseriesRow
from bot.web.chart import LEFT, RIGHT, STYLES, Point, Series, conversion_chart, series_from_timeseries, x_for_day

SVG = "{http://www.w3.org/2000/svg}"
START = date(2025, 11, 1)


def rows(days: int, variants: dict[str, tuple[int, int]], start: date = START) -> list[TimeseriesRow]:
    return [
        TimeseriesRow(
            variant_id=vid, visitors=visitors, converted=conversions,
            created_at=f"{(start + timedelta(days=i)).isoformat()}T00:00:00.000Z",
        )
        for i in range(days)
        for vid, (visitors, conversions) in variants.items()
    ]


def parse(svg: str) -> ET.Element:
    """The SVG must be well-formed XML (escaping included)."""
    return ET.fromstring(svg)


def series_elements(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "series" in (e.get("class") or "").split()]


def serve_markers(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if "serve-marker" in (e.get("class") or "").split()]


def two_variants(days: int = 5) -> list[Series]:
    return series_from_timeseries(
        rows(days, {"0": (100, 7), "1": (100, 9)}),
        [("0", "Control", True), ("1", "Sticky banner", False)],
        served_variant_id="1",
    )


def test_one_series_per_variant_each_with_its_variant_id():
    variants = [("0", "Control", True), ("1", "Two-column", False), ("2", "Carousel", False)]
    series = series_from_timeseries(rows(4, {"0": (50, 4), "1": (50, 5), "2": (50, 3)}), variants)
    root = parse(conversion_chart(series).svg)
    found = series_elements(root)
    assert [e.get("data-variant") for e in found] == ["0", "1", "2"]
    assert all(e.tag == f"{SVG}path" for e in found)
    # Told apart without colour: every series has its own dash pattern (or none) and marker shape.
    dashes = [e.get("stroke-dasharray") for e in found]
    assert len(set(dashes)) == 3
    assert len({s.marker for s in STYLES}) == len(STYLES)
    # Each path goes through one point per day.
    assert all(len(re.findall(r"[ML]", e.get("d", ""))) == 4 for e in found)
    assert not serve_markers(root)  # no serve day, no marker


def test_serve_marker_sits_on_the_serve_day():
    root = parse(conversion_chart(two_variants(5), serve_day=START + timedelta(days=2)).svg)
    (marker,) = serve_markers(root)
    line = marker.find(f"{SVG}line")
    assert line is not None
    middle = (LEFT + RIGHT) / 2  # day 2 of days 0..4
    assert float(line.get("x1")) == float(line.get("x2")) == middle
    assert float(marker.get("data-x")) == middle
    assert marker.get("data-day") == "2025-11-03"
    label = "".join(marker.itertext())
    assert "Winner served 3 Nov" in label


def test_serve_marker_x_matches_the_series_point_of_that_day():
    serve = START + timedelta(days=3)
    root = parse(conversion_chart(two_variants(7), serve_day=serve).svg)
    (marker,) = serve_markers(root)
    xs = [float(m) for m in re.findall(r"[ML]([\d.]+) ", series_elements(root)[0].get("d"))]
    assert float(marker.get("data-x")) == xs[3]
    assert x_for_day(serve, START, START + timedelta(days=6)) == xs[3]


def test_serve_day_after_the_last_row_widens_the_axis():
    serve = START + timedelta(days=9)
    root = parse(conversion_chart(two_variants(5), serve_day=serve).svg)
    (marker,) = serve_markers(root)
    assert float(marker.get("data-x")) == RIGHT


def test_accessible_svg_title_desc_and_text_legend():
    chart = conversion_chart(two_variants(5), serve_day=START + timedelta(days=2), chart_id="c1")
    root = parse(chart.svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.get("viewBox") == "0 0 600 330" and root.get("width") is None  # scales with its box
    assert root.find(f"{SVG}title").get("id") == "c1-title"
    desc = root.find(f"{SVG}desc").text
    assert "Control" in desc and "Sticky banner" in desc and "3 Nov 2025" in desc
    assert "7.00% before serving" in desc and "9.00% since" in desc
    assert "Control" in chart.legend and "Sticky banner" in chart.legend and "Winner served" in chart.legend
    assert "dashed" in chart.legend and "solid" in chart.legend  # the line styles in words


def test_empty_data_gives_an_empty_chart_that_says_so():
    series = series_from_timeseries([], [("0", "Control", True), ("1", "B", False)])
    chart = conversion_chart(series)
    root = parse(chart.svg)
    assert series_elements(root) == [] and serve_markers(root) == []
    assert "No daily numbers yet" in "".join(root.itertext())
    assert "No daily numbers" in chart.summary
    assert chart.first_day is None and chart.legend == ""
    assert parse(conversion_chart([]).svg).get("role") == "img"


def test_days_without_visitors_are_gaps_not_zeros():
    points = (Point(START, 100, 5), Point(START + timedelta(days=1), 0, 0), Point(START + timedelta(days=2), 100, 6))
    root = parse(conversion_chart([Series("0", "Control", points, is_control=True)]).svg)
    d = series_elements(root)[0].get("d")
    assert d.count("M") == 2 and "L" not in d


def test_single_day_sits_in_the_middle():
    series = series_from_timeseries(rows(1, {"0": (10, 1)}), [("0", "Control", True)])
    root = parse(conversion_chart(series, serve_day=START).svg)
    assert float(serve_markers(root)[0].get("data-x")) == (LEFT + RIGHT) / 2


def test_names_are_escaped():
    nasty = '<script>alert("x")</script> & "quotes" \'single\''
    variant_id = '1"><b>'
    series = series_from_timeseries(
        rows(3, {"0": (10, 1), variant_id: (10, 2)}), [("0", nasty, True), (variant_id, "B & <i>", False)]
    )
    chart = conversion_chart(series, serve_day=START + timedelta(days=1), title=f"Chart of {nasty}")
    root = parse(chart.svg)  # still well-formed
    assert "<script>" not in chart.svg and "<script>" not in chart.legend and "<i>" not in chart.legend
    assert [e.get("data-variant") for e in series_elements(root)] == ["0", variant_id]
    assert nasty in root.find(f"{SVG}title").text
    assert "&lt;script&gt;" in chart.legend


def test_rows_of_unknown_variants_and_undated_rows_are_left_out():
    good = rows(2, {"0": (10, 1)})
    extra = [TimeseriesRow(variant_id="9", visitors=5, converted=5, created_at="2025-11-01T00:00:00Z"),
             TimeseriesRow(variant_id="0", visitors=5, converted=5)]
    (series,) = series_from_timeseries(good + extra, [("0", "Control", True)])
    assert [(p.visitors, p.conversions) for p in series.points] == [(10, 1), (10, 1)]


def test_y_axis_covers_the_highest_rate():
    series = series_from_timeseries(rows(3, {"0": (100, 37)}), [("0", "Control", True)])
    root = parse(conversion_chart(series).svg)
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick" and t.text.endswith("%")]
    assert ticks[0] == "0%" and float(ticks[-1].rstrip("%")) >= 37


def _luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_line_colours_contrast_with_the_plot_and_the_shading():
    for style in STYLES:
        assert _contrast(style.colour, "#ffffff") >= 4.5, style
        assert _contrast(style.colour, "#e8f1fb") >= 4.5, style  # the post-deploy shading
    assert len({s.colour for s in STYLES}) == len(STYLES) == len({s.dash for s in STYLES})
