"""The confirm modal as a service: open a draft, read the evidence into it, let the person pick a
variant, and turn the submitted values into a request through `ChangeIntake.request_change`."""

from __future__ import annotations

from bot.domain import (
    Action,
    Change,
    ChangeRequest,
    Draft,
    Evidence,
    Guardrail,
    Origin,
    Person,
    RampPlan,
    TeamRef,
    parse_percent,
)
from bot.mida import errors as mida
from bot.services.changes.intake import ChangeIntake
from bot.services.changes.state import best_variant, check_state_fits
from bot.services.errors import ExperimentConflict, InvalidInput, NotAllowed
from bot.services.experiments import ExperimentService
from bot.services.guardrails import Guardrails
from bot.services.mida_errors import translate
from bot.store.drafts import DraftStore
from bot.store.keys import new_id
from bot.store.ramps import RampStore


class DraftService:
    def __init__(
        self,
        *,
        experiments: ExperimentService,
        drafts: DraftStore,
        guardrails: Guardrails,
        intake: ChangeIntake,
        ramps: RampStore,
    ) -> None:
        self._experiments = experiments
        self._drafts = drafts
        self._guardrails = guardrails
        self._intake = intake
        self._ramps = ramps

    async def open_draft(
        self,
        team: TeamRef,
        requester: Person,
        channel_id: str,
        change: Change,
        response_url: str | None = None,
        origin: Origin = Origin.COMMAND,
        plan: RampPlan | None = None,
    ) -> Draft:
        """Start a confirm modal: Redis only, so it fits before views.open."""
        await self._experiments.workspace(team)
        draft = Draft(
            id=new_id(),
            team=team,
            requester=requester,
            channel_id=channel_id,
            action=change.action,
            test_id=change.test_id,
            variant_id=change.variant_id,
            rollout=change.rollout,
            response_url=response_url,
            origin=origin,
            plan=plan,
        )
        await self._drafts.put(draft)
        return draft

    async def prepare(self, team: TeamRef, draft_id: str, view_id: str | None) -> tuple[Draft, list[Guardrail]]:
        """Fetch the evidence for an open modal and choose the defaults it shows."""
        draft = await self._drafts.get(team, draft_id)
        if draft is None:
            raise InvalidInput("reason", "This form has expired. Run the command again.")
        # Checked here, after the modal is open (users.info is a Slack call); the draft then binds
        # the form to the person checked.
        await self._intake.require_entitled(team, draft.channel_id, draft.requester)
        ws = await self._experiments.workspace(team)
        try:
            if draft.action is Action.SERVE_WINNER:
                evidence = await self._experiments.decision_evidence(ws, draft.test_id)
            else:
                evidence = await self._experiments.evidence(ws, draft.test_id)
        except mida.MidaError as err:
            raise translate(err, test_id=draft.test_id) from None
        if draft.plan is not None:
            await self._fit_plan(team, draft, evidence)
        check_state_fits(draft.action, evidence)

        if draft.action is Action.SERVE_WINNER:
            if draft.variant_id is not None and evidence.variant(draft.variant_id) is None:
                ids = ", ".join(v.variant_id for v in evidence.variants)
                draft.note = f"Variant {draft.variant_id} is not one of this experiment's variants ({ids}); pick one."
                draft.variant_id = None
            if draft.variant_id is None:
                draft.variant_id = best_variant(evidence)
        if draft.rollout is None and draft.action in (Action.SERVE_WINNER, Action.UPDATE_ROLLOUT):
            draft.rollout = evidence.traffic_allocation if evidence.traffic_allocation is not None else 100.0
        draft.evidence = evidence
        draft.view_id = view_id
        draft.requester_checked = True
        await self._drafts.update(draft)
        return draft, await self._warnings(team, draft)

    async def _fit_plan(self, team: TeamRef, draft: Draft, evidence: Evidence) -> None:
        """A ramp starts by serving its variant at the first step, or, when the experiment already
        serves that variant below it, by raising the rollout to the first step."""
        assert draft.plan is not None and draft.variant_id is not None
        if await self._ramps.active_for(team, draft.test_id) is not None:
            raise ExperimentConflict(
                draft.action,
                "A ramp is already under way on this experiment: pause or abort it on its card first.",
                evidence,
                said_by_mida=False,
            )
        variant = evidence.variant(draft.variant_id)
        if variant is None:
            ids = ", ".join(v.variant_id for v in evidence.variants)
            raise InvalidInput(
                "variant",
                f"Variant {draft.variant_id} is not one of this experiment's variants ({ids}). "
                f"Run /mida ramp {draft.test_id} <variant_id> <steps> with one of them.",
            )
        if not evidence.is_serving:
            return
        if evidence.serving_variant_id != draft.variant_id:
            raise ExperimentConflict(
                draft.action,
                "The experiment serves another variant: stop serving it before ramping this one.",
                evidence,
                said_by_mida=False,
            )
        current = evidence.traffic_allocation or 0
        if current >= draft.plan.steps[0]:
            raise InvalidInput(
                "rollout",
                f"{variant.label} is already served at {current:g} %: start the ramp with steps above that.",
            )
        draft.action = Action.UPDATE_ROLLOUT

    async def select_variant(self, team: TeamRef, draft_id: str, variant_id: str) -> tuple[Draft, list[Guardrail]]:
        draft = await self._drafts.get(team, draft_id)
        if draft is None or draft.evidence is None:
            raise InvalidInput("variant", "This form has expired. Run the command again.")
        if draft.evidence.variant(variant_id) is not None:
            draft.variant_id = variant_id
            draft.note = None  # a variant is picked now
            await self._drafts.update(draft)
        return draft, await self._warnings(team, draft)

    async def _warnings(self, team: TeamRef, draft: Draft) -> list[Guardrail]:
        if draft.evidence is None or (draft.action is not Action.SERVE_WINNER and draft.plan is None):
            return []
        return await self._guardrails.check(team, draft.channel_id, draft.evidence, draft.variant_id)

    async def submit(
        self,
        team: TeamRef,
        draft_id: str,
        submitter: Person,
        *,
        variant_id: str | None,
        rollout_text: str | None,
        reason: str | None,
    ) -> ChangeRequest:
        """Validate the modal and make the request. Fast (Redis only): runs before the ack, so
        a bad value comes back as an error on its field and nothing is recorded."""
        draft = await self._drafts.get(team, draft_id)
        if draft is None or draft.evidence is None:
            raise InvalidInput("reason", "This form has expired or was already submitted. Run the command again.")
        if draft.requester != submitter:
            raise NotAllowed("submit a form someone else opened")
        evidence = draft.evidence
        reason = (reason or "").strip()

        rollout: float | None = None
        if draft.plan is not None:
            rollout = draft.plan.steps[0]  # the plan is fixed by the command: a new plan is a new request
        elif draft.action in (Action.SERVE_WINNER, Action.UPDATE_ROLLOUT):
            rollout = parse_percent(rollout_text or "")
            if rollout is None:
                raise InvalidInput("rollout", "Enter a rollout between 0 and 100, like 25 or 25%.")
            if draft.action is Action.UPDATE_ROLLOUT and rollout == evidence.traffic_allocation:
                raise InvalidInput("rollout", f"The rollout is already {rollout:g} %; enter a different one.")
        chosen: str | None = None
        warnings: list[Guardrail] = []
        if draft.plan is not None:
            chosen = draft.variant_id
            warnings = await self._warnings(team, draft)
            if warnings and not reason:
                raise InvalidInput("reason", _reason_needed(warnings))
        elif draft.action is Action.SERVE_WINNER:
            chosen = (variant_id or "").strip() or None
            if chosen is None or evidence.variant(chosen) is None:
                raise InvalidInput("variant", "Choose one of the experiment's variants.")
            draft.variant_id = chosen
            warnings = await self._warnings(team, draft)
            if warnings and not reason:
                raise InvalidInput("reason", _reason_needed(warnings))

        request = await self._intake.request_change(
            team=team,
            requester=submitter,
            change=Change(action=draft.action, test_id=draft.test_id, variant_id=chosen, rollout=rollout),
            evidence=evidence,
            channel_id=draft.channel_id,
            reason=reason,
            overrides=warnings,
            origin=draft.origin,
            response_url=draft.response_url,
            request_id=draft.id,  # one draft, one request: a second submit of the same modal is refused
            requester_checked=draft.requester_checked,
            plan=draft.plan,
        )
        await self._drafts.delete(team, draft.id)
        return request


def _reason_needed(warnings: list[Guardrail]) -> str:
    """What the empty reason field says: a block by name (it becomes an override), else the warnings."""
    blocks = [w for w in warnings if w.blocks]
    if not blocks:
        return "Give a reason to serve despite the warnings above."
    names = " and ".join(dict.fromkeys(w.words.split(":", 1)[0].lower() for w in blocks))
    return f"This is blocked ({names}): write why you serve anyway; it is recorded as an override on the card and in the audit log."
