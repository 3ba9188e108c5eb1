"""The Slack Web API stand-in and the Mida sandbox in a child process of their own, so their
threads never share a GIL with the load generator; the parent talks to them over a pipe."""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from typing import Any

from bench.load.scenario import setup
from bot.views import ids


def _services_main(conn: Connection) -> None:
    """Child process: the Slack stand-in and the Mida sandbox, plus the setup flow that needs them."""
    from standins.sandbox import SandboxServer
    from standins.slack_api import SlackStandIn

    slack_api = SlackStandIn().start()
    sandbox = SandboxServer().start()
    gc.freeze()  # start-up's objects out of every collection here (see "forget")
    conn.send({
        "slack_api_url": slack_api.api_url,
        "mida_api_url": sandbox.api_url,
        "response_base": slack_api.response_url(""),
    })
    try:
        while True:
            command, arg = conn.recv()
            try:
                if command == "stop":
                    conn.send(("ok", None))
                    return
                if command == "setup":
                    conn.send(("ok", setup(slack_api, **arg)))
                elif command == "latency":
                    sandbox.clear_faults()
                    if arg:
                        sandbox.fault(latency=float(arg))
                    conn.send(("ok", None))
                elif command == "forget":
                    # What was recorded so far (every Slack call and response_url post, every Mida
                    # request): kept, it grows the heap each collection here walks, and a later
                    # target would meet stand-ins slower than an earlier one did.
                    slack_api.clear()
                    sandbox.clear_requests()
                    gc.collect()
                    conn.send(("ok", None))
                elif command == "responses":
                    # What was posted to response_urls from index `arg` on: (name, at, text, results?).
                    # The stand-in keeps the time of each post only in its private list.
                    with slack_api._lock:
                        posted = list(slack_api._responses[arg:])
                    conn.send(("ok", [(r.name, r.at, *_summary(r.body)) for r in posted]))
                elif command == "stats":
                    conn.send(("ok", {
                        "slack_calls": len(slack_api.calls()),
                        "chat_updates": len(slack_api.calls("chat.update")),
                        "mida_requests": len(sandbox.requests()),
                    }))
                else:
                    conn.send(("error", f"unknown command {command!r}"))
            except Exception:  # reported to the parent, which stops the run
                conn.send(("error", traceback.format_exc()))
    finally:
        sandbox.stop()
        slack_api.stop()


def _summary(body: Any) -> tuple[str, bool]:
    """A response_url post: its text (cut short), and whether it is a results message."""
    if not isinstance(body, dict):
        return str(body)[:200], False
    blocks = body.get("blocks") or []
    results = any(isinstance(b, dict) and b.get("block_id") == ids.RESULT_LINKS for b in blocks)
    return str(body.get("text") or "")[:200], results


class Services:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_services_main, args=(child,), name="bench-services", daemon=True)

    def start(self) -> dict[str, str]:
        self.proc.start()
        if not self._conn.poll(30):
            raise RuntimeError("the stand-ins did not start")
        return self._conn.recv()

    def call(self, command: str, arg: Any = None, timeout: float = 300) -> Any:
        self._conn.send((command, arg))
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the stand-ins did not answer {command!r}")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"{command} failed in the stand-ins:\n{value}")
        return value

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.call("stop", timeout=10)
            except (RuntimeError, OSError, EOFError):
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.terminate()
                self.proc.join(5)
