"""The processes under test: the bot in one of its two shapes and bare Bolt, each started on its
own (so /proc/<pid> is its alone), checked alive, reniced or profiled, and stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis

from standins.bot_server import REPO
from standins.redis_server import free_port


class Proc:
    """A process under test, started on its own (so /proc/<pid> is its alone). `http`: it takes
    --port and answers GET /healthz."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, *, http: bool = True) -> None:
        self.name = name
        self.http = http
        self.port = free_port() if http else 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [*argv, "--port", str(self.port)] if http else list(argv)
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env={**keep, **self.env}, stdout=log,
                                         stderr=subprocess.STDOUT)
        if not self.http:
            return self
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become healthy; see {self.log_path}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS), in kB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def log_errors(self) -> int:
        text = self.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def readers(redis_url: str) -> int:
    """How many Redis connections last ran XREADGROUP: each process that works the queues keeps two
    (the lazy queue and the job queue; Redis 7.0 registers a group consumer only once it is given
    an entry, so XINFO CONSUMERS cannot tell an idle reader)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return sum(1 for c in client.client_list() if c.get("cmd") == "xreadgroup")
    finally:
        client.close()


class Bot:
    """The bot in one of its two shapes: `serve --no-worker` + `worker` (the Procfile), or `serve`."""

    def __init__(self, single: bool, env: dict[str, str], workdir: Path, redis_url: str, cprofile: bool,
                 workers: int = 1) -> None:
        self.single = single
        self.workers = 1 if single else workers
        self.redis_url = redis_url

        def python(name: str) -> list[str]:
            return [sys.executable, *(["-m", "cProfile", "-o", str(workdir / f"{name}.prof")] if cprofile else [])]

        if single:
            self.web = Proc("bot", [*python("bot"), "-m", "bot", "serve"], env, workdir / "bot.log")
            self.procs = [self.web]
        else:
            self.web = Proc("web", [*python("web"), "-m", "bot", "serve", "--no-worker"], env, workdir / "web.log")
            names = ["worker"] if workers == 1 else [f"worker{i}" for i in range(1, workers + 1)]
            self.procs = [self.web, *(Proc(name, [*python(name), "-m", "bot", "worker"], env, workdir / f"{name}.log",
                                           http=False) for name in names)]

    @property
    def url(self) -> str:
        return self.web.url

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.procs}

    @property
    def shape(self) -> str:
        if self.single:
            return "single process (`serve`)"
        return "Procfile (`serve --no-worker` + " + ("`worker`)" if self.workers == 1 else f"{self.workers} × `worker`)")

    def start(self) -> None:
        for proc in self.procs:
            proc.start()
        # Ready when whoever works the queues reads both of them; `serve --no-worker` must not.
        wanted = 2 * self.workers
        deadline = time.monotonic() + 20
        while (found := readers(self.redis_url)) < wanted:
            for proc in self.procs:
                proc.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{found} connections read the queues, not {wanted}; see the logs")
            time.sleep(0.1)
        found = 0
        for _ in range(15):  # at any instant a reader may be between two reads
            found = max(found, readers(self.redis_url))
            time.sleep(0.1)
        if found != wanted:
            raise RuntimeError(f"{found} connections read the queues, not {wanted} (the web process reads them?)")

    def check_alive(self) -> None:
        for proc in self.procs:
            proc.check_alive()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def prioritise(nice: int, pids: dict[str, int]) -> None:
    """Renice the bench's own processes (needs root for a negative value), so that other work on a
    shared machine disturbs the measurement less. Bot and bare Bolt are treated alike."""
    for name, pid in pids.items():
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():  # nice is per thread on Linux
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)
        except OSError as err:
            print(f"could not renice {name} ({pid}) to {nice}: {err}")
            return
    print(f"bench processes reniced to {nice}: {', '.join(pids)}")


def start_profiler(what: str, proc: Proc, workdir: Path, duration: float) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy into the venv) on `proc` for the measured phase: collapsed
    stacks in <workdir>/<name>.<what>.txt (`--profile raw`) or a flame graph (`--profile flamegraph`)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    name = proc.name.replace(" ", "_")
    out = workdir / f"{name}.{what}.{ {'raw': 'txt', 'flamegraph': 'svg'}.get(what, 'json') }"
    print(f"profiling {proc.name} into {out}")
    return subprocess.Popen([str(py_spy), "record", "-p", str(proc.pid), "-o", str(out), "-f", what,
                             "-r", "500", "-d", str(max(1, int(duration))), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
