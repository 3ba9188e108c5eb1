"""A local Mida API that behaves as Mida's docs say, for trying the bot and for every end-to-end test.

    mida-slack sandbox --port 8765
    MIDA_API_URL=http://127.0.0.1:8765/{region}/v2

The API is served under `/{region}/v2/...` (region `us` or `eu`; a project answers only under its own
region) and under `/v2/...` (any region). State is in memory, seeded by `SandboxState.seeded()`.

A control API for tests lives under `/_sandbox/` (no auth): the log of every API request, injectable
faults (status, Retry-After, latency, dropped connection, an answer that is not what the docs say,
a write answered without being applied), dashboard-side changes, and reset.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any

from aiohttp import web

__all__ = [
    "SandboxExperiment",
    "SandboxProject",
    "SandboxState",
    "SandboxVariant",
    "build_sandbox_app",
    "run_sandbox",
    "start_sandbox",
]

STATUS_LABEL = {9: "draft", 1: "live", 0: "inactive"}
PHASES = ("pre_deploy", "post_deploy", "all_time")
POST_DEPLOY_VISITORS_PER_HOUR = 40
POST_DEPLOY_BASE_VISITORS = 12  # every variant has a few post-deploy visitors, so pages have rows


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _rate(conversions: int, visitors: int) -> float:
    return round(conversions / visitors * 100, 2) if visitors else 0.0


# ----------------------------------------------------------------------------------------- state


@dataclass
class SandboxVariant:
    variant_id: str
    name: str
    visitors: int = 0
    conversions: int = 0
    weight: float | None = None  # share of the split (0–100); None: an equal share of the active arms
    paused: bool = False  # weight 0 (Mida's `variant_status: "paused"`), its visitors kept
    revenue: float | None = None  # pre-deploy revenue, for a revenue goal
    metrics: list[int] = field(default_factory=list)  # pre-deploy conversions on each secondary metric


@dataclass
class SandboxExperiment:
    test_id: int
    test_name: str
    url: str
    status: int
    created_at: datetime
    variants: list[SandboxVariant]
    is_completed: bool = False
    end_date: datetime | None = None
    traffic_allocation: float = 100
    serving_variant_id: str | None = None
    served_at: datetime | None = None
    served_variant_id: str | None = None  # the last one served, kept after stop for post-deploy data
    stopped_at: datetime | None = None
    updated_at: datetime | None = None
    stats_engine: str = "bayesian"
    confidence_threshold_percent: float = 95
    is_mab: bool = False
    metrics: list[tuple[str, str]] = field(default_factory=list)  # secondary metrics: (metric_key, name)
    # Post-deploy counts a test sets (variant id -> (visitors, conversions)); else they are derived.
    post_deploy_counts: dict[str, tuple[int, int]] | None = None

    @property
    def has_revenue(self) -> bool:
        return any(v.revenue is not None for v in self.variants)

    def weights(self) -> dict[str, float | None]:
        """Each arm's `traffic_weight`: None for MAB tests, 0 when paused, else its own or an equal share."""
        if self.is_mab:
            return {v.variant_id: None for v in self.variants}
        active = [v for v in self.variants if not v.paused]
        equal = round(100 / len(active), 2) if active else 0.0
        return {v.variant_id: 0.0 if v.paused else (v.weight if v.weight is not None else equal) for v in self.variants}

    def variant(self, variant_id: str) -> SandboxVariant | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)

    def touch(self) -> None:
        self.updated_at = _now()

    def serve(self, variant_id: str, traffic_allocation: float | None, at: datetime | None = None) -> None:
        self.serving_variant_id = self.served_variant_id = variant_id
        if traffic_allocation is not None:
            self.traffic_allocation = traffic_allocation
        self.served_at = at or _now()
        self.stopped_at = None
        self.touch()

    def stop(self) -> None:
        self.serving_variant_id = None
        self.stopped_at = _now()
        self.touch()

    # -- numbers

    def pre_deploy(self) -> dict[str, tuple[int, int]]:
        return {v.variant_id: (v.visitors, v.conversions) for v in self.variants}

    def post_deploy(self, now: datetime) -> dict[str, tuple[int, int]]:
        """Deterministic numbers since the serve moment: mostly on the served variant."""
        if self.post_deploy_counts is not None:
            return {v.variant_id: self.post_deploy_counts.get(v.variant_id, (0, 0)) for v in self.variants}
        if self.served_at is None:
            return {v.variant_id: (0, 0) for v in self.variants}
        hours = max(0, int(((self.stopped_at or now) - self.served_at).total_seconds() // 3600))
        total = POST_DEPLOY_VISITORS_PER_HOUR * hours
        rollout = self.traffic_allocation / 100
        numbers = {}
        for v in self.variants:
            share = (1 - rollout) / len(self.variants) + (rollout if v.variant_id == self.served_variant_id else 0)
            visitors = POST_DEPLOY_BASE_VISITORS + int(total * share)
            rate = v.conversions / v.visitors if v.visitors else 0.05
            numbers[v.variant_id] = (visitors, round(visitors * rate))
        return numbers

    def revenue(self, numbers: dict[str, tuple[int, int]]) -> dict[str, float]:
        """Each arm's revenue for these numbers: its pre-deploy revenue per visitor times its visitors."""
        out = {}
        for v in self.variants:
            rpv = (v.revenue or 0.0) / v.visitors if v.visitors else 0.0
            out[v.variant_id] = rpv * numbers[v.variant_id][0]
        return out

    def numbers(self, phase: str, now: datetime) -> dict[str, tuple[int, int]]:
        if phase == "pre_deploy":
            return self.pre_deploy()
        if phase == "post_deploy":
            return self.post_deploy(now)
        pre, post = self.pre_deploy(), self.post_deploy(now)
        return {k: (pre[k][0] + post[k][0], pre[k][1] + post[k][1]) for k in pre}

    def default_phase(self) -> str:
        return "pre_deploy" if self.serving_variant_id is not None else "all_time"

    def days_running(self, now: datetime) -> int:
        return max(0, ((self.end_date or now) - self.created_at).days)


@dataclass
class SandboxProject:
    project_key: str
    region: str
    api_key: str
    company_id: int
    experiments: dict[int, SandboxExperiment] = field(default_factory=dict)


@dataclass
class Fault:
    method: str | None = None
    path_contains: str | None = None
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    latency: float | None = None
    drop: str | None = None
    times: int | None = None
    # A badly answering Mida: the real answer, changed. `answer_merge` is merged into its JSON
    # (a dict into a dict, a list of dicts into a list item by item: {"variants": [{}, {"visitors": -1}]}),
    # `answer_omit` drops top-level fields, `answer_text` replaces the whole body (not JSON).
    answer_merge: dict[str, Any] | None = None
    answer_omit: list[str] | None = None
    answer_text: str | None = None
    # False: the handler answers as if it applied the change, but the experiment is left as it was.
    apply: bool = True

    @property
    def changes_answer(self) -> bool:
        return self.answer_merge is not None or self.answer_omit is not None or self.answer_text is not None

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path_contains is None or self.path_contains in path
        )


SEEDED_PROJECTS = {
    "sandbox-project": ("us", "mida_sk_sandbox_us_4f9c2a7e1b3d5680"),
    "sandbox-eu": ("eu", "mida_sk_sandbox_eu_9d8e7f6a5b4c3210"),
}


def _seed(now: datetime) -> dict[str, SandboxProject]:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def exp(
        test_id: int, name: str, path: str, status: int, days: float, *variants: tuple[str, int, int], **kw: Any
    ) -> SandboxExperiment:
        rows = [SandboxVariant(str(i), n, vis, conv) for i, (n, vis, conv) in enumerate(variants)]
        e = SandboxExperiment(test_id, name, f"https://example.com{path}", status, ago(days), rows, **kw)
        e.updated_at = ago(min(days, 1))
        return e

    us = SandboxProject("sandbox-project", "us", SEEDED_PROJECTS["sandbox-project"][1], 1001)
    eu = SandboxProject("sandbox-eu", "eu", SEEDED_PROJECTS["sandbox-eu"][1], 2002)
    serving = exp(
        1237,
        "Free Shipping Banner Test",
        "/cart",
        1,
        24,
        ("Control", 2600, 182),
        ("Sticky free-shipping banner", 2620, 223),
    )
    serving.serve("1", 50, at=ago(3))
    serving.updated_at = ago(3)
    for e in (
        exp(
            1234,
            "Homepage CTA Button Color Test",
            "/",
            1,
            15,
            ("Control", 1500, 120),
            ("Variant 1 — Red CTA Button", 1480, 148),
        ),
        exp(
            1235,
            "Pricing Page Hero Copy Test",
            "/pricing",
            0,
            60,
            ("Control", 4200, 210),
            ("Benefit-led headline", 4180, 230),
            is_completed=True,
            end_date=ago(30),
        ),
        exp(1236, "Checkout Trust Badges", "/checkout", 9, 1, ("Control", 0, 0), ("Badges above the pay button", 0, 0)),
        serving,
        exp(
            1238,
            "Product Page Layout Test",
            "/product",
            1,
            10,
            ("Control", 3000, 240),
            ("Two-column layout", 2990, 275),
            ("Image carousel", 3010, 211),
        ),
        exp(1239, "Newsletter Popup Timing", "/blog", 1, 2, ("Control", 42, 2), ("Exit-intent popup", 39, 3)),
        *_statistics_cases(exp),
    ):
        us.experiments[e.test_id] = e
    for e in (
        exp(2001, "EU Homepage Hero Image", "/de/", 1, 12, ("Control", 1800, 90), ("Lifestyle photo", 1820, 109)),
        exp(
            2002, "EU Checkout Button Copy", "/de/kasse", 1, 6, ("Control", 900, 63), ("Jetzt sicher bezahlen", 910, 59)
        ),
    ):
        eu.experiments[e.test_id] = e
    return {us.project_key: us, eu.project_key: eu}


def _statistics_cases(exp: Any) -> list[SandboxExperiment]:
    """One experiment per case the statistics and guardrails tell apart (STATS.md), in both engines."""
    freq = {"stats_engine": "frequentist"}
    cases = [
        exp(1240, "Bayesian: too early to call", "/b1", 1, 14, ("Control", 2000, 160), ("Green button", 2010, 170)),
        exp(
            1241,
            "Frequentist: Mida's docs example",
            "/f1",
            1,
            15,
            ("Control", 1500, 120),
            ("Red CTA Button", 1480, 148),
            **freq,
        ),
        exp(1242, "Frequentist: clear winner", "/f2", 1, 21, ("Control", 5000, 400), ("Short form", 5000, 480), **freq),
        exp(1243, "Frequentist: a loser", "/f3", 1, 21, ("Control", 5000, 400), ("Long form", 5000, 320), **freq),
        exp(1244, "Sample ratio mismatch", "/srm", 1, 12, ("Control", 10000, 800), ("New nav", 9000, 810)),
        exp(
            1245,
            "Three arms (Bayesian)",
            "/b3",
            1,
            20,
            ("Control", 3000, 240),
            ("Blue", 3000, 270),
            ("Orange", 3000, 300),
        ),
        exp(
            1246,
            "Four arms (frequentist)",
            "/f4",
            1,
            20,
            ("Control", 4000, 320),
            ("Copy A", 4000, 330),
            ("Copy B", 4000, 380),
            ("Copy C", 4000, 300),
            **freq,
        ),
        exp(
            1247,
            "Smart optimization (MAB)",
            "/mab",
            1,
            18,
            ("Control", 1200, 96),
            ("Bold hero", 3800, 342),
            is_mab=True,
        ),
        exp(
            1248,
            "Paused arm with traffic",
            "/paused",
            1,
            16,
            ("Control", 2000, 160),
            ("Video", 2000, 190),
            ("Carousel", 400, 30),
        ),
        exp(1249, "Revenue goal", "/rev", 1, 15, ("Control", 1500, 120), ("Red CTA Button", 1480, 148)),
        exp(1250, "Secondary metrics", "/metrics", 1, 15, ("Control", 2000, 160), ("One-page checkout", 2000, 200)),
        exp(1251, "Bayesian at a 90 % threshold", "/b90", 1, 15, ("Control", 1500, 120), ("Red CTA Button", 1480, 140)),
        exp(1252, "Bayesian at a 99 % threshold", "/b99", 1, 15, ("Control", 1500, 120), ("Red CTA Button", 1480, 148)),
        exp(
            1253,
            "Frequentist at a 90 % threshold",
            "/f90",
            1,
            15,
            ("Control", 1500, 120),
            ("Red CTA Button", 1480, 148),
            **freq,
        ),
        exp(
            1254,
            "Frequentist at a 99 % threshold",
            "/f99",
            1,
            21,
            ("Control", 5000, 400),
            ("Short form", 5000, 460),
            **freq,
        ),
    ]
    by_id = {e.test_id: e for e in cases}
    by_id[1248].variants[2].paused = True
    by_id[1249].variants[0].revenue, by_id[1249].variants[1].revenue = 5800.0, 6650.0
    by_id[1250].metrics = [("add_to_cart", "Add to cart"), ("newsletter", "Newsletter signup")]
    by_id[1250].variants[0].metrics, by_id[1250].variants[1].metrics = [600, 200], [640, 150]
    for test_id, threshold in ((1251, 90), (1252, 99), (1253, 90), (1254, 99)):
        by_id[test_id].confidence_threshold_percent = threshold
    return cases


class SandboxState:
    """Projects and their experiments, the request log and the active faults. All in memory."""

    def __init__(self, projects: dict[str, SandboxProject] | None = None) -> None:
        self.projects: dict[str, SandboxProject] = projects or {}
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []

    @classmethod
    def seeded(cls) -> SandboxState:
        return cls(_seed(_now()))

    def reset(self) -> None:
        self.projects = _seed(_now())
        self.requests.clear()
        self.faults.clear()

    def find(self, test_id: int) -> SandboxExperiment | None:
        return next((p.experiments[test_id] for p in self.projects.values() if test_id in p.experiments), None)

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None


STATE = web.AppKey("sandbox_state", SandboxState)


# ----------------------------------------------------------------------------------------- errors


class _Reject(Exception):
    """Answer `{"error": text}` with this status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _error(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": text}, status=status, headers=headers)


UNAUTHORIZED = "Invalid or missing API key"
NOT_FOUND = "Experiment not found"
NOT_SERVING = "Experiment is not currently serving a winner"


# ----------------------------------------------------------------------------------------- helpers


def _api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.headers.get("api-key") or None


def _project(request: web.Request) -> SandboxProject:
    project = request.app[STATE].projects.get(request.match_info["project_key"])
    region = request.match_info.get("region")
    key = _api_key(request)
    if project is None or key != project.api_key or (region is not None and region != project.region):
        raise _Reject(401, UNAUTHORIZED)
    return project


def _experiment(request: web.Request) -> SandboxExperiment:
    project = _project(request)
    raw = request.match_info["test_id"]
    if not raw.isdigit():
        raise _Reject(400, "Invalid test_id")
    experiment = project.experiments.get(int(raw))
    if experiment is None:
        raise _Reject(404, NOT_FOUND)
    return experiment


async def _body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise _Reject(400, "Request body must be a JSON object")
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Reject(400, "Request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise _Reject(400, "Request body must be a JSON object")
    return body


def _percent(value: Any) -> float | None:
    """A number in 0–100, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 100 else None


def _phase(request: web.Request, experiment: SandboxExperiment) -> str:
    phase = request.query.get("report_phase") or experiment.default_phase()
    if phase not in PHASES:
        raise _Reject(400, "Invalid report_phase: use pre_deploy, post_deploy or all_time")
    return phase


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise _Reject(400, f"Invalid {name}: must be a non-negative integer")
    return int(raw)


# ----------------------------------------------------------------------------------------- API


async def list_experiments(request: web.Request) -> web.Response:
    project = _project(request)
    limit = min(_int_query(request, "limit", 50), 500)
    offset = _int_query(request, "offset", 0)
    if limit < 1:
        raise _Reject(400, "Invalid limit: must be between 1 and 500")
    rows = []
    for e in sorted(project.experiments.values(), key=lambda e: e.test_id)[offset : offset + limit]:
        row: dict[str, Any] = {
            "test_id": e.test_id,
            "test_name": e.test_name,
            "url": e.url,
            "status": e.status,
            "is_completed": int(e.is_completed),
            "created_at": _iso(e.created_at),
            "updated_at": _iso(e.updated_at),
            "is_deploy": 0,
        }
        if e.serving_variant_id is not None:
            row["serving_variant_id"] = e.serving_variant_id
        rows.append(row)
    return web.json_response(
        {"success": True, "company_id": project.company_id, "count": len(rows), "experiments": rows}
    )


def _goal(e: SandboxExperiment) -> dict[str, Any]:
    return {
        "goal_profile_id": 90000 + e.test_id,
        "goal_name": "Purchase",
        "goal_type": "revenue",
        "goal_value": "Purchase",
    }


async def experiment_details(request: web.Request) -> web.Response:
    e = _experiment(request)
    variants = [  # the details endpoint sends numeric variant ids, as in Mida's docs
        {"variant_id": int(v.variant_id), "name": v.name, "customCSS": "", "customJS": "", "data": []}
        for v in e.variants
    ]
    goal = _goal(e)
    experiment = {
        "test_id": e.test_id,
        "test_name": e.test_name,
        "url": e.url,
        "status": e.status,
        "created_at": _iso(e.created_at),
        "updated_at": _iso(e.updated_at),
        "goal_profile_id": goal["goal_profile_id"],
        "variants": variants,
        "configuration": {"traffic_allocation": _number(e.traffic_allocation), "confidence_interval": 95},
        "targeting": {"devices": [], "browsers": [], "countries": []},
        "primary_goal": goal,
        "serving_variant_id": e.serving_variant_id,
        "is_deploy": 0,
    }
    return web.json_response({"success": True, "experiment": experiment})


async def experiment_result(request: web.Request) -> web.Response:
    e = _experiment(request)
    phase = _phase(request, e)
    now = _now()
    numbers = e.numbers(phase, now)
    weights = e.weights()
    control_visitors, control_conversions = numbers[e.variants[0].variant_id]
    control_rate = _rate(control_conversions, control_visitors)
    revenue = e.revenue(numbers) if e.has_revenue else {}
    control_rpv = revenue.get(e.variants[0].variant_id, 0) / control_visitors if control_visitors else 0
    variants = []
    for i, v in enumerate(e.variants):
        visitors, conversions = numbers[v.variant_id]
        row: dict[str, Any] = {
            "variant_id": v.variant_id,
            "name": v.name,
            "visitors": visitors,
            "conversions": conversions,
            "conversion_rate": _rate(conversions, visitors),
        }
        if i > 0 and control_visitors and control_rate:
            row["improvement"] = round((row["conversion_rate"] - control_rate) / control_rate * 100, 2)
        if e.has_revenue:
            money = revenue[v.variant_id]
            rpv = money / visitors if visitors else 0.0
            row |= {
                "revenue": round(money, 2),
                "orders": conversions,
                "rpv": round(rpv, 2),
                "aov": round(money / conversions, 2) if conversions else 0.0,
                "currency": "USD",
            }
            if i > 0 and control_rpv:
                row["revenue_per_visitor_improvement"] = round((rpv - control_rpv) / control_rpv * 100, 2)
        weight = weights[v.variant_id]
        row |= {
            "traffic_weight": None if weight is None else _number(weight),
            "variant_status": "paused" if v.paused else "active",
            "is_control": i == 0,
        }
        variants.append(row)
    goal = _goal(e)
    body: dict[str, Any] = {
        "success": True,
        "test_id": e.test_id,
        "test_name": e.test_name,
        "status": STATUS_LABEL.get(e.status, "unknown"),
        "status_code": e.status,
        "start_date": _iso(e.created_at),
        "end_date": _iso(e.end_date),
        "days_running": e.days_running(now),
        "primary_goal": {k: goal[k] for k in ("goal_name", "goal_type", "goal_value")},
        "stats_engine": e.stats_engine,
        "confidence_threshold_percent": _number(e.confidence_threshold_percent),
    }
    if e.serving_variant_id is not None:
        body["serving_variant_id"] = e.serving_variant_id
    body |= {
        "is_serving": e.serving_variant_id is not None,
        "report_phase": phase,
        "traffic_allocation": _number(e.traffic_allocation),
        "distribution_mode": "mab"
        if e.is_mab
        else "custom"
        if any(v.weight is not None for v in e.variants)
        else "equal",
        "is_mab": e.is_mab,
        "total_visitors": sum(n[0] for n in numbers.values()),
        "total_conversions": sum(n[1] for n in numbers.values()),
        "has_revenue": e.has_revenue,
    }
    if e.has_revenue:
        total = sum(revenue.values())
        visitors_total, orders_total = body["total_visitors"], body["total_conversions"]
        body |= {
            "total_revenue": round(total, 2),
            "total_orders": orders_total,
            "rpv": round(total / visitors_total, 2) if visitors_total else 0.0,
            "aov": round(total / orders_total, 2) if orders_total else 0.0,
            "currency": "USD",
        }
    body["variants"] = variants
    return web.json_response(body)


async def experiment_metrics(request: web.Request) -> web.Response:
    """Get Experiment Metrics: one row per variant, `total` visitors and `result_N` conversions on the
    Nth attached secondary metric (the phase's share of the pre-deploy counts)."""
    e = _experiment(request)
    if "breakdown_by" in request.query:
        raise _Reject(400, "breakdown_by is not supported for metrics")
    phase = _phase(request, e)
    numbers = e.numbers(phase, _now())
    wanted = request.query.get("metric_keys") or request.query.get("goal_keys")
    keys = [k.strip() for k in wanted.split(",") if k.strip()] if wanted else None
    chosen = [(i, key, name) for i, (key, name) in enumerate(e.metrics) if keys is None or key in keys]
    definitions = [
        {
            "metric_key": key,
            "metric_text": f"goal_{key}",
            "name": name,
            "type": 1,
            "goal": {"goal_key": key, "goal_name": name, "goal_type": "event", "goal_value": key},
        }
        for _, key, name in chosen
    ]
    rows = []
    for v in e.variants:
        visitors = numbers[v.variant_id][0]
        row: dict[str, Any] = {"variant_id": v.variant_id, "total": visitors}
        for n, (i, _, _) in enumerate(chosen, start=1):
            pre = v.metrics[i] if i < len(v.metrics) else 0
            row[f"result_{n}"] = round(pre * visitors / v.visitors) if v.visitors else 0
        rows.append(row)
    body: dict[str, Any] = {
        "success": True,
        "test_id": e.test_id,
        "test_name": e.test_name,
        "count": len(rows),
        "metric_count": len(definitions),
        "metric_definitions": definitions,
        "metrics": rows,
    }
    missing = [k for k in keys or () if k not in {key for _, key, _ in chosen}]
    if missing:
        body["warnings"] = [f"Metric {k} is not attached to this experiment" for k in missing]
    return web.json_response(body)


def _daily(start: datetime, end: datetime, numbers: dict[str, tuple[int, int]]) -> dict[tuple[date, str], list[int]]:
    """Spread each variant's totals evenly over the days from `start` to `end` (both included)."""
    days = [start.date() + timedelta(days=i) for i in range((end.date() - start.date()).days + 1)]
    rows: dict[tuple[date, str], list[int]] = {}
    for variant_id, (visitors, conversions) in numbers.items():
        for i, day in enumerate(days):
            rows[(day, variant_id)] = [
                visitors // len(days) + (i < visitors % len(days)),
                conversions // len(days) + (i < conversions % len(days)),
            ]
    return rows


async def experiment_timeseries(request: web.Request) -> web.Response:
    e = _experiment(request)
    phase = _phase(request, e)
    now = _now()
    rows: dict[tuple[date, str], list[int]] = {}
    if phase != "post_deploy" and e.status != 9:
        rows = _daily(e.created_at, e.served_at or e.end_date or now, e.pre_deploy())
    if phase != "pre_deploy" and e.served_at is not None:
        for key, (visitors, conversions) in _daily(e.served_at, e.stopped_at or now, e.post_deploy(now)).items():
            merged = rows.setdefault(key, [0, 0])
            merged[0] += visitors
            merged[1] += conversions
    order = {v.variant_id: i for i, v in enumerate(e.variants)}
    series = []
    for (day, variant_id), (visitors, converted) in sorted(rows.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        stamp = _iso(datetime(day.year, day.month, day.day, tzinfo=UTC))
        series.append(
            {
                "variant_id": variant_id,
                "converted": converted,
                "conversion": _rate(converted, visitors),
                "visitors": visitors,
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
    goal = _goal(e)
    return web.json_response(
        {
            "success": True,
            "test_id": e.test_id,
            "test_name": e.test_name,
            "goal": goal | {"goal_key": "purchase", "is_primary": True},
            "report_phase": phase,
            "count": len(series),
            "timeseries": series,
        }
    )


async def serve_winner(request: web.Request) -> web.Response:
    e = _experiment(request)
    body = await _body(request)
    e = _experiment(request)  # looked up again: no await between the checks below and the write
    variant_id = body.get("variant_id", body.get("serving_variant_id"))
    if variant_id is None or variant_id == "":
        raise _Reject(400, "Missing variant_id")
    if isinstance(variant_id, bool) or not isinstance(variant_id, str | int):
        raise _Reject(400, "Invalid variant_id")
    if e.variant(str(variant_id)) is None:
        raise _Reject(400, f"Unknown variant_id {variant_id} for this experiment")
    allocation = None
    if "traffic_allocation" in body:
        allocation = _percent(body["traffic_allocation"])
        if allocation is None:
            raise _Reject(400, "traffic_allocation must be a number between 0 and 100")
    if e.status == 9:
        raise _Reject(409, "Experiment is a draft and cannot serve")
    if e.serving_variant_id is not None:
        raise _Reject(409, "Experiment is already serving a winner")
    e.serve(str(variant_id), allocation)
    return web.json_response(
        {
            "success": True,
            "test_id": e.test_id,
            "serving_variant_id": e.serving_variant_id,
            "traffic_allocation": _number(e.traffic_allocation),
            "is_serving": True,
            "message": "Winner is now served to eligible traffic at the configured rollout percentage on the same experiment.",
        }
    )


async def serving_rollout(request: web.Request) -> web.Response:
    _experiment(request)
    body = await _body(request)
    e = _experiment(request)
    allocation = _percent(body.get("traffic_allocation"))
    if allocation is None:
        raise _Reject(400, "Missing or invalid traffic_allocation: a number between 0 and 100")
    if e.serving_variant_id is None:
        raise _Reject(409, NOT_SERVING)
    e.traffic_allocation = allocation
    e.touch()
    return web.json_response(
        {
            "success": True,
            "test_id": e.test_id,
            "traffic_allocation": _number(e.traffic_allocation),
            "is_serving": True,
            "message": "Serving rollout percentage updated.",
        }
    )


async def stop_serving(request: web.Request) -> web.Response:
    _experiment(request)
    await request.read()  # the body, if any, carries nothing
    e = _experiment(request)
    if e.serving_variant_id is None:
        raise _Reject(409, NOT_SERVING)
    e.stop()
    return web.json_response(
        {
            "success": True,
            "test_id": e.test_id,
            "serving_variant_id": None,
            "is_serving": False,
            "message": "Serving stopped. Visitors are no longer forced to the winner variant.",
        }
    )


async def update_status(request: web.Request) -> web.Response:
    _experiment(request)
    body = await _body(request)
    e = _experiment(request)
    status = body.get("status")
    if isinstance(status, bool) or status not in (0, 1, 9):
        raise _Reject(400, "Invalid status value — must be 0, 1, or 9")
    if status == 9 and e.status not in (0, 9):
        raise _Reject(400, "An experiment can move back to draft only from inactive")
    e.status = int(status)
    e.touch()
    return web.json_response({"success": True, "test_id": e.test_id, "status": e.status})


# ----------------------------------------------------------------------------------------- control API


async def control_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].requests)


async def control_clear_requests(request: web.Request) -> web.Response:
    request.app[STATE].requests.clear()
    return web.json_response({"ok": True})


FAULT_FIELDS = {
    "method",
    "path_contains",
    "status",
    "error",
    "retry_after",
    "latency",
    "drop",
    "times",
    "answer_merge",
    "answer_omit",
    "answer_text",
    "apply",
}


async def control_add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    unknown = set(body) - FAULT_FIELDS
    if unknown:
        raise _Reject(400, f"Unknown fault fields: {', '.join(sorted(unknown))}")
    if body.get("drop") not in (None, "before_apply", "after_apply"):
        raise _Reject(400, 'drop must be "before_apply" or "after_apply"')
    if body.get("times") is not None and (not isinstance(body["times"], int) or body["times"] < 1):
        raise _Reject(400, "times must be a positive integer")
    if body.get("status") is not None and (not isinstance(body["status"], int) or not 100 <= body["status"] <= 599):
        raise _Reject(400, "status must be an HTTP status code")
    if body.get("answer_merge") is not None and not isinstance(body["answer_merge"], dict):
        raise _Reject(400, "answer_merge must be a JSON object")
    omit = body.get("answer_omit")
    if omit is not None and (not isinstance(omit, list) or not all(isinstance(k, str) for k in omit)):
        raise _Reject(400, "answer_omit must be a list of field names")
    if body.get("answer_text") is not None and not isinstance(body["answer_text"], str):
        raise _Reject(400, "answer_text must be a string")
    if not isinstance(body.get("apply", True), bool):
        raise _Reject(400, "apply must be true or false")
    fault = Fault(**body)
    if fault.status is not None and (fault.changes_answer or not fault.apply):
        raise _Reject(
            400, "status answers an error without running the API: it cannot be combined with answer_* or apply"
        )
    request.app[STATE].faults.append(fault)
    return web.json_response({"ok": True, "fault": fault.__dict__})


async def control_clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return web.json_response({"ok": True})


def _experiment_state(e: SandboxExperiment) -> dict[str, Any]:
    return {
        "test_id": e.test_id,
        "test_name": e.test_name,
        "status": e.status,
        "is_completed": e.is_completed,
        "serving_variant_id": e.serving_variant_id,
        "traffic_allocation": _number(e.traffic_allocation),
        "served_at": _iso(e.served_at),
        "stats_engine": e.stats_engine,
        "confidence_threshold_percent": _number(e.confidence_threshold_percent),
        "is_mab": e.is_mab,
        "metrics": [{"metric_key": key, "name": name} for key, name in e.metrics],
        "variants": [_variant_state(v) for v in e.variants],
    }


def _variant_state(v: SandboxVariant) -> dict[str, Any]:
    """The counts, and the split, revenue and metric counts when the variant has them."""
    state: dict[str, Any] = {
        "variant_id": v.variant_id,
        "name": v.name,
        "visitors": v.visitors,
        "conversions": v.conversions,
    }
    extras = {"weight": v.weight, "paused": v.paused or None, "revenue": v.revenue, "metrics": v.metrics or None}
    return state | {k: value for k, value in extras.items() if value is not None}


def _control_experiment(request: web.Request) -> SandboxExperiment:
    raw = request.match_info["test_id"]
    e = request.app[STATE].find(int(raw)) if raw.isdigit() else None
    if e is None:
        raise _Reject(404, NOT_FOUND)
    return e


async def control_get_experiment(request: web.Request) -> web.Response:
    return web.json_response(_experiment_state(_control_experiment(request)))


PATCH_FIELDS = {
    "serving_variant_id",
    "traffic_allocation",
    "status",
    "is_completed",
    "test_name",
    "served_hours_ago",
    "post_deploy",
    "counts",
}


async def control_patch_experiment(request: web.Request) -> web.Response:
    """What a person could change in Mida's dashboard, applied without the API's rules."""
    patch = await _body(request)
    e = _control_experiment(request)
    unknown = set(patch) - PATCH_FIELDS
    if unknown:
        raise _Reject(400, f"Unknown experiment fields: {', '.join(sorted(unknown))}")
    if "traffic_allocation" in patch and _percent(patch["traffic_allocation"]) is None:
        raise _Reject(400, "traffic_allocation must be a number between 0 and 100")
    if "status" in patch and (isinstance(patch["status"], bool) or patch["status"] not in (0, 1, 9)):
        raise _Reject(400, "status must be 0, 1 or 9")
    variant_id = patch.get("serving_variant_id")
    if variant_id is not None and e.variant(str(variant_id)) is None:
        raise _Reject(400, f"Unknown variant_id {variant_id}")
    if "traffic_allocation" in patch:
        e.traffic_allocation = float(patch["traffic_allocation"])
    if "status" in patch:
        e.status = patch["status"]
    if "is_completed" in patch:
        e.is_completed = bool(patch["is_completed"])
        e.end_date = _now() if e.is_completed else None
    if "test_name" in patch:
        e.test_name = str(patch["test_name"])
    if "serving_variant_id" in patch:
        if variant_id is None:
            if e.serving_variant_id is not None:
                e.stop()
        elif str(variant_id) != e.serving_variant_id:
            e.serve(str(variant_id), None)
    if "post_deploy" in patch:
        e.post_deploy_counts = _post_deploy_counts(patch["post_deploy"], e)
    if "counts" in patch:  # the experiment's own (pre-deploy) numbers, as more visitors come
        for variant_id, (visitors, conversions) in (_post_deploy_counts(patch["counts"], e) or {}).items():
            variant = e.variant(variant_id)
            assert variant is not None
            variant.visitors, variant.conversions = visitors, conversions
    if patch.get("served_hours_ago") is not None and e.served_at is not None:
        e.served_at = _now() - timedelta(hours=float(patch["served_hours_ago"]))
    e.touch()
    return web.json_response(_experiment_state(e))


def _post_deploy_counts(value: Any, e: SandboxExperiment) -> dict[str, tuple[int, int]] | None:
    """{"<variant id>": [visitors, conversions], ...}, or null to derive them again."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Reject(400, "post_deploy must map variant ids to [visitors, conversions]")
    counts = {}
    for variant_id, pair in value.items():
        if e.variant(str(variant_id)) is None:
            raise _Reject(400, f"Unknown variant_id {variant_id}")
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Reject(400, "post_deploy must map variant ids to [visitors, conversions]")
        visitors, conversions = _count(pair[0]), _count(pair[1])
        if conversions > visitors:
            raise _Reject(400, "conversions cannot exceed visitors")
        counts[str(variant_id)] = (visitors, conversions)
    return counts


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Reject(400, "visitors and conversions must be non-negative integers")
    return value


def _added_variant(i: int, row: dict[str, Any], metric_count: int) -> SandboxVariant:
    weight = row.get("weight")
    if weight is not None and _percent(weight) is None:
        raise _Reject(400, "weight must be a number between 0 and 100")
    revenue = row.get("revenue")
    if revenue is not None and (isinstance(revenue, bool) or not isinstance(revenue, int | float) or revenue < 0):
        raise _Reject(400, "revenue must be a non-negative number")
    metrics = row.get("metrics", [])
    if not isinstance(metrics, list) or len(metrics) > metric_count:
        raise _Reject(400, "a variant's metrics are its conversions on each of the experiment's metrics")
    return SandboxVariant(
        str(i),
        str(row.get("name") or f"Variant {i}"),
        _count(row.get("visitors", 0)),
        _count(row.get("conversions", 0)),
        weight=None if weight is None else float(weight),
        paused=row.get("paused") is True,
        revenue=None if revenue is None else float(revenue),
        metrics=[_count(m) for m in metrics],
    )


def _added_metrics(raw: Any) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(m, dict) and isinstance(m.get("metric_key"), str) for m in raw):
        raise _Reject(400, "metrics must be a list of {metric_key, name}")
    return [(m["metric_key"], str(m.get("name") or m["metric_key"])) for m in raw]


async def control_add_experiment(request: web.Request) -> web.Response:
    """A new experiment, as if made in Mida's dashboard: {project_key, test_id, test_name, variants:
    [{name, visitors, conversions, weight?, paused?, revenue?, metrics?: [conversions per metric]}, ...],
    status (1), days_running (10), stats_engine ("bayesian"), confidence_threshold_percent (95),
    is_mab (false), metrics ([{metric_key, name}]: secondary metrics)}. Variant ids are 0, 1, …"""
    body = await _body(request)
    state = request.app[STATE]
    project = state.projects.get(str(body.get("project_key", "sandbox-project")))
    if project is None:
        raise _Reject(400, "Unknown project_key")
    test_id = body.get("test_id")
    if isinstance(test_id, bool) or not isinstance(test_id, int) or test_id <= 0:
        raise _Reject(400, "test_id must be a positive integer")
    if state.find(test_id) is not None:
        raise _Reject(409, f"Experiment {test_id} already exists")
    status = body.get("status", 1)
    if isinstance(status, bool) or status not in (0, 1, 9):
        raise _Reject(400, "status must be 0, 1 or 9")
    rows = body.get("variants")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise _Reject(400, "variants must be a non-empty list of {name, visitors, conversions}")
    metrics = _added_metrics(body.get("metrics"))
    variants = [_added_variant(i, r, len(metrics)) for i, r in enumerate(rows)]
    engine = body.get("stats_engine", "bayesian")
    if engine not in ("bayesian", "frequentist"):
        raise _Reject(400, 'stats_engine must be "bayesian" or "frequentist"')
    threshold = body.get("confidence_threshold_percent", 95)
    if _percent(threshold) is None or threshold in (0, 100):
        raise _Reject(400, "confidence_threshold_percent must be a number between 0 and 100")
    days = body.get("days_running", 10)
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise _Reject(400, "days_running must be a non-negative number")
    created = _now() - timedelta(days=days)
    e = SandboxExperiment(
        test_id,
        str(body.get("test_name") or f"Experiment {test_id}"),
        f"https://example.com/{test_id}",
        status,
        created,
        variants,
        stats_engine=engine,
        confidence_threshold_percent=float(threshold),
        is_mab=body.get("is_mab") is True,
        metrics=metrics,
    )
    e.updated_at = created
    project.experiments[test_id] = e
    return web.json_response(_experiment_state(e), status=201)


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


# ----------------------------------------------------------------------------------------- app


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering; aiohttp then drops the response it cannot write."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{k: _merge(base.get(k), v) if k in base else v for k, v in patch.items()}}
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(p, dict) for p in patch):
        return [_merge(b, patch[i]) if i < len(patch) else b for i, b in enumerate(base)]
    return patch


def _changed_answer(response: web.Response, fault: Fault) -> web.Response:
    """The handler's answer as a badly behaved Mida would send it (same status)."""
    if fault.answer_text is not None:
        return web.Response(status=response.status, text=fault.answer_text, content_type="text/html")
    body = json.loads(response.body)  # type: ignore[arg-type]
    if isinstance(body, dict):
        if fault.answer_merge is not None:
            body = _merge(body, fault.answer_merge)
        for key in fault.answer_omit or ():
            body.pop(key, None)
    return web.json_response(body, status=response.status)


def _record(state: SandboxState, request: web.Request, raw: bytes) -> None:
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    state.requests.append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "json": body,
            "at": time.time(),
        }
    )


