"""The Redis client for REDIS_URL: a plain client for a single Redis (or Valkey), a cluster client
when the node REDIS_URL names runs in cluster mode.

Nothing in the URL says which it is (managed services hand out one `redis://` or `rediss://`
address either way), so the node is asked once at start: `INFO cluster` answers
`cluster_enabled:1` on a cluster node. The cluster client discovers the other nodes from there and
follows MOVED/ASK redirects; every command and script of the stores touches one slot (see
`bot.store.keys`). TLS options in the URL's query (`ssl_ca_certs`, `ssl_cert_reqs`,
`ssl_certfile`, `ssl_keyfile`, `ssl_check_hostname`, ...) reach both clients and the probe.
"""

from __future__ import annotations

import logging
from typing import Any, TypeAlias

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

log = logging.getLogger(__name__)

AnyRedis: TypeAlias = aioredis.Redis | RedisCluster
# What the clients answer with decode_responses off (the bot's setting), which redis-py's types
# leave as bytes | str.
StreamEntries: TypeAlias = list[tuple[bytes, dict[bytes, bytes]]]


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def is_cluster_node(url: str, *, timeout: float = 2.0) -> bool:
    """True when the node at `url` has cluster mode on. Raises RedisError/OSError when it cannot
    be asked."""
    probe = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        info = probe.info("cluster")
    finally:
        probe.close()
    return str(info.get("cluster_enabled", 0)) == "1"


def redis_client(url: str, *, max_connections: int, **options: Any) -> AnyRedis:
    """The client for `url`. `max_connections` is per node on a cluster (each node has its own pool)."""
    try:
        cluster = is_cluster_node(url, timeout=float(options.get("socket_connect_timeout") or 2.0))
    except (redis.RedisError, OSError) as err:
        # Not reachable now: a single Redis is what most deployments have, and the plain client
        # reconnects on its own. A cluster node answers the first command with MOVED, which the
        # log shows; restarting the process once the cluster answers picks the cluster client.
        log.warning(
            "could not ask Redis whether it is a cluster; assuming a single Redis", extra={"error": type(err).__name__}
        )
        cluster = False
    if cluster:
        log.info("Redis Cluster detected")
        # db must be 0 on a cluster; a URL path of /0 (or none) is accepted as is.
        return RedisCluster.from_url(url, max_connections=max_connections, **options)
    return aioredis.Redis.from_url(url, max_connections=max_connections, **options)
