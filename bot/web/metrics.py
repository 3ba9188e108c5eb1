"""`GET /metrics`: every metric of bot/metrics.py in Prometheus' text format.

The counters are kept as things happen; the gauges of shared state — queue backlogs, pending
approvals — and the breakers' states are read at scrape time, so they cost nothing in between.
"""

from __future__ import annotations

import logging
import math
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.exceptions import RedisError

from bot.deps import DEPS, Deps
from bot.metrics import APPROVALS_PENDING, LOCAL_READS, MIDA_BREAKERS, QUEUE_LENGTH, QUEUE_OLDEST_AGE
from bot.store.keys import JOBS_STREAM, LAZY_STREAM
from bot.store.stream_queue import backlog

log = logging.getLogger(__name__)

QUEUES = {"jobs": JOBS_STREAM, "lazy": LAZY_STREAM}


async def read_gauges(deps: Deps) -> None:
    for state, count in deps.mida.breaker_states().items():
        MIDA_BREAKERS.labels(state).set(count)
    LOCAL_READS.labels("running").set(deps.headroom.running)
    LOCAL_READS.labels("waiting").set(deps.headroom.waiting)
    LOCAL_READS.labels("waiting_elsewhere").set(deps.headroom.elsewhere)
    now = time.time()
    try:
        for name, stream in QUEUES.items():
            length, age = await backlog(deps.redis, stream, now)
            QUEUE_LENGTH.labels(name).set(length)
            QUEUE_OLDEST_AGE.labels(name).set(age)
        APPROVALS_PENDING.set(await deps.requests.pending_count())
    except (RedisError, OSError) as err:
        # Unknown, not zero: NaN makes no alert rule fire on a number nobody read.
        log.warning("metrics: Redis did not answer", extra={"error": type(err).__name__})
        for name in QUEUES:
            QUEUE_LENGTH.labels(name).set(math.nan)
            QUEUE_OLDEST_AGE.labels(name).set(math.nan)
        APPROVALS_PENDING.set(math.nan)


async def metrics(request: web.Request) -> web.Response:
    await read_gauges(request.app[DEPS])
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
