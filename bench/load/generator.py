"""The load generator and its record: an open-loop schedule of signed requests over a keep-alive
pool, the latency of each ack and what was wrong with the others."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench.load.scenario import KINDS, Bodies, Tracked, check_answer
from standins.bot_server import SIGNING_SECRET
from standins.slack_requests import sign


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
