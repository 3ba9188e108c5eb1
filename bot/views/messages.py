"""Private (ephemeral) replies to `/mida`. Each builder returns `(fallback text, blocks)`."""

from __future__ import annotations

from typing import Any

from bot.domain import (
    AnswerProblem,
    AuditEntry,
    AuditEvent,
    ChannelRules,
    Evidence,
    Failure,
    FailureKind,
    SecondaryMetrics,
    Workspace,
)
from bot.mida.models import Experiment, ExperimentResult, ReportPhase
from bot.services.errors import AdminOnly, BotError
from bot.views import ids
from bot.views.errors import explain, explain_outcome
from bot.views.evidence import evidence_blocks, result_analysis, secondary_block
from bot.views.format import (
    MAX_MESSAGE_BLOCKS,
    Links,
    button,
    change_words,
    context,
    divider,
    escape,
    fmt_days,
    header,
    link,
    link_buttons,
    mention,
    mrkdwn,
    phase_label,
    policy_words,
    section,
    serving_words,
    slack_date,
    status_label,
    truncate,
    truncate_mrkdwn,
    variant_blocks,
)
from bot.views.rows import fmt_int

Message = tuple[str, list[dict[str, Any]]]

MAX_EXPERIMENT_ROWS = 50
MAX_AUDIT_ROWS = 20

COMMANDS: list[tuple[str, str]] = [
    ("/mida help", "This help."),
    ("/mida connect", "Admins: connect this workspace to a Mida project (project key, API key, region)."),
    ("/mida disconnect", "Admins: forget this workspace's Mida credentials."),
    ("/mida status", "The connected project, region, masked API key and approval policy."),
    ("/mida list", "The project's experiments: id, name, status, serving variant and rollout."),
    (
        "/mida results <test_id> [pre|post|all]",
        "Visitors, conversions, conversion rate and lift per variant, pre-deploy, post-deploy or all time.",
    ),
    (
        "/mida serve-winner <test_id> [variant_id] [rollout%]",
        "Pick a winner and serve it (opens a confirm modal with the evidence). Short forms: serve, winner.",
    ),
    ("/mida rollout <test_id> <percent>", "Change the rollout of the winner being served."),
    ("/mida stop-serving <test_id>", "Stop serving the winner. Short form: stop."),
    (
        "/mida ramp <test_id> <variant_id> <p1>,<p2>,...[ every <N><s|m|h|d>]",
        "Serve a variant gradually (default every 1d), checking the numbers before each step.",
    ),
    ("/mida ramps", "The workspace's ramps: state, steps done, the next one."),
    ("/mida pause <test_id>", "Pause the experiment in Mida (through the confirm modal and the channel's rules)."),
    ("/mida resume <test_id>", "Resume a paused experiment (through the confirm modal; may need approval)."),
    (
        "/mida watch <test_id>",
        "Tell this channel when the test has a winner, a broken split, a regression or a change made in Mida.",
    ),
    ("/mida watch all", "Watch every live experiment of the project in this channel (capped)."),
    ("/mida unwatch <test_id>", "Stop watching the experiment in this channel."),
    ("/mida watching", "The experiments this channel watches."),
    ("/mida audit [test_id]", "The last actions from the audit log."),
    ("/mida audit export", "A link to download the audit log as CSV."),
    ("/mida settings", "Admins: who must approve which changes, expiry, audit channel, bot admins."),
]


def help_message(unknown: str | None = None) -> Message:
    """The list of commands; `unknown` is the word someone typed that is not one (echoed, escaped)."""
    lines = [f"`{escape(usage)}`  {escape(what)}" for usage, what in COMMANDS]
    not_a_command = f"`{escape(unknown)}` is not a /mida command. " if unknown is not None else ""
    blocks = [
        *([section(f":grey_question: {not_a_command}Here is what it can do.")] if not_a_command else []),
        header("Mida for Slack"),
        section("Act on your Mida A/B tests from Slack. Replies to these commands are visible only to you."),
        section("\n".join(lines)),
        context(
            "A test id may be written `1234` or `#1234`; a percent `25` or `25%`. "
            "Changes may need approval in the channel, depending on the workspace's policy."
        ),
    ]
    text = not_a_command + (
        "Mida for Slack: /mida help, connect, disconnect, status, list, results, serve-winner, rollout, "
        "stop-serving, ramp, ramps, pause, resume, watch, unwatch, watching, audit, settings"
    )
    return text, blocks


def usage_error(problem: str, usage: str) -> Message:
    text = f"{problem} Usage: {usage}"
    blocks = [
        section(f":x: {escape(problem)}"),
        section(f"Usage: `{escape(usage)}`"),
        context("Nothing was sent to Mida. `/mida help` lists every command."),
    ]
    return escape(text), blocks


def connected_message(ws: Workspace) -> Message:
    text = (
        f":white_check_mark: Connected this workspace to Mida project `{escape(ws.project_key)}` "
        f"(region {ws.region.value.upper()}). The API key {ws.masked_key} is stored encrypted."
    )
    return text, [section(text), context("Try `/mida list` to see the project's experiments.")]


