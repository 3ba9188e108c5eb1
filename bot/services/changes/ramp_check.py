"""The check before each later step of a ramp (pure, no I/O): is the served variant doing
significantly worse since it was served, or is the split of the post-deploy traffic off?

Against the control's post-deploy numbers while the control still gets traffic, else against the
variant's own pre-deploy rate; at the test's own engine and threshold.

The split check uses only what is exact whatever the traffic did over time: the arms that are not
served keep the experiment's weights among themselves at any rollout; and while the rollout has
been r since serving, the served arm gets r plus its weight's share of the rest (Mida buckets the
rolled-out visitors first). Once the rollout has changed, the served arm's expected share depends on
how many visitors came at each rollout, which Mida does not say, so it is not checked."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ChannelRules, Evidence
from bot.evidence.analysis import BLOCK, WORSE, ArmInput, Comparison, ExperimentInput, analyse
from bot.services.evidence import DEFAULT_THRESHOLD_PERCENT, engine_rules

OK = "ok"
REGRESSION = "regression"
MISMATCH = "mismatch"
NO_DATA = "no_data"


@dataclass(frozen=True)
class StepCheck:
    kind: str  # OK | REGRESSION | MISMATCH | NO_DATA
    words: str


def check_before_step(
    post: Evidence, pre: Evidence, variant_id: str, rollout: float, rules: ChannelRules, *, rollout_constant: bool
) -> StepCheck:
    served_post = post.variant(variant_id)
    served_pre = pre.variant(variant_id)
    control_post = next((v for v in post.variants if v.is_control), None)
    if served_post is None or served_pre is None:
        return StepCheck(NO_DATA, f"Mida's post-deploy results have no row for variant {variant_id}.")
    engine = post.stats_engine or pre.stats_engine or "bayesian"
    threshold = post.confidence_threshold_percent or pre.confidence_threshold_percent or DEFAULT_THRESHOLD_PERCENT
    name = served_post.label

    mismatch = _split_check(post, pre, variant_id, rollout if rollout_constant else None, engine, threshold)
    if mismatch is not None:
        return StepCheck(MISMATCH, mismatch)

    enough = rules.min_visitors_per_variant
    if control_post is not None and control_post.variant_id != variant_id and control_post.visitors >= enough:
        baseline = ArmInput(
            control_post.variant_id, control_post.label, True, control_post.visitors, control_post.conversions
        )
        against = f"{control_post.label} since serving"
    else:
        baseline = ArmInput(
            f"{variant_id}-before", f"{name} before serving", True, served_pre.visitors, served_pre.conversions
        )
        against = "its own rate before serving"
    served = ArmInput(variant_id, name, False, served_post.visitors, served_post.conversions)
    thin = [a for a in (baseline, served) if a.visitors < enough or a.conversions < rules.min_conversions_per_variant]
    if thin:
        return StepCheck(
            NO_DATA,
            f"Too little post-deploy data to judge: {name} has {served.visitors:,} visitors and "
            f"{served.conversions:,} conversions since serving; the check needs {enough:,} visitors and "
            f"{rules.min_conversions_per_variant:,} conversions on each side.",
        )
    analysis = analyse(ExperimentInput(engine, threshold, False, None, (baseline, served)), engine_rules(rules))
    comparison = analysis.comparisons[0]
    rates = f"{_pct(served.conversions / served.visitors)} since serving against {_pct(baseline.conversions / baseline.visitors)} for {against}"
    if comparison.outcome == WORSE:
        return StepCheck(REGRESSION, f"{name} converts worse: {rates}{_figure(comparison, threshold)}.")
    return StepCheck(OK, f"{name}: {rates}{_figure(comparison, threshold)}.")


def _split_check(
    post: Evidence, pre: Evidence, variant_id: str, rollout: float | None, engine: str, threshold: float
) -> str | None:
    """The words of a sample ratio mismatch since serving, or None. `rollout`: the one rollout
    since serving, or None when it has changed (then only the arms not served are checked)."""
    weights = {v.variant_id: v.traffic_weight for v in pre.variants}
    if pre.is_mab or any(w is None for w in weights.values()):
        return None
    total_weight = sum(w or 0 for w in weights.values())
    if total_weight <= 0:
        return None
    shares: dict[str, float] = {}
    for v in post.variants:
        weight = (weights.get(v.variant_id) or 0) / total_weight
        if v.variant_id == variant_id:
            if rollout is None:
                continue
            shares[v.variant_id] = rollout / 100 + (1 - rollout / 100) * weight
        elif weight > 0:
            shares[v.variant_id] = weight if rollout is None else (1 - rollout / 100) * weight
    checked = [v for v in post.variants if v.variant_id in shares]
    if len(checked) < 2:
        return None
    # The engine needs one control: the served arm stands in for it when the control is not checked.
    control_id = next((v.variant_id for v in checked if v.is_control), checked[0].variant_id)
    arms = tuple(
        ArmInput(
            v.variant_id, v.label, v.variant_id == control_id, v.visitors, v.conversions, shares[v.variant_id] * 100
        )
        for v in checked
    )
    srm = analyse(ExperimentInput(engine, threshold, False, None, arms)).srm
    if srm.level != BLOCK:
        return None
    seen = " / ".join(f"{a.visitors:,}" for a in srm.arms)
    expected = " / ".join(f"{(a.expected_share or 0) * 100:.1f} %" for a in srm.arms)
    names = " / ".join(a.name for a in srm.arms)
    return (
        f"Sample ratio mismatch since serving: {seen} visitors on {names}, where the split expects "
        f"{expected} (p < 0.001). The numbers may be biased."
    )


def _figure(comparison: Comparison, threshold: float) -> str:
    if comparison.chance_to_beat is not None:
        return f" ({comparison.chance_to_beat * 100:.1f} % chance to beat it; the test asks for {threshold:g} %)"
    if comparison.p_value is not None:
        return f" (p = {comparison.p_value:.3g} at {threshold:g} %)"
    return ""


def _pct(rate: float) -> str:
    return f"{rate * 100:.2f} %"
