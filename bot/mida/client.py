"""The Mida API client: one aiohttp session per process, one `MidaProject` per connected project.

    client = MidaClient("https://api-{region}.mida.so/v2")
    project = client.project("PROJECT_KEY", "us", api_key)
    result = await project.get_result(1234)

Every failure is a `bot.mida.errors.MidaError`. Reads are retried on transient failures; writes are
retried only when the request surely never reached Mida, so a write is never applied twice. When a
write was sent but no answer came back, `MidaOutcomeUnknown` says so: read the experiment back. So
does its kind `MidaAnswerUnreadable`, for a write answered with a body the bot cannot read.

The API key lives only in the `Authorization` header: never in a URL, a message, a repr or a log line.

aiohttp rather than httpx: httpcore's pool checks every idle connection's socket on each request,
which made the Mida call most of the CPU a `/mida results` costs under load (bench/roundtrip.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import random
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
from pydantic import BaseModel, ValidationError
from yarl import URL

from bot.metrics import MIDA_BREAKER_OPENED, MIDA_REQUEST_SECONDS, MIDA_REQUESTS
from bot.mida.errors import (
    MidaAnswerUnreadable,
    MidaBadResponse,
    MidaError,
    MidaOutcomeUnknown,
    MidaRateLimited,
    MidaServerError,
    MidaUnavailable,
    error_for_status,
)
from bot.mida.models import (
    ExperimentList,
    ExperimentMetrics,
    ExperimentResult,
    ReportPhase,
    RolloutAnswer,
    ServeAnswer,
    ServingState,
    StatusAnswer,
    Timeseries,
)

__all__ = ["BreakerPolicy", "MidaClient", "MidaProject", "RetryPolicy", "Timeouts"]

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

_WRITE_SAFE_TO_RETRY = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures that happen before a single byte of the request is sent: no connection could be made,
or none came free in the pool in time."""

_OUTAGE = (MidaUnavailable, MidaOutcomeUnknown, MidaServerError)
"""The "Mida is down" kind of failure, counted by the circuit breaker."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds: do it once per process."""
    return ssl.create_default_context()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `total` bounds one logical call, retries and their waits included."""

    connect: float = 3.0
    read: float = 10.0
    write: float = 5.0
    pool: float = 5.0
    total: float = 20.0

    def for_attempt(self, remaining: float) -> aiohttp.ClientTimeout:
        """aiohttp's `connect` covers the wait for a pooled connection and the connecting; the
        write has no timeout of its own there, so the caller bounds the whole attempt."""
        cap = max(remaining, 0.001)
        return aiohttp.ClientTimeout(
            total=None,
            connect=min(self.pool + self.connect, cap),
            sock_connect=min(self.connect, cap),
            sock_read=min(self.read, cap),
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Jittered exponential backoff; `Retry-After` (429/503) is honoured up to `retry_after_cap`."""

    attempts: int = 3
    backoff: float = 0.25
    max_backoff: float = 2.0
    retry_after_cap: float = 5.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """After `failures` consecutive outages, fail fast for `pause` seconds, then let one call try."""

    failures: int = 5
    pause: float = 30.0


@dataclass(slots=True)
class _Breaker:
    policy: BreakerPolicy
    failures: int = 0
    open_until: float = 0.0
    trial_in_flight: bool = False

    def before_call(self) -> None:
        if self.failures < self.policy.failures:
            return
        now = time.monotonic()
        if now >= self.open_until and not self.trial_in_flight:
            self.trial_in_flight = True  # half-open: this call is the trial
            return
        seconds = max(1, math.ceil(self.open_until - now))
        raise MidaUnavailable(f"Mida has not answered the last {self.failures} calls; calls are paused for {seconds} s")

    def record(self, outage: bool) -> None:
        self.trial_in_flight = False
        if not outage:
            self.failures = 0
            return
        was_open = self.state() == "open"  # a call sent before it opened, failing now, opens nothing
        self.failures += 1
        if self.failures >= self.policy.failures:
            self.open_until = time.monotonic() + self.policy.pause
            if not was_open:
                MIDA_BREAKER_OPENED.inc()

    def state(self) -> str:
        """closed (calls go through), open (calls paused) or half_open (the next call is a trial)."""
        if self.failures < self.policy.failures:
            return "closed"
        return "open" if time.monotonic() < self.open_until else "half_open"

    def abandon(self) -> None:
        self.trial_in_flight = False


