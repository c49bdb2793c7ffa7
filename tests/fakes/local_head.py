"""A private local Ray head for the allocation tests, started and stopped by process id only.

    with local_head(temp_dir, gcs_port=6400, dashboard_port=8280, token="...") as dashboard_url:
        ...

Never `ray stop` (it kills every Ray process on the machine, other people's too):
the head runs with its own temp dir, and only processes under that dir's
session, and their descendants, are terminated.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def cluster_pids(temp_dir: Path) -> list[int]:
    """Processes whose command line names this cluster's temp dir, and all their descendants."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    roots = [int(line.split(None, 1)[0]) for line in out.splitlines() if str(temp_dir) in line]
    found: list[int] = []
    queue = list(roots)
    while queue:
        pid = queue.pop()
        if pid in found or pid == os.getpid():
            continue
        found.append(pid)
        queue.extend(_children(pid))
    return found


def stop(temp_dir: Path, timeout: float = 10) -> None:
    pids = cluster_pids(temp_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start(temp_dir: Path, *, gcs_port: int, dashboard_port: int, token: str, num_cpus: int = 4) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.pop("RAY_ADDRESS", None)
    ray = Path(sys.executable).parent / "ray"
    subprocess.run(
        [str(ray), "start", "--head", f"--port={gcs_port}", f"--dashboard-port={dashboard_port}",
         "--dashboard-host=127.0.0.1", f"--num-cpus={num_cpus}", "--num-gpus=0", f"--temp-dir={temp_dir}",
         f"--ray-client-server-port={gcs_port + 1}", f"--dashboard-agent-listen-port={gcs_port + 2}",
         f"--metrics-export-port={gcs_port + 3}", "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{dashboard_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(url + "/api/v0/nodes", headers={"Authorization": f"Bearer {token}"})
            urllib.request.urlopen(request, timeout=2).read()
            return url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextlib.contextmanager
def local_head(temp_dir: Path, **kwargs):
    try:
        yield start(temp_dir, **kwargs)
    finally:
        stop(temp_dir)
