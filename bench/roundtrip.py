"""The full job of `/mida results`, from the command sent to the results message at its
response_url, for the bot and for the obvious Bolt app (`bench/plain_bolt.py`), in one run on one
machine, at open-loop rates from 50/s up to overload, then twice each target's capacity for 10 s.
All targets are up for the whole run and each rate is measured on each of them in turn (starting
with another target at each rate), so a machine that slows down for a while slows all of them, not
the one whose turn it was.

    .venv/bin/python -m bench.roundtrip                      # plain app, `serve`, Procfile shape
    .venv/bin/python -m bench.roundtrip --rates 50,150,300 --targets plain,serve

Per rate and target (after a 1 s warm-up at 100/s, not counted, since the target sat idle while
the others were measured; and until it is quiet again after): ack p50 / p99 (the HTTP answer to
the command), reply p50 / p99 (sent → the results message recorded by the Slack stand-in), lost
(no good ack, or no results message within `--grace` s after the step), acks later than Slack's
3 s, and CPU per full request (CPU time of the target's processes from the step's first request
until its last reply, / requests). Capacity: the highest rate with reply p99 ≤ 100 ms (plus
`--mida-latency`, Mida's own part of each reply) and nothing lost. Overload, after all the rates:
2 × capacity for `--overload` s; its ack p99, lost, and the drain (from the last request sent to
the last reply). Before all that, the targets' CPU at rest (`--idle` s, all set up, before any load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

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
WARM_RATE, WARM_SECONDS = 100, 1.0


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
        return self.lost == 0 and self.ms(self.replies, 0.99) <= REPLY_P99_MS + 1000 * MIDA_LATENCY


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
MIDA_LATENCY = 0.0  # --mida-latency: Mida's own part of every reply, set by main()
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


@dataclass
class Target:
    """One app under test, up for the whole run (so each rate meets all targets within a minute of
    each other, not one target's run after another's), and what it measured."""

    key: str
    url: str
    procs: list[Proc]
    others: dict[str, int]  # the stand-ins', the load generator's and its own Redis's pids
    steps: list[Step] = field(default_factory=list)
    overload: Step | None = None
    climbing: bool = True

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.procs}

    @property
    def capacity(self) -> float:
        return max((s.rate for s in self.steps if s.sustained), default=0.0)

    def measure(self, step: Step) -> None:
        self.steps.append(step)
        print(row(TARGETS[self.key], f"{step.rate:g}/s", step), flush=True)
        print(f"    {step.machine}; {step.lag}", flush=True)
        if not step.sustained and step.ms(step.replies, 0.99) > 1000:
            self.climbing = False  # well past overload: the higher rates say nothing more


def start_target(args: argparse.Namespace, key: str, services: Services, urls: dict[str, str], workdir: Path,
                 others: dict[str, int], stack: ExitStack) -> Target:
    if key == "plain":
        env = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN,
               "SLACK_API_URL": urls["slack_api_url"], "MIDA_API_URL": urls["mida_api_url"],
               "MIDA_PROJECT_KEY": PROJECT_KEY, "MIDA_REGION": REGION, "MIDA_API_KEY": API_KEY,
               "LOG_LEVEL": args.log_level}
        proc = Proc("plain", [sys.executable, "-m", "bench.plain_bolt"], env, workdir / "plain.log")
        stack.callback(proc.stop)
        proc.start()
        return Target(key, proc.url, [proc], others)
    throwaway = ThrowawayRedis()  # a Redis of its own: the other bot's keys and CPU are not in its way
    stack.callback(throwaway.stop)
    throwaway.start()
    env = bot_env(redis_url=throwaway.url, slack_api_url=urls["slack_api_url"], mida_api_url=urls["mida_api_url"],
                  LOG_LEVEL=args.log_level)
    env["MIDA_METRICS_PORT"] = str(free_port())  # the worker's; 9464 may be taken on a shared machine
    env.update(dict(item.split("=", 1) for item in args.bot_env))
    sub = workdir / key
    sub.mkdir()
    bot = Bot(key == "serve", env, sub, throwaway.url, args.cprofile)
    stack.callback(bot.stop)
    bot.start()
    services.call("setup", {"bot_url": bot.url, "redis_url": throwaway.url, "pending": 1})
    assert throwaway.proc is not None
    return Target(key, bot.url, bot.procs, {**others, "redis": throwaway.proc.pid})


async def settle(target: Target, limit: float = 60) -> float:
    """Until the target's processes are quiet (under 5 % of a core for 0.5 s): one still working
    through a backlog would take the CPU from the next target's step. The seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        with CpuMeter(target.pids) as meter:
            await asyncio.sleep(0.5)
        if sum(meter.used.values()) < 0.05 * meter.wall:
            break
    return time.monotonic() - began


async def one_step(args: argparse.Namespace, target: Target, services: Services, rate: float, seconds: float,
                   prefix: str) -> Step:
    """A short warm-up (each target sat idle while the others were measured), the step, then
    until the target is quiet again."""
    responses = Responses(services)
    await run_step(target.url, target.pids, services, responses, WARM_RATE, WARM_SECONDS, f"{prefix}-warm",
                   args.concurrency, args.grace, target.others)
    step = await run_step(target.url, target.pids, services, responses, rate, seconds, prefix, args.concurrency,
                          args.grace, target.others)
    took = await settle(target)
    if took > 1:
        step.machine += f"; quiet again {took:.0f} s after its last reply"
    return step


