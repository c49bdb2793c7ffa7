"""Ray's own CLI authenticates against the `local up` cluster with the exports of `rayfleet local env`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.fakes.environments import ROOT


def test_ray_status_and_ray_job_list_get_in_with_the_local_env_exports(local_cluster, rayfleet_home, tmp_path):
    bin_dir = Path(sys.executable).parent
    # No Ray variables of the caller, no ~/.ray/auth_token, and a stale token in the shell that the exports must undo.
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update({"HOME": str(tmp_path), "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "RAYFLEET_HOME": str(rayfleet_home),
                "RAY_AUTH_TOKEN": "a-token-of-another-cluster", "NO_COLOR": "1"})
    script = 'eval "$(rayfleet local env)" && ray status && ray job list'
    run = subprocess.run(["bash", "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    status, jobs = run.stdout.rstrip().rsplit("\n", 1)
    assert "Node status" in status and "Active:" in status
    # `ray job list` logs the list it got ("... INFO cli.py:600 -- [...]"), not an InvalidAuthToken.
    assert re.fullmatch(r".* -- \[.*\]", jobs), jobs
