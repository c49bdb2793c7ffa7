"""Which Serve application spent the cluster's money: OpenCost-style shares of each node's price.

    alloc = allocate(snapshot, price_node, window_hours=Decimal(24), cluster="rayfleet-prod-us-east-1")
    alloc.total == sum(share.cost for share in alloc.shares)     # always, exactly

Pure arithmetic over a `cost.ray_state.Snapshot` (Serve's application details
and Ray's state API: nodes with their resources, actors with what they
require). The rules, documented in the README:

- each node costs its hourly price × the hours it ran inside the window;
- that price splits into per-unit rates: on a node with GPUs, 70 % of the
  price is its GPUs, 22.5 % its CPUs and 7.5 % its memory; on a CPU node,
  75 % CPUs and 25 % memory (about the ratios of AWS's own prices: a g5 or
  g4dn xlarge costs 3-5× the m-family type with the same CPUs and memory, and
  a c-family type costs about 75 % of the m-family type with twice its memory);
  a resource the node lacks gives its share to the others;
- a replica costs what it requests (CPUs, GPUs, memory) × those rates × the
  hours it ran inside the window, and belongs to its application and deployment;
- `__system__` is every other live actor's requests (the Serve controller,
  the proxies) plus, on a cloud cluster, the rest of the head node;
- `__idle__` is what nobody requested: the rest of every other node.

So the shares add up to the cluster's cost. With request counts, each
application also gets its cost per 1,000 requests; with the bill's actual
for the same cluster and window, a reconciliation factor (actual / computed)
scales every share to the bill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cost.decimals import decimal_text
from cost.prices import PriceSource
from cost.ray_state import Snapshot

SYSTEM = "__system__"
IDLE = "__idle__"
GIB = Decimal(1024**3)
SECONDS_PER_HOUR = Decimal(3600)
THOUSAND = Decimal(1000)

#: Shares of a node's price, by whether it has GPUs.
GPU_NODE_SPLIT = {"GPU": Decimal("0.70"), "CPU": Decimal("0.225"), "memory": Decimal("0.075")}
CPU_NODE_SPLIT = {"CPU": Decimal("0.75"), "memory": Decimal("0.25")}
PRICED = ("CPU", "GPU", "memory")


@dataclass(frozen=True)
class NodePrice:
    instance_type: str
    market: str
    hourly: Decimal


@dataclass
class NodeCost:
    node_id: str
    head: bool
    price: NodePrice
    hours: Decimal
    #: Total CPUs, GPUs and memory (GiB) Ray advertises on the node.
    capacity: dict[str, Decimal]
    #: USD per CPU-hour, GPU-hour and GiB-hour.
    rates: dict[str, Decimal]

    @property
    def cost(self) -> Decimal:
        return self.price.hourly * self.hours

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node_id,
            "head": self.head,
            "instanceType": self.price.instance_type,
            "market": self.price.market,
            "hourlyPrice": decimal_text(self.price.hourly),
            "hours": decimal_text(self.hours),
            "cost": decimal_text(self.cost),
            "rates": {k: decimal_text(v) for k, v in self.rates.items()},
        }


@dataclass
class DeploymentShare:
    name: str
    replicas: int = 0
    usage: dict[str, Decimal] = field(default_factory=lambda: {k: Decimal(0) for k in PRICED})
    cost: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "replicas": self.replicas,
            "cpuHours": decimal_text(self.usage["CPU"]),
            "gpuHours": decimal_text(self.usage["GPU"]),
            "memoryGibHours": decimal_text(self.usage["memory"]),
            "cost": decimal_text(self.cost),
        }


@dataclass
class Share:
    """One application's share, or `__system__` / `__idle__`."""

    name: str
    cost: Decimal = Decimal(0)
    deployments: dict[str, DeploymentShare] = field(default_factory=dict)
    requests: int | None = None

    @property
    def per_thousand_requests(self) -> Decimal | None:
        return self.cost / self.requests * THOUSAND if self.requests else None


@dataclass
class Reconciliation:
    actual: Decimal
    factor: Decimal


@dataclass
class Allocation:
    cluster: str
    window_hours: Decimal
    nodes: list[NodeCost]
    shares: list[Share]
    source: PriceSource
    basis: str
    reconciliation: Reconciliation | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((n.cost for n in self.nodes), Decimal(0))

    def share(self, name: str) -> Share:
        return next(s for s in self.shares if s.name == name)

    def reconcile(self, actual: Decimal) -> None:
        """Scale to the bill: factor = actual / computed total."""
        if self.total > 0:
            self.reconciliation = Reconciliation(actual, actual / self.total)

    def to_json(self) -> dict[str, Any]:
        total = self.total
        factor = self.reconciliation.factor if self.reconciliation else None
        return {
            "cluster": self.cluster,
            "currency": "USD",
            "windowHours": decimal_text(self.window_hours),
            "total": decimal_text(total),
            "shares": [
                {
                    "name": s.name,
                    "cost": decimal_text(s.cost),
                    "share": decimal_text(s.cost / total) if total else "0",
                    "reconciledCost": decimal_text(s.cost * factor) if factor is not None else None,
                    "requests": s.requests,
                    "costPer1000Requests": decimal_text(s.per_thousand_requests) if s.per_thousand_requests is not None else None,
                    "deployments": [d.to_json() for d in s.deployments.values()],
                }
                for s in self.shares
            ],
            "nodes": [n.to_json() for n in self.nodes],
            "split": {
                "gpuNode": {k: decimal_text(v) for k, v in GPU_NODE_SPLIT.items()},
                "cpuNode": {k: decimal_text(v) for k, v in CPU_NODE_SPLIT.items()},
            },
            "reconciliation": (
                {"actual": decimal_text(self.reconciliation.actual), "factor": decimal_text(self.reconciliation.factor)}
                if self.reconciliation
                else None
            ),
            "priceSource": self.source.to_json(),
            "basis": self.basis,
        }


