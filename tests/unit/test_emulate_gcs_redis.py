"""The emulated ElastiCache: Redis with AUTH behind TLS for the endpoint's name, found where the head's user data looks."""

from __future__ import annotations

import socket
import ssl

import pytest

from components.drills.emulate.gcs_redis import RedisAddress, gcs_redis, redis_address
from components.ray_cluster.userdata import render_head
from tests.fakes.node_boots import DEV_HEAD, HEAD

ENDPOINT = "master.rayfleet-prod-us-east-1-gcs.abc123.use1.cache.amazonaws.com"


def test_the_head_reads_its_redis_at_the_replication_groups_endpoint_over_tls():
    assert redis_address(render_head(HEAD)) == RedisAddress(ENDPOINT, 6379, tls=True)
    assert redis_address(render_head(DEV_HEAD)) is None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ask(port: int, ca: bytes, *lines: bytes) -> bytes:
    """Commands (inline protocol) over TLS, verifying the server's certificate for the endpoint's name."""
    context = ssl.create_default_context(cadata=ca.decode())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=ENDPOINT) as conn:
        conn.sendall(b"".join(line + b"\r\n" for line in lines))
        data = b""
        while data.count(b"\r\n") < len(lines):
            data += conn.recv(4096)
        return data


@pytest.mark.slow  # a redis-server process
def test_the_store_answers_tls_with_auth_and_stops_with_the_block(tmp_path):
    port = _free_port()
    with gcs_redis(("127.0.0.1", port), "tok3n", [ENDPOINT], tmp_path) as store:
        assert _ask(port, store.ca_pem, b"AUTH tok3n", b"SET k v", b"GET k") == b"+OK\r\n+OK\r\n$1\r\nv\r\n"
        assert _ask(port, store.ca_pem, b"GET k").startswith(b"-NOAUTH")
        assert _ask(port, store.ca_pem, b"AUTH wrong").startswith(b"-WRONGPASS")
        process = store.process
    assert process.poll() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.slow  # a redis-server process
def test_a_client_that_does_not_trust_the_runs_ca_is_refused(tmp_path):
    port = _free_port()
    with gcs_redis(("127.0.0.1", port), "tok3n", [ENDPOINT], tmp_path):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                ssl.create_default_context().wrap_socket(raw, server_hostname=ENDPOINT)


def test_a_certificate_that_does_not_load_starts_no_redis_server(tmp_path, monkeypatch):
    from components.drills.emulate import gcs_redis as module

    started = []

    class Process:
        def __init__(self, *_args, **_kwargs):
            self.stopped = False
            started.append(self)

        def terminate(self):
            self.stopped = True

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(module, "certificates", lambda _names: (b"", b"not a certificate", b"not a key"))
    monkeypatch.setattr(module, "redis_server_binary", lambda: "/usr/bin/redis-server")
    monkeypatch.setattr(module.subprocess, "Popen", Process)
    with pytest.raises(ssl.SSLError):
        with gcs_redis(("127.0.0.1", 0), "token", ["redis.internal"], tmp_path):
            pass
    assert [p for p in started if not p.stopped] == []
