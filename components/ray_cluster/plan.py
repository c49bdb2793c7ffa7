"""Pure decisions about one region's Ray cluster: its node groups (ASGs), names, ports and node resources.

    >>> [(a.group, a.market, a.min_size, a.max_size) for a in node_groups(cfg.cluster)]
    [('cpu', 'spot', 2, 20), ('cpu', 'on-demand', 0, 20), ('gpu', 'spot', 0, 4), ('gpu', 'on-demand', 0, 4)]

Each worker group is a spot ASG plus its on-demand fallback twin (min 0); a
group with spot disabled has only the on-demand ASG, which then holds the
group's minimum. No pulumi, boto3 or ray imports: this module is tested as is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from components.contract import (  # noqa: F401 - the cluster's side of the contract, used through this module
    DASHBOARD_PORT,
    DRAIN_HOOK,
    GCS_PORT,
    HEAD_NODE_TYPE,
    MARKET_KEY,
    NODE_TYPE_KEY,
    REDIS_PORT,
    SERVE_PORT,
    Market,
)

#: The `rayfleet:component` tag value of everything the cluster creates (and its type token's middle part).
COMPONENT = "cluster"
#: Seconds a terminating worker may take to drain before the ASG goes on (Serve's proxy drains in ~30 s).
DRAIN_HEARTBEAT_SECONDS = 300

#: Ubuntu's root device name (the default image is Ubuntu 24.04, see stacks.config.ImageConfig).
ROOT_DEVICE = "/dev/sda1"

#: Share of a node's memory Ray gives its object store by default
#: (ray._private.ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION); the rest is the `memory` resource.
OBJECT_STORE_MEMORY_PROPORTION = 0.3

@dataclass(frozen=True)
class AsgPlan:
    """One Auto Scaling Group of a worker group."""

    group: str
    market: Market
    min_size: int
    max_size: int
    instance_types: tuple[str, ...]
    #: The InstancesDistribution of the ASG's MixedInstancesPolicy.
    on_demand_base: int
    on_demand_percent_above_base: int
    spot_allocation_strategy: str | None

    @property
    def role(self) -> str:
        """The suffix of its resource name: 'cpu-spot', 'cpu-on-demand'."""
        return f"{self.group}-{self.market}"


def node_groups(cluster) -> list[AsgPlan]:
    """The worker ASGs of a cluster (a `stacks.config.ClusterConfig`), spot before its twin."""
    plans = []
    for group in cluster.worker_groups:
        types = tuple(group.instance_types)
        if group.spot.enabled:
            plans.append(
                AsgPlan(
                    group=group.name,
                    market=Market.SPOT,
                    min_size=group.min_workers,
                    max_size=group.max_workers,
                    instance_types=types,
                    on_demand_base=group.spot.on_demand_base,
                    on_demand_percent_above_base=group.spot.on_demand_percent_above_base,
                    spot_allocation_strategy=group.spot.allocation_strategy,
                )
            )
        plans.append(
            AsgPlan(
                group=group.name,
                market=Market.ON_DEMAND,
                # The twin starts empty: the autoscaler moves a spot shortfall onto it.
                min_size=0 if group.spot.enabled else group.min_workers,
                max_size=group.max_workers,
                instance_types=types,
                on_demand_base=0,
                on_demand_percent_above_base=100,
                spot_allocation_strategy=None,
            )
        )
    return plans


def node_tags(node_type: str, market: Market | None = None) -> dict[str, str]:
    """The node-group keys of the tag contract, added to the cluster's tags on ASGs and instances."""
    tags = {NODE_TYPE_KEY: node_type}
    if market:
        tags[MARKET_KEY] = Market(market).value
    return tags


def private_zone_name(cluster_id: str) -> str:
    """The private hosted zone of a cluster's VPC: 'rayfleet-prod-us-east-1.rayfleet.internal'."""
    return f"{cluster_id}.rayfleet.internal"


def head_record_name(cluster_id: str) -> str:
    """The stable name of the head node, which the head UPSERTs at boot: 'head.<zone>'."""
    return f"{HEAD_NODE_TYPE}.{private_zone_name(cluster_id)}"


def redis_group_id(cluster_id: str) -> str:
    """An ElastiCache replication group id (at most 40 characters) unique to the cluster."""
    candidate = f"{cluster_id}-gcs"
    if len(candidate) <= 40:
        return candidate
    digest = hashlib.sha256(cluster_id.encode()).hexdigest()[:6]
    return f"{cluster_id[:29].rstrip('-')}-{digest}-gcs"


def log_group_name(cluster_id: str) -> str:
    return f"/rayfleet/{cluster_id}"


def node_resources(group) -> dict[str, int]:
    """What Ray may count on for any node of a worker group (a `stacks.config.WorkerGroup`).

    The group's smallest instance type gives CPU, GPU and memory (the part Ray
    does not reserve for the object store, as Ray's own AWS launcher computes
    it); the group's custom resources are added as whole numbers.
    """
    smallest = group.smallest_type
    resources = {"CPU": smallest.vcpus}
    if smallest.gpus:
        resources["GPU"] = smallest.gpus
    resources["memory"] = int(smallest.memory_gib * 2**30 * (1 - OBJECT_STORE_MEMORY_PROPORTION))
    resources.update({key: int(amount) for key, amount in sorted(group.resources.items())})
    return resources


#: The head schedules no tasks or replicas (it runs the GCS, the autoscaler, the dashboard and a Serve proxy).
HEAD_RESOURCES: dict[str, int] = {"CPU": 0}
