"""The node-group model: every Auto Scaling Group of a cluster, built once from the config.

    >>> cpu = NodeGroup("cpu", "rayfleet-prod-us-east-1", ("m6i.2xlarge", "m6a.2xlarge"), min_workers=2,
    ...                 max_workers=20, expected_workers=4, root_volume_gb=100, spot=SpotPolicy())
    >>> [(asg.name, str(asg.market), asg.min_size, asg.max_size) for asg in cpu.asgs]
    [('rayfleet-prod-us-east-1-cpu-spot', 'spot', 2, 20), ('rayfleet-prod-us-east-1-cpu-on-demand', 'on-demand', 0, 20)]
    >>> cpu.purchases(4)[Market.SPOT]
    Purchase(on_demand=0, spot=4)

A node group is a Ray node type and the ASGs that hold its nodes. A worker
group with spot enabled is a spot ASG (a MixedInstancesPolicy whose
InstancesDistribution is the group's) plus its on-demand fallback twin, which
starts empty and only takes a spot shortfall; with spot disabled it is one
on-demand ASG holding the group's minimum. The head is a group of its own: one
on-demand ASG of exactly one node.

The Pulumi component creates these ASGs, the stack outputs name them, the
autoscaler config lists their node types, the node provider finds them by the
tags `tags` gives, the cost estimate prices `purchases`, and the tests build
their fixtures from it: nobody interprets the config a second time.

Core layer: standard library only, so anything may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.contract import HEAD_NODE_TYPE, MARKET_KEY, NODE_TYPE_KEY, Market

#: AWS's default spot strategy when an InstancesDistribution names none.
DEFAULT_SPOT_STRATEGY = "lowest-price"

#: Every node's root volume: an EBS volume of its group's `root_volume_gb`, of this type, at Ubuntu's
#: root device (the default image is Ubuntu 24.04).
ROOT_DEVICE = "/dev/sda1"
ROOT_VOLUME_TYPE = "gp3"


@dataclass(frozen=True)
class Purchase:
    """How many instances of one ASG are bought on-demand and how many as spot."""

    on_demand: int
    spot: int

    @property
    def total(self) -> int:
        return self.on_demand + self.spot


@dataclass(frozen=True)
class Distribution:
    """An ASG's InstancesDistribution: which of its instances AWS buys on-demand.

    The default (base 0, 100 % above it) is an all on-demand ASG.
    """

    on_demand_base: int = 0
    on_demand_percent_above_base: int = 100
    #: None: AWS's default (`DEFAULT_SPOT_STRATEGY`); meaningless when nothing is bought as spot.
    spot_allocation_strategy: str | None = None

    def split(self, count: int) -> Purchase:
        """`count` instances as AWS buys them: the base first, then the percentage of the rest, rounded up.

        >>> Distribution(2, 25).split(10)   # 2 base, then 25 % of 8 = 2 on-demand, 6 spot
        Purchase(on_demand=4, spot=6)
        >>> Distribution(0, 50).split(3)    # 50 % of 3 = 1.5: on-demand rounds up
        Purchase(on_demand=2, spot=1)
        """
        base = min(count, self.on_demand_base)
        above = count - base
        on_demand_above = -(-above * self.on_demand_percent_above_base // 100)  # ceil, in integers
        return Purchase(on_demand=base + on_demand_above, spot=above - on_demand_above)

    @property
    def spot_strategy(self) -> str:
        """The spot allocation strategy AWS applies: the configured one, or AWS's default."""
        return self.spot_allocation_strategy or DEFAULT_SPOT_STRATEGY

    @property
    def buys_spot(self) -> bool:
        """Whether any instance can be spot: false when the base and percentage leave none."""
        return self.on_demand_percent_above_base < 100


ALL_ON_DEMAND = Distribution()


#: Seconds a spot shortfall may last before it moves to the on-demand twin, unless configured.
DEFAULT_FALLBACK_AFTER_SECONDS = 180

#: Workers per minute moved back from the on-demand twin to spot when spot returns, unless configured.
DEFAULT_CONSOLIDATE_NODES_PER_MINUTE = 3


@dataclass(frozen=True)
class SpotPolicy:
    """How a worker group buys spot capacity: its spot ASG's distribution."""

    distribution: Distribution = Distribution(0, 0, "price-capacity-optimized")


@dataclass(frozen=True)
class GroupAsg:
    """One Auto Scaling Group of a node group."""

    node_type: str
    market: Market
    #: The ASG's name in AWS: `<cluster>-<role>`.
    name: str
    min_size: int
    max_size: int
    #: The launch template's type first, then the MixedInstancesPolicy overrides in order.
    instance_types: tuple[str, ...]
    distribution: Distribution

    @property
    def role(self) -> str:
        """The suffix of its names: 'head', 'cpu-spot', 'cpu-on-demand'."""
        return role(self.node_type, self.market)

    @property
    def tags(self) -> dict[str, str]:
        """The node-group keys of the tag contract, on the ASG and every instance it launches."""
        return {NODE_TYPE_KEY: self.node_type, MARKET_KEY: self.market.value}


