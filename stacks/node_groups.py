"""The node groups of an environment's cluster in one region, built from the validated config.

    >>> nodes = cluster_nodes(load_environment("prod"), "us-east-1")
    >>> [asg.name for asg in nodes.asgs][:2]
    ['rayfleet-prod-us-east-1-head', 'rayfleet-prod-us-east-1-cpu-spot']

The one place the config's worker groups become `components.node_groups`
models: the program, the autoscaler config, the cost estimate and the tests
all call this.
"""

from __future__ import annotations

from components.node_groups import ClusterNodes, Distribution, NodeGroup, SpotPolicy, head_group
from stacks.config import EnvironmentConfig, WorkerGroup


def cluster_nodes(cfg: EnvironmentConfig, region: str) -> ClusterNodes:
    """The head and worker groups of `cfg`'s cluster in `region`."""
    cluster_id = cfg.cluster_id(region)
    head = cfg.cluster.head
    return ClusterNodes(
        cluster_id=cluster_id,
        head=head_group(cluster_id, head.instance_type, head.root_volume_gb),
        workers=tuple(worker_group(group, cluster_id) for group in cfg.cluster.worker_groups),
    )


def worker_group(group: WorkerGroup, cluster_id: str) -> NodeGroup:
    spot = group.spot
    return NodeGroup(
        name=group.name,
        cluster_id=cluster_id,
        instance_types=tuple(group.instance_types),
        min_workers=group.min_workers,
        max_workers=group.max_workers,
        expected_workers=group.expected,
        root_volume_gb=group.root_volume_gb,
        spot=SpotPolicy(Distribution(spot.on_demand_base, spot.on_demand_percent_above_base, spot.allocation_strategy))
        if spot.enabled
        else None,
        # In config order: the worker's `ray start --resources` keeps it, the autoscaler config sorts.
        custom_resources={key: int(amount) for key, amount in group.resources.items()},
        fallback_after_seconds=spot.fallback_after_seconds,
        consolidate_nodes_per_minute=spot.consolidate_nodes_per_minute,
    )
