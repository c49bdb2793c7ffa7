"""`rayfleet local up` with a stack file whose application cannot load: it fails before it starts anything.

Its own RAYFLEET_HOME and ports, so that the session cluster is untouched whatever happens.
"""

from __future__ import annotations

import re
import socket

from tests.fakes.cli import run_cli
from tests.fakes.environments import ROOT
from tests.fakes.ports import free_ports


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _broken_stack(folder):
    """dev's stack file with a typo in one import path: valid config, an application that does not exist."""
    path = folder / "Pulumi.typo.yaml"
    path.write_text((ROOT / "stacks" / "Pulumi.dev.yaml").read_text().replace("serve_apps.digits:app", "serve_apps.digitz:app"))
    return path


def test_local_up_with_a_broken_import_path_fails_before_starting_anything(tmp_path):
    home = tmp_path / "home"
    env = {"RAYFLEET_HOME": str(home)}
    ports = free_ports(3)
    gcs, dashboard, serve = map(str, ports)
    run = run_cli(
        "local", "up", "--file", str(_broken_stack(tmp_path)), "--ray-port", gcs,
        "--dashboard-port", dashboard, "--port", serve, "--json", env=env, timeout=300,
    )
    assert (run.code, run.out) == (1, "")
    errors = [line for line in run.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.err
    assert re.fullmatch(
        r"error: local up failed while checking the applications \(nothing was started\): "
        r"rayfleet:serve\.applications\[\d\]\.importPath = 'serve_apps\.digitz:app': .+",
        errors[0],
    ), errors[0]
    assert not (home / "local" / "state.json").exists()
    assert not any(_listening(port) for port in ports)
    again = run_cli("local", "down", env=env, timeout=60)
    assert again.out == "no local cluster is running (nothing to stop)\n"
