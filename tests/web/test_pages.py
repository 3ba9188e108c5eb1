"""The pages behind signed links, on an aiohttp test server with the real link signer and the real
audit log (test Redis): which link opens which page, and the CSV export's cells. (The results page
itself is checked against the sandbox in tests/web/test_results_page.py.)"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.deps import DEPS
from bot.domain import Action, AuditEntry, AuditEvent, Change, Outcome, Person, TeamRef
from bot.links import LinkSigner
from bot.services.audit_trail import AuditTrail
from bot.store.audit import AuditLog
from bot.web.pages import AUDIT_COLUMNS, SECURITY_HEADERS, audit_export_page, audit_rows, results_page
from standins.bot_server import ENCRYPTION_KEY

PLAIN = TeamRef(team_id="T1")
GRID = TeamRef(team_id="T1", enterprise_id="E1")  # the same team id inside an Enterprise Grid org
ALICE = Person(user_id="U_ALICE", team_id="T1")


@pytest.fixture
async def site(redis) -> AsyncIterator[tuple[TestClient, LinkSigner, AuditLog]]:
    links, audit = LinkSigner([ENCRYPTION_KEY], "https://bot.example.com"), AuditLog(redis)
    app = web.Application()
    # Only what these routes read; the experiments side is never reached by the audit export.
    app[DEPS] = SimpleNamespace(links=links, audit_trail=AuditTrail(None, audit))  # type: ignore[arg-type]
    app.router.add_get("/results/{token}", results_page)
    app.router.add_get("/audit/{token}", audit_export_page)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, links, audit
    await client.close()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_export_is_the_workspaces_whole_log_oldest_first(site) -> None:
    client, links, audit = site
    await audit.append(PLAIN, AuditEntry(event=AuditEvent.CONNECTED, actor=ALICE, at=1_700_000_000))
    await audit.append(PLAIN, AuditEntry(event=AuditEvent.REQUESTED, actor=ALICE, test_id=1234, at=1_700_000_060,
                                         change=Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1",
                                                       rollout=25)))
    await audit.append(GRID, AuditEntry(event=AuditEvent.SETTINGS_CHANGED, actor=ALICE))  # another workspace's
    page = await client.get(f"/audit/{links.token(PLAIN, 'audit')}")
    assert page.status == 200 and page.content_type == "text/csv"
    assert page.headers["Content-Disposition"] == 'attachment; filename="mida-audit-T1.csv"'
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    rows = rows_of(await page.text())
    assert [(r["event"], r["time_utc"]) for r in rows] == [
        ("connected", "2023-11-14T22:13:20+00:00"), ("requested", "2023-11-14T22:14:20+00:00")
    ]
    assert (rows[1]["action"], rows[1]["variant_id"], rows[1]["rollout"], rows[1]["test_id"]) == (
        "serve_winner", "1", "25.0", "1234")


async def test_a_grid_workspace_link_exports_that_workspace_only(site) -> None:
    client, links, audit = site
    await audit.append(PLAIN, AuditEntry(event=AuditEvent.CONNECTED, actor=ALICE))
    page = await client.get(f"/audit/{links.token(GRID, 'audit')}")
    assert page.status == 200 and rows_of(await page.text()) == []


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (lambda links: f"/audit/{links.token(PLAIN, 'results', 1234)}", 403, "not valid"),  # a results link
        (lambda links: f"/results/{links.token(PLAIN, 'audit')}", 403, "not valid"),  # an audit link
        (lambda links: f"/results/{links.token(PLAIN, 'results')}", 403, "does not name an experiment"),
        (lambda links: f"/audit/{links.token(PLAIN, 'audit', ttl=-1)}", 410, "expired"),
        (lambda links: f"/audit/{links.token(PLAIN, 'audit')[:-2]}", 403, "not valid"),
        (lambda links: "/audit/" + "x" * 2000, 403, "not valid"),
    ],
    ids=["results link on audit", "audit link on results", "results link without a test", "expired", "cut short",
         "junk"],
)
async def test_a_link_opens_only_its_own_page(site, path, status, words) -> None:
    client, links, audit = site
    await audit.append(PLAIN, AuditEntry(event=AuditEvent.CONNECTED, actor=ALICE))
    page = await client.get(path(links))
    assert page.status == status and page.content_type == "text/html"
    assert words in await page.text() and "connected" not in await page.text()
    assert page.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("typed", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_quoted(typed: str) -> None:
    entry = AuditEntry(event=AuditEvent.REJECTED, actor=ALICE, reason=typed, detail={"note": "x"},
                       outcome=Outcome(ok=False, mida_status=400, mida_body={"message": typed}))
    [row] = rows_of(audit_rows([entry]))
    assert row["reason"] == "'" + typed
    assert row["mida_answer"] == str({"message": typed})  # a dict's text starts with "{": never a formula
    assert (row["ok"], row["mida_status"]) == ("no", "400")


def test_ordinary_text_and_empty_fields_are_left_as_they_are() -> None:
    [row] = rows_of(audit_rows([AuditEntry(event=AuditEvent.EXPIRED, reason="a, \"quoted\"\nreason")]))
    assert list(row) == AUDIT_COLUMNS
    assert row["reason"] == 'a, "quoted"\nreason'
    assert all(row[c] == "" for c in AUDIT_COLUMNS if c not in ("event", "time_utc", "reason", "entry_id"))
