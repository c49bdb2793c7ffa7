"""`rayfleet local up` / `local down` end to end, as a user runs them (the session cluster is the first `up`)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.fakes.cli import run_cli


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_local_up_starts_a_head_clamps_and_smoke_tests_every_route(local_cluster):
    report, serve_port = local_cluster["report"], local_cluster["state"].serve_port
    assert report["started"] is True
    assert report["dashboard"] == local_cluster["state"].dashboard_url
    assert report["rayEnv"]["RAY_ADDRESS"] == local_cluster["state"].gcs_address
    assert {s["app"]: (s["url"], s["ok"]) for s in report["smoke"]} == {
        "sentiment": (f"http://127.0.0.1:{serve_port}/sentiment", True),
        "digits": (f"http://127.0.0.1:{serve_port}/digits", True),
        "_region-health": (f"http://127.0.0.1:{serve_port}/-/region-health", True),
    }
    assert all(a["status"] == "RUNNING" and a["healthy"] for a in report["applications"])
    for note in report["clamped"]:
        assert f"• clamped to this machine: {note}\n" in local_cluster["stderr"]


def test_local_up_builds_the_missing_model_once(local_cluster, rayfleet_home):
    assert local_cluster["report"]["builtModels"] == ["digits-v1.json"]
    assert (rayfleet_home / "models" / "digits-v1.json").is_file()


@pytest.mark.slow
def test_local_up_twice_is_harmless(local_cluster, rayfleet_home, local_ports):
    run = run_cli("local", "up", *local_ports, "--json", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=300)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["started"] is False
    assert report["builtModels"] == []
    assert all(s["ok"] for s in report["smoke"])
    assert f"• Ray head already running (dashboard {local_cluster['state'].dashboard_url})\n" in run.err


@pytest.mark.slow
def test_local_down_leaves_no_ray_process(local_cluster, rayfleet_home):
    from serve_apps.processes import session_processes

    state = local_cluster["state"]
    haproxies = [p for p in session_processes(state.pgid, state.temp_dir) if p.name() == "haproxy"]
    assert haproxies  # the default ingress: down must stop HAProxy too, not only Ray's own processes
    run = run_cli("local", "down", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=120)
    assert run.code == 0, run.err
    assert run.out.startswith("✓ local cluster stopped (")
    assert run.out.endswith(" processes); no Ray process of it remains\n")
    assert session_processes(state.pgid, state.temp_dir) == []
    assert not any(p.is_running() and p.status() != "zombie" for p in haproxies)
    assert not any(_listening(port) for port in (state.gcs_port, state.dashboard_port, state.serve_port))
    again = run_cli("local", "down", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=60)
    assert again.out == "no local cluster is running (nothing to stop)\n"


def test_cost_allocate_local_reads_the_local_up_cluster_with_its_token(local_cluster, rayfleet_home):
    # --local reads the default dashboard port unless told: the session cluster runs on a free one.
    env = {"RAYFLEET_HOME": str(rayfleet_home), "RAY_DASHBOARD_ADDRESS": local_cluster["state"].dashboard_url}
    run = run_cli("cost", "allocate", "--local", "--json", env=env, timeout=120)
    assert run.code == 0, run.err
    assert {"sentiment", "digits"} <= set(json.dumps(json.loads(run.out)).replace('"', " ").split())