@web.middleware
async def _middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    state = request.app[STATE]
    fault = None
    if not request.path.startswith("/_sandbox/"):
        _record(state, request, await request.read())
        fault = state.take_fault(request.method, request.path)
    if fault is not None:
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.drop == "before_apply":
            return _drop(request)
        if fault.status is not None:
            headers = {"Retry-After": str(_number(fault.retry_after))} if fault.retry_after is not None else None
            return _error(fault.status, fault.error or _phrase(fault.status), headers)
    kept = copy.deepcopy(state.projects) if fault is not None and not fault.apply else None
    try:
        response = await handler(request)
    except _Reject as reject:
        response = _error(reject.status, reject.text)
    except web.HTTPException as exc:  # the router's 404 / 405, as JSON
        if exc.status < 400:
            raise
        response = _error(exc.status, exc.reason)
    if kept is not None:
        state.projects = kept
    if fault is not None and fault.drop == "after_apply":
        return _drop(request)
    if fault is not None and fault.changes_answer and isinstance(response, web.Response) and response.status < 300:
        return _changed_answer(response, fault)
    return response


def build_sandbox_app(state: SandboxState | None = None) -> web.Application:
    app = web.Application(middlewares=[_middleware])
    app[STATE] = state if state is not None else SandboxState.seeded()
    api = [
        ("GET", "/project/{project_key}/experiments", list_experiments),
        ("GET", "/project/{project_key}/experiment/{test_id}", experiment_details),
        ("GET", "/project/{project_key}/experiment/{test_id}/result", experiment_result),
        ("GET", "/project/{project_key}/experiment/{test_id}/timeseries", experiment_timeseries),
        ("GET", "/project/{project_key}/experiment/{test_id}/metrics", experiment_metrics),
        ("POST", "/project/{project_key}/experiment/{test_id}/serve-winner", serve_winner),
        ("PATCH", "/project/{project_key}/experiment/{test_id}/serving-rollout", serving_rollout),
        ("POST", "/project/{project_key}/experiment/{test_id}/stop-serving", stop_serving),
        ("PATCH", "/project/{project_key}/experiment/{test_id}/status", update_status),
    ]
    for prefix in ("/{region:us|eu}/v2", "/v2"):
        for method, path, handler in api:
            app.router.add_route(method, prefix + path, handler)
    app.router.add_get("/_sandbox/requests", control_requests)
    app.router.add_delete("/_sandbox/requests", control_clear_requests)
    app.router.add_post("/_sandbox/faults", control_add_fault)
    app.router.add_delete("/_sandbox/faults", control_clear_faults)
    app.router.add_post("/_sandbox/experiments", control_add_experiment)
    app.router.add_get("/_sandbox/experiments/{test_id}", control_get_experiment)
    app.router.add_post("/_sandbox/experiments/{test_id}", control_patch_experiment)
    app.router.add_post("/_sandbox/reset", control_reset)
    return app


