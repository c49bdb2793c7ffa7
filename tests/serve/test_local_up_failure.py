"""`rayfleet local up` with a stack file whose application cannot load: it fails and leaves nothing running.

A head of its own (own RAYFLEET_HOME and ports), so that the session cluster is untouched.
"""

from __future__ import annotations

import re
import shutil
import socket

from tests.fakes.cli import run_cli
from tests.fakes.environments import ROOT

#: Ports no other test's cluster uses.
GCS_PORT, DASHBOARD_PORT, SERVE_PORT = 6421, 8291, 8021


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _broken_stack(folder):
    """dev's stack file with a typo in one import path: valid config, an application that does not exist."""
    path = folder / "Pulumi.typo.yaml"
    path.write_text((ROOT / "stacks" / "Pulumi.dev.yaml").read_text().replace("serve_apps.digits:app", "serve_apps.digitz:app"))
    return path


def test_local_up_with_a_broken_import_path_stops_every_process_it_started(tmp_path):
    from serve_apps.processes import session_processes

    home = tmp_path / "home"
    env = {"RAYFLEET_HOME": str(home)}
    run = run_cli(
        "local", "up", "--file", str(_broken_stack(tmp_path)), "--ray-port", str(GCS_PORT),
        "--dashboard-port", str(DASHBOARD_PORT), "--port", str(SERVE_PORT), "--json", env=env, timeout=300,
    )
    assert (run.code, run.out) == (1, "")
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.err
    said = re.fullmatch(
        r"error: local up failed while checking application 'digits' \(serve_apps\.digitz:app\) "
        rf"\(stopped the \d+ processes it started; Ray's logs stay in (/\S+/rf\d+-{GCS_PORT}\.ray)\): .+",
        errors[0],
    )
    assert said, errors[0]
    assert not (home / "local" / "state.json").exists()  # the session is closed: `local down` has nothing to do
    temp_dir = said[1]
    assert session_processes(None, temp_dir) == []
    assert not any(_listening(port) for port in (GCS_PORT, DASHBOARD_PORT, SERVE_PORT))
    again = run_cli("local", "down", env=env, timeout=60)
    assert again.out == "no local cluster is running (nothing to stop)\n"
    shutil.rmtree(temp_dir)  # the logs local up kept for the user