def disconnected_message() -> Message:
    text = "Disconnected: this workspace's Mida credentials are forgotten. An admin can run `/mida connect` again."
    return text, [section(f":wave: {text}")]


def not_connected_message() -> Message:
    text = "This workspace is not connected to Mida yet; a workspace admin runs `/mida connect`."
    return text, [section(f":electric_plug: {text}")]


def not_admin_message(what: str) -> Message:
    text = (
        f"Only workspace admins, owners and the bot's admins can {escape(what)}. "
        "Ask one of them to do it (or to make you a bot admin in `/mida settings`)."
    )
    return text, [section(f":lock: {text}")]


def status_message(ws: Workspace, policy: ChannelRules, bot_admins: list[str], channel_override: bool) -> Message:
    fields = [
        mrkdwn(f"*Project*\n`{escape(ws.project_key)}`"),
        mrkdwn(f"*Region*\n{ws.region.value.upper()}"),
        mrkdwn(f"*API key*\n{ws.masked_key}"),
        mrkdwn(f"*Connected by*\n{mention(ws.connected_by.user_id)}, {slack_date(ws.connected_at)}"),
    ]
    scope = "This channel's own policy (overrides the workspace's)" if channel_override else "The workspace's policy"
    blocks = [
        header("Mida: status"),
        {"type": "section", "text": mrkdwn(":white_check_mark: Connected to Mida."), "fields": fields},
        divider(),
        section(f"*Approval policy* — {scope}\n{policy_words(policy, bot_admins)}"),
        context("Admins change it with `/mida settings`."),
    ]
    text = f"Connected to Mida project {escape(ws.project_key)} ({ws.region.value.upper()}), API key {ws.masked_key}."
    return text, blocks


def _experiment_row(exp: Experiment, rollout: float | None) -> str:
    name = escape(truncate(exp.test_name or "(no name)", 200))
    row = f"`#{exp.test_id}` *{name}* · {status_label(exp.status)}"
    if exp.is_completed:
        row += " (completed)"
    if exp.is_serving:
        row += " · :white_check_mark: " + serving_words(exp.serving_variant_id, True, rollout)
    return row


def experiments_message(
    experiments: list[Experiment], rollouts: dict[int, float | None], dashboard_url: str
) -> Message:
    total = len(experiments)
    blocks: list[dict[str, Any]] = [header(f"Mida experiments ({total})")]
    if not experiments:
        blocks.append(section("This project has no experiments yet."))
    shown = experiments[:MAX_EXPERIMENT_ROWS]
    # Pack rows into sections (each ≤ 3000 characters), so a long list stays far under 100 blocks.
    chunk: list[str] = []
    size = 0
    for exp in shown:
        row = _experiment_row(exp, rollouts.get(exp.test_id))
        if chunk and size + len(row) + 1 > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(row)
        size += len(row) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if total > len(shown):
        blocks.append(context(f"… and {total - len(shown)} more. {link(dashboard_url, 'See them all in Mida')}."))
    blocks.append(context("`/mida results <test_id>` shows an experiment's numbers."))
    blocks.append(
        {
            "type": "actions",
            "block_id": ids.RESULT_LINKS,
            "elements": [button("Open in Mida", ids.OPEN_IN_MIDA, url=dashboard_url)],
        }
    )
    return f"{total} Mida experiments", blocks


def results_message(
    result: ExperimentResult,
    phase: ReportPhase | None,
    links: Links,
    *,
    max_blocks: int = MAX_MESSAGE_BLOCKS,
    secondary: SecondaryMetrics | None = None,
) -> Message:
    """The numbers per variant with their statistics in the test's engine, the verdict, the split's
    health and how the figures are computed, in at most `max_blocks` blocks (less when the caller
    adds its own)."""
    name = result.test_name or f"Experiment #{result.test_id}"
    facts = [f"#{result.test_id}", status_label(result.status)]
    days = fmt_days(result.days_running)
    if days:
        facts.append(days)
    facts.append(f"*{phase_label(phase)}* numbers")
    if result.primary_goal and result.primary_goal.goal_name:
        facts.append(f"goal: {escape(result.primary_goal.goal_name)}")
    now = serving_words(result.serving_variant_id, result.serving, result.traffic_allocation, result.variants)

    top: list[dict[str, Any]] = [
        header(name),
        context(" · ".join(facts)),
        section(f"*Now:* {now}."),
        context(
            f"Total: {fmt_int(result.total_visitors or sum(v.visitors for v in result.variants))} visitors, "
            f"{fmt_int(result.total_conversions or sum(v.conversions for v in result.variants))} conversions."
        ),
    ]
    tail: list[dict[str, Any]] = [
        {"type": "actions", "block_id": ids.RESULT_LINKS, "elements": link_buttons(links)},
    ]
    if result.variants:
        analysis = result_analysis(result, phase)
        judged = evidence_blocks(analysis)
        folded = secondary_block(Evidence.from_result(result).model_copy(update={"secondary": secondary}))
        if folded is not None:
            judged.insert(len(judged) - 1, folded)  # before the footnote
        budget = max_blocks - len(top) - len(tail) - len(judged)
        rows = variant_blocks(
            result.variants,
            serving_id=result.serving_variant_id,
            budget=budget,
            analysis=analysis,
            currency=result.currency,
        )
        middle = rows + judged
    else:
        middle = [section(f"No {phase_label(phase).lower()} numbers yet.")]
    text = f"{escape(name)} (#{result.test_id}): {phase_label(phase)} results"
    return text, top + middle + tail


