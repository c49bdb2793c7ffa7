"""Ray's own v1 autoscaler loop (`StandardAutoscaler.update`) driving AsgNodeProvider on moto.

The cluster config is the one the Ray cluster component renders for an environment
(`components.ray_cluster.autoscaler_config`); the ASGs are built from the same node-group model
as the component's. Synthetic demand goes into Ray's `LoadMetrics`, as the head's monitor would
feed it from the GCS; a small fake raylet layer "joins" each instance once it runs (GCS node table
+ heartbeats).
"""

from __future__ import annotations

import copy

from ray.autoscaler._private.autoscaler import StandardAutoscaler
from ray.autoscaler._private.load_metrics import LoadMetrics
from ray.autoscaler._private.providers import _clear_provider_cache
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    NODE_KIND_WORKER,
    STATUS_UP_TO_DATE,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)

import components.node_agents.node_provider as node_provider
from components.contract import HEAD_NODE_TYPE, Market
from stacks.cluster_args import region_autoscaler_config
from stacks.loader import load_environment
from tests.fakes.asg_cluster import SpotCapacityLimit, build_planned_cluster, desired, in_service


class FakeGcs:
    """The GCS as the autoscaler and provider see it: joined raylets and drain requests."""

    def __init__(self):
        self.joined: set[str] = set()
        self.drained: list[bytes] = []

    def drain_nodes(self, node_ids, timeout=None):
        self.drained.extend(node_ids)
        return list(node_ids)


def heartbeat(load: LoadMetrics, provider, gcs: FakeGcs, types: dict, *, busy: bool, demand: list[dict] | None = None) -> None:
    """Every running instance's raylet joins and reports; `demand` is the cluster's waiting work."""
    for node_id in provider.non_terminated_nodes({}):
        ip = provider.internal_ip(node_id)
        if ip is None:
            continue
        gcs.joined.add(ip)
        static = {k: float(v) for k, v in types[provider.node_tags(node_id)[TAG_RAY_USER_NODE_TYPE]]["resources"].items()}
        load.update(
            ip,
            node_id.encode(),
            static,
            {k: 0.0 for k in static} if busy else dict(static),
            0 if busy else 3600,  # idle for an hour: past any idle_timeout_minutes
            waiting_bundles=demand or [],
        )


def start(env: str, monkeypatch, session):
    cfg = load_environment(env)
    region = cfg.primary_region.name
    names = build_planned_cluster(session, cfg, region)
    config = prepare_config(region_autoscaler_config(cfg, region))  # what the head's monitor does first
    validate_config(config)
    gcs = FakeGcs()
    monkeypatch.setattr(node_provider.GcsMembership, "__call__", lambda self: set(gcs.joined))
    load = LoadMetrics()
    # Ray caches providers by config: a fresh head's monitor builds its own, so must each test.
    _clear_provider_cache()
    autoscaler = StandardAutoscaler(lambda: copy.deepcopy(config), load, gcs, update_interval_s=0)
    assert isinstance(autoscaler.provider, node_provider.AsgNodeProvider)
    return region, names, config["available_node_types"], gcs, load, autoscaler


def test_rays_autoscaler_scales_to_demand_and_back_to_zero_when_idle(session, monkeypatch):
    region, names, types, gcs, load, autoscaler = start("dev", monkeypatch, session)
    provider, spot = autoscaler.provider, names["cpu"][Market.SPOT]
    assert types["cpu"]["min_workers"] == 0

    heartbeat(load, provider, gcs, types, busy=True)
    autoscaler.update()
    assert desired(session, spot, region) == 0  # no demand, no workers

    # Three tasks that each need a whole worker.
    heartbeat(load, provider, gcs, types, busy=True, demand=[dict(types["cpu"]["resources"])] * 3)
    autoscaler.update()
    assert desired(session, spot, region) == 3
    assert len(in_service(session, spot, region)) == 3

    # The workers boot, join and take the work: the loop holds steady.
    for _ in range(3):
        heartbeat(load, provider, gcs, types, busy=True)
        autoscaler.update()
    assert desired(session, spot, region) == 3
    workers = provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER})
    assert {provider.node_tags(n)[TAG_RAY_NODE_STATUS] for n in workers} == {STATUS_UP_TO_DATE}

    # The work is done and the workers sit idle: Ray drains them and the provider removes them.
    heartbeat(load, provider, gcs, types, busy=False)
    autoscaler.update()
    assert desired(session, spot, region) == 0
    assert in_service(session, spot, region) == []
    assert sorted(gcs.drained) == sorted(w.encode() for w in workers)
    assert provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER}) == []
    head = names[HEAD_NODE_TYPE][Market.ON_DEMAND]
    assert in_service(session, head, region) == provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_HEAD})
    assert autoscaler.num_failures == 0


