"""Checks of the evidence before a winner is served: the statistics engine's findings (STATS.md's
guardrail table), at the thresholds of the channel the change is asked in. Every failed check needs
a reason; a block (sample ratio mismatch, no baseline, serving a loser) makes that reason an override
that the card and the audit log show."""

from __future__ import annotations

from bot.domain import ChannelRules, Evidence, Guardrail, GuardrailLevel, TeamRef
from bot.evidence import words
from bot.evidence.analysis import BAYESIAN
from bot.services.evidence import analysis_of, srm_sentence, worse_on
from bot.store.rules import RulesStore

NO_STATISTICS = Guardrail(
    code="no_statistics",
    level=GuardrailLevel.WARN,
    words="Mida named no statistics engine for this test, so the bot cannot judge the numbers.",
)


class Guardrails:
    def __init__(self, rules: RulesStore) -> None:
        self._rules = rules

    async def check(
        self, team: TeamRef, channel_id: str, evidence: Evidence, variant_id: str | None
    ) -> list[Guardrail]:
        """Checked against the thresholds of the channel the change is asked in."""
        return guardrails_for(await self._rules.rules(team, channel_id), evidence, variant_id)


def guardrails_for(rules: ChannelRules, evidence: Evidence, variant_id: str | None) -> list[Guardrail]:
    """What fails if `variant_id` is served, blocks first; nothing when no variant is chosen."""
    if variant_id is None or evidence.variant(variant_id) is None:
        return []
    analysis = analysis_of(evidence, rules)
    if analysis is None:
        return [NO_STATISTICS]
    split = srm_sentence(analysis)  # the split seen and expected, for the card and the audit too
    found = [
        Guardrail(
            code=f.code,
            level=GuardrailLevel(f.level),
            words=split if split is not None and f.code in ("srm", "split_off") else f.words,
        )
        for f in analysis.guardrails(variant_id)
    ]
    for metric, judged, c in worse_on(evidence, variant_id):
        if judged.engine == BAYESIAN:
            figure = f"{words.chance_to_beat_words(c.chance_to_beat or 0.0, judged.control.name)}"
        else:
            figure = f"significantly worse, {words.fmt_p(c.p_value)}"
        found.append(
            Guardrail(
                code="secondary_worse",
                level=GuardrailLevel.WARN,
                words=f"Worse on a secondary metric: {metric.name}, {words.fmt_rate(c.rate)} vs "
                f"{words.fmt_rate(judged.control_rate)} for {c.name} ({figure}).",
            )
        )
    return found