class MidaClient:
    """Owns the connection pool, the retry and timeout policies, and the per-project breakers."""

    def __init__(
        self,
        base_url_template: str,
        *,
        timeouts: Timeouts = Timeouts(),
        retry: RetryPolicy = RetryPolicy(),
        breaker: BreakerPolicy = BreakerPolicy(),
        connections: int = 100,
    ) -> None:
        self._template = base_url_template.rstrip("/")
        self._timeouts = timeouts
        self._retry = retry
        self._breaker_policy = breaker
        self._breakers: dict[tuple[str, str], _Breaker] = {}
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"MidaClient({self._template!r})"

    def project(self, project_key: str, region: str, api_key: str) -> MidaProject:
        region = str(region)
        base = self._template.replace("{region}", region)
        breaker = self._breakers.setdefault((region, project_key), _Breaker(self._breaker_policy))
        return MidaProject(self, base, project_key, region, api_key, breaker)

    def breaker_states(self) -> dict[str, int]:
        """How many projects' breakers are in each state (for the metrics; no project named)."""
        states = dict.fromkeys(("closed", "open", "half_open"), 0)
        for breaker in self._breakers.values():
            states[breaker.state()] += 1
        return states

    def _http(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use in the running loop (a new one if the loop
        changed, as between tests)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=_tls_context()),
                headers={"Accept": "application/json", "User-Agent": "mida-slack"},
            )
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()

    async def _exchange(
        self,
        method: str,
        url: str,
        path: str,
        headers: dict[str, str],
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
    ) -> Any:
        """One logical call: attempts, waits between them, and the error it ends with."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeouts.total
        is_write = method != "GET"
        target = URL(url + ("?" + urlencode(params) if params else ""), encoded=True)  # quoted here
        attempt = 0
        while True:
            attempt += 1
            started = loop.time()
            remaining = deadline - started
            retry_after: float | None = None
            try:
                # aiohttp bounds connecting and each read; the outer timeout bounds the whole
                # attempt (a slow trickle of bytes, a write that never drains), with a hair of
                # grace so aiohttp's own, more precise, error wins.
                async with asyncio.timeout(remaining + 0.05):
                    response = await self._send(method, target, headers, body, remaining)
            except _WRITE_SAFE_TO_RETRY as exc:
                error: MidaError = MidaUnavailable(f"Could not reach Mida ({type(exc).__name__})")
                _log(method, path, None, loop.time() - started, attempt, type(exc).__name__)
            except (aiohttp.ClientError, TimeoutError) as exc:
                _log(method, path, None, loop.time() - started, attempt, type(exc).__name__)
                if is_write:
                    raise MidaOutcomeUnknown(
                        f"Mida did not answer ({type(exc).__name__}) after the request was sent; "
                        "it may or may not have been applied"
                    ) from exc
                error = MidaUnavailable(f"Mida did not answer ({type(exc).__name__})")
            else:
                _log(method, path, response.status, loop.time() - started, attempt, None)
                if 200 <= response.status < 300:
                    return _json(response)
                error = _error_from(response)
                if isinstance(error, MidaRateLimited):
                    retry_after = error.retry_after
                elif response.status == 503:
                    retry_after = _retry_after(response.headers)
                if not _retryable(error, is_write):
                    raise error
            delay = self._retry.delay(attempt, retry_after)
            if attempt >= self._retry.attempts or loop.time() + delay >= deadline:
                if isinstance(error, MidaUnavailable) and attempt > 1:
                    error = MidaUnavailable(f"{error.message}; gave up after {attempt} attempts")
                raise error
            await asyncio.sleep(delay)

    async def _send(
        self, method: str, target: URL, headers: dict[str, str], body: dict[str, Any] | None, remaining: float
    ) -> _Answer:
        async with self._http().request(
            method,
            target,
            headers=headers,
            json=body,
            timeout=self._timeouts.for_attempt(remaining),
            allow_redirects=False,
        ) as response:
            content = await response.read()
            return _Answer(response.status, response.reason, response.headers, content)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What came back, read whole: status, reason phrase, headers, body."""

    status: int
    reason: str | None
    headers: Mapping[str, str]
    content: bytes

    @property
    def reason_phrase(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return self.reason or f"HTTP {self.status}"


class MidaProject:
    """One Mida project, called with its own API key. Cheap: make one per use."""

    __slots__ = ("_base", "_breaker", "_client", "_headers", "project_key", "region")

    def __init__(
        self, client: MidaClient, base: str, project_key: str, region: str, api_key: str, breaker: _Breaker
    ) -> None:
        self._client = client
        self._base = base
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._breaker = breaker
        self.project_key = project_key
        self.region = region

    def __repr__(self) -> str:
        return f"MidaProject(project_key={self.project_key!r}, region={self.region!r})"

    async def list_experiments(self, limit: int = 50, offset: int = 0) -> ExperimentList:
        data = await self._call("GET", "/experiments", params={"limit": limit, "offset": offset})
        return _parse(ExperimentList, data)

    async def check_credentials(self) -> None:
        """Raises `MidaUnauthorized` when the key does not open this project (or another MidaError)."""
        await self.list_experiments(limit=1)

    async def get_result(self, test_id: int, report_phase: ReportPhase | None = None) -> ExperimentResult:
        data = await self._call("GET", f"/experiment/{int(test_id)}/result", params=_phase(report_phase))
        return _parse(ExperimentResult, data)

    async def get_timeseries(self, test_id: int, report_phase: ReportPhase | None = None) -> Timeseries:
        data = await self._call("GET", f"/experiment/{int(test_id)}/timeseries", params=_phase(report_phase))
        return _parse(Timeseries, data)

    async def get_metrics(self, test_id: int, report_phase: ReportPhase | None = None) -> ExperimentMetrics:
        """The attached secondary metrics (Get Experiment Metrics); errors as documented: 400 bad
        parameters, 401 the key, 404 an unknown experiment."""
        data = await self._call("GET", f"/experiment/{int(test_id)}/metrics", params=_phase(report_phase))
        return _parse(ExperimentMetrics, data)

    async def serve_winner(
        self, test_id: int, variant_id: str, traffic_allocation: float | None = None
    ) -> ServingState:
        """`traffic_allocation` None leaves it out of the body: Mida keeps the experiment's own."""
        body: dict[str, Any] = {"variant_id": str(variant_id)}
        if traffic_allocation is not None:
            body["traffic_allocation"] = _number(traffic_allocation)
        return await self._write("POST", f"/experiment/{int(test_id)}/serve-winner", body, ServeAnswer)

    async def update_serving_rollout(self, test_id: int, traffic_allocation: float) -> ServingState:
        body = {"traffic_allocation": _number(traffic_allocation)}
        return await self._write("PATCH", f"/experiment/{int(test_id)}/serving-rollout", body, RolloutAnswer)

    async def update_status(self, test_id: int, status: int) -> StatusAnswer:
        """Update Experiment Status: 1 starts or resumes, 0 deactivates (pauses), 9 back to draft."""
        return await self._write("PATCH", f"/experiment/{int(test_id)}/status", {"status": int(status)}, StatusAnswer)

    async def stop_serving(self, test_id: int) -> ServingState:
        return await self._write("POST", f"/experiment/{int(test_id)}/stop-serving", {}, ServingState)

    async def _write(self, method: str, subpath: str, body: dict[str, Any], model: type[M]) -> M:
        """A write whose 2xx answer cannot be read has an unknown outcome, not a failed one."""
        try:
            return _parse(model, await self._call(method, subpath, body=body))
        except MidaBadResponse as exc:
            raise MidaAnswerUnreadable(exc.message, status=exc.status) from None

    async def _call(
        self, method: str, subpath: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Any:
        path = f"/project/{quote(self.project_key, safe='')}{subpath}"
        self._breaker.before_call()
        try:
            data = await self._client._exchange(method, self._base + path, path, self._headers, params, body)
        except MidaError as exc:
            self._breaker.record(outage=isinstance(exc, _OUTAGE))
            raise
        except BaseException:
            self._breaker.abandon()
            raise
        self._breaker.record(outage=False)
        return data


def _phase(report_phase: ReportPhase | None) -> dict[str, Any] | None:
    return {"report_phase": ReportPhase(report_phase).value} if report_phase else None


def _number(value: float) -> int | float:
    """25 rather than 25.0 on the wire."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _retryable(error: MidaError, is_write: bool) -> bool:
    if isinstance(error, MidaRateLimited):
        return True  # Mida refused without applying anything
    return not is_write and isinstance(error, MidaServerError)


def _json(response: _Answer) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise MidaBadResponse(
            f"Mida answered {response.status} with a body that is not JSON", status=response.status
        ) from None


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MidaBadResponse(_problems(exc)) from None


def _problems(exc: ValidationError) -> str:
    """Missing or mistyped fields by name; numbers that cannot be right in the models' own words."""
    fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors() if e["type"] != "value_error"})
    if fields:
        return f"Mida's answer is not what its docs describe (fields: {', '.join(fields)})"
    impossible = list(dict.fromkeys(str(e["ctx"]["error"]) for e in exc.errors()))
    return f"Mida's answer has numbers that cannot be right ({'; '.join(impossible[:3])})"


