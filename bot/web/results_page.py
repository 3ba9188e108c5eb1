"""The post-deploy results page: what is served since when, the numbers after serving vs before, and
a chart of the daily conversion rate across both phases with the moment of serving marked.

`load_results` gets Mida's answers for the page from `bot.services.results` (read at view time,
through a short Redis cache, so many clicks on one link read Mida once). `render_results` is pure:
a `ResultsView` in, a complete HTML page out (inline CSS and SVG, no script).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from typing import TYPE_CHECKING, Any

from bot.domain import Evidence, SecondaryMetrics, TeamRef
from bot.evidence import words
from bot.evidence.analysis import BAYESIAN, BLOCK, Analysis
from bot.mida.models import (
    ExperimentResult,
    ExperimentStatus,
    ReportPhase,
    Timeseries,
    VariantResult,
)
from bot.services.evidence import metric_analyses, srm_sentence
from bot.views.evidence import health_findings, metric_line, result_analysis
from bot.views.html import page
from bot.views.rows import DASH, VariantRow, fmt_rate
from bot.web.chart import Series, conversion_chart, format_day, series_from_timeseries

if TYPE_CHECKING:
    from bot.deps import Deps


@dataclass(frozen=True)
class ResultsView:
    post: ExperimentResult
    pre: ExperimentResult
    all_time: ExperimentResult | None
    timeseries: Timeseries | None  # all_time daily rows; None when Mida could not give them
    served_on: date | None  # the first post-deploy day; None when unknown
    dashboard_url: str
    fetched_at: float
    cache_ttl: float = 0
    from_cache: bool = False
    expires_at: float | None = None  # of the link, to say so on the page
    secondary_post: SecondaryMetrics | None = None
    secondary_pre: SecondaryMetrics | None = None


# ------------------------------------------------------------------------------------ loading


def view_from_payload(payload: dict[str, Any], dashboard_url: str, **extra: Any) -> ResultsView:
    return ResultsView(
        post=ExperimentResult.model_validate(payload["post"]),
        pre=ExperimentResult.model_validate(payload["pre"]),
        all_time=ExperimentResult.model_validate(payload["all_time"]) if payload.get("all_time") else None,
        timeseries=Timeseries.model_validate(payload["timeseries"]) if payload.get("timeseries") else None,
        served_on=date.fromisoformat(payload["served_on"]) if payload.get("served_on") else None,
        dashboard_url=dashboard_url,
        fetched_at=float(payload.get("fetched_at") or time.time()),
        secondary_post=SecondaryMetrics.model_validate(payload["metrics_post"])
        if payload.get("metrics_post")
        else None,
        secondary_pre=SecondaryMetrics.model_validate(payload["metrics_pre"]) if payload.get("metrics_pre") else None,
        **extra,
    )


async def load_results(deps: Deps, team: TeamRef, test_id: int) -> ResultsView:
    """The page's numbers through `ResultsService` (which raises the bot's errors), as a view."""
    loaded = await deps.results.load(team, test_id)
    dashboard_url = deps.settings.MIDA_DASHBOARD_URL.format(project_key=loaded.project_key)
    return view_from_payload(loaded.payload, dashboard_url, cache_ttl=loaded.cache_ttl, from_cache=loaded.from_cache)


# ------------------------------------------------------------------------------------ rendering


def _date(stamp: str | None) -> date | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _pct(value: float | None) -> str:
    """The rate as every surface writes it (`VariantRow`), kept on one line."""
    return fmt_rate(value).replace(" ", "\u00a0")


def _count(value: int) -> str:
    return f"{value:,}"


def _days(n: int) -> str:
    return "today" if n <= 0 else ("1 day" if n == 1 else f"{n} days")


def _ago(n: int) -> str:
    return "today" if n <= 0 else f"{_days(n)} ago"


def _signed(value: float, unit: str) -> str:
    """+1.2% or −0.03 pp, with a real minus sign; the class gives colour, the sign gives the meaning."""
    css = "pos" if value > 0 else ("neg" if value < 0 else "zero")
    text = f"{abs(value):.1f}" if unit == "%" else f"{abs(value):.2f}"
    sign = "+" if value > 0 else ("\u2212" if value < 0 else "\u00b1")
    space = "&nbsp;" if unit != "%" else ""
    return f'<span class="{css}">{sign}{text}{space}{unit}</span>'


def _lift(v: VariantResult) -> str:
    row = VariantRow.of(v)
    if row.is_control:
        return '<span class="muted">baseline</span>'
    if row.lift == DASH:
        return '<span class="muted" title="Mida gives no lift when the control has no data">—</span>'
    css = {1: "pos", -1: "neg", 0: "zero"}[row.lift_sign]
    return f'<span class="{css}">{row.lift.replace(" ", "&nbsp;")}</span>'


def _variant_cell(v: VariantResult, served_id: str | None) -> str:
    tags = ""
    if v.is_control:
        tags += ' <span class="tag">control</span>'
    if served_id is not None and v.variant_id == served_id:
        tags += ' <span class="tag served">served</span>'
    return (
        f'<th scope="row"><span class="vname">{escape(v.label)}</span>'
        f'<span class="vid">variant {escape(v.variant_id)}</span>{tags}</th>'
    )


def _cell(text: str) -> str:
    return f"<td>{escape(text)}</td>" if text else '<td><span class="muted">—</span></td>'


def _statistics_head(a: Analysis | None) -> str:
    if a is None:
        return ""
    if a.engine == BAYESIAN:
        head = '<th scope="col">Chance to beat control</th><th scope="col">Risk</th>'
        head += f'<th scope="col">{escape(words.fmt_level(a.threshold_percent))} credible interval of the lift</th>'
    else:
        head = '<th scope="col">p-value</th><th scope="col">Significance</th>'
        head += f'<th scope="col">{escape(words.fmt_level(a.threshold_percent))} confidence interval of the lift</th>'
    if a.several:
        head += f'<th scope="col">{"Chance to be best" if a.engine == BAYESIAN else "Holm-adjusted p"}</th>'
    if a.has_revenue:
        head += '<th scope="col">Revenue per visitor</th><th scope="col">RPV lift (no interval)</th>'
    return head


def _statistics_cells(row: VariantRow, a: Analysis | None) -> str:
    if a is None:
        return ""
    if row.is_control:
        extra = 3 + (1 if a.several else 0)
        cells = '<td><span class="muted">baseline</span></td>' * extra
    else:
        chance, judgement, interval, several = row.cells
        cells = _cell(chance) + _cell(judgement or row.judgement) + _cell(interval)
        if a.several:
            cells += _cell(several)
    if a.has_revenue:
        cells += _cell(row.rpv) + (
            '<td><span class="muted">baseline</span></td>' if row.is_control else _cell(row.rpv_lift)
        )
    return cells


def _judged(a: Analysis | None) -> str:
    """The verdict, the split's health and how the figures are computed, under a phase's table."""
    if a is None:
        return ""
    lines = [f'<p class="verdict"><strong>Verdict:</strong> {escape(a.verdict.words)}</p>']
    for f in health_findings(a):
        text = srm_sentence(a) if f.code in ("srm", "split_off") else f.words
        css = "block" if f.level == BLOCK else "warn"
        lines.append(f'<p class="health {css}">{escape(text or f.words)}</p>')
    lines.append(f'<p class="note">{escape(words.footnote(a.engine))}</p>')
    return "".join(lines)


def _secondary(result: ExperimentResult, secondary: SecondaryMetrics | None) -> str:
    """The phase's secondary metrics, compared like the primary goal, folded away."""
    if secondary is None:
        return ""
    if secondary.error:
        return f'<p class="note">Secondary metrics: {escape(secondary.error)}.</p>'
    judged = metric_analyses(Evidence.from_result(result).model_copy(update={"secondary": secondary}))
    if not judged:
        return ""
    items = "".join(f"<li>{escape(metric_line(m.metric.name, m.analysis))}</li>" for m in judged)
    return (
        f'<details class="secondary"><summary>Secondary metrics ({len(judged)})</summary>'
        f'<ul class="metrics">{items}</ul><p class="note">Each compared with the control as the primary goal is.</p>'
        "</details>"
    )


