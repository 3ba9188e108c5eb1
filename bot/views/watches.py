"""What a watch posts (an alert and its buttons) and the answers to /mida watch, unwatch, watching."""

from __future__ import annotations

from typing import Any

from bot.domain import Watch, WatchAlert
from bot.views import ids
from bot.views.format import Links, button, context, escape, experiment_ref, links_text, section, slack_date
from bot.views.messages import Message

_HEADLINE = {
    "winner": ":trophy: *Winner ready*",
    "mismatch": ":warning: *Sample ratio mismatch*",
    "regression": ":chart_with_downwards_trend: *The served variant is regressing*",
    "changed": ":pencil2: *Changed in Mida, outside Slack*",
    "unreachable": ":electric_plug: *Mida is unreachable*",
    "reachable": ":white_check_mark: *Mida is back*",
}


def alert_message(alert: WatchAlert, links: Links) -> Message:
    ref = experiment_ref(alert.test_id, alert.test_name or None)
    headline = _HEADLINE.get(alert.kind, ":information_source:")
    blocks: list[dict[str, Any]] = [
        section(f"{headline} — {ref}\n{escape(alert.words)}"),
        context(links_text(links)),
    ]
    buttons = _buttons(alert)
    if buttons:
        blocks.append({"type": "actions", "block_id": ids.WATCH_ACTIONS, "elements": buttons})
    words = alert.words if alert.kind != "changed" else f"Changed in Mida, outside Slack: {alert.words}"
    return f"{headline.split('*')[1]} — #{alert.test_id}: {words}", blocks


def _buttons(alert: WatchAlert) -> list[dict[str, Any]]:
    test_id = str(alert.test_id)
    if alert.kind == "winner" and alert.variant_id is not None:
        return [
            button(
                f"Serve variant {alert.variant_id}",
                ids.WATCH_SERVE,
                value=f"{test_id}|{alert.variant_id}",
                style="primary",
            ),
            button("Results", ids.WATCH_RESULTS, value=test_id),
        ]
    if alert.kind == "mismatch":
        return [
            button("Pause experiment", ids.WATCH_PAUSE, value=test_id, style="danger"),
            button("Results", ids.WATCH_RESULTS, value=test_id),
        ]
    if alert.kind == "regression":
        return [
            button("Stop serving", ids.FOLLOWUP_STOP, value=test_id, style="danger"),
            button("Change rollout", ids.FOLLOWUP_ROLLOUT, value=test_id),
        ]
    return []


def watch_started(watch: Watch, added: bool, interval_seconds: float) -> Message:
    if not added:
        text = f"This channel already watches experiment #{watch.test_id}."
    else:
        minutes = interval_seconds / 60
        every = f"{minutes:g} minutes" if minutes >= 1 else f"{interval_seconds:g} seconds"
        text = (
            f"This channel now watches experiment #{watch.test_id} (read every {every}): it hears once when "
            "there is a winner, a sample ratio mismatch, a regression after serving, or a change made in Mida."
        )
    return text, [section(escape(text))]


def watch_all_started(test_ids: list[int], left_out: int) -> Message:
    if not test_ids:
        text = "The project has no live experiment to watch."
        return text, [section(text)]
    listed = ", ".join(f"#{t}" for t in test_ids)
    capped = f" {left_out} more live ones were left out (at most {len(test_ids)} at once)." if left_out else ""
    text = f"This channel now watches {len(test_ids)} live experiments: {listed}.{capped}"
    return text, [section(escape(text))]


def unwatched(test_id: int, removed: bool) -> Message:
    text = (
        f"This channel no longer watches experiment #{test_id}."
        if removed
        else f"This channel was not watching experiment #{test_id}."
    )
    return text, [section(text)]


def watching_list(watches: list[Watch]) -> Message:
    if not watches:
        text = "This channel watches no experiment. Start with `/mida watch <test_id>` or `/mida watch all`."
        return text, [section(text)]
    lines = []
    for watch in watches[:50]:
        who = f"<@{watch.by.user_id}>" if watch.by else "the bot, after serving"
        until = f", until {slack_date(watch.until)}" if watch.until else ""
        lines.append(f"• #{watch.test_id} — since {slack_date(watch.created_at)}, by {who}{until}")
    more = [context(f"…and {len(watches) - 50} more.")] if len(watches) > 50 else []
    text = "Watching: " + ", ".join(f"#{w.test_id}" for w in watches)
    return text, [section("*Watching in this channel*\n" + "\n".join(lines)), *more]


def watches_text(watches: list[Watch]) -> str:
    """The Home tab's watches: which channel watches which experiment."""
    lines = [f"• #{w.test_id} in <#{w.channel_id}>" + (" (after serving)" if w.thread_ts else "") for w in watches[:15]]
    more = f"\n…and {len(watches) - 15} more." if len(watches) > 15 else ""
    return "*Watches*\n" + "\n".join(lines) + more
