"""How much one Redis Stream carries: XADD, XREADGROUP and XACK+XDEL throughput on a single stream,
the shape of `mida:jobs` and `mida:lazy` (one consumer group, entries deleted once done).

    python -m bench.redis_queue [--entries 20000] [--clients 8] [--redis-url redis://127.0.0.1:PORT/0]

Without --redis-url it starts a throwaway redis-server on a free loopback port (never the shared
one) and stops it after. Loopback only, bounded by --entries. Each phase runs --clients concurrent
asyncio clients, one command per round trip (as the bot sends them), and prints entries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from standins.redis_server import ThrowawayRedis

STREAM = "bench:queue"
GROUP = "bench"
BODY = {"fn": "handle_results", "body": "x" * 600, "headers": "{}"}  # about one queued slash command


async def _phase(name: str, clients: int, total: int, work) -> float:  # type: ignore[no-untyped-def]
    per = total // clients
    started = time.perf_counter()
    await asyncio.gather(*(work(i, per) for i in range(clients)))
    rate = per * clients / (time.perf_counter() - started)
    print(f"{name:<22} {rate:>10,.0f} entries/s  ({clients} clients, {per * clients:,} entries)")
    return rate


async def run(url: str, entries: int, clients: int) -> None:
    redis = aioredis.Redis.from_url(url, max_connections=clients + 2)
    await redis.delete(STREAM)
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    ids: list[list[bytes]] = [[] for _ in range(clients)]

    async def add(_: int, n: int) -> None:
        for _ in range(n):
            await redis.xadd(STREAM, BODY, maxlen=100_000, approximate=True)

    async def read(i: int, n: int) -> None:
        got = 0
        while got < n:
            answer = await redis.xreadgroup(GROUP, f"c{i}", {STREAM: ">"}, count=1, block=1000)
            for _, rows in answer or []:
                for entry_id, _fields in rows:
                    ids[i].append(entry_id)
                    got += 1
            if not answer:
                return

    async def ack(i: int, n: int) -> None:
        for entry_id in ids[i][:n]:
            await redis.xack(STREAM, GROUP, entry_id)
            await redis.xdel(STREAM, entry_id)

    await _phase("XADD", clients, entries, add)
    await _phase("XREADGROUP count=1", clients, entries, read)
    await _phase("XACK + XDEL", clients, entries, ack)
    info = await redis.info("server")
    print(f"server: {info.get('redis_version')} at {urlsplit(url).netloc}")
    await redis.delete(STREAM)
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    host = urlsplit(args.redis_url).hostname if args.redis_url else "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only")
    entries = max(args.clients, min(args.entries, 1_000_000))
    if args.redis_url:
        asyncio.run(run(args.redis_url, entries, args.clients))
        return
    server = ThrowawayRedis()
    server.start()
    try:
        asyncio.run(run(server.url, entries, args.clients))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
