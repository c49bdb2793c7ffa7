"""`rayfleet emulate --scenario shortage`: the spot group cannot launch, the on-demand twin takes the shortfall."""

from __future__ import annotations

import json
import os

import pytest

from tests.fakes.emulated_nodes import left_behind, needs_root, run_emulate, run_links
from tests.fakes.environments import ROOT


@pytest.mark.slow  # a whole region on this machine, then one more node: minutes of both cores
@needs_root
def test_shortage_moves_the_spot_shortfall_to_the_on_demand_twin_then_leaves_nothing_running(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "RAYFLEET_HOME": str(tmp_path)}
    code, out, err = run_emulate(["--env", "dev", "--scenario", "shortage", "--json"], env, ROOT, timeout=900)
    report = json.loads(out) if out.strip() else {}
    assert code == 0, (report.get("missed"), err[-3000:])
    figures = report["scenarios"]["shortage"]
    assert figures["spotGroup"].endswith("-spot") and figures["twinGroup"].endswith("-on-demand")
    # Demand reached the spot group first; AWS's failed launch moved it to the twin, whose node took the replica.
    assert 0 <= figures["spotAskedSeconds"] <= figures["fallbackSeconds"] <= figures["capacitySeconds"]
    assert figures["capacitySeconds"] <= figures["replicasRunningSeconds"]
    assert figures["failedLaunches"] >= 1 and figures["twinDesired"] >= 1
    assert figures["spotLaunched"] == 0
    assert report["missed"] == []
    assert report["motoStopped"] is True
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
    assert run_links(report["boot"]["runId"]) == {"namespaces": [], "links": []}
