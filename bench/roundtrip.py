"""The full job of `/mida results`, from the command sent to the results message at its
response_url, for the bot and for the obvious Bolt app (`bench/plain_bolt.py`), in one run on one
machine, at open-loop rates from 50/s up to overload, then twice each target's capacity for 10 s.

    .venv/bin/python -m bench.roundtrip                      # plain app, `serve`, Procfile shape
    .venv/bin/python -m bench.roundtrip --rates 50,150,300 --targets plain,serve

Per rate and target: ack p50 / p99 (the HTTP answer to the command), reply p50 / p99 (sent → the
results message recorded by the Slack stand-in), lost (no good ack, or no results message within
`--grace` s after the step), acks later than Slack's 3 s, and CPU per full request (CPU time of the
target's processes from the step's first request until its last reply, / requests). Capacity: the
highest rate with reply p99 ≤ 100 ms and nothing lost. Overload: 2 × capacity for `--overload` s;
its ack p99, lost, and the drain (from the last request sent to the last reply). Before all that,
each target's CPU at rest (`--idle` s, set up, before any load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis

from bench.load.generator import pct
from bench.load.machine import CpuMeter, LoopLag, load_average
from bench.load.processes import Bot, Proc
from bench.load.scenario import APPROVERS, COMMAND_TEXT
from bench.load.services import Services
from standins.bot_server import BOT_TOKEN, SIGNING_SECRET, bot_env
from standins.people import CHANNEL
from standins.redis_server import ThrowawayRedis, free_port
from standins.sandbox import API_KEY, PROJECT_KEY, REGION
from standins.slack_requests import sign, slash_command

TARGETS = {"plain": "plain Bolt app", "serve": "bot, one `serve`", "procfile": "bot, `serve --no-worker` + `worker`"}
SLACK_ACK_LIMIT = 3.0
REPLY_P99_MS = 100.0


@dataclass
class Step:
    rate: float
    sent: dict[str, float] = field(default_factory=dict)  # name -> wall clock when sent
    acks: dict[str, float] = field(default_factory=dict)  # name -> seconds to a good ack
    replies: dict[str, float] = field(default_factory=dict)  # name -> seconds from sent to the results
    failed: int = 0
    last_sent: float = 0.0
    last_reply: float = 0.0
    cpu_ms: float = float("nan")
    lag: str = ""
    machine: str = ""

    @property
    def lost(self) -> int:
        return len(self.sent) - len(self.replies)

    @property
    def late_acks(self) -> int:
        return sum(1 for s in self.acks.values() if s > SLACK_ACK_LIMIT)

    def ms(self, values: dict[str, float], q: float) -> float:
        return pct(list(values.values()), q)

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.ms(self.replies, 0.99) <= REPLY_P99_MS


class Responses:
    """The results messages the Slack stand-in recorded, read incrementally."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.seen = 0
        self.at: dict[str, float] = {}

    def poll(self) -> None:
        posted = self.services.call("responses", self.seen)
        self.seen += len(posted)
        for name, at, _text, is_results in posted:
            if is_results and name not in self.at:
                self.at[name] = at


async def drive(url: str, step: Step, prefix: str, count: int, concurrency: int) -> None:
    """`count` `/mida results` at `step.rate`/s, open loop (a request is sent on schedule whatever
    the answers before it; `concurrency` connections at most)."""
    endpoint = f"{url}/slack/events"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as session:

        async def one(name: str, body: bytes, ctype: str) -> None:
            headers = {"Content-Type": ctype, **sign(SIGNING_SECRET, body)}
            step.sent[name] = time.time()
            started = time.perf_counter()
            try:
                async with session.post(endpoint, data=body, headers=headers) as answer:
                    text = await answer.read()
                    took = time.perf_counter() - started
                    ok = answer.status == 200 and not text.strip()
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                step.acks[name] = took
            else:
                step.failed += 1

        loop = asyncio.get_running_loop()
        begin = loop.time() + 0.01
        tasks = []
        for i in range(count):
            name = f"{prefix}-{i}"
            body, ctype = slash_command(COMMAND_TEXT, user_id=APPROVERS[i % len(APPROVERS)], channel_id=CHANNEL,
                                        response_url=step_url(name))
            delay = begin + i / step.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(name, body, ctype)))
        step.last_sent = time.time()
        await asyncio.gather(*tasks)


RESPONSE_BASE = ""
WORKDIR = Path(tempfile.gettempdir())  # the run's logs directory, set by main()


def step_url(name: str) -> str:
    return RESPONSE_BASE + name


