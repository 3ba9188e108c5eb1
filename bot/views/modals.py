"""Modals: connect, the change confirm modal (serve / rollout / stop), settings, reject reason.

Pure builders: data in, a view dict out. Modals carry only an id in `private_metadata`; everything
else is read back from Redis when they are submitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain import Action, ApprovalMode, ChannelRules, Draft, Evidence, Guardrail
from bot.evidence.analysis import BAYESIAN, Analysis
from bot.mida.models import VariantResult
from bot.services.evidence import analysis_of
from bot.views import ids
from bot.views.evidence import evidence_blocks, guardrail_line, secondary_block
from bot.views.format import (
    MAX_LABEL,
    MAX_MODAL_TITLE,
    MAX_OPTION_TEXT,
    MAX_OPTIONS,
    MAX_PLACEHOLDER,
    MAX_PRIVATE_METADATA,
    MAX_VIEW_BLOCKS,
    MODE_OPTION_TEXT,
    context,
    divider,
    escape,
    experiment_ref,
    fmt_days,
    fmt_number,
    fmt_rollout,
    header,
    option,
    plain,
    section,
    serving_words,
    status_label,
    truncate,
    variant_blocks,
)
from bot.views.ramps import plan_blocks
from bot.views.rows import DASH, VariantRow

REASON_MAX_LENGTH = 2000
ROLLOUT_MAX_LENGTH = 8
KEY_MAX_LENGTH = 512
REGIONS = (("us", "US (api-us.mida.so)"), ("eu", "EU (api-eu.mida.so)"))


# --- pieces -------------------------------------------------------------------------------------


def _modal(
    callback_id: str,
    title: str,
    blocks: list[dict[str, Any]],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str = "",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, MAX_MODAL_TITLE),
        "close": plain(close, MAX_MODAL_TITLE),
        "blocks": blocks[:MAX_VIEW_BLOCKS],
    }
    if submit is not None:
        view["submit"] = plain(submit, MAX_MODAL_TITLE)
    if private_metadata:
        view["private_metadata"] = private_metadata[:MAX_PRIVATE_METADATA]
    return view


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
    dispatch_action: bool = False,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, MAX_LABEL)
    if dispatch_action:
        block["dispatch_action"] = True
    return block


def _text_input(
    action_id: str,
    *,
    multiline: bool = False,
    max_length: int | None = None,
    initial: str | None = None,
    placeholder: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline}
    if max_length is not None:
        element["max_length"] = max_length
    if initial:
        element["initial_value"] = initial[:max_length] if max_length else initial
    if placeholder:
        element["placeholder"] = plain(placeholder, MAX_PLACEHOLDER)
    return element


# --- connect ------------------------------------------------------------------------------------


def connect_modal() -> dict[str, Any]:
    region_options = [option(text, value) for value, text in REGIONS]
    blocks = [
        section(
            "Connect this workspace to a Mida project. Find the project key and create an API key "
            "in Mida under *Settings → API*. The bot checks the pair with Mida before saving it."
        ),
        _input(
            ids.PROJECT_KEY,
            "Project key",
            _text_input(ids.PROJECT_KEY, max_length=KEY_MAX_LENGTH, placeholder="Your Mida project key"),
        ),
        _input(
            ids.API_KEY,
            "API key",
            _text_input(ids.API_KEY, max_length=KEY_MAX_LENGTH, placeholder="The API key Mida showed you once"),
            hint="Stored encrypted and never shown again (only its last 4 characters).",
        ),
        _input(
            ids.REGION,
            "Region",
            {
                "type": "static_select",
                "action_id": ids.REGION,
                "options": region_options,
                "initial_option": region_options[0],
            },
        ),
    ]
    return _modal(ids.CONNECT_MODAL, "Connect Mida", blocks, submit="Connect")


# --- information ------------------------------------------------------------------------------


def loading_modal(title: str, text: str, private_metadata: str = "") -> dict[str, Any]:
    """Opened at once (inside the 3-second trigger window), updated when the numbers arrive."""
    blocks = [section(f":hourglass_flowing_sand: {escape(text)}")]
    return _modal(ids.CHANGE_MODAL, title, blocks, private_metadata=private_metadata)


def message_modal(title: str, text: str) -> dict[str, Any]:
    """An error or a piece of information in a modal; nothing to submit. `text` is plain text."""
    return _modal(ids.MESSAGE_MODAL, title, [section(escape(text))], close="Close")


# --- the change confirm modal -------------------------------------------------------------------


def variant_option_text(v: VariantResult, analysis: Analysis | None = None) -> str:
    """ "Variant B [1] · 10.00 % · +25.0 % · 97.2 % chance to beat Control" ("97.2 % to beat" when the
    names leave no room; "p = 0.0564" for frequentist tests; without statistics "12,345 visitors"),
    never longer than Slack allows."""
    row = VariantRow.of(v, analysis)
    name = f"{v.label} [{v.variant_id}]"
    figure = row.short or f"{row.visitors} visitors"
    if row.chance and len(name) + len(row.chance) + len(f" · {row.rate} · {row.lift} · ") <= MAX_OPTION_TEXT:
        figure = row.chance  # the whole figure, the control named, when it fits beside the whole name
    suffix = f" · {row.rate} · {row.lift} · {figure}"
    room = MAX_OPTION_TEXT - len(suffix)
    if room < 8:
        return truncate(name + suffix, MAX_OPTION_TEXT)
    return truncate(name, room) + suffix


def _state_blocks(draft: Draft, evidence: Evidence) -> list[dict[str, Any]]:
    facts = [f"#{evidence.test_id}", status_label(evidence.status)]
    days = fmt_days(evidence.days_running)
    if days:
        facts.append(days)
    now = serving_words(
        evidence.serving_variant_id, evidence.is_serving, evidence.traffic_allocation, evidence.variants
    )
    return [
        header(evidence.test_name or f"Experiment #{evidence.test_id}"),
        context(" · ".join(facts)),
        section(f"*Now:* {now}."),
    ]


def _warning_block(warnings: Sequence[Guardrail]) -> dict[str, Any]:
    text = "\n".join(guardrail_line(w) for w in warnings)
    if any(w.blocks for w in warnings):
        why = "Serving despite a :no_entry: block needs a reason: it is recorded as an override, on the card and in the audit log."
    else:
        why = "Serving anyway needs a reason, which is kept in the audit log."
    return section(f"{text}\n{why}")


def _reason_input(warnings: Sequence[Guardrail]) -> dict[str, Any]:
    required = bool(warnings)
    label = "Reason"
    if any(w.blocks for w in warnings):
        label = "Reason (required: overriding a block)"
    elif required:
        label = "Reason (required: overriding warnings)"
    return _input(
        ids.REASON,
        label,
        _text_input(
            ids.REASON,
            multiline=True,
            max_length=REASON_MAX_LENGTH,
            placeholder="Why this change? It is posted with the request and kept in the audit log.",
        ),
        optional=not required,
    )


def _rollout_input(initial: float | None, hint: str) -> dict[str, Any]:
    return _input(
        ids.ROLLOUT,
        "Rollout %",
        _text_input(
            ids.ROLLOUT,
            max_length=ROLLOUT_MAX_LENGTH,
            initial=fmt_number(initial) if initial is not None else None,
            placeholder="0–100",
        ),
        hint=hint,
    )


def _variant_input(evidence: Evidence, selected: str | None, analysis: Analysis | None) -> dict[str, Any]:
    listed = list(evidence.variants[:MAX_OPTIONS])
    chosen = next((v for v in evidence.variants if v.variant_id == selected), None)
    if chosen is not None and chosen not in listed:
        listed[-1] = chosen  # the variant named in the command can always be picked
    options = [option(variant_option_text(v, analysis), v.variant_id) for v in listed]
    if analysis is None:
        hint = "Conversion rate · lift vs control · visitors"
    elif analysis.engine == BAYESIAN:
        hint = f"Conversion rate · lift vs control · chance to beat {truncate(analysis.control.name, 100)}"
    else:
        hint = "Conversion rate · lift vs control · p-value of the difference with the control"
    if len(evidence.variants) > len(listed):
        hint += (
            f". Only {len(listed)} of the {len(evidence.variants)} variants are listed; "
            "/mida serve-winner <test_id> <variant_id> opens this with any of them."
        )
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ids.VARIANT_SELECT,
        "placeholder": plain("Pick the variant to serve", 150),
        "options": options,
    }
    initial = next((o for o in options if o["value"] == selected), None)
    if initial is not None:
        element["initial_option"] = initial
    return _input(
        ids.VARIANT,
        "Variant to serve",
        element,
        hint=hint,
        dispatch_action=True,
    )


def change_modal(draft: Draft, warnings: Sequence[Guardrail]) -> dict[str, Any]:
    """The confirm modal for a serve / rollout / stop. `private_metadata` is the draft id only."""
    action = draft.action
    evidence = draft.evidence
    submit = {
        Action.SERVE_WINNER: "Serve winner",
        Action.UPDATE_ROLLOUT: "Change rollout",
        Action.PAUSE_EXPERIMENT: "Pause",
        Action.RESUME_EXPERIMENT: "Resume",
    }.get(action, "Stop serving")
    if draft.plan is not None and evidence is not None:
        return _ramp_modal(draft, evidence, warnings)
    if evidence is None:
        return _modal(
            ids.CHANGE_MODAL,
            action.heading,
            [section(f":hourglass_flowing_sand: Loading experiment #{draft.test_id} from Mida…")],
            private_metadata=draft.id,
        )

    top = _state_blocks(draft, evidence)
    tail: list[dict[str, Any]] = []
    if draft.note:
        tail.append(section(f":information_source: {escape(draft.note)}"))
    if warnings:
        tail.append(_warning_block(warnings))

    if action is Action.SERVE_WINNER:
        analysis = analysis_of(evidence)
        rollout = draft.rollout if draft.rollout is not None else evidence.traffic_allocation
        tail += [
            _variant_input(evidence, draft.variant_id, analysis),
            _rollout_input(rollout, "0–100: the share of eligible visitors who get the winner."),
            _reason_input(warnings),
        ]
        intro = [divider(), section("*Variants* (numbers from Mida)")]
        judged = evidence_blocks(analysis, health=not warnings)  # the guardrails below include the health
        folded = secondary_block(evidence)
        if folded is not None:
            judged.insert(len(judged) - 1, folded)
        budget = MAX_VIEW_BLOCKS - len(top) - len(intro) - len(tail) - len(judged)
        rows = variant_blocks(
            evidence.variants,
            serving_id=evidence.serving_variant_id,
            budget=budget,
            analysis=analysis,
            currency=evidence.currency,
        )
        middle = intro + rows + judged
        if not evidence.variants:
            middle = [*intro, context("Mida has no variant rows for this experiment yet.")]
        blocks = top + middle + tail
    elif action.is_status_change:
        ref = experiment_ref(evidence.test_id, evidence.test_name)
        what = (
            f"Mida stops bucketing visitors into {ref}; the data collected so far is kept, and it can be resumed."
            if action is Action.PAUSE_EXPERIMENT
            else f"Visitors are bucketed into {ref}'s variants again."
        )
        blocks = [*top, section(what), *tail, _reason_input(warnings)]
    elif action is Action.UPDATE_ROLLOUT:
        current = fmt_rollout(evidence.traffic_allocation) if evidence.traffic_allocation is not None else DASH
        tail += [
            _rollout_input(draft.rollout, f"0–100. Now {current}; only the rollout changes, not the variant."),
            _reason_input(warnings),
        ]
        blocks = top + tail
    else:
        serving = experiment_ref(evidence.test_id, evidence.test_name)
        blocks = [
            *top,
            section(
                f"Visitors will no longer be forced to the winner of {serving}; "
                "the experiment's own split applies again."
            ),
            *tail,
            _reason_input(warnings),
        ]
    return _modal(ids.CHANGE_MODAL, action.heading, blocks, submit=submit, private_metadata=draft.id)


def _ramp_modal(draft: Draft, evidence: Evidence, warnings: Sequence[Guardrail]) -> dict[str, Any]:
    """The confirm modal of a ramp: the plan with its times, the evidence, the guardrails, a reason.
    The plan itself is the command's: changing it is a new request."""
    assert draft.plan is not None
    variant = evidence.variant(draft.variant_id)
    label = variant.label if variant is not None else f"Variant {draft.variant_id}"
    top = _state_blocks(draft, evidence)
    plan = plan_blocks(draft.plan, evidence.taken_at, label)  # from about now: when the numbers were read
    tail: list[dict[str, Any]] = []
    if warnings:
        tail.append(_warning_block(warnings))
    tail.append(_reason_input(warnings))
    analysis = analysis_of(evidence)
    intro = [divider(), section("*Variants* (numbers from Mida)")]
    judged = evidence_blocks(analysis, health=not warnings)
    budget = MAX_VIEW_BLOCKS - len(top) - len(plan) - len(intro) - len(tail) - len(judged)
    rows = variant_blocks(
        evidence.variants,
        serving_id=evidence.serving_variant_id,
        budget=budget,
        analysis=analysis,
        currency=evidence.currency,
    )
    blocks = top + plan + intro + rows + judged + tail
    return _modal(ids.CHANGE_MODAL, "Ramp", blocks, submit="Start ramp", private_metadata=draft.id)


