"""How the scenarios after boot look at the region: Serve answering before they measure, a replica held until it is
gone from its node, the new node's own replica, and a stopped node runner."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest

from components.contract import MARKET_KEY, NODE_TYPE_KEY, Market
from components.drills.emulate.nodes import NodeRunner
from components.drills.emulate.timeline import Timeline
from components.errors import RayfleetError
from serve_apps import emulate_load, emulate_scale, emulate_spot
from serve_apps.dashboard import DashboardError
from serve_apps.emulate_load import Snapshot, first_look, observe
from serve_apps.emulate_scale import ScaleResult
from serve_apps.emulate_spot import SpotResult
from serve_apps.status import parse_status


class Groups:
    """moto's worker groups as describe_auto_scaling_groups pages them: one group, `instances` in service."""

    def __init__(self, instances=("i-0a",)):
        self.page = {"AutoScalingGroups": [{
            "AutoScalingGroupName": "dev-cpu", "DesiredCapacity": len(instances),
            "Tags": [{"Key": NODE_TYPE_KEY, "Value": "cpu"}],
            "Instances": [{"InstanceId": i, "LifecycleState": "InService"} for i in instances]}]}

    def get_paginator(self, _operation):
        return SimpleNamespace(paginate=lambda: [self.page])


def _serve(replicas: list[tuple[str, str]], target: int = 1) -> dict:
    """Serve's details: application `digits`, one deployment, each replica (state, node address)."""
    return {"applications": {"digits": {"status": "RUNNING", "route_prefix": "/digits", "deployments": {"Digits": {
        "status": "HEALTHY", "target_num_replicas": target,
        "replicas": [{"state": state, "node_ip": address} for state, address in replicas]}}}}}


class FlakyDashboard:
    """A head's dashboard that fails its first `failures` application listings, as a busy head does."""

    address = "http://10.30.0.10:8265"

    def __init__(self, failures: int, details: dict):
        self.failures, self.details, self.asked = failures, details, 0

    def get_nodes(self):
        return [{"node_ip": "10.30.0.10", "state": "ALIVE"}]

    def get_applications(self):
        self.asked += 1
        if self.asked <= self.failures:
            raise DashboardError(f"cannot reach the Ray dashboard at {self.address} (GET /api/serve/applications/: "
                                 "timed out)")
        return self.details


def _region(dashboard) -> SimpleNamespace:
    return SimpleNamespace(dashboard=dashboard, run_dir="/tmp/rayfleet/emulate/dev-1", client=lambda _s: Groups())


def test_the_first_look_waits_until_serve_answered(monkeypatch):
    monkeypatch.setattr(emulate_load.time, "sleep", lambda _s: None)
    dashboard = FlakyDashboard(2, _serve([("RUNNING", "10.30.1.5")]))
    seen = first_look(_region(dashboard), Groups())
    assert dashboard.asked == 3
    assert seen.replicas_by_address == {"10.30.1.5": 1}
    assert seen.all_running({"digits"})


def test_a_first_look_serve_never_answered_is_an_error():
    with pytest.raises(RayfleetError) as raised:
        first_look(_region(FlakyDashboard(10**6, {})), Groups(), timeout_s=0)
    assert str(raised.value) == (
        "the head's dashboard (http://10.30.0.10:8265) did not list Serve's applications within 0 s, so the region "
        "could not be measured before the scenario. Fix: run the emulation again on a less loaded machine; the "
        "head's Ray logs are under /tmp/rayfleet/emulate/dev-1")


def test_a_replica_stopping_gracefully_still_holds_its_node():
    seen = observe(_region(FlakyDashboard(0, _serve([("STOPPING", "10.30.1.5"), ("RUNNING", "10.30.1.6")]))),
                   Groups())
    assert seen.replicas_by_address == {"10.30.1.5": 1, "10.30.1.6": 1}


def _snapshot(replicas: list[tuple[str, str]], target: int, instances=("i-0a", "i-0b")) -> Snapshot:
    details = _serve(replicas, target)
    return Snapshot({"dev-cpu": len(instances)}, {"dev-cpu": tuple(instances)}, frozenset({"10.30.1.5", "10.30.1.6"}),
                    tuple(parse_status(details)),
                    {address: 1 for _state, address in replicas})


def _scale_region(nodes) -> SimpleNamespace:
    return SimpleNamespace(runner=SimpleNamespace(running=lambda: nodes), on_step=lambda _text: None)


