"""Serve's ingress on the local cluster, live: HAProxy (the default) on loopback, Serve's Python proxy on request.

The session cluster (`local up --env dev`) runs the default, HAProxy. The Python
proxy gets a small cluster of its own (free ports, its own RAYFLEET_HOME), since
Ray reads the ingress switches when its processes start.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import psutil

from serve_apps.processes import session_processes
from serve_apps.ports import free_port
from tests.fakes.cli import run_cli
from tests.fakes.environments import stack_config, write_stack


def _haproxies(state) -> list[psutil.Process]:
    return [p for p in session_processes(state.pgid, state.temp_dir) if p.name() == "haproxy"]


def _listening(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for p in procs for c in p.net_connections("tcp") if c.status == psutil.CONN_LISTEN}


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_local_cluster_serves_through_haproxy_listening_on_loopback_only(local_cluster):
    state = local_cluster["state"]
    assert state.ingress == "haproxy"
    haproxies = _haproxies(state)
    assert haproxies, "no HAProxy process in the local session"
    listening = _listening(haproxies)
    assert ("127.0.0.1", state.serve_port) in listening  # HAProxy, not a Python proxy, holds Serve's port
    assert {ip for ip, _ in listening} == {"127.0.0.1"}  # its stats and Prometheus listeners too
    with open(haproxies[0].cmdline()[haproxies[0].cmdline().index("-f") + 1]) as config:
        assert state.temp_dir in config.name  # its config lives in the session: `local down` finds it


def test_bad_input_still_gets_its_400_through_haproxy(local_cluster):
    url = f"http://127.0.0.1:{local_cluster['state'].serve_port}"
    assert _post(f"{url}/digits", b'{"pixels": [1, 2]}') == (
        400, {"error": "'pixels' must have 64 numbers (an 8x8 image, row by row), got 2"})
    status, answer = _post(f"{url}/sentiment", b'{"text": "rayfleet makes this easy and I love it"}')
    assert (status, answer["label"]) == (200, "positive")


def test_the_python_ingress_serves_the_apps_without_haproxy(tmp_path, local_cluster):
    from serve_apps.local import LocalState

    config = stack_config("dev")
    config["rayfleet:serve"]["ingress"] = "python"
    config["rayfleet:serve"]["applications"] = [
        app for app in config["rayfleet:serve"]["applications"] if app["name"] == "digits"]
    path = write_stack(tmp_path, config, env="dev")
    home = {"RAYFLEET_HOME": str(tmp_path / "home")}
    ports = [str(free_port()) for _ in range(3)]
    up = run_cli("local", "up", "--file", str(path), "--port", ports[0], "--ray-port", ports[1],
                 "--dashboard-port", ports[2], "--json", env=home, timeout=400)
    try:
        assert up.code == 0, up.err
        assert all(s["ok"] for s in json.loads(up.out)["smoke"])
        state = LocalState(**json.loads((tmp_path / "home" / "local" / "state.json").read_text()))
        assert state.ingress == "python" and _haproxies(state) == []
        assert _post(f"http://127.0.0.1:{ports[0]}/digits", b"[]")[0] == 400
    finally:
        down = run_cli("local", "down", env=home, timeout=120)
    assert down.code == 0, down.err