# --- settings -----------------------------------------------------------------------------------


def settings_modal(
    policy: ChannelRules, bot_admins: list[str], channel_id: str | None, *, channel_override: bool = False
) -> dict[str, Any]:
    """The rules of a channel (or the workspace's defaults) and the workspace's bot admins.
    `private_metadata` is the channel the command came from (not a secret)."""
    mode_options = [option(MODE_OPTION_TEXT[mode], mode.value) for mode in ApprovalMode]
    mode_initial = next(o for o in mode_options if o["value"] == policy.mode.value)
    count_options = [option(str(n), str(n)) for n in range(1, 6)]
    count_initial = next((o for o in count_options if o["value"] == str(policy.approvals_needed)), count_options[0])

    approvers: dict[str, Any] = {"type": "multi_users_select", "action_id": ids.APPROVERS}
    if policy.approvers:
        approvers["initial_users"] = list(policy.approvers)
    admins: dict[str, Any] = {"type": "multi_users_select", "action_id": ids.BOT_ADMINS}
    if bot_admins:
        admins["initial_users"] = list(bot_admins)
    audit: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": ids.AUDIT_CHANNEL,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if policy.audit_channel:
        audit["initial_conversation"] = policy.audit_channel

    guests_option = option(
        "Single- and multi-channel guests may ask for, approve or reject changes", ids.GUESTS_ALLOWED
    )
    guests: dict[str, Any] = {"type": "checkboxes", "action_id": ids.GUESTS_MAY_APPROVE, "options": [guests_option]}
    if policy.guests_may_approve:
        guests["initial_options"] = [guests_option]

    blocks: list[dict[str, Any]] = []
    if channel_id:
        scope_options = [
            option("The whole workspace", ids.POLICY_SCOPE_WORKSPACE),
            option("Only this channel (overrides the workspace policy here)", ids.POLICY_SCOPE_CHANNEL),
        ]
        blocks.append(
            _input(
                ids.POLICY_CHANNEL,
                "Apply this policy to",
                {
                    "type": "radio_buttons",
                    "action_id": ids.POLICY_CHANNEL,
                    "options": scope_options,
                    "initial_option": scope_options[1 if channel_override else 0],
                },
            )
        )
    blocks += [
        _input(
            ids.POLICY_MODE,
            "Require approval",
            {
                "type": "radio_buttons",
                "action_id": ids.POLICY_MODE,
                "options": mode_options,
                "initial_option": mode_initial,
            },
            hint="With the middle choice, stop-serving and rollout decreases run at once and are reviewed after.",
        ),
        _input(
            ids.APPROVERS,
            "Approvers",
            approvers,
            optional=True,
            hint="Empty (and no group) means any member of the workspace other than the requester.",
        ),
        _input(
            ids.APPROVER_GROUP,
            "Approver user group",
            _text_input(ids.APPROVER_GROUP, max_length=20, initial=policy.approver_group, placeholder="S0123ABCD"),
            optional=True,
            hint="A Slack user group id (starts with S); its members may approve.",
        ),
        _input(
            ids.GUESTS_MAY_APPROVE,
            "Guests",
            guests,
            optional=True,
            hint="Off: only full members decide. People from other organisations (Slack Connect) never do.",
        ),
        _input(
            ids.APPROVALS_NEEDED,
            "Approvals needed",
            {
                "type": "static_select",
                "action_id": ids.APPROVALS_NEEDED,
                "options": count_options,
                "initial_option": count_initial,
            },
            hint="Distinct approvers; the requester never counts.",
        ),
        _input(
            ids.EXPIRY_HOURS,
            "Requests expire after (hours)",
            _text_input(ids.EXPIRY_HOURS, max_length=6, initial=fmt_number(policy.expiry_hours), placeholder="24"),
            hint="Up to 720 hours (30 days).",
        ),
        _input(
            ids.MIN_DAYS_RUNNING,
            "Warn before serving when running fewer than (days)",
            _text_input(ids.MIN_DAYS_RUNNING, max_length=3, initial=str(policy.min_days_running), placeholder="7"),
            optional=True,
        ),
        _input(
            ids.MIN_VISITORS,
            "Warn before serving when a variant has fewer visitors than",
            _text_input(
                ids.MIN_VISITORS, max_length=8, initial=str(policy.min_visitors_per_variant), placeholder="100"
            ),
            optional=True,
        ),
        _input(
            ids.MIN_CONVERSIONS,
            "Warn before serving when a variant has fewer conversions than",
            _text_input(
                ids.MIN_CONVERSIONS, max_length=8, initial=str(policy.min_conversions_per_variant), placeholder="25"
            ),
            optional=True,
        ),
        _input(
            ids.RISKY_LOSS,
            "Warn before serving when the risk (expected loss) is at least (%)",
            _text_input(ids.RISKY_LOSS, max_length=6, initial=fmt_number(policy.risky_loss_percent), placeholder="5"),
            optional=True,
            hint="Bayesian tests: what serving the variant may lose, relative to the control, if it is in fact worse.",
        ),
        _input(
            ids.FOLLOWUP_HOURS,
            "Post the post-deploy numbers this many hours after serving",
            _text_input(
                ids.FOLLOWUP_HOURS,
                max_length=60,
                initial=", ".join(f"{h:g}" for h in policy.followup_hours),
                placeholder="1, 24, 168",
            ),
            optional=True,
            hint="Comma-separated hours; empty for no follow-ups.",
        ),
        _input(
            ids.AUDIT_CHANNEL,
            "Audit channel",
            audit,
            optional=True,
            hint="Every outcome is also posted there. Invite the bot to a private channel first.",
        ),
        _input(
            ids.BOT_ADMINS,
            "Bot admins",
            admins,
            optional=True,
            hint="May connect Mida and change these settings, besides Slack's admins and owners.",
        ),
    ]
    return _modal(ids.SETTINGS_MODAL, "Mida settings", blocks, submit="Save", private_metadata=channel_id or "")


# --- reject -------------------------------------------------------------------------------------


def reject_modal(request_id: str) -> dict[str, Any]:
    blocks = [
        _input(
            ids.REJECT_REASON,
            "Why are you rejecting it?",
            _text_input(
                ids.REJECT_REASON,
                multiline=True,
                max_length=REASON_MAX_LENGTH,
                placeholder="Optional; shown on the card and kept in the audit log.",
            ),
            optional=True,
        )
    ]
    return _modal(ids.REJECT_MODAL, "Reject request", blocks, submit="Reject", private_metadata=request_id)
