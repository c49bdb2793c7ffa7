"""`rayfleet emulate --scenario head-failover`: the head dies, its group replaces it, the GCS comes back from Redis."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from tests.fakes.emulated_nodes import left_behind, needs_root, run_emulate, run_links
from tests.fakes.environments import ROOT

#: staging's head fault tolerance on groups small enough for the emulator (staging launches up to 6 8-core workers).
STACK = Path(__file__).parents[1] / "fakes" / "stacks" / "Pulumi.failover.yaml"


@pytest.mark.slow  # a whole region on this machine, its head killed and booted again: minutes of both cores
@needs_root
def test_head_failover_keeps_serve_answering_from_a_worker_and_leaves_nothing_running(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "RAYFLEET_HOME": str(tmp_path)}
    code, out, err = run_emulate(["--file", str(STACK), "--scenario", "head-failover", "--json"], env, ROOT,
                                 timeout=1200)
    report = json.loads(out) if out.strip() else {}
    assert code == 0, (report.get("missed"), err[-3000:])
    figures = report["scenarios"]["head-failover"]
    assert figures["newHead"] and figures["newHead"] != figures["oldHead"]
    assert 0 <= figures["nodeStoppedSeconds"] <= figures["replacementLaunchedSeconds"] <= figures["headAliveSeconds"]
    assert figures["headAliveSeconds"] <= figures["appsRunningSeconds"]
    assert figures["workerKept"] is True  # the worker's node ID, from the GCS state in Redis
    assert figures["answeredBefore"] > 0 and figures["requestsSent"] > 0
    assert figures["requestsFailed"] == 0
    assert report["missed"] == []
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
    assert run_links(report["boot"]["runId"]) == {"namespaces": [], "links": []}
    assert [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])] == []
