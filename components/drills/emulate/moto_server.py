"""A moto server on loopback, in a process of its own, that is always stopped: on return, failure or Ctrl-C.

    with moto_server() as server:
        boto3.client("s3", **server.client_args("us-east-1")).list_buckets()
    # here the process is gone

The server runs in a new session, so a Ctrl-C at the terminal reaches the command only; the
command then stops the server itself (SIGTERM, then SIGKILL after a grace period). It listens on
127.0.0.1 only, and clients get fake credentials explicitly: nothing reaches a real AWS account.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from components.errors import RayfleetError

#: Credentials moto accepts and AWS never would.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
STARTUP_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    pid: int

    def client_args(self, region: str) -> dict[str, str]:
        """Keyword arguments for `boto3.client(service, **args)` that reach this server only."""
        return {"endpoint_url": self.endpoint, "region_name": region, **FAKE_CREDENTIALS}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(timeout: float = STARTUP_TIMEOUT_S) -> Iterator[MotoServer]:
    """Start `python -m moto.server` on a free loopback port; stop it when the block ends, however it ends."""
    port = _free_port()
    # A file, not a pipe: the server logs every request, and a full pipe would stall it.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        try:
            server = MotoServer(f"http://127.0.0.1:{port}", process.pid)
            _wait_ready(server, process, log, timeout)
            yield server
        finally:
            _stop(process)


def _wait_ready(server: MotoServer, process: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            last = log.read().decode(errors="replace").strip().splitlines()[-1:]
            raise RayfleetError(f"the moto server exited with code {process.returncode} at start "
                                f"({''.join(last) or 'no output'}). Fix: check that moto[server] is installed "
                                "(pip install -e '.[dev]')")
        try:
            with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RayfleetError(f"the moto server on {server.endpoint} did not answer within {timeout:.0f} s. "
                        "Fix: check the machine's load, then run the command again")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it outlives the grace period."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
