"""`rayfleet emulate`: the control plane of an environment's primary region in a moto server it starts and stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest

from tests.fakes.emulated_nodes import left_behind, needs_root, run_emulate, run_links, stop_run
from tests.fakes.environments import ROOT


@pytest.mark.slow  # the offline plan and a moto_server process
def test_emulate_creates_the_planned_control_plane_and_stops_moto(cli, plans):
    run = cli("emulate", "--env", "dev", "--scenario", "control-plane", "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    plan = plans("dev")
    region = plan.outputs["primaryRegion"]
    counts = report["controlPlane"]["counts"]
    planned = Counter(r.type for r in plan.in_region(region))
    for kind in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group",
                 "aws:secretsmanager/secret:Secret", "aws:route53/zone:Zone"):
        assert counts[kind] == planned[kind]
    assert (report["env"], report["scenario"], report["controlPlane"]["region"]) == ("dev", "control-plane", region)
    assert report["motoStopped"] is True
    assert set(report["seconds"]) == {"plan", "motoStart", "controlPlane", "motoStop", "total"}
    assert report["knownGaps"]


def test_emulate_names_the_unknown_scenario_and_the_known_ones(cli):
    run = cli("emulate", "--env", "dev", "--scenario", "sideways")
    assert run.code == 1
    assert run.err == (
        "error: --scenario 'sideways' is not a scenario of this rayfleet (scenarios: control-plane, boot, scale, "
        "spot, shortage, head-failover). "
        "Fix: pass --scenario control-plane\n"
    )


def _moto_children(process: psutil.Process) -> list[psutil.Process]:
    return [p for p in process.children(recursive=True) if "moto.server" in " ".join(p.cmdline())]


@pytest.mark.slow  # the offline plan and a moto_server process
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "term", "hangup"])
def test_interrupted_emulate_leaves_no_moto_server_running(stop):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "rayfleet", "emulate", "--env", "prod", "--scenario", "control-plane"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        command = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        servers: list[psutil.Process] = []
        while not servers and proc.poll() is None and time.monotonic() < deadline:
            servers = _moto_children(command)
            time.sleep(0.05)
        assert servers, "the command never started its moto server"
        proc.send_signal(stop)  # Ctrl-C at the terminal, `kill`, the terminal closing
        _, err = proc.communicate(timeout=60)
    finally:
        stop_run(proc)
    assert proc.returncode == 128 + stop
    assert "interrupted; every node and the moto server are stopped" in err
    assert [s.pid for s in servers if s.is_running() and s.status() != psutil.STATUS_ZOMBIE] == []


@pytest.mark.slow  # a whole region on this machine: moto, a head and its workers running Ray in namespaces
@needs_root
def test_boot_measures_the_head_the_workers_the_apps_and_requests_then_leaves_nothing_running(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "RAYFLEET_HOME": str(tmp_path)}
    code, out, err = run_emulate(["--env", "dev", "--scenario", "boot", "--json"], env, ROOT, timeout=600)
    assert code == 0, err[-3000:]
    report = json.loads(out)
    boot = report["boot"]
    assert boot["headUpSeconds"] > 0
    # dev scales its workers from zero: the head's autoscaler launched them for the replicas.
    assert boot["workersJoined"] >= 1 and boot["workersJoinedSeconds"] >= boot["headUpSeconds"]
    assert boot["appsRunningSeconds"] >= boot["workersJoinedSeconds"]
    assert {"sentiment", "digits"} <= set(boot["apps"]) and set(boot["apps"].values()) == {"RUNNING"}
    assert boot["requestsSent"] > 0 and boot["requestsAnswered"] == boot["requestsSent"], boot["requests"]
    assert 2 <= len(boot["nodes"]) <= 4
    head = next(n for n in boot["nodes"] if n["group"].endswith("-head"))
    assert head["steps"][-1] == "start Ray" and head["bootExit"] == 0
    # Ray started once on each node: a restart (its unit's Restart=always) would hide a start that failed.
    assert [n["rayStarts"] for n in boot["nodes"]] == [1] * len(boot["nodes"]), boot["nodes"]
    assert report["motoStopped"] is True
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
    assert run_links(boot["runId"]) == {"namespaces": [], "links": []}


@pytest.mark.slow  # a region booting on this machine, interrupted once its first node runs
@needs_root
def test_interrupted_boot_leaves_no_process_namespace_or_mount(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "RAYFLEET_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "rayfleet", "emulate", "--env", "dev", "--scenario", "boot"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = f"{proc.pid % 0xFFFF:04x}"
    try:
        deadline = time.monotonic() + 180
        # Mid-boot: the head's node exists and its user data is running.
        while not run_links(run)["namespaces"] and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run_links(run)["namespaces"], "the command never started a node"
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        stop_run(proc)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted; every node and the moto server are stopped" in err
    assert run_links(run) == {"namespaces": [], "links": []}
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