def test_rays_autoscaler_keeps_min_workers_and_scales_a_second_group(session, monkeypatch):
    region, names, types, gcs, load, autoscaler = start("prod", monkeypatch, session)
    provider = autoscaler.provider
    cpu_min = types["cpu"]["min_workers"]

    heartbeat(load, provider, gcs, types, busy=True)
    autoscaler.update()
    assert len(in_service(session, names["cpu"][Market.SPOT], region)) == cpu_min  # the spot ASG starts at min

    gpus = types["gpu"]["resources"]["GPU"]
    heartbeat(load, provider, gcs, types, busy=True, demand=[{"GPU": gpus}] * 2)
    autoscaler.update()
    assert desired(session, names["gpu"][Market.SPOT], region) == 2
    assert desired(session, names["cpu"][Market.SPOT], region) == cpu_min

    heartbeat(load, provider, gcs, types, busy=False)
    autoscaler.update()
    assert desired(session, names["gpu"][Market.SPOT], region) == 0
    assert len(in_service(session, names["cpu"][Market.SPOT], region)) == cpu_min  # min_workers are kept
    assert autoscaler.num_failures == 0


# -- spot shortages ------------------------------------------------------------------------------
# prod's cpu group: minWorkers 2 (on the spot ASG, whose onDemandBase 1 always launches), max 20.


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def shortage(monkeypatch, session, *, spot_capacity: int | None = None):
    """prod's cluster under Ray's loop with an injected clock; a spot pool of `spot_capacity` from the start."""
    region, names, types, gcs, load, autoscaler = start("prod", monkeypatch, session)
    clock = Clock()
    autoscaler.provider.clock = clock
    limit = None
    if spot_capacity is not None:
        limit = SpotCapacityLimit(autoscaler.provider.asg, names["cpu"][Market.SPOT], spot_capacity)
    return names, types, gcs, load, autoscaler, clock, limit


def update(autoscaler, load, gcs, types, clock, *, extra: int = 0) -> int:
    """One autoscaler update 10 s after the last, with busy workers and `extra` workers' worth of
    waiting tasks; the number of cpu workers Ray then sees."""
    clock.now += 10
    demand = [dict(types["cpu"]["resources"])] * extra
    heartbeat(load, autoscaler.provider, gcs, types, busy=True, demand=demand)
    autoscaler.update()
    return len(cpu_workers(autoscaler.provider))


def cpu_workers(provider) -> list[str]:
    return provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER, TAG_RAY_USER_NODE_TYPE: "cpu"})


def hold(autoscaler, load, gcs, types, clock, count: int, updates: int = 90) -> None:
    """The group stays at `count` workers for `updates` updates (15 minutes: past the 10 minutes after
    which spot is tried again), every one of them joined."""
    for _ in range(updates):
        assert update(autoscaler, load, gcs, types, clock) == count
        assert up_to_date(autoscaler.provider) == count
    assert autoscaler.num_failures == 0


def test_a_cluster_created_during_a_spot_shortage_holds_its_minimum(session, monkeypatch):
    names, types, gcs, load, autoscaler, clock, _ = shortage(monkeypatch, session, spot_capacity=1)
    assert update(autoscaler, load, gcs, types, clock) == 2  # AWS's word moves the missing one at once
    assert len(in_service(session, names["cpu"][Market.ON_DEMAND])) == 1
    hold(autoscaler, load, gcs, types, clock, 2)


def test_a_spot_node_reclaimed_during_a_shortage_is_replaced_on_demand(session, monkeypatch):
    names, types, gcs, load, autoscaler, clock, _ = shortage(monkeypatch, session)
    assert update(autoscaler, load, gcs, types, clock) == 2
    limit = SpotCapacityLimit(autoscaler.provider.asg, names["cpu"][Market.SPOT], 2)
    limit.reclaim(1)
    assert update(autoscaler, load, gcs, types, clock) == 2
    assert len(in_service(session, names["cpu"][Market.ON_DEMAND])) == 1
    hold(autoscaler, load, gcs, types, clock, 2)


