"""Ray's own v1 autoscaler loop (`StandardAutoscaler.update`) driving AsgNodeProvider on moto.

Synthetic demand goes into Ray's `LoadMetrics`, as the head's monitor would feed it from the GCS;
a small fake raylet layer "joins" each instance once it runs (GCS node table + heartbeats).
"""

from __future__ import annotations

import copy

from ray.autoscaler._private.autoscaler import StandardAutoscaler
from ray.autoscaler._private.load_metrics import LoadMetrics
from ray.autoscaler._private.util import prepare_config, validate_config

import components.ray_cluster.node_provider as node_provider
from tests.aws.asg_cluster import CLUSTER, REGION, aws, build_cluster, desired, in_service, session  # noqa: F401

WORKER_CPUS, HEAD_CPUS = 8, 4


def cluster_config() -> dict:
    """The shape of config the Ray cluster component renders, reduced to one worker group."""
    config = {
        "cluster_name": CLUSTER,
        "max_workers": 10,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 1,
        "provider": {
            "type": "external",
            "module": "components.ray_cluster.node_provider.AsgNodeProvider",
            "region": REGION,
            "cluster_name": CLUSTER,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "foreground_node_launch": True,
            "fallback_after_seconds": {"cpu": 180},
        },
        "auth": {},
        "available_node_types": {
            "head": {"resources": {"CPU": HEAD_CPUS}, "node_config": {}, "min_workers": 0, "max_workers": 0},
            "cpu": {"resources": {"CPU": WORKER_CPUS}, "node_config": {}, "min_workers": 0, "max_workers": 10},
        },
        "head_node_type": "head",
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


class FakeGcs:
    """The GCS as the autoscaler and provider see it: joined raylets and drain requests."""

    def __init__(self):
        self.joined: set[str] = set()
        self.drained: list[bytes] = []

    def drain_nodes(self, node_ids, timeout=None):
        self.drained.extend(node_ids)
        return list(node_ids)


def heartbeat(load: LoadMetrics, provider, gcs: FakeGcs, *, busy: bool, demand: list[dict] | None = None) -> None:
    """Every running instance's raylet joins and reports; `demand` is the cluster's waiting work."""
    for node_id in provider.non_terminated_nodes({}):
        ip = provider.internal_ip(node_id)
        if ip is None:
            continue
        gcs.joined.add(ip)
        cpus = HEAD_CPUS if provider.node_tags(node_id)["ray-node-type"] == "head" else WORKER_CPUS
        load.update(
            ip,
            node_id.encode(),
            {"CPU": cpus},
            {"CPU": 0.0 if busy else float(cpus)},
            0 if busy else 3600,
            waiting_bundles=demand or [],
        )


def test_rays_autoscaler_scales_to_demand_and_back_to_zero_when_idle(session, monkeypatch):
    names = build_cluster(session)
    spot = names["cpu"]["spot"]
    gcs = FakeGcs()
    monkeypatch.setattr(node_provider.GcsMembership, "__call__", lambda self: set(gcs.joined))
    load = LoadMetrics()
    config = cluster_config()
    autoscaler = StandardAutoscaler(lambda: copy.deepcopy(config), load, gcs, update_interval_s=0)
    provider = autoscaler.provider
    assert isinstance(provider, node_provider.AsgNodeProvider)

    heartbeat(load, provider, gcs, busy=True)
    autoscaler.update()
    assert desired(session, spot) == 0  # no demand, no workers

    # Three tasks needing a whole worker each.
    heartbeat(load, provider, gcs, busy=True, demand=[{"CPU": WORKER_CPUS}] * 3)
    autoscaler.update()
    assert desired(session, spot) == 3
    assert len(in_service(session, spot)) == 3

    # The workers boot, join and take the work: the loop holds steady.
    for _ in range(3):
        heartbeat(load, provider, gcs, busy=True)
        autoscaler.update()
    assert desired(session, spot) == 3
    workers = provider.non_terminated_nodes({"ray-node-type": "worker"})
    assert {provider.node_tags(n)["ray-node-status"] for n in workers} == {"up-to-date"}
    assert autoscaler.num_failures == 0

    # The work is done and the workers sit idle past idle_timeout_minutes: Ray drains and removes them.
    heartbeat(load, provider, gcs, busy=False)
    autoscaler.update()
    assert desired(session, spot) == 0
    assert in_service(session, spot) == []
    assert sorted(gcs.drained) == sorted(w.encode() for w in workers)
    assert provider.non_terminated_nodes({"ray-node-type": "worker"}) == []
    head = provider.non_terminated_nodes({"ray-node-type": "head"})
    assert in_service(session, names["head"]["on-demand"]) == head
    assert autoscaler.num_failures == 0
