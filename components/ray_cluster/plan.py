"""Pure decisions about one region's Ray cluster: names, ports and what Ray may count on per node.

    >>> head_record_name("rayfleet-prod-us-east-1")
    'head.rayfleet-prod-us-east-1.rayfleet.internal'

Which ASGs the cluster has, their sizes, distributions and tags, is the
node-group model's (`components.node_groups`); this module adds what only the
cluster needs. No pulumi, boto3 or ray imports: this module is tested as is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from components.catalog import InstanceType, smallest
from components.contract import (  # noqa: F401 - the cluster's side of the contract, used through this module
    DASHBOARD_PORT,
    DRAIN_HOOK,
    GCS_PORT,
    HEAD_NODE_TYPE,
    REDIS_PORT,
    SERVE_PORT,
)
from components.node_groups import NodeGroup
from components.tags import TagContext, build_tags

#: The `rayfleet:component` tag value of everything the cluster creates (and its type token's middle part).
COMPONENT = "cluster"
#: Seconds a terminating worker may take to drain before the ASG goes on (Serve's proxy drains in ~30 s).
DRAIN_HEARTBEAT_SECONDS = 300

#: Share of a node's memory Ray gives its object store by default
#: (ray._private.ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION); the rest is the `memory` resource.
OBJECT_STORE_MEMORY_PROPORTION = 0.3


def resource_tags(ctx: TagContext, role: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The tags of one of the cluster's resources, named `<cluster>-<role>` ('rayfleet-prod-us-east-1-zone')."""
    return build_tags(ctx, COMPONENT, name=f"{ctx.cluster}-{role}", extra=extra)


def private_zone_name(cluster_id: str) -> str:
    """The private hosted zone of a cluster's VPC: 'rayfleet-prod-us-east-1.rayfleet.internal'."""
    return f"{cluster_id}.rayfleet.internal"


def head_record_name(cluster_id: str) -> str:
    """The stable name of the head node, which the head UPSERTs at boot: 'head.<zone>'."""
    return f"{HEAD_NODE_TYPE}.{private_zone_name(cluster_id)}"


#: Seconds resolvers may cache "no such name" from a cluster's private zone (Route 53's SOA makes it 900): a
#: worker that looked up the head address just before the head published it must see the record soon.
NEGATIVE_CACHE_TTL = 10


def private_zone_soa(primary_name_server: str) -> str:
    """The private zone's SOA value, with Route 53's defaults but a short negative-cache time.

    A resolver caches a negative answer for the lesser of the SOA record's TTL and its last field
    (minimum), so both are NEGATIVE_CACHE_TTL (the record's TTL is set where it is created). The name
    server may come with or without its final dot.
    """
    return f"{primary_name_server.rstrip('.')}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 {NEGATIVE_CACHE_TTL}"


def redis_group_id(cluster_id: str) -> str:
    """An ElastiCache replication group id (at most 40 characters) unique to the cluster."""
    candidate = f"{cluster_id}-gcs"
    if len(candidate) <= 40:
        return candidate
    digest = hashlib.sha256(cluster_id.encode()).hexdigest()[:6]
    return f"{cluster_id[:29].rstrip('-')}-{digest}-gcs"


def log_group_name(cluster_id: str) -> str:
    return f"/rayfleet/{cluster_id}"


def smallest_type(group: NodeGroup) -> InstanceType:
    """A group's smallest instance type: the resources Ray may count on for any node of it."""
    return smallest(group.instance_types)


def has_gpus(group: NodeGroup) -> bool:
    """Whether every node of the group has a GPU (a group never mixes GPU and CPU-only types)."""
    return smallest_type(group).gpus > 0


def node_resources(group: NodeGroup) -> dict[str, int]:
    """What Ray may count on for any node of a worker group.

    The group's smallest instance type gives CPU, GPU and memory (the part Ray
    does not reserve for the object store, as Ray's own AWS launcher computes
    it); the group's custom resources are added as whole numbers.
    """
    smallest = smallest_type(group)
    resources = {"CPU": smallest.vcpus}
    if smallest.gpus:
        resources["GPU"] = smallest.gpus
    resources["memory"] = int(smallest.memory_gib * 2**30 * (1 - OBJECT_STORE_MEMORY_PROPORTION))
    resources.update(sorted(group.custom_resources.items()))
    return resources


#: The head schedules no tasks or replicas (it runs the GCS, the autoscaler, the dashboard and a Serve proxy).
HEAD_RESOURCES: dict[str, int] = {"CPU": 0}


# --- rollouts: how a new launch template version reaches running nodes ----------------

#: Seconds from a worker's InService to its raylet joining the cluster: the user data's apt, pip
#: install of `ray[serve]` and `ray start` take a few minutes on a CPU node; this allows twice that.
WORKER_WARMUP_SECONDS = 600
#: A GPU node first installs NVIDIA's driver (unless its image has one): allow more.
GPU_WORKER_WARMUP_SECONDS = 900


@dataclass(frozen=True)
class Refresh:
    """An ASG's instance-refresh preferences: how it replaces instances when its launch template version changes.

    AWS starts a refresh whenever the ASG's launch template or mixed-instances
    policy changes (the version is pinned to a number, never `$Latest`, so a new
    template version is such a change); percentages are of desired capacity.
    """

    min_healthy_percentage: int
    max_healthy_percentage: int
    #: Seconds after a replacement is InService before the refresh counts it and moves on.
    instance_warmup_seconds: int
    #: Leave instances that already run the desired version and types: a second `pulumi up`
    #: (which cancels a running refresh and starts a new one) does not replace them again.
    skip_matching: bool = True


def worker_refresh(group: NodeGroup) -> Refresh:
    """One node at a time, each drained before it goes, never above desired capacity.

    min 100%: AWS replaces one instance at a time. Its termination goes through the
    `rayfleet-drain` hook (a refresh's terminations are ordinary ones), so Serve
    starts that node's replicas elsewhere before it goes, and the next node is taken
    only once the replacement is in service and warmed up (has joined Ray).

    max 100%, not launch-first (above 100%): Ray's autoscaler owns the group's size
    and counts every instance of it as a node. Instances above desired capacity
    would be trimmed at once where the type is at `max_workers`
    (`ray.autoscaler._private.autoscaler`, "max_workers_per_type") or once idle,
    each trim lowering desired capacity, and the next scale request would write the
    inflated count back as desired capacity (`BatchingNodeProvider.cur_num_workers`).
    Where a drained node's replicas find no room, they are pending demand, and the
    autoscaler adds the node they need: extra capacity comes from Ray, never from
    the refresh.
    """
    warmup = GPU_WORKER_WARMUP_SECONDS if has_gpus(group) else WORKER_WARMUP_SECONDS
    return Refresh(min_healthy_percentage=100, max_healthy_percentage=100, instance_warmup_seconds=warmup)


#: The head: terminate first (0%..100%), so two heads never run at once against the same GCS
#: store and head address; with head fault tolerance the new head resumes from Redis while
#: workers and their replicas keep serving (raylets wait for it), without it the cluster restarts.
HEAD_REFRESH = Refresh(min_healthy_percentage=0, max_healthy_percentage=100, instance_warmup_seconds=WORKER_WARMUP_SECONDS)
