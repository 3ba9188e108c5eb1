"""The App Home tab, built from `HomeData`: pure, data in, view dict out.

Sections, top to bottom: the connection's health (admins also get Connect / Settings buttons),
the experiments serving a winner now (each with Change rollout and Stop serving buttons, which
open the same confirm modal as `/mida rollout` and `/mida stop-serving`), the pending approvals
waiting on the viewer and the viewer's own, and the last actions from the audit log.
"""

from __future__ import annotations

from typing import Any

from bot.domain import AuditEntry, AuditEvent, ChangeRequest
from bot.services.home_data import Connection, HomeData, ServingNow
from bot.views import ids, messages
from bot.views.errors import explain
from bot.views.format import (
    MAX_VIEW_BLOCKS,
    button,
    change_words,
    channel_link,
    context,
    divider,
    escape,
    experiment_ref,
    fmt_rollout,
    header,
    mention,
    mrkdwn,
    section,
    slack_date,
    truncate,
    truncate_mrkdwn,
    variant_ref,
)
from bot.views.ramps import ramps_text
from bot.views.watches import watches_text

# "<@U> approved …" when a person acted; "Done: …" when the bot did (execution, expiry, uninstall).
EVENT_WORDS = {**messages.EVENT_WORDS, AuditEvent.REQUESTED: "asked to"}
BOT_EVENT_WORDS = {
    AuditEvent.DISCONNECTED: "Disconnected",
    AuditEvent.CANCELLED: "Cancelled:",
    AuditEvent.EXPIRED: "Expired:",
    AuditEvent.EXECUTED: "Done:",
    AuditEvent.FAILED: "Failed:",
    AuditEvent.SUPERSEDED: "Superseded:",
}


def serving_block_id(test_id: int) -> str:
    return f"{ids.HOME_SERVING}:{test_id}"


def home_view(data: HomeData) -> dict[str, Any]:
    shared = data.shared
    blocks: list[dict[str, Any]] = [
        header("Mida"),
        context(f"Your team's Mida A/B tests from Slack · updated {slack_date(shared.generated_at)}"),
    ]
    blocks += _health(shared.connection, shared.connection_error, data.is_admin)
    if data.is_admin:
        blocks.append(_admin_buttons(shared.connection is not None))
    blocks.append(divider())
    # Keep room for the sections below the experiments.
    blocks += _serving(
        shared.serving,
        shared.serving_error,
        connected=shared.connection is not None,
        budget=MAX_VIEW_BLOCKS - len(blocks) - 12,
    )
    blocks.append(divider())
    if shared.ramps:
        blocks.append(section(ramps_text(shared.ramps), block_id=ids.HOME_RAMPS))
    if shared.watches:
        blocks.append(section(watches_text(shared.watches), block_id=ids.HOME_WATCHES))
    blocks.append(
        section(_requests_text("Waiting on you", data.waiting_on_me, waiting=True), block_id=ids.HOME_WAITING)
    )
    blocks.append(section(_requests_text("Your requests", data.mine, waiting=False), block_id=ids.HOME_MINE))
    blocks.append(divider())
    blocks.append(section(_recent_text(shared.recent), block_id=ids.HOME_RECENT))
    blocks.append(context("`/mida help` lists every command · `/mida audit` shows the last 20 actions"))
    return {"type": "home", "blocks": blocks[:MAX_VIEW_BLOCKS]}


# --- parts -------------------------------------------------------------------------------------


def _health(conn: Connection | None, error: BaseException | None, is_admin: bool) -> list[dict[str, Any]]:
    if conn is None:
        if error is not None:
            text = f"*Connection*\n:warning: {escape(explain(error))}"
        else:
            nudge = "Click *Connect* below" if is_admin else "Ask a workspace admin to run `/mida connect`"
            text = f"*Connection*\nThis workspace is not connected to a Mida project yet. {nudge}."
        return [section(text, block_id=ids.HOME_HEALTH)]
    block = {
        "type": "section",
        "block_id": ids.HOME_HEALTH,
        "text": mrkdwn("*Connection*"),
        "fields": [
            mrkdwn(f"*Project*\n`{escape(truncate(conn.project_key, 200))}`"),
            mrkdwn(f"*Region*\n{conn.region.value.upper()}"),
            mrkdwn(f"*API key*\n`{escape(conn.masked_key)}`"),
            mrkdwn(f"*Connected by*\n{mention(conn.connected_by.user_id)} {slack_date(conn.connected_at)}"),
        ],
    }
    calls = []
    if conn.last_ok_at is not None:
        calls.append(f":large_green_circle: Last successful Mida call {slack_date(conn.last_ok_at)}")
    else:
        calls.append("No successful Mida call recorded yet")
    if conn.last_error is not None and (conn.last_ok_at is None or (conn.last_error_at or 0) > conn.last_ok_at):
        at = f" {slack_date(conn.last_error_at)}" if conn.last_error_at is not None else ""
        calls.append(f":warning: Last error{at}: {escape(truncate(conn.last_error, 500))}")
    elif conn.last_error is not None:
        at = f" ({slack_date(conn.last_error_at)})" if conn.last_error_at is not None else ""
        calls.append(f"Last error{at}: {escape(truncate(conn.last_error, 300))}")
    return [block, context(*calls)]


