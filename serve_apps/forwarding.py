"""Session Manager sessions as processes: a node's port forwarded for as long as a block runs, or a session attached.

    with forwarded(head.instance_id, "us-east-1", remote_port=8265, local_port=18265) as url:
        JobRunner(url, token).submit("python script.py")

Starts `aws ssm start-session` with AWS-StartPortForwardingSession (the
command line comes from serve_apps.sessions), waits until the local port
accepts connections, and stops exactly that process afterwards.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

from components.errors import RayfleetError
from serve_apps.sessions import forward_command


@contextlib.contextmanager
def forwarded(
    instance_id: str,
    region: str,
    *,
    remote_port: int,
    local_port: int,
    timeout_s: float = 60.0,
    on_wait: Callable[[float], None] = lambda elapsed: None,
) -> Iterator[str]:
    """`http://127.0.0.1:<local_port>`, forwarded to `remote_port` on the instance while the block runs."""
    # A file, not a pipe: the plugin prints a line per connection, and nobody reads a pipe while the block runs.
    said = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(forward_command(instance_id, region, remote_port=remote_port, local_port=local_port),
                            stdin=subprocess.DEVNULL, stdout=said, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_port(proc, said, local_port, timeout_s, on_wait)
        yield f"http://127.0.0.1:{local_port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        said.close()


def _wait_for_port(proc: subprocess.Popen, said, port: int, timeout_s: float, on_wait: Callable[[float], None]) -> None:
    started = time.monotonic()
    while True:
        if proc.poll() is not None:
            said.seek(0)
            lines = said.read().strip().splitlines()
            raise RayfleetError(
                f"the Session Manager port forwarding exited ({lines[-1] if lines else f'exit {proc.returncode}'}). "
                "Fix: run the same 'aws ssm start-session' yourself to see why (credentials allowed "
                "ssm:StartSession? the node's SSM agent online?)"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise RayfleetError(f"the forwarded port 127.0.0.1:{port} did not open within {timeout_s:.0f} s. "
                                "Fix: retry; if it persists, check the head's SSM agent in Fleet Manager")
        on_wait(elapsed)
        time.sleep(0.25)


def attach(argv: list[str]) -> int:
    """Run an interactive `aws ssm start-session` in this terminal; its exit code.

    Ctrl-C belongs to the session (the plugin ends a port forwarding on it, a shell passes it on),
    so this process ignores it until the session ends.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(argv)
    finally:
        signal.signal(signal.SIGINT, previous)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
