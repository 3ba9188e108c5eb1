"""The post-deploy results page over real HTTP: the bot's web app, connected to the Mida sandbox,
with a real Redis. Links are built the way the bot builds them (signed, expiring)."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime

import httpx
import pytest
import redis.asyncio as aioredis

from bot.domain import TeamRef
from bot.store.results_cache import ResultsCache
from standins.bot_server import PUBLIC_URL
from standins.people import TEAM
from standins.redis_server import free_port
from standins.sandbox import API_KEY, PROJECT_KEY
from tests.web import PageDom

WS = TeamRef(team_id=TEAM)
SERVING = 1237  # "Free Shipping Banner Test": variant 1 served at 50 % three days ago


def link(bot, test_id: int, team: TeamRef = WS, **kw) -> str:
    """The page's address on the running bot, for a link the bot would post."""
    token = bot.deps.links.token(team, "results", test_id, **kw)
    assert bot.deps.links.results_url(team, test_id).startswith(f"{PUBLIC_URL}/results/")
    return f"{bot.url}/results/{token}"


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30, follow_redirects=False)


def sandbox_result(mida_sandbox, test_id: int, phase: str) -> dict:
    """Mida's own answer, read straight from the sandbox (not through the bot)."""
    response = httpx.get(
        f"{mida_sandbox.base_url}/us/v2/project/{PROJECT_KEY}/experiment/{test_id}/result",
        params={"report_phase": phase}, headers={"Authorization": f"Bearer {API_KEY}"},
    )
    response.raise_for_status()
    return response.json()


def mida_reads(mida_sandbox, test_id: int) -> list[dict]:
    return mida_sandbox.requests(method="GET", path_contains=f"/experiment/{test_id}/")


def expected_row(v: dict) -> list[str]:
    return [f"{v['visitors']:,}", f"{v['conversions']:,}", f"{v['conversion_rate']:.2f} %"]


def row_key(name: str, variant_id: str, *tags: str) -> str:
    return " ".join([name, f"variant {variant_id}", *tags])


