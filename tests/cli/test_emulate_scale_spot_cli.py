"""`rayfleet emulate --scenario scale,spot`: a load grows the region by a node, then a spot notice takes one away
with no request failing; one boot for both, and nothing left running after."""

from __future__ import annotations

import json
import os

import pytest

from serve_apps import emulate_scale, emulate_spot
from tests.fakes.emulated_nodes import left_behind, needs_root, run_emulate, run_links
from tests.fakes.environments import ROOT


def _in_order(seconds: dict[str, float | None], steps: tuple[str, ...]) -> list[float]:
    """The steps' figures in their causal order; each present."""
    assert list(seconds) == list(steps)
    figures = [seconds[step] for step in steps]
    assert None not in figures, seconds
    return figures


@pytest.mark.slow  # a whole region on this machine, grown by a node, then a node interrupted and replaced
@pytest.mark.timeout(1800)  # a boot and both scenarios: about 9 minutes on an idle machine, more under load
@needs_root
def test_scale_then_spot_measure_each_step_in_order_with_no_failed_request(tmp_path):
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "RAYFLEET_HOME": str(tmp_path)}
    code, out, err = run_emulate(["--env", "dev", "--scenario", "scale,spot", "--json"], env, ROOT, timeout=1500)
    report = json.loads(out) if out else {}
    assert code == 0, (report.get("missed"), err[-3000:])
    scale, spot = report["scenarios"]["scale"], report["scenarios"]["spot"]

    figures = _in_order(scale["seconds"], emulate_scale.STEPS)
    assert figures == sorted(figures) and figures[0] > 0
    assert scale["targetReplicas"]["after"] > scale["targetReplicas"]["before"]
    assert scale["desiredCapacity"]["after"] > scale["desiredCapacity"]["before"]
    assert scale["instanceId"]

    figures = _in_order(spot["seconds"], emulate_spot.STEPS)
    assert figures == sorted(figures)
    assert spot["replicasOnNode"] > 0 and spot["replacementId"] not in (None, spot["instanceId"])
    assert spot["requestsSent"] > 0 and spot["requestsFailed"] == 0, spot["failures"]

    assert report["missed"] == [] and report["motoStopped"] is True
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
    assert run_links(report["boot"]["runId"]) == {"namespaces": [], "links": []}
