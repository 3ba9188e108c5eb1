"""The Mida sandbox, served from a background thread (for the tests and the bench).

It has its own event loop, so it answers sync tests, async tests (whose loop it never blocks) and bot
subprocesses alike. The helpers talk to its `/_sandbox/` control API over HTTP.

    def test_something(mida_sandbox):
        mida_sandbox.fault(method="POST", path_contains="/serve-winner", status=503, times=1)
        ...
        assert len(mida_sandbox.writes()) == 1
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from aiohttp import web

from bot.mida.sandbox import start_sandbox

PROJECT_KEY = "sandbox-project"
REGION = "us"
API_KEY = "mida_sk_sandbox_us_4f9c2a7e1b3d5680"
EU_PROJECT_KEY = "sandbox-eu"
EU_REGION = "eu"
EU_API_KEY = "mida_sk_sandbox_eu_9d8e7f6a5b4c3210"

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


class SandboxServer:
    PROJECT_KEY = PROJECT_KEY
    REGION = REGION
    API_KEY = API_KEY
    EU_PROJECT_KEY = EU_PROJECT_KEY
    EU_REGION = EU_REGION
    EU_API_KEY = EU_API_KEY

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._http: httpx.Client | None = None

    # -- lifecycle

    def start(self) -> SandboxServer:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._runner, _ = loop.run_until_complete(start_sandbox(self.host, 0))
                self.port = self._runner.addresses[0][1]
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="mida-sandbox", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        self._http = httpx.Client(base_url=self.base_url, timeout=5, verify=False)  # plain http; skips loading CA certs
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for MIDA_API_URL: `{region}` is left for the bot to fill in."""
        return self.base_url + "/{region}/v2"

    # -- control API

    def _control(self, method: str, path: str, **kw: Any) -> Any:
        assert self._http is not None, "the sandbox is not started"
        response = self._http.request(method, "/_sandbox" + path, **kw)
        response.raise_for_status()
        return response.json()

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[dict[str, Any]]:
        """Every API request so far, in order (method, path, query, headers, json, at)."""
        return [
            r
            for r in self._control("GET", "/requests")
            if (method is None or r["method"] == method.upper())
            and (path_contains is None or path_contains in r["path"])
        ]

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] in WRITE_METHODS]

    def clear_requests(self) -> None:
        self._control("DELETE", "/requests")

    def fault(self, **kw: Any) -> dict[str, Any]:
        """method, path_contains, status, error, retry_after, latency, drop ("before_apply" |
        "after_apply"), times; and a badly answering Mida: answer_merge (merged into the real JSON
        answer; lists of dicts item by item), answer_omit (top-level fields left out), answer_text
        (a body that is not JSON), apply=False (answer as if applied, change nothing). Matching
        requests are still recorded."""
        return self._control("POST", "/faults", json=kw)["fault"]

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def experiment(self, test_id: int) -> dict[str, Any]:
        """The experiment's state as the sandbox holds it (serving_variant_id, traffic_allocation, ...)."""
        return self._control("GET", f"/experiments/{test_id}")

    def set_experiment(self, test_id: int, **patch: Any) -> dict[str, Any]:
        """Change an experiment as a person could in Mida's dashboard (serving_variant_id,
        traffic_allocation, status, is_completed, test_name, served_hours_ago, post_deploy:
        {variant id: [visitors, conversions]} or None, counts: the experiment's own numbers, the same way)."""
        return self._control("POST", f"/experiments/{test_id}", json=patch)

    def add_experiment(
        self, test_id: int, variants: list[tuple[str, int, int] | dict[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """A new experiment in the sandbox project (or `project_key=`): variants as (name, visitors,
        conversions) or dicts that may also give weight, paused, revenue and metrics (conversions per
        secondary metric), ids 0, 1, …; also test_name, status, days_running, stats_engine,
        confidence_threshold_percent, is_mab and metrics ([{metric_key, name}])."""
        rows = [r if isinstance(r, dict) else {"name": r[0], "visitors": r[1], "conversions": r[2]} for r in variants]
        return self._control("POST", "/experiments", json={"test_id": test_id, "variants": rows, **fields})

    def reset(self) -> None:
        self._control("POST", "/reset")
