"""Black-box runs of the `rayfleet` command, as a user types it.

    run = run_cli("config", "validate", "--env", "prod")
    assert (run.code, run.err) == (0, "")
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from tests.fakes.environments import ROOT


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd=ROOT, env: dict | None = None, timeout: float = 120) -> Run:
    """Run `python -m rayfleet ARGS` in a subprocess with a wide, colourless terminal."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", **(env or {})}
    full_env.pop("RAYFLEET_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "rayfleet", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)