def _table(
    table_id: str,
    result: ExperimentResult,
    caption: str,
    served_id: str | None,
    *,
    compare: ExperimentResult | None = None,
    phase: ReportPhase | None = None,
    secondary: SecondaryMetrics | None = None,
) -> str:
    analysis = result_analysis(result, phase)
    head = (
        '<th scope="col">Variant</th><th scope="col">Visitors</th><th scope="col">Conversions</th>'
        '<th scope="col">Conversion rate</th><th scope="col">Lift vs control</th>'
    )
    head += _statistics_head(analysis)
    if compare is not None:
        head += '<th scope="col">Rate vs pre-deploy</th>'
    rows = []
    for v in result.variants:
        cells = (
            f"<td>{_count(v.visitors)}</td><td>{_count(v.conversions)}</td>"
            f"<td>{_pct(v.conversion_rate)}</td><td>{_lift(v)}</td>"
        )
        cells += _statistics_cells(VariantRow.of(v, analysis, result.currency), analysis)
        if compare is not None:
            before = compare.variant(v.variant_id)
            if before is not None and before.visitors and v.visitors:
                cells += f"<td>{_signed(v.conversion_rate - before.conversion_rate, 'pp')}</td>"
            else:
                cells += '<td><span class="muted">—</span></td>'
        rows.append(f'<tr data-variant="{escape(v.variant_id)}">{_variant_cell(v, served_id)}{cells}</tr>')
    blank = head.count("<th") - 4  # the total row fills the counts; every other column is left empty
    total = (
        f'<tr class="total"><th scope="row">All variants</th><td>{_count(result.total_visitors)}</td>'
        f"<td>{_count(result.total_conversions)}</td>"
        f"<td>{_pct(result.total_conversions / result.total_visitors * 100) if result.total_visitors else '—'}</td>"
        f"{'<td></td>' * blank}</tr>"
    )
    return (
        f'<div class="table-wrap" role="region" aria-labelledby="{table_id}-caption" tabindex="0">'
        f'<table id="{table_id}"><caption id="{table_id}-caption">{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody><tfoot>{total}</tfoot></table></div>"
        '<p class="scroll-hint" aria-hidden="true">Swipe the table sideways for more columns.</p>'
        f"{_judged(analysis)}{_secondary(result, secondary)}"
    )


