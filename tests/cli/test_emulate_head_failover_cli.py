"""`rayfleet emulate --scenario head-failover`: the head dies, its group replaces it, the GCS comes back from Redis."""

from __future__ import annotations

import json
import os
import re
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
    assert out.strip(), err[-3000:]
    figures = report["scenarios"]["head-failover"]
    # The failover itself must happen (below); the requests failed while the head was gone are a measured figure
    # with a target of 0, which Ray 2.60 does not always meet: its restarted Serve controller may replace a
    # replica on the surviving worker, and requests answered 500 in that swap (the README gives the runs). The
    # command must then say so, and exit 1 for that miss alone.
    failed = [m for m in report["missed"] if m.startswith("head-failover: ") and " requests failed while the head" in m]
    assert report["missed"] == failed, (report["missed"], err[-3000:])
    assert (code, len(failed)) == ((1, 1) if figures["requestsFailed"] else (0, 0)), (report["missed"], err[-3000:])
    # Each failure listed is one of the counted ones, with its second since the kill and the app it asked.
    assert bool(figures["failures"]) is bool(figures["requestsFailed"])
    assert len(figures["failures"]) <= figures["requestsFailed"]
    assert all(re.fullmatch(r"\d+\.\d s: (sentiment|digits): .+", f) for f in figures["failures"]), figures["failures"]
    assert figures["newHead"] and figures["newHead"] != figures["oldHead"]
    assert 0 <= figures["nodeStoppedSeconds"] <= figures["replacementLaunchedSeconds"] <= figures["headAliveSeconds"]
    assert figures["headAliveSeconds"] <= figures["appsRunningSeconds"]
    assert figures["workerKept"] is True  # the worker's node ID, from the GCS state in Redis
    assert figures["answeredBefore"] > 0 and figures["requestsSent"] > 0
    assert 0 <= figures["requestsFailed"] <= figures["requestsSent"]
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
    assert run_links(report["boot"]["runId"]) == {"namespaces": [], "links": []}
    assert [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])] == []
