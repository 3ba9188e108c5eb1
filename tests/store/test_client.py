"""REDIS_URL to client: a single Redis gets the plain client, a cluster node the cluster client, and
`rediss://` with TLS options in the query reaches a TLS-only server either way (real redis-server
processes on loopback, with a CA and a server certificate made for the test)."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.asyncio.cluster import RedisCluster

from bot.store.client import redis_client
from standins.redis_server import free_port, server_binary


def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mida test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class TlsServer:
    """A redis-server that speaks only TLS; `cluster`: a one-node cluster serving every slot."""

    def __init__(self, tmp: Path, *, cluster: bool) -> None:
        self.ca, cert, key = _certificates(tmp)
        self.port = free_port()
        while self.port + 10000 > 65535:
            self.port = free_port()
        args = [server_binary(), "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
                "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(self.ca),
                "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp)]
        if cluster:
            args += ["--cluster-enabled", "yes", "--tls-cluster", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sync().ping()
                break
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the TLS redis-server did not start") from None
                time.sleep(0.05)
        if cluster:
            self.sync().execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            while b"cluster_state:ok" not in self.sync().execute_command("CLUSTER", "INFO"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the one-node cluster did not reach cluster_state:ok")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}&ssl_cert_reqs=required"

    def sync(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(params=[False, True], ids=["single", "cluster"])
def tls_server(request, tmp_path: Path) -> Iterator[TlsServer]:
    server = TlsServer(tmp_path, cluster=request.param)
    yield server
    server.stop()


async def test_rediss_urls_reach_a_tls_server_with_the_right_client(tls_server: TlsServer):
    client = redis_client(tls_server.url, max_connections=4, socket_connect_timeout=2, socket_timeout=5)
    try:
        cluster = "cluster-enabled" in " ".join(map(str, tls_server.proc.args))
        assert isinstance(client, RedisCluster) is cluster
        assert isinstance(client, aioredis.Redis) is not cluster
        await client.set("mida:{T1}:probe", b"over tls")
        assert await client.get("mida:{T1}:probe") == b"over tls"
    finally:
        await client.aclose()


async def test_without_the_ca_the_certificate_is_refused(tls_server: TlsServer):
    client = redis_client(f"rediss://127.0.0.1:{tls_server.port}/0", max_connections=4,
                          socket_connect_timeout=2, socket_timeout=5)
    try:
        # The probe could not verify the server either: the plain client, which then refuses too.
        assert isinstance(client, aioredis.Redis)
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()


@pytest.mark.cluster
async def test_any_node_of_the_cluster_gets_the_cluster_client(redis_url: str, redis_backend: str):
    client = redis_client(redis_url, max_connections=4)
    try:
        assert isinstance(client, RedisCluster) is (redis_backend == "cluster")
        assert await client.ping()
    finally:
        await client.aclose()
