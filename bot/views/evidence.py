"""The statistics around the variant rows, for every Slack surface: the verdict naming its
threshold, the experiment's health (sample ratio, several variants, MAB, paused arms) and the
footnote on how the bot computes the figures. Pure: an `Analysis` in, Block Kit out."""

from __future__ import annotations

from typing import Any

from bot.domain import Evidence
from bot.evidence import words
from bot.evidence.analysis import BLOCK, Analysis, Finding
from bot.mida.models import ExperimentResult, ReportPhase
from bot.services.evidence import analysis_of
from bot.views.format import context, escape, section

# Findings about the experiment as a whole, the same whichever variant would be served.
HEALTH_CODES = ("srm", "split_off", "several_variants", "mab", "paused_arm")


def result_analysis(result: ExperimentResult, phase: ReportPhase | None) -> Analysis | None:
    """The analysis of a result as shown: the split is checked only on numbers it governs (before a
    winner is served; post-deploy traffic goes mostly to the winner by design)."""
    split = phase is ReportPhase.PRE_DEPLOY or (phase is not ReportPhase.POST_DEPLOY and not result.serving)
    return analysis_of(Evidence.from_result(result), split=split)


def srm_sentence(a: Analysis) -> str | None:
    """STATS.md's sentence with the split seen and expected, e.g. "Sample ratio mismatch: 10,000 vs
    9,000 visitors on a 50/50 split (p < 0.001). … Seen 52.6 % / 47.4 %, expected 50 % / 50 %."."""
    text = words.srm_words(a.srm)
    if text is None:
        return None
    seen = " / ".join(f"{(arm.observed_share or 0) * 100:.1f} %" for arm in a.srm.arms)
    expected = " / ".join(f"{(arm.expected_share or 0) * 100:.1f} %" for arm in a.srm.arms)
    return f"{text} Seen {seen}, expected {expected}."


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


def evidence_blocks(a: Analysis | None) -> list[dict[str, Any]]:
    """The verdict, the health lines (if any) and the footnote: at most 3 blocks."""
    if a is None:
        return []
    blocks = [section(verdict_text(a))]
    health = health_findings(a)
    if health:
        blocks.append(section("\n".join(finding_line(f, a) for f in health)))
    blocks.append(context(escape(words.footnote(a.engine))))
    return blocks


MAX_EVIDENCE_BLOCKS = 3
