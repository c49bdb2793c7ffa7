"""Black-box runs of the `rayfleet` command, as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT


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


@pytest.fixture
def cli():
    return run_cli
