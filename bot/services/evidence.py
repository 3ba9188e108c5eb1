"""From Mida's numbers to the statistics engine (bot/evidence): the one place an `Evidence` snapshot
becomes an `ExperimentInput`, and a channel's rules become the engine's thresholds.

Pure (no I/O): the builders in bot/views read the analysis through here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.domain import ChannelRules, Evidence, SecondaryMetric
from bot.evidence import words
from bot.evidence.analysis import WORSE, Analysis, ArmInput, Comparison, ExperimentInput, Rules, analyse

# Mida's documented default when a result names an engine but no threshold.
DEFAULT_THRESHOLD_PERCENT = 95.0


def experiment_input(evidence: Evidence) -> ExperimentInput | None:
    """The engine's input, or None when the evidence cannot be judged: no engine named (a snapshot
    stored before the statistics, or a value Mida does not document), or not one control and at
    least one other variant."""
    if evidence.stats_engine is None:
        return None
    controls = [v for v in evidence.variants if v.is_control]
    if len(controls) != 1 or len(evidence.variants) < 2:
        return None
    arms = tuple(
        ArmInput(
            variant_id=v.variant_id,
            name=v.label,
            is_control=v.is_control,
            visitors=v.visitors,
            conversions=v.conversions,
            # A paused arm has weight 0 (Mida's docs), also when the weight itself was left out.
            traffic_weight=0.0 if v.paused and v.traffic_weight is None and not evidence.is_mab else v.traffic_weight,
            variant_status=v.variant_status,
            revenue=v.revenue if evidence.has_revenue else None,
        )
        for v in evidence.variants
    )
    return ExperimentInput(
        engine=evidence.stats_engine,
        confidence_threshold_percent=evidence.confidence_threshold_percent or DEFAULT_THRESHOLD_PERCENT,
        is_mab=evidence.is_mab,
        days_running=evidence.days_running,
        arms=arms,
    )


def engine_rules(rules: ChannelRules) -> Rules:
    """The warn thresholds of a channel (or the workspace) as the engine takes them."""
    return Rules(
        min_days=rules.min_days_running,
        min_visitors=rules.min_visitors_per_variant,
        min_conversions=rules.min_conversions_per_variant,
        risky_loss=rules.risky_loss_percent / 100,
    )


def srm_sentence(a: Analysis) -> str | None:
    """STATS.md's sentence with the split seen and expected, e.g. "Sample ratio mismatch: 10,000 vs
    9,000 visitors on a 50/50 split (p < 0.001). … Seen 52.6 % / 47.4 %, expected 50.0 % / 50.0 %.";
    None when the split is fine or was not checked."""
    text = words.srm_words(a.srm)
    if text is None:
        return None
    seen = " / ".join(f"{(arm.observed_share or 0) * 100:.1f} %" for arm in a.srm.arms)
    expected = " / ".join(f"{(arm.expected_share or 0) * 100:.1f} %" for arm in a.srm.arms)
    return f"{text} Seen {seen}, expected {expected}."


def analysis_of(evidence: Evidence, rules: ChannelRules | None = None, *, split: bool = True) -> Analysis | None:
    """Everything the evidence says, in its own engine; None when it cannot be judged (above).
    Without `rules`, the guardrail findings use the defaults (the figures do not depend on them).
    `split=False` for numbers the configured split does not govern (after a winner was served):
    the sample-ratio check is then skipped."""
    experiment = experiment_input(evidence)
    if experiment is None:
        return None
    if not split:
        experiment = replace(experiment, arms=tuple(replace(a, traffic_weight=None) for a in experiment.arms))
    return analyse(experiment, engine_rules(rules or ChannelRules()))


@dataclass(frozen=True)
class MetricAnalysis:
    """One secondary metric and the same comparison as the primary goal's (None: not comparable)."""

    metric: SecondaryMetric
    analysis: Analysis | None


def metric_analyses(evidence: Evidence) -> list[MetricAnalysis]:
    """Each attached secondary metric judged like the primary goal: same engine and threshold, each
    variant against the control, no split check (the split is the primary goal's)."""
    primary = experiment_input(evidence)
    if primary is None or evidence.secondary is None:
        return []
    out = []
    for metric in evidence.secondary.metrics:
        counts = {c.variant_id: c for c in metric.counts}
        arms = tuple(
            replace(
                arm,
                visitors=counts[arm.variant_id].visitors if arm.variant_id in counts else 0,
                conversions=counts[arm.variant_id].conversions if arm.variant_id in counts else 0,
                traffic_weight=None,
                revenue=None,
            )
            for arm in primary.arms
        )
        judged = metric.comparable and all(a.conversions <= a.visitors for a in arms)
        experiment = replace(primary, arms=arms, days_running=None)
        out.append(MetricAnalysis(metric, analyse(experiment) if judged else None))
    return out


def worse_on(evidence: Evidence, variant_id: str) -> list[tuple[SecondaryMetric, Analysis, Comparison]]:
    """The secondary metrics on which `variant_id` is worse than the control at the test's threshold
    (significantly worse, or a chance to beat at most 1 − threshold)."""
    out = []
    for m in metric_analyses(evidence):
        if m.analysis is None:
            continue
        c = next((c for c in m.analysis.comparisons if c.variant_id == variant_id), None)
        if c is not None and c.outcome == WORSE:
            out.append((m.metric, m.analysis, c))
    return out


def material_change(before: Evidence, now: Evidence, variant_id: str, rules: ChannelRules | None = None) -> str | None:
    """What changed materially for serving `variant_id` between the evidence a request pinned and
    the experiment now — a block appeared, the verdict flipped, the chance (or significance) fell
    below the test's threshold — in words; None when the decision still stands."""
    then, current = analysis_of(before, rules), analysis_of(now, rules)
    if then is None or current is None:
        return None
    found: list[str] = []
    old_blocks = {f.code for f in then.findings.get(variant_id, ())}
    new_blocks = (
        [f for f in current.blocks(variant_id) if f.code not in old_blocks] if variant_id in current.findings else []
    )
    found += [f"a block appeared: {f.words}" for f in new_blocks]
    if then.verdict.kind != current.verdict.kind or then.verdict.variant_id != current.verdict.variant_id:
        found.append(f'the verdict changed from "{then.verdict.words}" to "{current.verdict.words}"')
    if not any(c.variant_id == variant_id for c in current.comparisons) or not any(
        c.variant_id == variant_id for c in then.comparisons
    ):
        return "; ".join(found) or None
    old, new = then.comparison(variant_id), current.comparison(variant_id)
    level = current.level
    if old.chance_to_beat is not None and new.chance_to_beat is not None:
        if old.chance_to_beat >= level > new.chance_to_beat:
            found.append(
                f"the chance to beat the control fell from {old.chance_to_beat * 100:.1f} % to "
                f"{new.chance_to_beat * 100:.1f} %, below the test's {current.threshold_percent:g} %"
            )
    elif old.outcome != new.outcome and old.p_value is not None and new.p_value is not None:
        found.append(
            f"the result went from {old.outcome} (p = {old.p_value:.3g}) to {new.outcome} (p = {new.p_value:.3g})"
        )
    if old.lift is not None and new.lift is not None and (old.lift > 0) != (new.lift > 0):
        found.append(f"the lift went from {old.lift * 100:+.0f} % to {new.lift * 100:+.0f} %")
    return "; ".join(found) or None