def role(node_type: str, market: Market) -> str:
    """The name suffix of a node type's ASG in one market: the head has one ASG, so just 'head'."""
    return HEAD_NODE_TYPE if node_type == HEAD_NODE_TYPE else f"{node_type}-{market.value}"


@dataclass(frozen=True)
class NodeGroup:
    """A Ray node type and its ASGs: the head, or a worker group with its spot ASG and on-demand twin."""

    #: The Ray node type: the worker group's name, or HEAD_NODE_TYPE.
    name: str
    cluster_id: str
    instance_types: tuple[str, ...]
    min_workers: int
    max_workers: int
    #: What the cost estimate assumes as typical, within min..max.
    expected_workers: int
    root_volume_gb: int
    #: None: on-demand only (the head, or a worker group with spot disabled).
    spot: SpotPolicy | None = None
    #: Custom Ray resources each node advertises, besides what its instance type gives.
    custom_resources: Mapping[str, int] = field(default_factory=dict)
    #: Seconds a spot shortfall may last before the node provider moves it to the on-demand twin.
    #: A group's own setting rather than its spot policy's: the autoscaler config names it for every
    #: worker group, as configured, even where spot is disabled and nothing acts on it.
    fallback_after_seconds: int = DEFAULT_FALLBACK_AFTER_SECONDS
    #: Workers per minute the node provider moves back from the twin to spot once spot launches again.
    consolidate_nodes_per_minute: int = DEFAULT_CONSOLIDATE_NODES_PER_MINUTE

    def __post_init__(self) -> None:
        if not self.min_workers <= self.expected_workers <= self.max_workers:
            raise ValueError(
                f"node group {self.name}: expected workers ({self.expected_workers}) must lie within "
                f"min ({self.min_workers}) and max ({self.max_workers})"
            )

    @property
    def is_head(self) -> bool:
        return self.name == HEAD_NODE_TYPE

    @property
    def tags(self) -> dict[str, str]:
        """The node-group key its launch template puts on every instance and volume (the ASG adds the market)."""
        return {NODE_TYPE_KEY: self.name}

    @property
    def spot_asg(self) -> GroupAsg | None:
        if self.spot is None:
            return None
        return self._asg(Market.SPOT, self.min_workers, self.spot.distribution)

    @property
    def on_demand_asg(self) -> GroupAsg:
        # With spot, the twin starts empty: the autoscaler moves a spot shortfall onto it.
        return self._asg(Market.ON_DEMAND, 0 if self.spot else self.min_workers, ALL_ON_DEMAND)

    @property
    def asgs(self) -> tuple[GroupAsg, ...]:
        """The group's ASGs, spot before its twin."""
        spot = self.spot_asg
        return (spot, self.on_demand_asg) if spot else (self.on_demand_asg,)

    def asg(self, market: Market) -> GroupAsg:
        for candidate in self.asgs:
            if candidate.market == market:
                return candidate
        raise KeyError(f"node group {self.name} has no {market.value} ASG")

    def purchases(self, workers: int) -> dict[Market, Purchase]:
        """How `workers` nodes of this group run while spot has capacity, by ASG market.

        The spot ASG holds them all, bought as its distribution says; the twin
        holds none (it only takes a shortfall). Without spot, the on-demand ASG
        holds them all. Every ASG of the group has an entry.
        """
        holder = Market.SPOT if self.spot else Market.ON_DEMAND
        return {
            asg.market: asg.distribution.split(workers) if asg.market == holder else Purchase(0, 0)
            for asg in self.asgs
        }

    def _asg(self, market: Market, min_size: int, distribution: Distribution) -> GroupAsg:
        return GroupAsg(
            node_type=self.name,
            market=market,
            name=f"{self.cluster_id}-{role(self.name, market)}",
            min_size=min_size,
            max_size=self.max_workers,
            instance_types=self.instance_types,
            distribution=distribution,
        )


def head_group(cluster_id: str, instance_type: str, root_volume_gb: int) -> NodeGroup:
    """The head's group: one on-demand node, always."""
    return NodeGroup(HEAD_NODE_TYPE, cluster_id, (instance_type,), 1, 1, 1, root_volume_gb)


@dataclass(frozen=True)
class ClusterNodes:
    """Every node group of one region's cluster: the head, then the worker groups in config order."""

    cluster_id: str
    head: NodeGroup
    workers: tuple[NodeGroup, ...]

    @property
    def groups(self) -> tuple[NodeGroup, ...]:
        return (self.head, *self.workers)

    @property
    def asgs(self) -> tuple[GroupAsg, ...]:
        return tuple(asg for group in self.groups for asg in group.asgs)

    def group(self, name: str) -> NodeGroup:
        for candidate in self.groups:
            if candidate.name == name:
                return candidate
        raise KeyError(f"cluster {self.cluster_id} has no node group {name!r}")
