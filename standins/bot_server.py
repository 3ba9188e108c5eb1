"""The bot, running for real: `mida-slack serve`'s web app on a loopback port, either in a thread
of the test process (fast, inspectable) or as a subprocess (`python -m bot serve`, killable).

Both are configured only through the environment, the way an operator would run it, and with
nothing but what the test gives: a subprocess runs in its own directory (no stray `.env`), with
PATH and locale but none of the caller's settings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from standins.redis_server import free_port

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-T0001-1234567890-abcdefghijklmnopqrstuvwx"
PUBLIC_URL = "https://mida-bot.test"
ENCRYPTION_KEY = Fernet.generate_key().decode()
REPO = Path(__file__).resolve().parents[1]
# OAuth (multi-workspace) mode: the app's credentials; installations come through /slack/install.
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "c1e2n3t4s5e6c7r8e9t0abcdef123456"


def bot_env(*, redis_url: str, slack_api_url: str, mida_api_url: str, oauth: bool = False,
            **extra: str) -> dict[str, str]:
    """The bot's environment. `oauth`: no SLACK_BOT_TOKEN, SLACK_CLIENT_ID/SECRET instead."""
    credentials = (
        {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET} if oauth else {"SLACK_BOT_TOKEN": BOT_TOKEN}
    )
    return {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        **credentials,
        "SLACK_API_URL": slack_api_url,
        "MIDA_API_URL": mida_api_url,
        "MIDA_DASHBOARD_URL": "https://app.mida.test/project/{project_key}/",
        "REDIS_URL": redis_url,
        "BOT_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "PUBLIC_URL": PUBLIC_URL,
        "LOG_LEVEL": "DEBUG",
        **extra,
    }


def _wait_healthy(url: str, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the bot exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the bot did not become healthy")


class InProcessBot:
    """build_web_app(load_settings()) served by aiohttp in a background thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = None
        self.deps = None
        self.app = None

    def start(self) -> InProcessBot:
        from bot.config import Settings

        settings = Settings(_env_file=None, **self.env)  # type: ignore[call-arg]
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(settings), self._loop).result(timeout=15)
        _wait_healthy(self.url)
        return self

    async def _start(self, settings) -> None:  # type: ignore[no-untyped-def]
        from aiohttp import web

        from bot.deps import DEPS
        from bot.server import build_web_app

        app = build_web_app(settings)
        self.app = app
        self.deps = app[DEPS]
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def run(self, coro, timeout: float = 15.0):  # type: ignore[no-untyped-def]
        """Run a coroutine on the bot's loop (e.g. to use its deps) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup(), timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def _child_env(env: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")}
    return {**keep, "PYTHONPATH": str(REPO), **env}


class BotProcess:
    """`python -m bot serve --port N [args]` as a child process, in the log's directory unless `cwd`
    says otherwise; stderr kept for inspection. `command="socket"`: `python -m bot socket`, its web
    server on $PORT."""

    def __init__(self, env: dict[str, str], log_path: Path, args: tuple[str, ...] = (), *,
                 command: str = "serve", cwd: Path | None = None) -> None:
        self.env = env
        self.args = args
        self.command = command
        self.cwd = cwd or log_path.parent
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BotProcess:
        with open(self.log_path, "ab") as log:
            argv = ["socket"] if self.command == "socket" else ["serve", "--port", str(self.port)]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *argv, *self.args],
                cwd=self.cwd,
                env={**_child_env(self.env), "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_healthy(self.url, proc=self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye — what a crash looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class WorkerProcess:
    """`python -m bot worker`: the queues, no HTTP; in the log's directory."""

    def __init__(self, env: dict[str, str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.cwd = cwd or log_path.parent
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker"], cwd=self.cwd, env=_child_env(self.env),
                stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)