def test_scale_replicas_running_needs_a_replica_on_the_new_node():
    region = _scale_region([SimpleNamespace(instance_id="i-0a", address="10.30.1.5"),
                            SimpleNamespace(instance_id="i-0b", address="10.30.1.6")])
    before = _snapshot([("RUNNING", "10.30.1.5")], 1, instances=("i-0a",))
    result = ScaleResult("digits", 5, Timeline(emulate_scale.STEPS, 0.0), replicas=(1, 1), desired=(1, 1))
    # Serve raised the target and both replicas run on the old node: the new node holds none yet.
    emulate_scale._look(region, result, before, _snapshot([("RUNNING", "10.30.1.5")] * 2, 2), 10.0)
    assert not result.timeline.reached("replicas RUNNING")
    assert result.timeline.reached("its node's Ray ALIVE on the head")
    emulate_scale._look(region, result, before, _snapshot([("RUNNING", "10.30.1.5"), ("RUNNING", "10.30.1.6")], 2),
                        12.0)
    assert result.timeline.seconds["replicas RUNNING"] == 12.0


class StoppedRunner:
    """A node runner whose poller failed: its own check raises."""

    errors = ["moto's DescribeAutoScalingGroups failed: connection refused"]
    check = NodeRunner.check

    def running(self):
        return []


def test_scale_stops_when_the_node_runner_stopped(monkeypatch):
    @contextlib.contextmanager
    def no_load(*_args, **_kwargs):
        yield SimpleNamespace(started=emulate_scale.time.monotonic(), pause_s=0.0, traffic=None)

    seen = _snapshot([("RUNNING", "10.30.1.5")], 1, instances=("i-0a",))
    monkeypatch.setattr(emulate_scale, "bounded_load", no_load)
    monkeypatch.setattr(emulate_scale, "first_look", lambda *_a: seen, raising=False)
    monkeypatch.setattr(emulate_scale, "observe", lambda *_a: seen)
    monkeypatch.setattr(emulate_scale, "TIMEOUT_S", 2.0)
    monkeypatch.setattr(emulate_scale, "POLL_S", 0.01)
    monkeypatch.setattr(emulate_scale, "scalable_apps", lambda *_a: [
        emulate_scale.Scalable("digits", 1, 2, 2.0, True)])
    region = SimpleNamespace(cfg=SimpleNamespace(serve=SimpleNamespace(applications=[])), config={"applications": []},
                             client=lambda _s: Groups(), runner=StoppedRunner(), base_url="http://10.30.0.10:8000",
                             on_step=lambda _text: None)
    with pytest.raises(RayfleetError, match="the node runner failed: moto's DescribeAutoScalingGroups failed: "
                                            "connection refused"):
        emulate_scale.run(region)


def _spot_result() -> SpotResult:
    return SpotResult("i-0a", "10.30.1.5", 1, "{}", Timeline(emulate_spot.STEPS, 0.0), terminated_because="drained",
                      group="dev-cpu")


def test_spot_replacement_comes_from_the_interrupted_instances_group():
    seen = Snapshot({"dev-cpu": 1, "dev-burst": 1}, {"dev-cpu": ("i-0c",), "dev-burst": ("i-0b",)},
                    frozenset(), (), {})
    result = _spot_result()
    emulate_spot._after_termination(_scale_region([]), result, seen, {"i-0a"}, {"digits"}, 5.0)
    assert result.replacement_id == "i-0c"
    assert result.timeline.reached("replacement instance in moto")


def test_spot_with_no_replacement_in_its_group_yet_waits():
    seen = Snapshot({"dev-cpu": 0, "dev-burst": 1}, {"dev-cpu": (), "dev-burst": ("i-0b",)}, frozenset(), (), {})
    result = _spot_result()
    emulate_spot._after_termination(_scale_region([]), result, seen, {"i-0a"}, {"digits"}, 5.0)
    assert result.replacement_id is None
    assert not result.timeline.reached("replacement instance in moto")


class SpotGroups(Groups):
    def __init__(self):
        super().__init__()
        self.page["AutoScalingGroups"][0]["Tags"].append({"Key": MARKET_KEY, "Value": Market.SPOT.value})


def test_spot_refuses_to_interrupt_a_worker_that_holds_no_replica():
    worker = SimpleNamespace(instance_id="i-0a", address="10.30.1.5", node_type="cpu", group="dev-cpu", started=1.0)
    seen = _snapshot([("RUNNING", "10.30.0.10")], 1, instances=("i-0a",))
    with pytest.raises(RayfleetError) as raised:
        emulate_spot._node_to_interrupt(_scale_region([worker]), seen, SpotGroups())
    assert str(raised.value) == (
        "spot: no spot worker holds a Serve replica (none on 10.30.1.5): interrupting one would test no drain. "
        "Fix: emulate an environment with a spot worker group whose workers run replicas (dev's), or run `scale` "
        "first")
