"""A ramp plan in Slack: the plan as the confirm modal and the pending card show it, the living
plan card once it runs (steps done, the next one and when, buttons), its thread replies, and the
list `/mida ramps` answers."""

from __future__ import annotations

from typing import Any

from bot.domain import ChangeRequest, Ramp, RampPlan, RampState
from bot.mida.models import ExperimentResult, ReportPhase
from bot.views import ids
from bot.views.format import (
    MAX_MESSAGE_BLOCKS,
    Links,
    button,
    context,
    divider,
    escape,
    header,
    links_text,
    mention,
    section,
    slack_date,
)
from bot.views.messages import Message, results_message


def fmt_interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def plan_words(plan: RampPlan) -> str:
    """ "10 % → 25 % → 50 %, one step every 1d"."""
    return " → ".join(f"{step:g} %" for step in plan.steps) + f", one step every {fmt_interval(plan.interval_seconds)}"


def plan_schedule(plan: RampPlan, start: float) -> str:
    """Each step with its planned time, when started at `start` and never held up by a check."""
    lines = []
    for index, step in enumerate(plan.steps):
        when = "when approved" if index == 0 else f"from {slack_date(start + index * plan.interval_seconds)}"
        lines.append(f"{index + 1}. *{step:g} %* — {when}")
    return "\n".join(lines)


def plan_blocks(plan: RampPlan, start: float, variant_label: str) -> list[dict[str, Any]]:
    """The plan on the confirm modal and the pending card."""
    return [
        section(f":chart_with_upwards_trend: *Ramp plan* for {escape(variant_label)}: {plan_words(plan)}"),
        section(plan_schedule(plan, start)),
        context(
            "Approved once, for the whole plan. Before each later step the bot reads the post-deploy numbers "
            "and pauses the ramp if the variant does significantly worse, the split is off, or someone changed "
            "the experiment in Mida."
        ),
    ]


_STATE_HEADLINE = {
    RampState.RUNNING: ":arrow_forward: *Ramping*",
    RampState.PAUSED: ":double_vertical_bar: *Paused*",
    RampState.DONE: ":white_check_mark: *Ramp complete*",
    RampState.ABORTED: ":black_square_for_stop: *Ramp aborted*",
}


def ramp_card(ramp: Ramp, plan_request: ChangeRequest, links: Links, now: float) -> Message:
    """The plan card while the ramp lives: what was done, what is next, and the buttons."""
    name = plan_request.evidence.test_name or f"Experiment #{ramp.test_id}"
    variant = plan_request.evidence.variant(ramp.variant_id)
    label = variant.label if variant is not None else f"Variant {ramp.variant_id}"
    headline = _STATE_HEADLINE[ramp.state]
    if ramp.hold is not None and ramp.state in (RampState.PAUSED, RampState.ABORTED):
        headline += f" — {escape(ramp.hold.words)}"
    blocks: list[dict[str, Any]] = [
        header(f"Ramp: {name}"),
        section(f"{headline}\n{escape(label)}: {plan_words(ramp.plan)}"),
        section(_steps_text(ramp)),
    ]
    if ramp.waiting is not None and ramp.state is RampState.RUNNING:
        blocks.append(context(f":hourglass_flowing_sand: Waiting for post-deploy data: {escape(ramp.waiting.words)}"))
    approvers = ", ".join(mention(p.user_id) for p in ramp.approvers) or "no approval needed"
    blocks.append(context(f"Asked by {mention(ramp.requester.user_id)} · approved: {approvers} · {links_text(links)}"))
    buttons = _buttons(ramp)
    if buttons:
        blocks += [divider(), {"type": "actions", "block_id": ids.RAMP_ACTIONS, "elements": buttons}]
    text = f"Ramp of {label} on {name}: {ramp.state.value}, {len(ramp.done)} of {len(ramp.plan.steps)} steps done"
    return text, blocks


def _steps_text(ramp: Ramp) -> str:
    lines = []
    done = {step.index: step for step in ramp.done}
    for index, rollout in enumerate(ramp.plan.steps):
        if index in done:
            step = done[index]
            by = ", ".join(mention(p.user_id) for p in step.by)
            lines.append(
                f":white_check_mark: {index + 1}. *{rollout:g} %* — {slack_date(step.at)}" + (f" ({by})" if by else "")
            )
        elif index == ramp.next_index and ramp.state is RampState.RUNNING and ramp.next_due is not None:
            lines.append(
                f":arrow_right: {index + 1}. *{rollout:g} %* — next, from {slack_date(ramp.next_due)}, after a check"
            )
        else:
            lines.append(f":white_circle: {index + 1}. {rollout:g} %")
    return "\n".join(lines)