def test_serving_experiment_page(connected, mida_sandbox):
    response = get(link(connected, SERVING))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    dom = PageDom(response.text)

    # What the page read from Mida: the three report phases and the daily rows, once each.
    reads = mida_reads(mida_sandbox, SERVING)
    results = sorted(r["query"].get("report_phase") for r in reads if r["path"].endswith("/result"))
    series = sorted(r["query"].get("report_phase") for r in reads if r["path"].endswith("/timeseries"))
    assert results == ["all_time", "post_deploy", "pre_deploy"]
    assert series == ["all_time", "post_deploy"]
    assert all(r["headers"]["authorization"] == f"Bearer {API_KEY}" for r in reads)

    # Name, id, status, what is served at what rollout since when.
    served_at = datetime.fromisoformat(mida_sandbox.experiment(SERVING)["served_at"].replace("Z", "+00:00"))
    served_day = f"{served_at.day} {served_at:%b %Y}"
    assert "Free Shipping Banner Test" in dom.text and "Experiment #1237" in dom.text
    assert "Live" in dom.text
    assert (
        f"Serving Sticky free-shipping banner (variant 1) to 50% of eligible visitors since {served_day} (3 days ago)."
        in dom.text
    )

    # Post-deploy and pre-deploy tables with the sandbox's numbers, per variant.
    post, pre = sandbox_result(mida_sandbox, SERVING, "post_deploy"), sandbox_result(mida_sandbox, SERVING, "pre_deploy")
    post_rows, pre_rows = dom.rows("post-deploy"), dom.rows("pre-deploy")
    control = row_key("Control", "0", "control")
    served = row_key("Sticky free-shipping banner", "1", "served")
    # The same number style as in Slack (VariantRow); the page keeps the space from breaking.
    # Then the statistics in the test's engine (Bayesian): chance to beat, risk, credible interval.
    assert pre_rows[control] == ["2,600", "182", "7.00 %", "baseline", "baseline", "baseline", "baseline"]
    assert pre_rows[served] == ["2,620", "223", "8.51 %", "+21.6 %", "97.9 %", "0.07 %", "+1 % to +47 %"]
    assert "95 % credible interval of the lift" in dom.text and "Chance to beat control" in dom.text
    assert "Verdict: Winner: Sticky free-shipping banner — 97.9 % chance to beat Control (threshold 95 %)" in dom.text
    assert "Computed by the bot from Mida's counts: Bayesian, Beta(1,1) prior" in dom.text
    # Post-deploy too (both phases), but no split check there: serving moved the traffic on purpose.
    assert post_rows[served][4].endswith("%") and post_rows[control][4] == "baseline"
    assert "Sample ratio mismatch" not in dom.text
    assert pre_rows["All variants"][:3] == ["5,220", "405", "7.76 %"]
    for key, v in zip((control, served), post["variants"]):
        assert post_rows[key][:3] == expected_row(v)
    assert post_rows[served][3] == f"+{post['variants'][1]['improvement']:.1f} %"
    assert post_rows["All variants"][:2] == [f"{post['total_visitors']:,}", f"{post['total_conversions']:,}"]
    assert [r["name"] for r in pre["variants"]] == ["Control", "Sticky free-shipping banner"]
    # Accessible tables: a caption and headers with scope.
    assert "Post-deploy — since the winner was served" in dom.text
    ths = [a for t, a in dom.elements if t == "th"]
    assert ths and all(a.get("scope") in ("col", "row") for a in ths)
    assert sum(1 for t, _ in dom.elements if t == "caption") >= 3

    # The chart: one series per variant, the serve marker on the serve day, alt text and a legend.
    lines = dom.with_class("series")
    assert sorted(a["data-variant"] for _, a in lines) == ["0", "1"]
    assert all(t == "path" for t, _ in lines)
    (marker,) = dom.with_class("serve-marker")
    assert marker[1]["data-day"] == served_at.date().isoformat()
    svg = [a for t, a in dom.elements if t == "svg" and "chart" in a.get("class", "")]
    assert svg and svg[0]["role"] == "img" and svg[0]["viewbox"].startswith("0 0 ")
    assert f"Winner served {served_at.day} {served_at:%b}" in dom.text
    assert dom.with_class("legend")

    # "Open in Mida", and nothing else leaves the page.
    assert "https://app.mida.test/project/sandbox-project/" in dom.links()
    assert "<script" not in response.text.lower()


def test_security_headers_forbid_external_loads(connected):
    response = get(link(connected, SERVING))
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert "script-src" not in directives  # falls back to default-src 'none': no script at all
    assert directives["style-src"] == ["'unsafe-inline'"]  # the inline <style> only
    assert all("http" not in " ".join(v) and "*" not in " ".join(v) for v in directives.values())
    assert response.headers["referrer-policy"] == "no-referrer"  # the token stays out of referrers
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["x-frame-options"] == "DENY"
    # No src or href to any other origin but the "Open in Mida" link.
    dom = PageDom(response.text)
    external = [u for u in dom.links() if "://" in u or u.startswith("//")]
    assert external == ["https://app.mida.test/project/sandbox-project/"]


def test_tampered_link_is_refused(connected):
    url = link(connected, SERVING)
    body, _, signature = url.rpartition("/")[2].partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["i"] = 1234  # another experiment, same signature
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    for bad in (f"{forged}.{signature}", url.rpartition("/")[2][:-3], "nonsense", url.rpartition("/")[2] + "x"):
        response = get(f"{connected.url}/results/{bad}")
        assert response.status_code == 403, bad
        assert "This link is not valid" in response.text
        assert "default-src 'none'" in response.headers["content-security-policy"]
    # An audit-export link does not open a results page.
    audit = connected.deps.links.token(WS, "audit")
    assert get(f"{connected.url}/results/{audit}").status_code == 403


def test_expired_link_says_so(connected, mida_sandbox):
    response = get(link(connected, SERVING, ttl=-1))
    assert response.status_code == 410
    assert "This link has expired" in PageDom(response.text).text
    assert mida_reads(mida_sandbox, SERVING) == []


def test_disconnected_workspace(connected, mida_sandbox):
    response = get(link(connected, SERVING, team=TeamRef(team_id="T0OTHER")))
    assert response.status_code == 404
    assert "no longer connected to Mida" in response.text
    assert mida_reads(mida_sandbox, SERVING) == []