STATUS_LABEL = {
    ExperimentStatus.LIVE: "Live",
    ExperimentStatus.INACTIVE: "Inactive",
    ExperimentStatus.DRAFT: "Draft",
    ExperimentStatus.UNKNOWN: "Status unknown",
}


def _serving_sentence(view: ResultsView, today: date) -> str:
    post = view.post
    served_id = post.serving_variant_id
    if post.serving:
        served = post.variant(served_id) if served_id else None
        name = (
            f"<strong>{escape(served.label)}</strong> (variant {escape(served.variant_id)})"
            if served
            else f"<strong>variant {escape(served_id or '?')}</strong>"
        )
        rollout = (
            f" to <strong>{post.traffic_allocation:g}%</strong> of eligible visitors"
            if post.traffic_allocation is not None
            else ""
        )
        since = (
            f" since <strong>{escape(format_day(view.served_on, year=True))}</strong>"
            f" ({_ago((today - view.served_on).days)})"
            if view.served_on
            else " since serving"
        )
        return f'<p class="serving on"><span class="dot" aria-hidden="true"></span>Serving {name}{rollout}{since}.</p>'
    if view.served_on is not None or post.total_visitors:
        since = f" from {escape(format_day(view.served_on, year=True))}" if view.served_on else ""
        return (
            '<p class="serving off">No winner is served now. A winner was served'
            f"{since}; the post-deploy numbers cover that time.</p>"
        )
    return (
        '<p class="serving off">No winner has been served yet, so there are no post-deploy numbers. '
        f"Serve one from Slack with <code>/mida serve-winner {post.test_id}</code>.</p>"
    )


def _tiles(view: ResultsView) -> str:
    post, pre = view.post, view.pre
    served_id = post.serving_variant_id
    tiles = [("Post-deploy visitors", _count(post.total_visitors), f"pre-deploy {_count(pre.total_visitors)}")]
    served_post = post.variant(served_id) if served_id else None
    served_pre = pre.variant(served_id) if served_id else None
    if served_post is not None:
        before = f"pre-deploy {_pct(served_pre.conversion_rate)}" if served_pre is not None else ""
        tiles.append(("Served variant’s conversion rate", _pct(served_post.conversion_rate), before))
        if not served_post.is_control and served_post.improvement is not None:
            pre_lift = (
                f"pre-deploy {VariantRow.of(served_pre).lift}"
                if served_pre is not None and served_pre.improvement is not None
                else ""
            )
            tiles.append(("Lift vs control since serving", _lift(served_post), pre_lift))
    items = "".join(
        f'<div class="tile"><dt>{escape(label)}</dt><dd class="big">{value}</dd>'
        f"{f'<dd class=note>{escape(sub)}</dd>' if sub else ''}</div>"
        for label, value, sub in tiles
    )
    return f'<dl class="tiles">{items}</dl>'


def _daily_table(series: list[Series]) -> str:
    days = sorted({p.day for s in series for p in s.points})
    if not days:
        return ""
    by = {s.variant_id: {p.day: p for p in s.points} for s in series}
    head = "".join(f'<th scope="col">{escape(s.label)}</th>' for s in series)
    rows = []
    for day in days:
        cells = []
        for s in series:
            p = by[s.variant_id].get(day)
            cells.append(
                f'<td>{_pct(p.rate)} <span class="muted">({_count(p.conversions)}/{_count(p.visitors)})</span></td>'
                if p is not None and p.rate is not None
                else '<td><span class="muted">—</span></td>'
            )
        rows.append(f'<tr><th scope="row">{escape(format_day(day, year=True))}</th>{"".join(cells)}</tr>')
    return (
        '<details class="daily"><summary>The chart’s numbers, day by day</summary>'
        '<div class="table-wrap" role="region" aria-label="Daily numbers" tabindex="0"><table id="daily">'
        "<caption>Daily conversion rate per variant (conversions/visitors)</caption>"
        f'<thead><tr><th scope="col">Day</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></details>'
    )


