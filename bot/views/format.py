"""Small shared formatters for the Block Kit builders: escaping, Slack's limits, numbers for people.

Everything here is pure: data in, strings or dicts out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import Action, ApprovalMode, Change, ChannelRules, Evidence
from bot.evidence.analysis import Analysis
from bot.mida.models import (
    ExperimentResult,
    ExperimentStatus,
    ReportPhase,
    VariantResult,
)
from bot.views import ids
from bot.views.rows import DASH, VariantRow

# Slack's limits (https://api.slack.com/reference/block-kit): a message holds at most 50 blocks
# (Slack refuses more with invalid_blocks), a modal or the Home tab at most 100.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_MODAL_TITLE = 24
MAX_BUTTON_TEXT = 75
MAX_OPTION_TEXT = 75
MAX_OPTIONS = 100
MAX_VALUE = 2000
MAX_PRIVATE_METADATA = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150

ELLIPSIS = "…"


@dataclass(frozen=True)
class Links:
    """Where a person goes next: the bot's signed post-deploy results page, and Mida's dashboard."""

    results_url: str | None
    dashboard_url: str


# --- text --------------------------------------------------------------------------------------


def escape(text: object) -> str:
    """Escape text from people or Mida for mrkdwn (Slack's three control characters)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def truncate_mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    """Like `truncate`, but never leaves half an entity (`&amp;`) or half a `<link|token>`."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    return cut + ELLIPSIS


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def channel_link(channel_id: str) -> str:
    return f"<#{channel_id}>"


def group_mention(group_id: str) -> str:
    return f"<!subteam^{group_id}>"


def link(url: str, label: str) -> str:
    """A mrkdwn link; `label` is escaped, `|` and `>` in the url are not allowed through."""
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{escape(label)}>"


def slack_date(ts: float, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date token Slack renders in the reader's own time zone, with a UTC fallback."""
    seconds = int(ts)
    fallback = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{seconds}^{fmt}|{fallback}>"


# --- numbers for people -------------------------------------------------------------------------


def fmt_number(value: float) -> str:
    """25.0 → "25", 12.5 → "12.5" (as a person would type it)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_rollout(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{fmt_number(value)} %"


def fmt_days(days: int | None) -> str | None:
    if days is None:
        return None
    return f"{days} day running" if days == 1 else f"{days} days running"


def fmt_hours(hours: float) -> str:
    return f"{fmt_number(hours)} hour" if hours == 1 else f"{fmt_number(hours)} hours"


STATUS_LABELS = {
    ExperimentStatus.DRAFT: "Draft",
    ExperimentStatus.LIVE: "Live",
    ExperimentStatus.INACTIVE: "Inactive",
    ExperimentStatus.UNKNOWN: "Unknown status",
}


def status_label(status: ExperimentStatus) -> str:
    return STATUS_LABELS.get(status, str(status))


PHASE_LABELS = {
    ReportPhase.PRE_DEPLOY: "Pre-deploy",
    ReportPhase.POST_DEPLOY: "Post-deploy",
    ReportPhase.ALL_TIME: "All time",
}


def phase_label(phase: ReportPhase | None) -> str:
    """None: Mida named a phase the bot does not know."""
    return PHASE_LABELS[phase] if phase is not None else "Unknown-phase"


# --- experiments and variants -------------------------------------------------------------------


def experiment_ref(test_id: int, name: str | None) -> str:
    """mrkdwn: *Name* (#1234)."""
    if name:
        return f"*{escape(name)}* (#{test_id})"
    return f"experiment #{test_id}"


def variant_ref(variant_id: str | None, variants: Sequence[VariantResult] = ()) -> str:
    """mrkdwn: *Variant B* (id `1`), using the name when the evidence knows it."""
    if variant_id is None:
        return "no variant"
    found = next((v for v in variants if v.variant_id == variant_id), None)
    if found is None:
        return f"variant `{escape(variant_id)}`"
    return f"*{escape(found.label)}* (id `{escape(variant_id)}`)"


def serving_words(
    serving_variant_id: str | None,
    is_serving: bool,
    traffic_allocation: float | None,
    variants: Sequence[VariantResult] = (),
) -> str:
    """mrkdwn: "serving *Variant B* (id `1`) at 25 %" or "not serving a winner"."""
    if not (is_serving or serving_variant_id is not None):
        return "not serving a winner"
    words = "serving " + (variant_ref(serving_variant_id, variants) if serving_variant_id else "a winner")
    if traffic_allocation is not None:
        words += f" at {fmt_rollout(traffic_allocation)}"
    return words


def state_words(state: Evidence | ExperimentResult) -> str:
    """The experiment's state in words: status and serving, for errors and cards."""
    is_serving = state.is_serving if isinstance(state, Evidence) else state.serving
    serving = serving_words(state.serving_variant_id, is_serving, state.traffic_allocation, state.variants)
    return f"{status_label(state.status).lower()}, {serving}"


def variant_line(
    v: VariantResult,
    *,
    serving_id: str | None = None,
    chosen_id: str | None = None,
    analysis: Analysis | None = None,
    currency: str | None = None,
) -> str:
    """mrkdwn, one line: *Variant B* (id `1`) · 12,345 visitors · 1,234 conversions · 10.00 % · +25.0 %,
    then the statistics (97.2 % chance to beat Control · risk 0.12 % · …) and the revenue per visitor."""
    marks = []
    if v.is_control:
        marks.append("_control_")
    if serving_id is not None and v.variant_id == serving_id:
        marks.append(":white_check_mark: _serving_")
    if chosen_id is not None and v.variant_id == chosen_id:
        marks.append(":point_left: _chosen_")
    row = VariantRow.of(v, analysis, currency)
    head = f"*{escape(row.label)}* (id `{escape(row.variant_id)}`)"
    if marks:
        head += " " + " ".join(marks)
    line = f"{head} · {row.visitors} visitors · {row.conversions} conversions · {row.rate} · lift {row.lift}"
    for extra in (row.figures, row.revenue):
        if extra:
            line += f" · {escape(extra)}"
    return line


def variant_section(
    v: VariantResult,
    *,
    serving_id: str | None = None,
    analysis: Analysis | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """A section with the variant's name and its four numbers as fields; the statistics on the line
    that names it, the revenue per visitor (if any) after."""
    row = VariantRow.of(v, analysis, currency)
    marks = []
    if v.is_control:
        marks.append("_control_")
    if serving_id is not None and v.variant_id == serving_id:
        marks.append(":white_check_mark: *serving*")
    head = f"*{escape(truncate(v.label, 500))}* (id `{escape(truncate(v.variant_id, 100))}`)"
    if marks:
        head += " · " + " · ".join(marks)
    if row.figures:
        head += " · " + escape(row.figures)
    if row.revenue:
        head += "\n" + escape(row.revenue[0].upper() + row.revenue[1:])
    elif row.rpv:
        head += f"\nRevenue per visitor {escape(row.rpv)}"
    return {
        "type": "section",
        "text": mrkdwn(head),
        "fields": [
            mrkdwn(f"*Visitors*\n{row.visitors}"),
            mrkdwn(f"*Conversions*\n{row.conversions}"),
            mrkdwn(f"*Conversion rate*\n{row.rate}"),
            mrkdwn(f"*Lift vs control*\n{row.lift}"),
        ],
    }


def variant_blocks(
    variants: Sequence[VariantResult],
    *,
    serving_id: str | None,
    budget: int,
    analysis: Analysis | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """One section per variant, at most `budget` blocks; when they don't all fit, the last block
    says how many were left out."""
    if budget <= 0:
        return []

    def one(v: VariantResult) -> dict[str, Any]:
        return variant_section(v, serving_id=serving_id, analysis=analysis, currency=currency)

    if len(variants) <= budget:
        return [one(v) for v in variants]
    shown = budget - 1
    blocks = [one(v) for v in variants[:shown]]
    blocks.append(context(more_variants(len(variants) - shown)))
    return blocks


def more_variants(left_out: int) -> str:
    return (
        f"… and {left_out} more variant{'' if left_out == 1 else 's'}, left out to fit in Slack: Mida shows them all."
    )


def variant_lines_text(
    variants: Sequence[VariantResult],
    *,
    serving_id: str | None = None,
    chosen_id: str | None = None,
    limit: int = MAX_SECTION_TEXT,
    analysis: Analysis | None = None,
    currency: str | None = None,
) -> str:
    """All variants as mrkdwn lines in one text ≤ `limit`, ending in "… and N more" when they don't fit."""
    lines: list[str] = []
    used = 0
    for i, v in enumerate(variants):
        line = variant_line(v, serving_id=serving_id, chosen_id=chosen_id, analysis=analysis, currency=currency)
        line = truncate_mrkdwn(line, 900)
        rest = len(variants) - i - 1
        reserve = 40 if rest else 0
        if used + len(line) + 1 + reserve > limit:
            lines.append(f"… and {len(variants) - i} more variants")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) if lines else "_No variant data._"


# --- changes ------------------------------------------------------------------------------------


def change_words(change: Change, evidence: Evidence | None) -> str:
    """mrkdwn: the exact change, e.g. "serve *B* (id `1`) at 25 %", "rollout 25 % → 50 %", "stop serving …"."""
    variants = evidence.variants if evidence else []
    if change.action is Action.PAUSE_EXPERIMENT:
        return "pause the experiment (Mida stops bucketing visitors; the data so far is kept)"
    if change.action is Action.RESUME_EXPERIMENT:
        return "resume the experiment (visitors are bucketed into its variants again)"
    if change.action is Action.SERVE_WINNER:
        words = f"serve {variant_ref(change.variant_id, variants)}"
        if change.rollout is not None:
            words += f" at {fmt_rollout(change.rollout)} of eligible visitors"
        return words
    if change.action is Action.UPDATE_ROLLOUT:
        before = evidence.traffic_allocation if evidence else None
        serving = ""
        if evidence and evidence.serving_variant_id:
            serving = f" of {variant_ref(evidence.serving_variant_id, variants)}"
        return f"change the rollout{serving} from {fmt_rollout(before)} to {fmt_rollout(change.rollout)}"
    serving_id = evidence.serving_variant_id if evidence else None
    if serving_id:
        now_at = ""
        if evidence and evidence.traffic_allocation is not None:
            now_at = f" (now at {fmt_rollout(evidence.traffic_allocation)})"
        return f"stop serving {variant_ref(serving_id, variants)}{now_at}"
    return "stop serving the winner"


# --- policy -------------------------------------------------------------------------------------


MODE_WORDS = {
    ApprovalMode.OFF: "No approval needed: changes run at once",
    ApprovalMode.SERVING_AND_INCREASES: (
        "Approval needed for serving a winner, rollout increases and resuming an experiment "
        "(stop-serving, rollout decreases and pausing run at once)"
    ),
    ApprovalMode.EVERY_CHANGE: "Approval needed for every change",
}

MODE_OPTION_TEXT = {
    ApprovalMode.OFF: "Off: changes run at once",
    ApprovalMode.SERVING_AND_INCREASES: "Serving a winner, rollout increases, resuming",
    ApprovalMode.EVERY_CHANGE: "Every change",
}


def policy_words(policy: ChannelRules, bot_admins: list[str]) -> str:
    """mrkdwn: the approval policy in a few lines."""
    lines = [MODE_WORDS[policy.mode] + "."]
    if policy.mode is not ApprovalMode.OFF:
        who: list[str] = [mention(u) for u in policy.approvers]
        if policy.approver_group:
            who.append(group_mention(escape(policy.approver_group)))
        approvers = ", ".join(who) if who else "anyone in the workspace except the requester"
        n = policy.approvals_needed
        lines.append(f"Approvals needed: {n} ({'distinct approvers' if n > 1 else 'one approver'}) from {approvers}.")
        lines.append(f"Requests expire after {fmt_hours(policy.expiry_hours)}.")
        lines.append("The requester never approves their own request.")
    if policy.audit_channel:
        lines.append(f"Audit channel: {channel_link(policy.audit_channel)}.")
    if bot_admins:
        lines.append("Bot admins: " + ", ".join(mention(u) for u in bot_admins) + ".")
    return "\n".join(lines)


# --- blocks -------------------------------------------------------------------------------------


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate_mrkdwn(text, limit)}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def section(text: str, *, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id
    return block


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, MAX_BUTTON_TEXT), "action_id": action_id}
    if value is not None:
        element["value"] = value[:MAX_VALUE]
    if url is not None:
        element["url"] = url
    if style is not None:
        element["style"] = style
    return element


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, MAX_OPTION_TEXT), "value": value[:150]}


def link_buttons(links: Links) -> list[dict[str, Any]]:
    elements = []
    if links.results_url:
        elements.append(button("Post-deploy results", ids.OPEN_RESULTS_PAGE, url=links.results_url))
    elements.append(button("Open in Mida", ids.OPEN_IN_MIDA, url=links.dashboard_url))
    return elements


def links_text(links: Links) -> str:
    parts = []
    if links.results_url:
        parts.append(link(links.results_url, "Post-deploy results"))
    parts.append(link(links.dashboard_url, "Open in Mida"))
    return " · ".join(parts)