async def bench(args: argparse.Namespace, services: Services, urls: dict[str, str], workdir: Path,
                others: dict[str, int]) -> int:
    print(f"machine: {os.cpu_count()} CPUs, {load_average()}; logs in {workdir}")
    print(f"Mida sandbox latency {args.mida_latency:g} s; {args.step:g} s per rate; grace {args.grace:g} s\n")
    services.call("latency", args.mida_latency)
    with ExitStack() as stack:
        targets = [start_target(args, key, services, urls, workdir, others, stack) for key in args.targets.split(",")]
        if args.idle:
            pids = {name if name == t.key else f"{t.key} {name}": pid for t in targets for name, pid in t.pids.items()}
            with CpuMeter(pids) as meter:
                await asyncio.sleep(args.idle)
            print(f"idle for {args.idle:g} s, all set up: "
                  + ", ".join(f"{name} {100 * used / meter.wall:.1f} % of a core" for name, used in meter.used.items()),
                  flush=True)
        print(HEAD, flush=True)
        for n, rate in enumerate(args.rate_list, 1):
            # Each rate starts with another target, so none is always measured first or last.
            for target in targets[(n - 1) % len(targets):] + targets[:(n - 1) % len(targets)]:
                if target.climbing:
                    # Named by position too: a rate given twice gets response_urls of its own.
                    target.measure(await one_step(args, target, services, rate, args.step, f"{target.key}-{n}-{rate:g}"))
                    await asyncio.sleep(args.pause)
        for target in targets:
            if args.overload and target.capacity:
                over = await one_step(args, target, services, 2 * target.capacity, args.overload, f"{target.key}-over")
                target.overload = over
                print(row(TARGETS[target.key], f"2 × {target.capacity:g} = {over.rate:g}/s for {args.overload:g} s", over))
                print(f"    drained {over.last_reply - over.last_sent:.1f} s after the last request; "
                      f"{over.machine}; {over.lag}", flush=True)
                await asyncio.sleep(args.pause)
        for target in targets:
            for p in target.procs:
                errors = p.log_errors()
                if errors:
                    print(f"    {p.name}: {errors} ERROR/traceback lines in {p.log_path}")
    print("\nsummary\n" + HEAD)
    for target in targets:
        for step in target.steps:
            print(row(TARGETS[target.key], f"{step.rate:g}/s", step))
        if target.overload is not None:
            print(row(TARGETS[target.key], f"overload {target.overload.rate:g}/s", target.overload))
    print()
    for target in targets:
        limit = REPLY_P99_MS + 1000 * args.mida_latency
        line = f"{TARGETS[target.key]}: capacity {target.capacity:g}/s (reply p99 ≤ {limit:g} ms, nothing lost)"
        if target.overload is not None:
            o = target.overload
            line += (f"; at {o.rate:g}/s for {args.overload:g} s: ack p99 {o.ms(o.acks, 0.99):.1f} ms, "
                     f"{o.lost} lost, drained {o.last_reply - o.last_sent:.1f} s after")
        print(line)
    print(load_average())
    return 0


def main(argv: list[str] | None = None) -> int:
    global MIDA_LATENCY, RESPONSE_BASE, WORKDIR
    parser = argparse.ArgumentParser(prog="bench.roundtrip", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default="plain,serve,procfile", help=f"in order, from {','.join(TARGETS)}")
    parser.add_argument("--rates", default="50,150,300,450,600,750,900", help="offered /mida results per second")
    parser.add_argument("--step", type=float, default=10, help="seconds per rate")
    parser.add_argument("--overload", type=float, default=10, help="seconds at 2 × capacity (0: skip)")
    parser.add_argument("--grace", type=float, default=30, help="seconds after a step for its replies to arrive")
    parser.add_argument("--pause", type=float, default=1, help="seconds between steps")
    parser.add_argument("--idle", type=float, default=10, help="seconds of CPU measured at rest first (0: skip)")
    parser.add_argument("--concurrency", type=int, default=1000, help="connections at most")
    parser.add_argument("--mida-latency", type=float, default=0.0, help="seconds the Mida sandbox takes per answer")
    parser.add_argument("--bot-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--cprofile", action="store_true", help="the bot under cProfile (<logs>/<target>/*.prof)")
    args = parser.parse_args(argv)
    args.rate_list = [float(r) for r in args.rates.split(",")]
    MIDA_LATENCY = args.mida_latency
    if not set(args.targets.split(",")) <= set(TARGETS):
        parser.error(f"--targets: a subset of {','.join(TARGETS)}")
    workdir = WORKDIR = Path(tempfile.mkdtemp(prefix="mida-roundtrip-"))
    services = Services()
    try:
        urls = services.start()
        RESPONSE_BASE = urls["response_base"]
        others = {"stand-ins": services.pid, "load generator": os.getpid()}
        return asyncio.run(bench(args, services, urls, workdir, others))
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
