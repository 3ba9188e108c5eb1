"""The bot's own pages behind signed links: post-deploy results and the audit log export."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime

from aiohttp import web

from bot.deps import DEPS
from bot.domain import AuditEntry
from bot.links import BadLink, ExpiredLink, LinkTarget
from bot.services.errors import (
    BotError,
    NotConnected,
    ReconnectNeeded,
    UnknownExperiment,
)
from bot.views.html import message_page
from bot.web.results_page import load_results, render_results

log = logging.getLogger(__name__)

# The token is in the URL: keep it out of referrers and caches; nothing on the page loads from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def _verify(request: web.Request, kind: str) -> LinkTarget | web.Response:
    deps = request.app[DEPS]
    try:
        return deps.links.verify(request.match_info["token"], kind)
    except ExpiredLink:
        return _html(message_page("Link expired", "This link has expired. Ask the bot for a new one in Slack."), 410)
    except BadLink:
        return _html(
            message_page(
                "Link not valid",
                "This link is not valid: it was changed or cut short. Use the link from Slack as it was posted.",
            ),
            403,
        )


async def results_page(request: web.Request) -> web.Response:
    target = _verify(request, "results")
    if isinstance(target, web.Response):
        return target
    deps = request.app[DEPS]
    if target.test_id is None:
        return _html(
            message_page(
                "Link not valid", "This link does not name an experiment. Use the link from Slack as it was posted."
            ),
            403,
        )
    try:
        view = await load_results(deps, target.team, target.test_id)
    except NotConnected:
        return _html(
            message_page(
                "Not connected",
                "This Slack workspace is no longer connected to Mida, so its results cannot be shown. An admin can run /mida connect.",
            ),
            404,
        )
    except UnknownExperiment:
        return _html(
            message_page(
                "Experiment not found",
                f"Mida has no experiment #{target.test_id} in the connected project: it may have been deleted, or the workspace is now connected to another project.",
            ),
            404,
        )
    except ReconnectNeeded:
        return _html(
            message_page(
                "Mida refused the API key",
                "Mida no longer accepts this workspace's API key, so the results cannot be read. An admin must run /mida connect with a new key.",
            ),
            502,
        )
    except BotError as err:
        log.warning("results page: Mida failed", extra={"team": target.team.key, "error": err.failure.kind.value})
        return _html(
            message_page(
                "Mida did not answer",
                f"The results could not be read from Mida right now ({err.failure.message}). Try again in a minute.",
            ),
            502,
        )
    return _html(render_results(view, expires_at=target.expires_at))


AUDIT_COLUMNS = [
    "entry_id",
    "time_utc",
    "event",
    "actor_user",
    "actor_team",
    "request_id",
    "test_id",
    "action",
    "variant_id",
    "rollout",
    "reason",
    "ok",
    "mida_status",
    "mida_answer",
    "detail",
]


def audit_rows(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for e in entries:
        writer.writerow(
            [
                e.entry_id or "",
                datetime.fromtimestamp(e.at, tz=UTC).isoformat(),
                e.event.value,
                e.actor.user_id if e.actor else "",
                e.actor.team_id if e.actor else "",
                e.request_id or "",
                e.test_id if e.test_id is not None else "",
                e.change.action.value if e.change else "",
                (e.change.variant_id or "") if e.change else "",
                e.change.rollout if e.change and e.change.rollout is not None else "",
                _no_formula(e.reason or ""),
                "" if e.outcome is None else ("yes" if e.outcome.ok else "no"),
                e.outcome.mida_status if e.outcome and e.outcome.mida_status is not None else "",
                _no_formula(str(e.outcome.mida_body)) if e.outcome and e.outcome.mida_body else "",
                _no_formula(str(e.detail)) if e.detail else "",
            ]
        )
    return out.getvalue()


def _no_formula(text: str) -> str:
    """Spreadsheets run cells that start with these as formulas; people type reasons freely."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def audit_export_page(request: web.Request) -> web.Response:
    target = _verify(request, "audit")
    if isinstance(target, web.Response):
        return target
    deps = request.app[DEPS]
    entries = [entry async for entry in deps.audit_trail.everything(target.team)]
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="mida-audit-{target.team.team_id}.csv"',
    }
    return web.Response(text=audit_rows(entries), content_type="text/csv", headers=headers)
