"""The results page in a real headless browser (Debian's `chromium`, driven by its own command line:
no Python dependency). Skipped, with the reason, where no chromium is installed; the test never
installs anything.

- `--dump-dom`: the page loads, and the DOM the browser built has one `.series` per variant and the
  `.serve-marker`.
- `--log-net-log`: every request the page made, from Chromium's own network log — all to the bot's
  origin (a control page with an outside image shows the check would catch one). Outside hosts
  cannot resolve anyway (`--host-resolver-rules`), so the test never leaves the machine.
- `--screenshot` at a phone's size (412 x 915): a non-empty PNG; with UPDATE_SCREENSHOT=1 it is
  also written to docs/results-page.png.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from standins.bot_server import REPO
from tests.web import PageDom
from tests.web.test_results_page import SERVING, link

PHONE = (412, 915)


def find_chromium() -> str | None:
    candidates = [os.environ.get("CHROMIUM", ""), "/usr/bin/chromium", "chromium", "chromium-browser"]
    for candidate in candidates:
        path = shutil.which(candidate) if candidate else None
        if path is None:
            continue
        try:
            ok = subprocess.run([path, "--version"], capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return path
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium browser here (looked for $CHROMIUM, /usr/bin/chromium, chromium, chromium-browser on PATH); "
    "install Debian's `chromium` package to run the browser tests",
)


def chromium(tmp_path: Path, *args: str, netlog: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Nothing but loopback resolves: a request to any other host is logged, never sent.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    if netlog is not None:
        command.append(f"--log-net-log={netlog}")
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def page_requests(netlog: Path, page_site: str) -> list[str]:
    """URLs requested on behalf of pages of `page_site` (Chromium's own background traffic — update
    checks and the like — belongs to no page and is left out)."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start_job and "url" in params:
            if page_site in params.get("network_isolation_key", "") or params.get("initiator", "").startswith(page_site):
                urls.append(params["url"])
    return urls


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_page_loads_in_a_browser_with_the_chart(connected, tmp_path):
    url = link(connected, SERVING)
    netlog = tmp_path / "netlog.json"
    dom = PageDom(chromium(tmp_path, "--dump-dom", url, netlog=netlog).stdout)

    assert "Free Shipping Banner Test" in dom.text
    series = dom.with_class("series")
    assert sorted(a["data-variant"] for _, a in series) == ["0", "1"]  # one per variant
    assert len(dom.with_class("serve-marker")) == 1
    assert dom.rows("post-deploy") and dom.rows("pre-deploy")

    # Every request the page made went to the bot; the one outside link is a link, not a load.
    requested = page_requests(netlog, "http://127.0.0.1")
    assert url in requested  # the log does see the page's requests
    assert {origin(u) for u in requested} == {origin(connected.url)}
    external = [u for u in dom.links() if "://" in u or u.startswith("//")]
    assert external == ["https://app.mida.test/project/sandbox-project/"]
    # ...and the browser was told to load nothing from anywhere (it enforces this header).
    csp = httpx.get(url, timeout=30).headers["content-security-policy"]
    assert csp.startswith("default-src 'none'") and "script-src" not in csp


def test_the_request_check_catches_an_outside_load(tmp_path):
    """Control: the network-log check sees a page's request to another host."""
    page = tmp_path / "control.html"
    page.write_text('<!doctype html><title>c</title><img src="https://assets.example.invalid/x.png" alt="">')
    netlog = tmp_path / "netlog.json"
    chromium(tmp_path, "--dump-dom", page.as_uri(), netlog=netlog)
    assert "https://assets.example.invalid/x.png" in page_requests(netlog, "file://")


def test_phone_screenshot(connected, tmp_path):
    url = link(connected, SERVING)
    shot = tmp_path / "results-page.png"
    chromium(tmp_path, f"--screenshot={shot}", f"--window-size={PHONE[0]},{PHONE[1]}", url)
    data = shot.read_bytes()
    assert len(data) > 10_000  # a rendered page, not a blank
    assert png_size(data) == PHONE
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        docs = REPO / "docs"
        docs.mkdir(exist_ok=True)
        (docs / "results-page.png").write_bytes(data)