EVENT_WORDS = {
    AuditEvent.CONNECTED: "connected Mida",
    AuditEvent.DISCONNECTED: "disconnected Mida",
    AuditEvent.SETTINGS_CHANGED: "changed the settings",
    AuditEvent.REQUESTED: "requested",
    AuditEvent.APPROVED: "approved",
    AuditEvent.REJECTED: "rejected",
    AuditEvent.CANCELLED: "cancelled",
    AuditEvent.EXPIRED: "expired",
    AuditEvent.EXECUTED: "executed",
    AuditEvent.FAILED: "failed",
    AuditEvent.SUPERSEDED: "superseded",
}


def _audit_result(entry: AuditEntry) -> str | None:
    outcome = entry.outcome
    if outcome is None:
        return None
    status = f"Mida {outcome.mida_status}" if outcome.mida_status else "Mida"
    if outcome.ok:
        said = (outcome.mida_body or {}).get("message")
        words = f"{status}: ok" + (f" — “{escape(said)}”" if said else "")
        if outcome.answer_problem is not None:
            why = "could not be read" if outcome.answer_problem is AnswerProblem.UNREADABLE else "contradicted it"
            words = f"{status}: ok, as the read-back shows; its answer {why}"
            words += f" ({escape(outcome.answer_detail)})" if outcome.answer_detail else ""
        elif outcome.reconciled:
            words += " (read back)"
        return words
    failure = outcome.failure or Failure(kind=FailureKind.UNEXPECTED)
    if failure.kind is FailureKind.SUPERSEDED:
        said = f": {escape(failure.message)}" if failure.message else ""
        return f"superseded — the experiment had changed in Mida{said}"
    explained = explain_outcome(failure, entry.change, outcome.state_after, test_id=entry.test_id)
    return f"{status}: failed — {escape(explained)}"


def _audit_row(entry: AuditEntry) -> str:
    who = mention(entry.actor.user_id) if entry.actor else "the bot"
    parts = [slack_date(entry.at), f"{who} *{EVENT_WORDS.get(entry.event, escape(entry.event))}*"]
    if entry.test_id is not None or entry.evidence is not None:
        test_id = entry.test_id if entry.test_id is not None else entry.evidence.test_id  # type: ignore[union-attr]
        name = entry.evidence.test_name if entry.evidence else None
        parts.append(f"#{test_id}" + (f" {escape(truncate(name, 100))}" if name else ""))
    if entry.change is not None:
        parts.append(change_words(entry.change, entry.evidence))
    lines = [" · ".join(parts)]
    if entry.reason:
        lines.append(f"Reason: “{escape(truncate(entry.reason, 500))}”")
    overridden = [o for o in entry.detail.get("overrides") or [] if isinstance(o, dict) and o.get("level") == "block"]
    if overridden:
        words = "; ".join(escape(truncate(str(o.get("words", "")), 300)) for o in overridden[:5])
        lines.append(f":no_entry: Overrides: {words}")
    result = _audit_result(entry)
    if result:
        lines.append(f"Result: {result}")
    return truncate_mrkdwn("\n".join(lines), 2900)


def audit_message(entries: list[AuditEntry], test_id: int | None) -> Message:
    title = f"Audit log: experiment #{test_id}" if test_id is not None else "Audit log"
    newest = sorted(entries, key=lambda e: e.at, reverse=True)
    shown = newest[:MAX_AUDIT_ROWS]
    blocks: list[dict[str, Any]] = [header(title)]
    if not shown:
        blocks.append(section("Nothing recorded yet."))
    for entry in shown:
        blocks.append(section(_audit_row(entry)))
    if len(newest) > len(shown):
        older = len(newest) - len(shown)
        blocks.append(context(f"… and {older} older entries. `/mida audit export` gives the whole log as CSV."))
    else:
        blocks.append(context("Newest first. `/mida audit export` gives the whole log as CSV."))
    return f"{title}: {len(shown)} entries", blocks


def audit_export_message(url: str, expires_at: float) -> Message:
    blocks = [
        section(
            f":page_facing_up: {link(url, 'Download the audit log (CSV)')}. "
            f"The link is signed and expires {slack_date(expires_at)}; anyone with it can read the log until then."
        ),
    ]
    return f"Audit log CSV: {url}", blocks


def error_message(err: BaseException, *, test_id: int | None = None) -> Message:
    if isinstance(err, AdminOnly):
        return not_admin_message(err.what)
    text = escape(explain(err, test_id=test_id))
    emoji = ":warning:" if isinstance(err, BotError) else ":x:"
    return text, [section(f"{emoji} {text}")]
