"""A private local Ray head, started and stopped by process id only.

    with local_head(temp_dir, gcs_port=6400, dashboard_port=8280, token="...") as dashboard_url:
        ...

Never `ray stop` (it kills every Ray process on the machine, other people's too):
the head runs with its own temp dir, and only the processes naming that dir, and
their descendants, are stopped (serve_apps.processes.stop_session, as `rayfleet local down` does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from serve_apps.processes import stop_session
from tests.fakes.environments import ROOT


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
        # `ray start` runs in the caller's process group: the temp dir alone marks the head's processes.
        left = stop_session(None, str(temp_dir))
        assert not left, f"the private Ray head in {temp_dir} left processes {left}; stop them by pid"
        shutil.rmtree(temp_dir, ignore_errors=True)