def _buttons(ramp: Ramp) -> list[dict[str, Any]]:
    if ramp.state is RampState.RUNNING:
        elements = [button("Pause", ids.RAMP_PAUSE, value=ramp.id)]
        if ramp.next_index is not None:
            elements.append(button("Advance now", ids.RAMP_ADVANCE, value=ramp.id))
    elif ramp.state is RampState.PAUSED:
        elements = [button("Resume", ids.RAMP_RESUME, value=ramp.id, style="primary")]
    else:
        return []
    elements += [
        button("Abort (hold rollout)", ids.RAMP_ABORT, value=ramp.id),
        button("Abort and stop serving", ids.RAMP_ABORT_STOP, value=ramp.id, style="danger"),
    ]
    return elements


_NOTE_ICON = {
    "step": ":white_check_mark:",
    "paused": ":double_vertical_bar:",
    "waiting": ":hourglass_flowing_sand:",
    "resumed": ":arrow_forward:",
    "aborted": ":black_square_for_stop:",
}


def ramp_note(ramp: Ramp, kind: str, words: str, post: ExperimentResult | None, links: Links) -> Message:
    """A reply in the plan card's thread, with the post-deploy numbers at that point when known."""
    icon = _NOTE_ICON.get(kind, ":information_source:")
    intro = section(f"{icon} {escape(words)}")
    blocks: list[dict[str, Any]] = [intro]
    text = words
    if post is not None:
        numbers_text, numbers = results_message(post, ReportPhase.POST_DEPLOY, links, max_blocks=MAX_MESSAGE_BLOCKS - 2)
        blocks += numbers
        text = f"{words} {numbers_text}"
    buttons = _buttons(ramp)
    if buttons and kind in ("paused", "waiting"):
        blocks.append({"type": "actions", "block_id": ids.RAMP_ACTIONS, "elements": buttons})
    return text, blocks[:MAX_MESSAGE_BLOCKS]


def _ramp_line(ramp: Ramp) -> str:
    step = f"{len(ramp.done)}/{len(ramp.plan.steps)} steps, at {ramp.current_rollout or 0:g} %"
    upcoming = ""
    if ramp.state is RampState.RUNNING and ramp.next_due is not None and ramp.next_index is not None:
        upcoming = f" · next {ramp.plan.steps[ramp.next_index]:g} % from {slack_date(ramp.next_due)}"
    return f"• *#{ramp.test_id}* variant {escape(ramp.variant_id)}: {ramp.state.value} · {step}{upcoming}"


def ramps_text(ramps: list[Ramp]) -> str:
    """The Home tab's ramps under way."""
    lines = [_ramp_line(r) for r in ramps[:10]]
    more = f"\n…and {len(ramps) - 10} more (`/mida ramps`)." if len(ramps) > 10 else ""
    return "*Ramps under way*\n" + "\n".join(lines) + more


def ramps_list(ramps: list[Ramp]) -> Message:
    """`/mida ramps`: the workspace's ramps, newest first."""
    if not ramps:
        return "No ramps yet.", [section("No ramps yet. Start one with `/mida ramp <test_id> <variant_id> 10,25,50`.")]
    lines = []
    for ramp in ramps[:40]:
        lines.append(_ramp_line(ramp))
    more = [context(f"…and {len(ramps) - 40} more.")] if len(ramps) > 40 else []
    return f"{len(ramps)} ramps", [section("*Ramps*\n" + "\n".join(lines)), *more]


def ramp_click_text(action_id: str, *, ramp: Ramp | None = None, request: ChangeRequest | None = None) -> str:
    """The private answer to a click on a plan card's button."""
    if action_id == ids.RAMP_PAUSE:
        return "Paused. Nothing more is sent to Mida until someone resumes the ramp."
    if action_id == ids.RAMP_RESUME:
        when = f" The next step is due from {slack_date(ramp.next_due)}." if ramp and ramp.next_due else ""
        return f"Resumed: the numbers were checked first.{when}"
    if action_id == ids.RAMP_ADVANCE:
        if request is not None and request.approvals_needed:
            return "The next step is asked for now; it needs approval, like any increase (see its card)."
        return "The next step is on its way now."
    if request is not None:
        return "Aborted. Stopping serving is asked for (see its card)."
    return "Aborted: the rollout stays where it is."