async def run_step(url: str, pids: dict[str, int], services: Services, responses: Responses, rate: float,
                   seconds: float, prefix: str, concurrency: int, grace: float, others: dict[str, int]) -> Step:
    step = Step(rate)
    services.call("forget")  # each step meets the stand-ins as the first one did
    responses.seen = 0
    lag = LoopLag()
    with CpuMeter({**pids, **others}) as meter, lag:
        await drive(url, step, prefix, max(1, int(rate * seconds)), concurrency)
        deadline = time.time() + grace
        while time.time() < deadline:
            responses.poll()
            if all(name in responses.at for name in step.acks):
                break
            await asyncio.sleep(0.2)
    for name, sent in step.sent.items():
        if name in step.acks and name in responses.at:
            step.replies[name] = responses.at[name] - sent
    step.last_reply = max((responses.at[n] for n in step.replies), default=step.last_sent)
    step.cpu_ms = sum(meter.used[n] for n in pids) * 1000 / max(1, len(step.sent))
    step.lag, step.machine = lag.line(), meter.line()
    if step.sent:
        first = min(step.sent.values())
        rows = sorted((sent - first, step.acks.get(n, float("nan")), step.replies.get(n, float("nan")))
                      for n, sent in step.sent.items())
        (WORKDIR / f"{prefix}.csv").write_text("sent s,ack s,reply s\n"
                                              + "".join(f"{a:.4f},{b:.4f},{c:.4f}\n" for a, b, c in rows))
    return step


def row(target: str, what: str, step: Step) -> str:
    return (f"| {target} | {what} | {len(step.sent)} | {step.ms(step.acks, 0.5):.1f} | {step.ms(step.acks, 0.99):.1f} "
            f"| {step.ms(step.replies, 0.5):.1f} | {step.ms(step.replies, 0.99):.1f} | {step.lost} | {step.late_acks} "
            f"| {step.cpu_ms:.2f} |")


HEAD = ("| target | offered | sent | ack p50 ms | ack p99 ms | reply p50 ms | reply p99 ms | lost | acks > 3 s "
        "| CPU ms / request |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")


async def bench_target(args: argparse.Namespace, key: str, services: Services, urls: dict[str, str],
                       redis_url: str, workdir: Path, others: dict[str, int]) -> tuple[list[Step], Step | None]:
    if key == "plain":
        env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
               "SLACK_API_URL": urls["slack_api_url"], "MIDA_API_URL": urls["mida_api_url"],
               "MIDA_PROJECT_KEY": PROJECT_KEY, "MIDA_REGION": REGION, "MIDA_API_KEY": API_KEY,
               "LOG_LEVEL": args.log_level}
        proc = Proc("plain", [sys.executable, "-m", "bench.plain_bolt"], env, workdir / "plain.log")
        procs: list[Proc] = [proc]
        proc.start()
        stop = proc.stop
        url = proc.url
    else:
        redis.Redis.from_url(redis_url).flushall()
        env = bot_env(redis_url=redis_url, slack_api_url=urls["slack_api_url"], mida_api_url=urls["mida_api_url"],
                      LOG_LEVEL=args.log_level)
        env["MIDA_METRICS_PORT"] = str(free_port())  # the worker's; 9464 may be taken on a shared machine
        env.update(dict(item.split("=", 1) for item in args.bot_env))
        sub = workdir / key
        sub.mkdir()
        bot = Bot(key == "serve", env, sub, redis_url, args.cprofile)
        try:
            bot.start()
        except BaseException:
            bot.stop()
            raise
        procs, stop, url = bot.procs, bot.stop, bot.url
        services.call("setup", {"bot_url": url, "redis_url": redis_url, "pending": 1})
    pids = {p.name: p.pid for p in procs}
    responses = Responses(services)
    steps: list[Step] = []
    overload: Step | None = None
    try:
        if args.idle:
            with CpuMeter(pids) as meter:
                await asyncio.sleep(args.idle)
            print(f"    {TARGETS[key]}, idle for {args.idle:g} s: "
                  + ", ".join(f"{name} {100 * used / meter.wall:.1f} % of a core" for name, used in meter.used.items()),
                  flush=True)
        await run_step(url, pids, services, responses, 100, 2, f"{key}-warm", args.concurrency, args.grace, others)
        for n, rate in enumerate(args.rate_list, 1):
            # Named by position too: a rate given twice gets response_urls of its own.
            step = await run_step(url, pids, services, responses, rate, args.step, f"{key}-{n}-{rate:g}", args.concurrency,
                                  args.grace, others)
            steps.append(step)
            print(row(TARGETS[key], f"{rate:g}/s", step), flush=True)
            print(f"    {step.machine}; {step.lag}", flush=True)
            if not step.sustained and step.ms(step.replies, 0.99) > 1000:
                break  # well past overload: the higher rates say nothing more
            await asyncio.sleep(args.pause)
        capacity = max((s.rate for s in steps if s.sustained), default=0.0)
        if args.overload and capacity:
            await asyncio.sleep(args.pause)
            overload = await run_step(url, pids, services, responses, 2 * capacity, args.overload, f"{key}-over",
                                      args.concurrency, args.grace, others)
            print(row(TARGETS[key], f"2 × {capacity:g} = {2 * capacity:g}/s for {args.overload:g} s", overload))
            print(f"    drained {overload.last_reply - overload.last_sent:.1f} s after the last request; "
                  f"{overload.machine}; {overload.lag}", flush=True)
        for p in procs:
            errors = p.log_errors()
            if errors:
                print(f"    {p.name}: {errors} ERROR/traceback lines in {p.log_path}")
    finally:
        stop()
    return steps, overload


