"""One run: start the bot and bare Bolt, set the workspace up, measure each target in turn, check
the work after the acks, top the bot up for its memory, and print the report."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from bench.load.generator import Stats, drive, merged
from bench.load.machine import CpuMeter, LoopLag, QueueWatch, load_average
from bench.load.processes import Bot, Proc, prioritise, start_profiler
from bench.load.report import TARGET_P99_MS, table, targets, timeline
from bench.load.scenario import Bodies, Tracked
from bench.load.services import Services
from bench.load.work import AfterAck
from standins.bot_server import BOT_TOKEN, SIGNING_SECRET, bot_env


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
        print(targets(bot_all, bare_all, errors=errors, log_errors=log_errors, work_ok=work_ok, rss=rss,
                      rss_requests=args.rss_requests, sent=total))
        return 0 if errors == 0 and work_ok else 1
    finally:
        await client.aclose()
        bot.stop()
        bare.stop()