def test_unknown_experiment(connected):
    response = get(link(connected, 99999))
    assert response.status_code == 404
    assert "no experiment #99999" in response.text


def test_mida_failure_gives_502_and_is_not_cached(connected, mida_sandbox, clean_redis):
    mida_sandbox.fault(method="GET", path_contains="/result", status=500)
    response = get(link(connected, SERVING))
    assert response.status_code == 502
    assert "Mida did not answer" in response.text
    assert clean_redis.get(ResultsCache.key(WS, SERVING)) is None
    mida_sandbox.clear_faults()
    assert get(link(connected, SERVING)).status_code == 200


def test_unauthorized_key_tells_an_admin_to_reconnect(connected, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/result", status=401, error="Invalid or missing API key")
    response = get(link(connected, SERVING))
    assert response.status_code == 502
    assert "/mida connect" in response.text


@pytest.mark.cluster
def test_second_view_within_the_ttl_reads_no_mida(connected, mida_sandbox, clean_redis):
    url = link(connected, SERVING)
    first = get(url)
    assert first.status_code == 200
    reads = len(mida_sandbox.requests())
    assert reads == 7  # three results, two timeseries, the secondary metrics of two phases

    key = f"mida:{{{TEAM}}}:results-cache:{SERVING}"
    assert ResultsCache.key(WS, SERVING) == key
    assert 0 < clean_redis.pttl(key) <= 60_000
    assert clean_redis.get(key + ":lock") is None  # freed after loading

    # Another link to the same page (another message, another person) is served from the cache too.
    second = get(link(connected, SERVING))
    assert second.status_code == 200
    assert len(mida_sandbox.requests()) == reads
    assert PageDom(second.text).rows("pre-deploy") == PageDom(first.text).rows("pre-deploy")

    # Once the entry is gone (TTL over, or the bot changed the serving), the next view reads Mida again.
    connected.run(ResultsCache(connected.deps.redis).invalidate(WS, SERVING))
    assert get(url).status_code == 200
    assert len(mida_sandbox.requests()) == reads + 7


@pytest.mark.cluster
def test_a_burst_of_clicks_reads_mida_once(connected, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1237/", latency=0.3, times=7)
    url = link(connected, SERVING)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(*(client.get(url) for _ in range(12)))
        return [a.status_code for a in answers]

    assert asyncio.run(burst()) == [200] * 12
    assert len(mida_reads(mida_sandbox, SERVING)) == 7


def test_timeseries_failure_leaves_the_chart_out_but_shows_the_numbers(connected, mida_sandbox, clean_redis):
    mida_sandbox.fault(method="GET", path_contains="/timeseries", status=400, error="Invalid query")
    response = get(link(connected, SERVING))
    assert response.status_code == 200
    dom = PageDom(response.text)
    assert dom.with_class("series") == [] and "the chart is left out" in dom.text
    assert dom.rows("pre-deploy")
    assert clean_redis.get(ResultsCache.key(WS, SERVING)) is None  # a partial page is not kept
    assert "since serving" in dom.text  # the serve day is unknown without the post-deploy rows


def test_experiment_not_serving(connected, mida_sandbox):
    dom = PageDom(get(link(connected, 1234)).text)
    assert "No winner has been served yet" in dom.text
    assert "post-deploy" not in dom.tables and dom.rows("pre-deploy")
    assert dom.with_class("serve-marker") == []
    assert sorted(a["data-variant"] for _, a in dom.with_class("series")) == ["0", "1"]


def test_three_variants_three_series(connected):
    dom = PageDom(get(link(connected, 1238)).text)
    assert sorted(a["data-variant"] for _, a in dom.with_class("series")) == ["0", "1", "2"]


def test_stopped_experiment_keeps_its_post_deploy_numbers(connected, mida_sandbox):
    mida_sandbox.set_experiment(SERVING, serving_variant_id=None)
    dom = PageDom(get(link(connected, SERVING)).text)
    assert "No winner is served now" in dom.text
    assert dom.rows("post-deploy") and len(dom.with_class("serve-marker")) == 1


# ------------------------------------------------------------------ the cache on its own (real Redis)


def counting_loader(payload: dict, *, cacheable: bool = True, delay: float = 0.0, fail: Exception | None = None):
    calls = []

    async def load():
        calls.append(1)
        await asyncio.sleep(delay)
        if fail is not None:
            raise fail
        return payload, cacheable

    return load, calls


async def test_cache_single_flight_among_concurrent_callers(redis):
    cache = ResultsCache(redis, ttl=60, poll=0.01)
    load, calls = counting_loader({"v": 1, "n": 1}, delay=0.2)
    answers = await asyncio.gather(*(cache.get_or_load(WS, 7, load) for _ in range(10)))
    assert len(calls) == 1
    assert all(payload == {"v": 1, "n": 1} for payload, _ in answers)
    assert sorted(hit for _, hit in answers) == [False] + [True] * 9
    assert 0 < await redis.pttl("mida:{T0001}:results-cache:7") <= 60_000
    assert await redis.exists("mida:{T0001}:results-cache:7:lock") == 0


async def test_cache_keeps_no_failure_and_no_partial_page(redis):
    cache = ResultsCache(redis, ttl=60, poll=0.01)
    load, calls = counting_loader({}, fail=RuntimeError("Mida down"))
    with pytest.raises(RuntimeError):
        await cache.get_or_load(WS, 7, load)
    assert await redis.exists(ResultsCache.key(WS, 7), ResultsCache.lock_key(WS, 7)) == 0

    load, calls = counting_loader({"v": 1}, cacheable=False)
    await cache.get_or_load(WS, 7, load)
    await cache.get_or_load(WS, 7, load)
    assert len(calls) == 2 and await redis.exists(ResultsCache.key(WS, 7)) == 0


async def test_cache_outlives_a_dead_lock_holder(redis):
    """A process died holding the lock: the lock expires and the next caller loads."""
    cache = ResultsCache(redis, ttl=60, poll=0.01)
    await redis.set(ResultsCache.lock_key(WS, 7), "someone-else", px=200)
    load, calls = counting_loader({"v": 1})
    payload, hit = await cache.get_or_load(WS, 7, load)
    assert payload == {"v": 1} and not hit and len(calls) == 1


async def test_cache_keys_are_per_workspace_and_ttl_zero_disables_it(redis):
    other = TeamRef(team_id="T2", enterprise_id="E1")
    assert ResultsCache.key(other, 7) == "mida:{E1:T2}:results-cache:7"
    cache = ResultsCache(redis, ttl=0)
    load, calls = counting_loader({"v": 1})
    await cache.get_or_load(WS, 7, load)
    await cache.get_or_load(WS, 7, load)
    assert len(calls) == 2 and await redis.exists(ResultsCache.key(WS, 7)) == 0


async def test_without_redis_the_page_still_loads():
    broken = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)
    load, calls = counting_loader({"v": 1})
    payload, hit = await ResultsCache(broken).get_or_load(WS, 7, load)
    assert payload == {"v": 1} and not hit and len(calls) == 1
    await broken.aclose()


def test_the_page_judges_secondary_metrics_folded_away_and_says_when_mida_gives_none(connected, mida_sandbox):
    response = get(link(connected, 1250))
    assert response.status_code == 200
    dom = PageDom(response.text)
    assert "Secondary metrics (2)" in dom.text
    assert "Newsletter signup: One-page checkout 7.5 % vs 10.0 % · 0.3 % chance to beat Control" in dom.text
    assert '<details class="secondary">' in response.text  # folded away under the primary figures
    phases = sorted(r["query"].get("report_phase") for r in mida_sandbox.requests(path_contains="/1250/metrics"))
    assert phases == ["post_deploy", "pre_deploy"]

    mida_sandbox.fault(method="GET", path_contains="/experiment/1249/metrics", status=500)
    failed = get(link(connected, 1249))
    assert failed.status_code == 200 and "97.2 % chance to beat Control" in PageDom(failed.text).text
    assert "Secondary metrics: Mida did not give the secondary metrics" in PageDom(failed.text).text