async def bench(args: argparse.Namespace, services: Services, urls: dict[str, str], redis_url: str,
                workdir: Path, others: dict[str, int]) -> int:
    print(f"machine: {os.cpu_count()} CPUs, {load_average()}; logs in {workdir}")
    print(f"Mida sandbox latency {args.mida_latency:g} s; {args.step:g} s per rate; grace {args.grace:g} s\n")
    services.call("latency", args.mida_latency)
    print(HEAD, flush=True)
    found: dict[str, tuple[list[Step], Step | None]] = {}
    for key in args.targets.split(","):
        found[key] = await bench_target(args, key, services, urls, redis_url, workdir, others)
    print("\nsummary\n" + HEAD)
    for key, (steps, overload) in found.items():
        for step in steps:
            print(row(TARGETS[key], f"{step.rate:g}/s", step))
        if overload is not None:
            print(row(TARGETS[key], f"overload {overload.rate:g}/s", overload))
    print()
    for key, (steps, overload) in found.items():
        capacity = max((s.rate for s in steps if s.sustained), default=0.0)
        line = f"{TARGETS[key]}: capacity {capacity:g}/s (reply p99 ≤ {REPLY_P99_MS:g} ms, nothing lost)"
        if overload is not None:
            line += (f"; at {overload.rate:g}/s for {args.overload:g} s: ack p99 {overload.ms(overload.acks, 0.99):.1f} ms, "
                     f"{overload.lost} lost, drained {overload.last_reply - overload.last_sent:.1f} s after")
        print(line)
    print(load_average())
    return 0


def main(argv: list[str] | None = None) -> int:
    global RESPONSE_BASE, WORKDIR
    parser = argparse.ArgumentParser(prog="bench.roundtrip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="plain,serve,procfile", help=f"in order, from {','.join(TARGETS)}")
    parser.add_argument("--rates", default="50,150,300,450,600,750,900", help="offered /mida results per second")
    parser.add_argument("--step", type=float, default=10, help="seconds per rate")
    parser.add_argument("--overload", type=float, default=10, help="seconds at 2 × capacity (0: skip)")
    parser.add_argument("--grace", type=float, default=30, help="seconds after a step for its replies to arrive")
    parser.add_argument("--pause", type=float, default=1, help="seconds between steps")
    parser.add_argument("--idle", type=float, default=10, help="seconds of CPU measured at rest first (0: skip)")
    parser.add_argument("--concurrency", type=int, default=1000, help="connections at most")
    parser.add_argument("--mida-latency", type=float, default=0.0)
    parser.add_argument("--bot-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--cprofile", action="store_true", help="the bot under cProfile (<logs>/<target>/*.prof)")
    args = parser.parse_args(argv)
    args.rate_list = [float(r) for r in args.rates.split(",")]
    if not set(args.targets.split(",")) <= set(TARGETS):
        parser.error(f"--targets: a subset of {','.join(TARGETS)}")
    workdir = WORKDIR = Path(tempfile.mkdtemp(prefix="mida-roundtrip-"))
    throwaway = ThrowawayRedis()
    services = Services()
    try:
        throwaway.start()
        urls = services.start()
        RESPONSE_BASE = urls["response_base"]
        others = {"stand-ins": services.pid, "load generator": os.getpid()}
        if throwaway.proc is not None:
            others["redis"] = throwaway.proc.pid
        return asyncio.run(bench(args, services, urls, throwaway.url, workdir, others))
    finally:
        services.stop()
        throwaway.stop()


if __name__ == "__main__":
    sys.exit(main())