# --- the arithmetic -------------------------------------------------------------


def _amount(resources: dict[str, Any], key: str) -> Decimal:
    value = Decimal(str(resources.get(key, 0) or 0))
    return value / GIB if key == "memory" else value


def node_rates(hourly: Decimal, capacity: dict[str, Decimal]) -> dict[str, Decimal]:
    """USD per unit-hour of each resource, from the node's price and the documented split."""
    split = dict(GPU_NODE_SPLIT if capacity.get("GPU", 0) > 0 else CPU_NODE_SPLIT)
    present = {k: v for k, v in split.items() if capacity.get(k, 0) > 0}
    if not present:
        return {k: Decimal(0) for k in PRICED}
    scale = 1 / sum(present.values())  # a missing resource's share goes to the others
    return {k: (hourly * present[k] * scale / capacity[k]) if k in present else Decimal(0) for k in PRICED}


def _hours(start_s: Decimal, now: Decimal, window_hours: Decimal) -> Decimal:
    ran = max(Decimal(0), (now - start_s) / SECONDS_PER_HOUR)
    return min(window_hours, ran)


def _replicas(snapshot: Snapshot):
    """(application, deployment, replica) of every replica Serve reports."""
    for app_name, app in (snapshot.serve.get("applications") or {}).items():
        for dep_name, dep in (app.get("deployments") or {}).items():
            for replica in dep.get("replicas") or []:
                yield app_name, dep_name, dep, replica


def allocate(
    snapshot: Snapshot,
    price_node: Callable[[dict[str, Any]], NodePrice],
    *,
    window_hours: Decimal,
    cluster: str,
    source: PriceSource,
    basis: str,
    head_is_system: bool = True,
) -> Allocation:
    now = Decimal(str(snapshot.taken_at))
    nodes: dict[str, NodeCost] = {}
    for node in snapshot.nodes:
        if node.get("state") != "ALIVE":
            continue
        resources = node.get("resources_total") or {}
        capacity = {k: _amount(resources, k) for k in PRICED}
        start = Decimal(str(node.get("start_time_ms") or 0)) / 1000
        price = price_node(node)
        nodes[node["node_id"]] = NodeCost(
            node["node_id"], bool(node.get("is_head_node")), price, _hours(start, now, window_hours), capacity,
            node_rates(price.hourly, capacity),
        )

    actors = {a["actor_id"]: a for a in snapshot.actors}
    shares: dict[str, Share] = {}
    spent = {node_id: Decimal(0) for node_id in nodes}
    replica_actors = set()

    def charge(node_id: str, requested: dict[str, Any], hours: Decimal) -> tuple[Decimal, dict[str, Decimal]]:
        node = nodes[node_id]
        usage = {k: _amount(requested, k) * hours for k in PRICED}
        cost = sum((usage[k] * node.rates[k] for k in PRICED), Decimal(0))
        spent[node_id] += cost
        return cost, usage

    for app_name, dep_name, dep, replica in _replicas(snapshot):
        node_id = replica.get("node_id")
        replica_actors.add(replica.get("actor_id"))
        # Serve lists live replicas only (dead ones are under recent_dead_replicas); a starting or
        # stopping replica already holds its resources, so every listed one is charged.
        if node_id not in nodes:
            continue
        actor = actors.get(replica.get("actor_id"), {})
        requested = actor.get("required_resources") or dep.get("required_resources") or {}
        start = Decimal(str(replica.get("start_time_s") or 0))
        hours = min(_hours(start, now, window_hours), nodes[node_id].hours)
        cost, usage = charge(node_id, requested, hours)
        share = shares.setdefault(app_name, Share(app_name))
        deployment = share.deployments.setdefault(dep_name, DeploymentShare(dep_name))
        deployment.replicas += 1
        deployment.cost += cost
        for key in PRICED:
            deployment.usage[key] += usage[key]
        share.cost += cost

    system = Share(SYSTEM)
    for actor in snapshot.actors:
        node_id = actor.get("node_id")
        if actor.get("state") != "ALIVE" or actor["actor_id"] in replica_actors or node_id not in nodes:
            continue
        # Actors report no start time: a live one is charged for the node's hours in the window.
        cost, _ = charge(node_id, actor.get("required_resources") or {}, nodes[node_id].hours)
        system.cost += cost

    idle = Share(IDLE)
    for node_id, node in nodes.items():
        rest = node.cost - spent[node_id]
        if node.head and head_is_system:
            system.cost += rest
        else:
            idle.cost += rest

    if snapshot.requests is not None:
        for share in shares.values():
            share.requests = snapshot.requests.get(share.name, 0)
    ordered = sorted(shares.values(), key=lambda s: (-s.cost, s.name)) + [system, idle]
    return Allocation(cluster, window_hours, list(nodes.values()), ordered, source, basis)
