"""One experiment's evidence, analysed: the comparisons, the split check, the verdict, the guardrails.

`analyse(ExperimentInput) -> Analysis` is pure: plain dataclasses in, plain dataclasses out, every
figure from the integer counts (bot/evidence/stats.py), in the test's own engine (STATS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.evidence import stats, words
from bot.evidence.stats import Counts

BAYESIAN = "bayesian"
FREQUENTIST = "frequentist"
ENGINES = (BAYESIAN, FREQUENTIST)

BLOCK = "block"
WARN = "warn"

# Outcome of one comparison with the control at the test's threshold.
BETTER = "better"
WORSE = "worse"
INCONCLUSIVE = "inconclusive"

# The sample-ratio rows of STATS.md's guardrail table (fixed: they are not channel settings).
SRM_BLOCK_P = 0.001
SRM_WARN_P = 0.01
SRM_MIN_DEVIATION_PP = 0.1
SRM_MIN_VISITORS = 8


@dataclass(frozen=True)
class ArmInput:
    """One row of Get Experiment Result's `variants`, as the statistics need it."""

    variant_id: str
    name: str
    is_control: bool
    visitors: int
    conversions: int
    traffic_weight: float | None = None
    variant_status: str | None = None
    revenue: float | None = None


@dataclass(frozen=True)
class ExperimentInput:
    engine: str  # "bayesian" | "frequentist" (Mida's `stats_engine`)
    confidence_threshold_percent: float
    is_mab: bool
    days_running: int | None
    arms: tuple[ArmInput, ...]


@dataclass(frozen=True)
class Rules:
    """The warn thresholds of STATS.md's guardrail table (workspace/channel settings)."""

    min_days: int = 7
    min_visitors: int = 100
    min_conversions: int = 25
    risky_loss: float = 0.05  # expected loss, relative, at or above which serving is "risky"


@dataclass(frozen=True)
class Revenue:
    rpv: float | None  # revenue per visitor of the variant
    control_rpv: float | None
    lift: float | None  # rpv / control_rpv − 1; no interval: Mida gives no per-visitor variance


@dataclass(frozen=True)
class Comparison:
    """One non-control variant against the control. Engine-specific fields are None in the other engine."""

    variant_id: str
    name: str
    visitors: int
    conversions: int
    rate: float | None
    lift: float | None  # observed pB/pA − 1; None without a control rate
    interval: tuple[float, float] | None  # of the lift, at the test's level (credible / confidence)
    outcome: str  # BETTER | WORSE | INCONCLUSIVE, plain comparison at the threshold
    chance_to_beat: float | None = None  # Bayesian
    risk: float | None = None  # Bayesian expected loss, relative; None when the control has no conversions
    z: float | None = None  # frequentist
    p_value: float | None = None  # frequentist; None when undefined (no conversions at all)
    prob_best: float | None = None  # Bayesian, several variants
    holm_p: float | None = None  # frequentist, several variants
    revenue: Revenue | None = None


@dataclass(frozen=True)
class SrmArm:
    variant_id: str
    name: str
    visitors: int
    weight: float
    observed_share: float | None
    expected_share: float | None


@dataclass(frozen=True)
class Srm:
    """Chi-square of visitors against `traffic_weight` over the active arms (weight > 0)."""

    checked: bool
    skipped_because: str | None  # "mab" | "no_weights" | "one_arm" | "no_visitors" when not checked
    arms: tuple[SrmArm, ...]  # the arms tested
    excluded: tuple[SrmArm, ...]  # weight 0 but visitors: left out, with a warning
    statistic: float | None = None
    df: int | None = None
    p: float | None = None
    max_deviation_pp: float | None = None  # largest |observed − expected share|, percentage points
    level: str | None = None  # BLOCK (sample ratio mismatch), WARN (split looks off) or None


@dataclass(frozen=True)
class Verdict:
    kind: str  # "winner" | "control_better" | "too_early" | "no_baseline"
    variant_id: str | None  # the winner, for "winner"
    words: str


