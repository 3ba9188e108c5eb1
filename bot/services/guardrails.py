"""Checks of the evidence before a winner is served. Each failed check is a warning; serving
anyway needs a reason, which the audit log keeps."""

from __future__ import annotations

from bot.domain import ChannelRules, Evidence, TeamRef
from bot.store.rules import RulesStore


class Guardrails:
    def __init__(self, rules: RulesStore) -> None:
        self._rules = rules

    async def check(self, team: TeamRef, channel_id: str, evidence: Evidence, variant_id: str | None) -> list[str]:
        """Checked against the thresholds of the channel the change is asked in."""
        return warnings_for(await self._rules.rules(team, channel_id), evidence, variant_id)


def warnings_for(policy: ChannelRules, evidence: Evidence, variant_id: str | None) -> list[str]:
    warnings: list[str] = []
    chosen = evidence.variant(variant_id)
    if chosen is not None and chosen.is_control:
        warnings.append(f"{chosen.label} is the control: serving it shows every visitor the original.")
    if chosen is not None and chosen.improvement is not None and chosen.improvement < 0:
        warnings.append(f"{chosen.label} converts {abs(chosen.improvement):.1f} % worse than the control.")
    if evidence.days_running is not None and evidence.days_running < policy.min_days_running:
        warnings.append(
            f"The experiment has run {evidence.days_running} days; this workspace asks for at least "
            f"{policy.min_days_running}."
        )
    thin = [v for v in evidence.variants if v.visitors < policy.min_visitors_per_variant]
    if thin:
        names = ", ".join(f"{v.label} ({v.visitors:,})" for v in thin)
        warnings.append(
            f"Fewer than {policy.min_visitors_per_variant:,} visitors on {names}: the numbers may not hold."
        )
    return warnings