def _error_from(response: _Answer) -> MidaError:
    text = response.reason_phrase
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"].strip():
        text = data["error"]
    if response.status == 429:
        return MidaRateLimited(text, status=429, retry_after=_retry_after(response.headers))
    return error_for_status(response.status, text)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


_ROUTE = re.compile(r"/project/[^/]+|/experiment/\d+")


def _route(path: str) -> str:
    """The path as a metrics label: /project/{project_key}/experiment/{test_id}/result, not the ids."""
    return _ROUTE.sub(lambda m: "/project/{project_key}" if m[0].startswith("/p") else "/experiment/{test_id}", path)


def _log(method: str, path: str, status: int | None, duration: float, attempt: int, error: str | None) -> None:
    route = _route(path)
    MIDA_REQUESTS.labels(method, route, str(status) if status is not None else "no_answer").inc()
    MIDA_REQUEST_SECONDS.labels(method, route).observe(duration)
    extra = {"method": method, "path": path, "status": status, "duration": round(duration, 4), "attempt": attempt}
    outcome = str(status) if status is not None else f"no answer ({error})"
    # A read that was answered is DEBUG (its count and latency are in the metrics); a write, or
    # anything not answered as asked, is INFO or WARNING.
    if status is None or status >= 500:
        level = logging.WARNING
    elif method == "GET" and status < 300:
        level = logging.DEBUG
    else:
        level = logging.INFO
    if error is not None:
        extra["error"] = error
    logger.log(
        level, "Mida %s %s -> %s in %.0f ms (attempt %d)", method, path, outcome, duration * 1000, attempt, extra=extra
    )
