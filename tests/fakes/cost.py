"""Builders for cost tests: planned resources, node groups with their planned ASGs, shipped prices, Ray snapshots.

    >>> nodes = cluster(worker("cpu", lo=1, hi=4, expected=2, spot=SpotPolicy()))
    >>> [r.name for r in planned_asgs(nodes)]
    ['cluster-us-east-1-head', 'cluster-us-east-1-cpu-spot', 'cluster-us-east-1-cpu-on-demand']

Shipped prices these builders lead to are listed in tests/unit/test_cost_estimate.py.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from components.contract import Market
from components.node_groups import ClusterNodes, GroupAsg, NodeGroup, SpotPolicy, head_group
from cost.allocation import NodePrice, allocate
from cost.estimate import ASG
from cost.prices import PriceCatalog, PriceSource, shipped
from cost.ray_state import Snapshot
from stacks.plan import PlannedResource

REGION = "us-east-1"
CLUSTER_ID = "rf-test"


def shipped_prices() -> PriceCatalog:
    """The shipped catalog alone: no refreshed cache of the machine's user."""
    return PriceCatalog(shipped(), {})


# --- the estimate ---------------------------------------------------------------


def planned(type_: str, name: str, inputs: dict[str, Any], *, id_: str | None = None, region: str = REGION,
            component: str = "cluster") -> PlannedResource:
    """A resource as the offline plan captures it."""
    return PlannedResource(type_, name, f"urn:{name}", id_ or name, region, component, f"{component}-x", inputs, None)


def worker(name: str = "cpu", types: tuple[str, ...] = ("m6i.2xlarge",), *, lo: int, hi: int, expected: int,
           spot: SpotPolicy | None, root_volume_gb: int = 100) -> NodeGroup:
    return NodeGroup(name, CLUSTER_ID, types, lo, hi, expected, root_volume_gb, spot)


def cluster(*workers: NodeGroup, head_type: str = "m6i.xlarge", head_volume_gb: int = 60) -> ClusterNodes:
    return ClusterNodes(CLUSTER_ID, head_group(CLUSTER_ID, head_type, head_volume_gb), workers)


def asg_resource_name(asg: GroupAsg, region: str = REGION, cluster_name: str | None = None) -> str:
    """The name the program gives an ASG's resource in its cluster component (default `cluster-<region>`)."""
    return f"{cluster_name or f'cluster-{region}'}-{asg.role}"


def planned_asgs(nodes: ClusterNodes, region: str = REGION, cluster_name: str | None = None) -> list[PlannedResource]:
    """The cluster's ASGs as the plan captures them, carrying only the name the estimate finds them by."""
    return [
        planned(ASG, asg_resource_name(asg, region, cluster_name), {"name": asg.name}, region=region)
        for asg in nodes.asgs
    ]


# --- allocation -------------------------------------------------------------------

GIB = 1024**3
SOURCE = PriceSource("shipped", "2025-01-15")


def node(node_id, cpus, mem_gib, gpus=0, head=False, start_s=0):
    resources = {"CPU": float(cpus), "memory": float(mem_gib * GIB), "object_store_memory": 1e9}
    if gpus:
        resources["GPU"] = float(gpus)
    return {"node_id": node_id, "is_head_node": head, "state": "ALIVE", "resources_total": resources,
            "start_time_ms": start_s * 1000}


def replica(actor_id, node_id, start_s, state="RUNNING"):
    return {"actor_id": actor_id, "node_id": node_id, "start_time_s": start_s, "state": state}


def actor(actor_id, node_id, resources, class_name="ServeReplica:x:X", state="ALIVE"):
    return {"actor_id": actor_id, "node_id": node_id, "required_resources": resources, "class_name": class_name,
            "state": state}


def snapshot(nodes, apps, actors, taken_at=36000, requests=None):
    serve = {"applications": {
        name: {"deployments": {dep: {"required_resources": {}, "replicas": replicas} for dep, replicas in deps.items()}}
        for name, deps in apps.items()
    }}
    return Snapshot(taken_at, serve, nodes, actors, requests)


def fixed(price):
    return lambda n: NodePrice("m6i.xlarge", Market.ON_DEMAND.value, D(price))


def run(snap, price="0.192", window=24, head_is_system=False):
    return allocate(snap, fixed(price), window_hours=D(window), cluster="c", source=SOURCE, basis="test",
                    head_is_system=head_is_system)