def test_demand_during_a_steady_spot_shortage_moves_to_on_demand_in_one_update(session, monkeypatch):
    names, types, gcs, load, autoscaler, clock, _ = shortage(monkeypatch, session)
    update(autoscaler, load, gcs, types, clock)
    SpotCapacityLimit(autoscaler.provider.asg, names["cpu"][Market.SPOT], 2)
    update(autoscaler, load, gcs, types, clock, extra=4)  # Ray asks spot for 6; 2 run
    assert update(autoscaler, load, gcs, types, clock) == 6
    assert len(in_service(session, names["cpu"][Market.ON_DEMAND])) == 4
    hold(autoscaler, load, gcs, types, clock, 6)


def test_demand_in_waves_during_a_shortage_is_met_and_held_wave_by_wave(session, monkeypatch):
    names, types, gcs, load, autoscaler, clock, _ = shortage(monkeypatch, session, spot_capacity=1)
    update(autoscaler, load, gcs, types, clock)
    for wave, total in ((3, 5), (4, 9), (2, 11)):
        update(autoscaler, load, gcs, types, clock, extra=wave)
        assert update(autoscaler, load, gcs, types, clock) == total
        hold(autoscaler, load, gcs, types, clock, total, updates=6)
    assert len(in_service(session, names["cpu"][Market.SPOT])) == 1
    assert len(in_service(session, names["cpu"][Market.ON_DEMAND])) == 10


def up_to_date(provider) -> int:
    return sum(1 for n in cpu_workers(provider) if provider.node_tags(n)[TAG_RAY_NODE_STATUS] == STATUS_UP_TO_DATE)


def test_spot_returning_moves_the_twin_back_to_spot_without_going_below_the_requested_count(session, monkeypatch):
    names, types, gcs, load, autoscaler, clock, _ = shortage(monkeypatch, session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    update(autoscaler, load, gcs, types, clock)
    limit = SpotCapacityLimit(autoscaler.provider.asg, spot, 2)
    update(autoscaler, load, gcs, types, clock, extra=4)
    assert update(autoscaler, load, gcs, types, clock) == 6
    assert len(in_service(session, od)) == 4

    on_demand = set(in_service(session, od))
    limit.restore(20)
    drained: list[str] = []
    autoscaler.provider.asg.meta.events.register(
        "before-parameter-build.autoscaling.TerminateInstanceInAutoScalingGroup",
        lambda params, **_: drained.append(params["InstanceId"]),
    )
    minutes = []
    for _ in range(120):  # 20 minutes: spot is retried after 10, then 3 workers a minute move
        update(autoscaler, load, gcs, types, clock)
        assert up_to_date(autoscaler.provider) >= 6
        minutes.append(len(in_service(session, od)))
    assert in_service(session, od) == []
    assert len(in_service(session, spot)) == 6 == update(autoscaler, load, gcs, types, clock)
    assert autoscaler.provider.status()["cpu"]["moved_to_spot"] == 4
    assert set(drained) <= on_demand  # only on-demand workers are drained, one by one through the hook
    # Never more than 3 a minute: over any 6 updates (a minute) the twin loses at most 3 workers.
    assert all(minutes[i] - minutes[i + 6] <= 3 for i in range(len(minutes) - 6))
    assert autoscaler.num_failures == 0


def test_an_unrelated_launch_failure_moves_nothing_under_the_loop(session, monkeypatch):
    region, names, types, gcs, load, autoscaler = start("prod", monkeypatch, session)
    clock = Clock()
    autoscaler.provider.clock = clock
    message = "The specified launch template, with template ID lt-0abc, does not exist. Launching EC2 instance failed."
    SpotCapacityLimit(autoscaler.provider.asg, names["cpu"][Market.SPOT], 1, message=message)
    for _ in range(30):  # 5 minutes: past the 180 s grace period
        assert update(autoscaler, load, gcs, types, clock) == 1
    assert in_service(session, names["cpu"][Market.ON_DEMAND]) == []
    assert autoscaler.provider.status()["cpu"]["launch_error"] == message
