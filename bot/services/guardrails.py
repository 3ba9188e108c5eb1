"""Checks of the evidence before a winner is served: the statistics engine's findings (STATS.md's
guardrail table), at the thresholds of the channel the change is asked in. Every failed check needs
a reason; a block (sample ratio mismatch, no baseline, serving a loser) makes that reason an override
that the card and the audit log show."""

from __future__ import annotations

from bot.domain import ChannelRules, Evidence, Guardrail, GuardrailLevel, TeamRef
from bot.services.evidence import analysis_of, srm_sentence
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
    return [
        Guardrail(
            code=f.code,
            level=GuardrailLevel(f.level),
            words=split if split is not None and f.code in ("srm", "split_off") else f.words,
        )
        for f in analysis.guardrails(variant_id)
    ]