def _chart_section(view: ResultsView) -> str:
    post = view.post
    if view.timeseries is None:
        return (
            '<section class="card" aria-labelledby="chart-h"><h2 id="chart-h">Daily conversion rate</h2>'
            '<p class="note">Mida did not give the daily numbers just now, so the chart is left out. '
            "Reload the page in a minute.</p></section>"
        )
    variants = [(v.variant_id, v.label, v.is_control) for v in (post.variants or view.pre.variants)]
    series = series_from_timeseries(view.timeseries.timeseries, variants, served_variant_id=post.serving_variant_id)
    chart = conversion_chart(
        series, serve_day=view.served_on, title=f"Daily conversion rate per variant — {post.test_name}"
    )
    return (
        '<section class="card" aria-labelledby="chart-h"><h2 id="chart-h">Daily conversion rate</h2>'
        + (
            '<p class="note">Both phases: during the experiment (pre-deploy) and after the winner was served '
            "(post-deploy, shaded).</p>"
            if view.served_on is not None
            else '<p class="note">Each variant’s conversion rate, day by day, during the experiment.</p>'
        )
        + f'<figure class="figure">{chart.svg}<figcaption>{chart.legend}</figcaption></figure>'
        + f"{_daily_table(series)}</section>"
    )


def _when(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return f"{format_day(moment.date(), year=True)}, {moment:%H:%M} UTC"


def render_results(view: ResultsView, *, expires_at: float | None = None) -> str:
    post, pre = view.post, view.pre
    today = datetime.fromtimestamp(view.fetched_at, tz=UTC).date()
    served_id = post.serving_variant_id
    started = _date(post.start_date)
    facts = [f"Experiment #{post.test_id}"]
    if started:
        facts.append(f"started {escape(format_day(started, year=True))}")
    if post.days_running is not None:
        facts.append(f"{_days(post.days_running)} running" if post.days_running > 0 else "started today")
    if post.primary_goal and post.primary_goal.goal_name:
        facts.append(f"goal: {escape(post.primary_goal.goal_name)}")
    status = post.status
    badge = f'<span class="badge {escape(status.value)}">{STATUS_LABEL.get(status, escape(status.value))}</span>'

    post_caption = "Post-deploy <span>— since the winner was served</span>"
    pre_caption = "Pre-deploy <span>— during the experiment, before serving</span>"
    has_post = post.serving or view.served_on is not None or post.total_visitors > 0
    post_section = (
        '<section class="card" aria-labelledby="post-h"><h2 id="post-h">After serving vs before</h2>'
        + (
            _table(
                "post-deploy",
                post,
                post_caption,
                served_id,
                compare=pre,
                phase=ReportPhase.POST_DEPLOY,
                secondary=view.secondary_post,
            )
            if has_post
            else ""
        )
        + _table("pre-deploy", pre, pre_caption, served_id, phase=ReportPhase.PRE_DEPLOY, secondary=view.secondary_pre)
        + (
            '<details class="alltime"><summary>All time (both phases together)</summary>'
            + _table(
                "all-time", view.all_time, "All time <span>— both phases</span>", served_id, phase=ReportPhase.ALL_TIME
            )
            + "</details>"
            if view.all_time is not None
            else ""
        )
        + '<p class="note">Lift is the relative difference from the control’s conversion rate in the same '
        "phase. “Rate vs pre-deploy” is the change in percentage points (pp) of each variant’s own rate.</p>"
        "</section>"
    )
    expiry = expires_at if expires_at is not None else view.expires_at
    footer_bits = [
        f"Numbers read from Mida {escape(_when(view.fetched_at))}"
        + (f"; kept for up to {view.cache_ttl:g} s, reload for newer ones." if view.cache_ttl else "."),
    ]
    if expiry is not None:
        footer_bits.append(f"This link works until {escape(_when(expiry))}.")
    body = (
        "<main>"
        '<header class="top"><p class="kicker">Mida · post-deploy results</p>'
        f"<h1>{escape(post.test_name or f'Experiment #{post.test_id}')}</h1>"
        f'<p class="meta">{badge} {" · ".join(facts)}</p>'
        f"{_serving_sentence(view, today)}"
        f"{_tiles(view) if has_post else ''}"
        f'<p class="actions"><a class="button" href="{escape(view.dashboard_url)}" rel="noopener noreferrer" '
        'target="_blank">Open in Mida<span class="visually-hidden"> (opens in a new tab)</span></a></p></header>'
        f"{_chart_section(view)}"
        f"{post_section}"
        f'<footer class="note">{" ".join(footer_bits)}</footer>'
        "</main>"
    )
    return page(f"{post.test_name or post.test_id} — post-deploy results", body)
