"""The statistics around the variant rows, for every Slack surface: the verdict naming its
threshold, the experiment's health (sample ratio, several variants, MAB, paused arms) and the
footnote on how the bot computes the figures. Pure: an `Analysis` in, Block Kit out."""

from __future__ import annotations

from typing import Any

from bot.domain import Evidence, Guardrail
from bot.evidence import words
from bot.evidence.analysis import BLOCK, Analysis, Finding
from bot.mida.models import ExperimentResult, ReportPhase
from bot.services.evidence import analysis_of, metric_analyses, srm_sentence
from bot.views.format import context, escape, section, truncate

# Findings about the experiment as a whole, the same whichever variant would be served.
HEALTH_CODES = ("srm", "split_off", "several_variants", "mab", "paused_arm")


def result_analysis(result: ExperimentResult, phase: ReportPhase | None) -> Analysis | None:
    """The analysis of a result as shown: the split is checked only on numbers it governs (before a
    winner is served; post-deploy traffic goes mostly to the winner by design)."""
    split = phase is ReportPhase.PRE_DEPLOY or (phase is not ReportPhase.POST_DEPLOY and not result.serving)
    return analysis_of(Evidence.from_result(result), split=split)


def health_findings(a: Analysis) -> list[Finding]:
    """The experiment-wide findings, blocks first; the split sentence carries the shares seen."""
    found = [f for f in a.guardrails(a.control.variant_id) if f.code in HEALTH_CODES]
    return sorted(found, key=lambda f: f.level != BLOCK)


def finding_line(f: Finding, a: Analysis | None = None) -> str:
    """mrkdwn: one finding with its mark (a block stands out from a warning)."""
    text = srm_sentence(a) if a is not None and f.code in ("srm", "split_off") else None
    mark = ":no_entry:" if f.level == BLOCK else ":warning:"
    return f"{mark} {escape(text or f.words)}"


def verdict_text(a: Analysis) -> str:
    return f"*Verdict:* {escape(a.verdict.words)}"


def guardrail_line(g: Guardrail) -> str:
    """mrkdwn: one guardrail of a serve, a block marked apart from a warning."""
    return f"{':no_entry:' if g.blocks else ':warning:'} {escape(g.words)}"


def evidence_blocks(a: Analysis | None, *, health: bool = True) -> list[dict[str, Any]]:
    """The verdict, the health lines (if any; not when the caller lists the guardrails, which
    include them) and the footnote: at most 3 blocks."""
    if a is None:
        return []
    blocks = [section(verdict_text(a))]
    found = health_findings(a) if health else []
    if found:
        blocks.append(section("\n".join(finding_line(f, a) for f in found)))
    blocks.append(context(escape(words.footnote(a.engine))))
    return blocks


MAX_METRICS_SHOWN = 10


def metric_line(name: str, a: Analysis | None) -> str:
    """Plain text: "Newsletter signup: One-page checkout 7.5 % vs 10.0 % · 0.3 % chance to beat Control"."""
    name = truncate(name, 80)
    if a is None:
        return f"{name}: Mida's results are not conversion counts, so the bot shows no figures"
    parts = []
    for c in a.comparisons:
        if c.visitors == 0 or a.control.visitors == 0:
            parts.append(f"{c.name}: no visitors yet")
            continue
        figure = (
            words.chance_to_beat_words(c.chance_to_beat or 0.0, a.control.name)
            if a.engine == "bayesian"
            else f"{words.fmt_p(c.p_value)}, {words.significance_words(c.outcome, a.threshold_percent)}"
        )
        parts.append(f"{truncate(c.name, 80)} {words.fmt_rate(c.rate)} vs {words.fmt_rate(a.control_rate)} · {figure}")
    return f"{name}: " + "; ".join(parts)


def secondary_block(evidence: Evidence | None) -> dict[str, Any] | None:
    """The attached secondary metrics, compared like the primary goal, folded into one small
    context block (the primary figures above are what decides); None when none were read."""
    if evidence is None or evidence.secondary is None:
        return None
    if evidence.secondary.error:
        return context(f"Secondary metrics: {escape(evidence.secondary.error)}.")
    judged = metric_analyses(evidence)
    if not judged:
        return None
    lines = [f"• {escape(truncate(metric_line(m.metric.name, m.analysis), 280))}" for m in judged[:MAX_METRICS_SHOWN]]
    if len(judged) > MAX_METRICS_SHOWN:
        lines.append(f"… and {len(judged) - MAX_METRICS_SHOWN} more: Mida shows them all.")
    head = f"*Secondary metrics* ({len(judged)}), compared the same way:"
    return context("\n".join([head, *lines]))
