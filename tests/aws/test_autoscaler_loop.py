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
from tests.fakes.asg_cluster import build_planned_cluster, desired, in_service


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
