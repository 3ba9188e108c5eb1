"""`python -m bench.load`: the options, their checks, and the Redis and stand-ins a run needs."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench import load
from bench.load.run import bench
from bench.load.scenario import KINDS
from bench.load.services import Services
from standins.redis_server import ThrowawayRedis, answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.load", description=load.__doc__.split("\n\n")[0])
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