def _admin_buttons(connected: bool) -> dict[str, Any]:
    connect = button("Reconnect" if connected else "Connect", ids.HOME_CONNECT, style=None if connected else "primary")
    return {"type": "actions", "block_id": ids.HOME_ADMIN, "elements": [connect, button("Settings", ids.HOME_SETTINGS)]}


def _serving(
    rows: list[ServingNow], error: BaseException | None, *, connected: bool, budget: int
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [section("*Serving now*", block_id=ids.HOME_SERVING)]
    if not connected:
        blocks.append(context("Connect a Mida project to see what it serves."))
        return blocks
    if error is not None:
        blocks.append(context(f":warning: The experiments could not be read from Mida: {escape(explain(error))}"))
        return blocks
    if not rows:
        blocks.append(context("No experiment is serving a winner. `/mida list` shows them all."))
        return blocks
    per_row = 2
    fits = max((budget - 1) // per_row, 1)
    for row in rows[:fits]:
        blocks += _serving_row(row)
    if len(rows) > fits:
        blocks.append(context(f"… and {len(rows) - fits} more serving: `/mida list` shows them all."))
    return blocks


def _serving_row(row: ServingNow) -> list[dict[str, Any]]:
    since = f" · since {slack_date(row.since)}" if row.since is not None else ""
    rollout = f" to *{fmt_rollout(row.rollout)}*" if row.rollout is not None else ""
    text = (
        f"{experiment_ref(row.test_id, truncate(row.name, 200) if row.name else None)}\n"
        f"Serving {variant_ref(row.variant_id, row.variants)}{rollout}{since}"
    )
    value = str(row.test_id)
    return [
        section(text, block_id=serving_block_id(row.test_id)),
        {
            "type": "actions",
            "block_id": f"{serving_block_id(row.test_id)}:actions",
            "elements": [
                button("Change rollout", ids.HOME_CHANGE_ROLLOUT, value=value),
                button("Stop serving", ids.HOME_STOP_SERVING, value=value, style="danger"),
            ],
        },
    ]


def _request_line(request: ChangeRequest, *, waiting: bool) -> str:
    what = change_words(request.change, request.evidence)
    exp = experiment_ref(request.change.test_id, truncate(request.evidence.test_name, 100) or None)
    who = f"{mention(request.requester.user_id)} asks to " if waiting else ""
    count = f"{len(request.approvals)} of {request.approvals_needed} approvals"
    where = f" in {channel_link(request.channel_id)}" if request.channel_id.startswith(("C", "G")) else ""
    expires = f" · expires {slack_date(request.expires_at)}" if request.expires_at is not None else ""
    return f"• {who}{what} — {exp}{where} · {count}{expires}"


def _requests_text(title: str, requests: list[ChangeRequest], *, waiting: bool) -> str:
    if not requests:
        empty = "Nothing is waiting on you." if waiting else "You have no pending requests."
        return f"*{title}*\n{empty}"
    lines = [f"*{title}* ({len(requests)})"]
    used = len(lines[0])
    for i, request in enumerate(requests):
        line = truncate_mrkdwn(_request_line(request, waiting=waiting), 600)
        if used + len(line) + 60 > 2900:
            lines.append(f"… and {len(requests) - i} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _recent_line(entry: AuditEntry) -> str:
    if entry.actor is not None:
        what = f"{mention(entry.actor.user_id)} {EVENT_WORDS.get(entry.event, escape(str(entry.event)))}"
    else:
        what = f"*{BOT_EVENT_WORDS.get(entry.event, escape(str(entry.event).capitalize() + ':'))}*"
    parts = [f"{slack_date(entry.at)} · {what}"]
    if entry.change is not None:
        evidence = entry.evidence or (entry.outcome.state_after if entry.outcome else None)
        parts.append(change_words(entry.change, evidence))
    if entry.test_id is not None:
        parts.append(f"#{entry.test_id}")
    cause = entry.detail.get("cause") if entry.detail else None
    if cause:
        parts.append(f"({escape(str(cause).replace('_', ' '))})")
    return " ".join(parts)


def _recent_text(entries: list[AuditEntry]) -> str:
    if not entries:
        return "*Last actions*\nNothing recorded yet."
    lines = ["*Last actions*"]
    used = len(lines[0])
    for entry in entries:
        line = truncate_mrkdwn(_recent_line(entry), 500)
        if used + len(line) + 1 > 2900:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