async def start_sandbox(host: str, port: int) -> tuple[web.AppRunner, SandboxState]:
    """Serve a seeded sandbox on host:port (0 picks a free port: see `runner.addresses`)."""
    state = SandboxState.seeded()
    runner = web.AppRunner(build_sandbox_app(state), handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, state


def banner(host: str, port: int, state: SandboxState) -> str:
    lines = [
        f"Mida sandbox listening on http://{host}:{port}",
        "",
        "Point the bot at it:",
        f"  MIDA_API_URL=http://{host}:{port}/{{region}}/v2",
        "",
        "Projects to connect with (/mida connect):",
    ]
    for p in state.projects.values():
        ids = ", ".join(str(i) for i in sorted(p.experiments))
        lines += [
            f"  project key: {p.project_key}   region: {p.region}",
            f"  API key:     {p.api_key}",
            f"  experiments: {ids}",
            "",
        ]
    lines.append(
        "Control API for tests: /_sandbox/requests, /_sandbox/faults, /_sandbox/experiments, /_sandbox/reset."
        " Ctrl-C to stop."
    )
    return "\n".join(lines)


def run_sandbox(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox until Ctrl-C (blocking)."""

    async def main() -> None:
        runner, state = await start_sandbox(host, port)
        bound = runner.addresses[0][1] if runner.addresses else port
        print(banner(host, bound, state), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