@dataclass(frozen=True)
class Finding:
    """One guardrail row that applies: `code` names the rule, `numbers` the figures it used."""

    code: str
    level: str  # BLOCK | WARN
    words: str
    numbers: Mapping[str, float | int | str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    engine: str
    threshold_percent: float
    level: float  # threshold / 100: the chance needed (Bayesian), 1 − α (frequentist), interval level
    is_mab: bool
    days_running: int | None
    control: ArmInput
    control_rate: float | None
    comparisons: tuple[Comparison, ...]
    several: bool  # more than one non-control arm
    control_prob_best: float | None  # Bayesian, several variants
    srm: Srm
    verdict: Verdict
    findings: Mapping[str, tuple[Finding, ...]]  # guardrails if this variant id were served
    has_revenue: bool

    def comparison(self, variant_id: str) -> Comparison:
        for c in self.comparisons:
            if c.variant_id == variant_id:
                return c
        raise KeyError(variant_id)

    def guardrails(self, variant_id: str) -> tuple[Finding, ...]:
        """The guardrail findings for serving `variant_id` (control included), blocks first."""
        return self.findings[variant_id]

    def blocks(self, variant_id: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings[variant_id] if f.level == BLOCK)


# --- analyse -------------------------------------------------------------------------------------


def analyse(experiment: ExperimentInput, rules: Rules = Rules()) -> Analysis:
    """Everything the evidence says about `experiment`, in its own engine."""
    if experiment.engine not in ENGINES:
        raise ValueError(f"unknown stats engine {experiment.engine!r}")
    threshold = float(experiment.confidence_threshold_percent)
    if not 0 < threshold < 100:
        raise ValueError(f"confidence threshold must be between 0 and 100 %, got {threshold}")
    controls = [a for a in experiment.arms if a.is_control]
    if len(controls) != 1:
        raise ValueError(f"need exactly one control arm, got {len(controls)}")
    control = controls[0]
    variants = [a for a in experiment.arms if not a.is_control]
    if not variants:
        raise ValueError("need at least one variant besides the control")
    level = threshold / 100
    bayesian = experiment.engine == BAYESIAN
    several = len(variants) > 1
    cA = Counts(control.visitors, control.conversions)
    counts = [Counts(v.visitors, v.conversions) for v in variants]

    comparisons = [_compare(cA, v, cB, level, bayesian) for v, cB in zip(variants, counts, strict=False)]
    control_prob_best = None
    if several and bayesian:
        best = stats.prob_best([cA, *counts])
        control_prob_best = best[0]
        comparisons = [replace(c, prob_best=p) for c, p in zip(comparisons, best[1:], strict=False)]
    if several and not bayesian:
        adjusted = stats.holm([c.p_value for c in comparisons])
        comparisons = [replace(c, holm_p=p) for c, p in zip(comparisons, adjusted, strict=False)]
    has_revenue = any(a.revenue is not None for a in experiment.arms)
    if has_revenue:
        comparisons = [replace(c, revenue=_revenue(control, v)) for c, v in zip(comparisons, variants, strict=False)]

    srm = _srm(experiment)
    # The verdict and the guardrails read the figures above; they are filled in last.
    partial = Analysis(
        engine=experiment.engine,
        threshold_percent=threshold,
        level=level,
        is_mab=experiment.is_mab,
        days_running=experiment.days_running,
        control=control,
        control_rate=cA.rate,
        comparisons=tuple(comparisons),
        several=several,
        control_prob_best=control_prob_best,
        srm=srm,
        verdict=Verdict("too_early", None, ""),
        findings={},
        has_revenue=has_revenue,
    )
    verdict = _verdict(partial)
    findings = {a.variant_id: _guardrails(partial, experiment, a, rules) for a in experiment.arms}
    return replace(partial, verdict=verdict, findings=findings)


def _compare(cA: Counts, v: ArmInput, cB: Counts, level: float, bayesian: bool) -> Comparison:
    base = Comparison(
        variant_id=v.variant_id,
        name=v.name,
        visitors=v.visitors,
        conversions=v.conversions,
        rate=cB.rate,
        lift=stats.relative_lift(cA, cB),
        interval=None,
        outcome=INCONCLUSIVE,
    )
    if bayesian:
        chance = stats.chance_to_beat(cA, cB)
        return replace(
            base,
            interval=stats.credible_interval(cA, cB, level),
            outcome=BETTER if chance >= level else WORSE if chance <= 1 - level else INCONCLUSIVE,
            chance_to_beat=chance,
            risk=stats.expected_loss(cA, cB),
        )
    test = stats.z_test(cA, cB)
    return replace(
        base,
        interval=stats.lift_confidence_interval(cA, cB, level),
        outcome=_significance(test.p, test.z, level),
        z=test.z,
        p_value=test.p,
    )


def _significance(p: float | None, z: float | None, level: float) -> str:
    # Mida's rule: significant when p < 1 − threshold/100.
    if p is None or z is None or not p < 1 - level:
        return INCONCLUSIVE
    return BETTER if z > 0 else WORSE


def _revenue(control: ArmInput, v: ArmInput) -> Revenue:
    def rpv(a: ArmInput) -> float | None:
        return a.revenue / a.visitors if a.revenue is not None and a.visitors else None

    mine, theirs = rpv(v), rpv(control)
    lift = mine / theirs - 1 if mine is not None and theirs else None
    return Revenue(rpv=mine, control_rpv=theirs, lift=lift)


def _srm(experiment: ExperimentInput) -> Srm:
    excluded = tuple(
        SrmArm(a.variant_id, a.name, a.visitors, 0.0, None, None)
        for a in experiment.arms
        if a.traffic_weight is not None and a.traffic_weight <= 0 and a.visitors > 0
    )
    active = [a for a in experiment.arms if a.traffic_weight is not None and a.traffic_weight > 0]
    plain = tuple(SrmArm(a.variant_id, a.name, a.visitors, float(a.traffic_weight or 0), None, None) for a in active)
    if experiment.is_mab:
        return Srm(False, "mab", (), excluded)
    if any(a.traffic_weight is None for a in experiment.arms):
        return Srm(False, "no_weights", (), excluded)
    if len(active) < 2:
        return Srm(False, "one_arm", plain, excluded)
    total = sum(a.visitors for a in active)
    if total == 0:
        return Srm(False, "no_visitors", plain, excluded)
    weights = [float(a.traffic_weight or 0) for a in active]
    wsum = sum(weights)
    arms = tuple(
        SrmArm(a.variant_id, a.name, a.visitors, w, a.visitors / total, w / wsum)
        for a, w in zip(active, weights, strict=False)
    )
    gof = stats.chi_square_gof([a.visitors for a in active], weights)
    deviation = max(abs((a.observed_share or 0) - (a.expected_share or 0)) for a in arms) * 100
    enough = min(a.visitors for a in active) >= SRM_MIN_VISITORS
    if gof.p < SRM_BLOCK_P and deviation >= SRM_MIN_DEVIATION_PP and enough:
        level: str | None = BLOCK
    elif gof.p < SRM_WARN_P:
        # Includes p < 0.001 on a deviation under 0.1 pp, or on arms too small to trust the test.
        level = WARN
    else:
        level = None
    return Srm(True, None, arms, excluded, gof.statistic, gof.df, gof.p, deviation, level)


# --- verdict -------------------------------------------------------------------------------------


def _decisive(a: Analysis, c: Comparison) -> str:
    """BETTER / WORSE / INCONCLUSIVE as the verdict reads it: Holm-adjusted with several frequentist arms."""
    if a.engine == FREQUENTIST and a.several:
        return _significance(c.holm_p, c.z, a.level)
    return c.outcome


def _figure(a: Analysis, c: Comparison) -> str:
    """The figure a verdict quotes for `c`: its chance to beat, its p, or its Holm-adjusted p."""
    if a.engine == BAYESIAN:
        return words.chance_to_beat_words(c.chance_to_beat or 0.0, a.control.name)
    return words.fmt_holm(c.holm_p) if a.several else words.fmt_p(c.p_value)


def _verdict(a: Analysis) -> Verdict:
    control = a.control
    level = words.fmt_level(a.threshold_percent)
    if control.visitors == 0 or control.conversions == 0:
        missing = "visitors" if control.visitors == 0 else "conversions"
        return Verdict(
            "no_baseline", None, f"No baseline yet: {control.name} has no {missing}, so nothing can be compared"
        )
    live = [c for c in a.comparisons if c.visitors > 0]
    winners = [c for c in live if _decisive(a, c) == BETTER]
    if winners:
        if a.engine == BAYESIAN:
            top = max(winners, key=lambda c: (c.prob_best or 0.0, c.chance_to_beat or 0.0))
        else:
            top = max(winners, key=lambda c: c.rate or 0.0)
        if a.engine == BAYESIAN:
            why = f"{_figure(a, top)} (threshold {level})"
        else:
            why = f"{_figure(a, top)}, significant at {level}"
        return Verdict("winner", top.variant_id, f"Winner: {top.name} — {why}")
    if live and len(live) == len(a.comparisons) and all(_decisive(a, c) == WORSE for c in live):
        if len(live) == 1:
            c = live[0]
            if a.engine == BAYESIAN:
                why = f"{c.name} has a {_figure(a, c)} (threshold {level})"
            else:
                why = f"{c.name} is significantly worse ({_figure(a, c)}, at {level})"
        elif a.engine == BAYESIAN:
            worst = max(c.chance_to_beat or 0.0 for c in live)
            why = f"every variant has at most a {words.fmt_chance(worst)} chance to beat {control.name} (threshold {level})"
        else:
            why = f"every variant is significantly worse at {level}"
        return Verdict("control_better", None, f"{control.name} is better — don't serve: {why}")
    if not live:
        return Verdict("too_early", None, "Too early to call: no variant has visitors yet")
    if a.engine == BAYESIAN:
        lead = max(live, key=lambda c: c.chance_to_beat or 0.0)
        why = f"no variant reaches the {level} threshold (best: {lead.name}, {_figure(a, lead)})"
    else:
        lead = min(live, key=lambda c: (c.holm_p if a.several else c.p_value) or 1.0)
        why = f"no variant is significant at {level} (lowest: {lead.name}, {_figure(a, lead)})"
    return Verdict("too_early", None, f"Too early to call: {why}")


# --- guardrails ----------------------------------------------------------------------------------


def _guardrails(a: Analysis, experiment: ExperimentInput, served: ArmInput, rules: Rules) -> tuple[Finding, ...]:
    out: list[Finding] = []
    control = a.control
    level = words.fmt_level(a.threshold_percent)
    srm = a.srm
    if srm.level is not None:
        text = words.srm_words(srm) or ""
        numbers = {"p": srm.p, "max_deviation_pp": srm.max_deviation_pp, "statistic": srm.statistic}
        out.append(Finding("srm" if srm.level == BLOCK else "split_off", srm.level, text, numbers))

    cmp = None if served.is_control else a.comparison(served.variant_id)
    empty = [arm for arm in (control, served) if arm.visitors == 0]
    if empty or control.conversions == 0:
        if empty:
            names = " and ".join(dict.fromkeys(arm.name for arm in empty))
            text = f"No baseline: {names} has no visitors yet; serving needs a reason."
        else:
            text = f"No baseline: {control.name} has no conversions yet, so there is nothing to compare with; serving needs a reason."
        out.append(
            Finding(
                "no_baseline",
                BLOCK,
                text,
                {
                    "control_visitors": control.visitors,
                    "control_conversions": control.conversions,
                    "visitors": served.visitors,
                },
            )
        )
    elif cmp is not None:
        out.extend(_variant_rows(a, cmp, level, rules))
    else:
        out.extend(_control_rows(a, level))

    small = [
        arm
        for arm in dict.fromkeys((control, served))
        if arm.visitors < rules.min_visitors or arm.conversions < rules.min_conversions
    ]
    for arm in small:
        out.append(
            Finding(
                "low_sample",
                WARN,
                f"Low sample: {arm.name} has {words.fmt_count(arm.visitors)} visitors and "
                f"{words.fmt_count(arm.conversions)} conversions "
                f"(at least {rules.min_visitors} visitors and {rules.min_conversions} conversions per arm).",
                {"variant_id": arm.variant_id, "visitors": arm.visitors, "conversions": arm.conversions},
            )
        )
    if a.days_running is not None and a.days_running < rules.min_days:
        out.append(
            Finding(
                "too_early",
                WARN,
                f"Too early: running {a.days_running} day{'s' if a.days_running != 1 else ''} (at least {rules.min_days}).",
                {"days_running": a.days_running, "min_days": rules.min_days},
            )
        )
    if a.several:
        out.append(
            Finding(
                "several_variants",
                WARN,
                words.several_note(len(a.comparisons), control.name),
                {"variants": len(a.comparisons)},
            )
        )
    if experiment.is_mab:
        out.append(
            Finding(
                "mab",
                WARN,
                "Multi-armed bandit test: traffic moved toward the leaders, so fixed-split statistics are only a guide.",
            )
        )
    for paused in srm.excluded:
        out.append(
            Finding(
                "paused_arm",
                WARN,
                f"Paused arm with traffic: {paused.name} has weight 0 but {words.fmt_count(paused.visitors)} visitors; "
                "it is left out of the split check.",
                {"variant_id": paused.variant_id, "visitors": paused.visitors},
            )
        )
    return tuple(sorted(out, key=lambda f: f.level != BLOCK))


def _variant_rows(a: Analysis, c: Comparison, level: str, rules: Rules) -> list[Finding]:
    out: list[Finding] = []
    bayesian = a.engine == BAYESIAN
    figure = _figure(a, c)
    if c.outcome == WORSE:
        if bayesian:
            text = f"Serving a loser: {c.name} has a {figure}; serving needs a reason."
        else:
            text = f"Serving a loser: {c.name} is significantly worse than {a.control.name} ({words.fmt_p(c.p_value)}); serving needs a reason."
        out.append(Finding("loser", BLOCK, text, {"chance_to_beat": c.chance_to_beat, "p": c.p_value}))
    elif _decisive(a, c) != BETTER:
        if bayesian:
            text = f"Below the {level} threshold: {figure}."
        else:
            text = f"Not significant at {level} ({figure})."
        out.append(
            Finding(
                "below_threshold", WARN, text, {"chance_to_beat": c.chance_to_beat, "p": c.p_value, "holm_p": c.holm_p}
            )
        )
    if bayesian and c.risk is not None and c.risk >= rules.risky_loss:
        out.append(
            Finding(
                "risky",
                WARN,
                f"Risky: expected loss {c.risk * 100:.2f} % if {c.name} is worse "
                f"({rules.risky_loss * 100:g} % or more is risky).",
                {"risk": c.risk, "risky_loss": rules.risky_loss},
            )
        )
    return out


def _control_rows(a: Analysis, level: str) -> list[Finding]:
    """Serving the control itself: a loser when a variant beats it, unproven unless every variant loses."""
    beaten_by = [c for c in a.comparisons if c.outcome == BETTER]
    if beaten_by:
        c = beaten_by[0]
        text = f"Serving a loser: {c.name} beats {a.control.name} ({_figure(a, c)}); serving needs a reason."
        return [
            Finding(
                "loser", BLOCK, text, {"variant_id": c.variant_id, "chance_to_beat": c.chance_to_beat, "p": c.p_value}
            )
        ]
    if not all(_decisive(a, c) == WORSE for c in a.comparisons):
        return [
            Finding("below_threshold", WARN, f"{a.control.name} is not shown better than every variant at {level}.")
        ]
    return []
