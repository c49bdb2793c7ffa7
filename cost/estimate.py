"""The pre-deploy estimate: what an environment costs per month, from its node groups and the offline plan.

The cluster's instances and root volumes are priced from the node-group model
(`components.node_groups`, built from the config by
`stacks.node_groups.cluster_nodes`, the model the program creates the ASGs
from); everything else from the resources `stacks.plan.run_plan(env)`
captured (their pulumi-aws camelCase inputs). `cost.prices.PriceCatalog` gives
the prices. Each line has a count at three scenarios (min / expected / max)
and a monthly cost (730 hours) per scenario.

    >>> est = estimate_plan(run_plan("prod"), load_environment("prod"), PriceCatalog.load())
    >>> est.monthly.min <= est.monthly.expected <= est.monthly.max
    True

How a node group is counted (documented in the README):

- workers: min / expected / max are the group's `minWorkers`,
  `expectedWorkers` (default `minWorkers`) and `maxWorkers`; the head is 1.
- each of its ASGs holds what `NodeGroup.purchases` says: with spot, the spot
  ASG holds every worker, bought as its instances distribution splits them
  (`Distribution.split`: the on-demand base first, then the percentage of the
  rest on-demand, rounded up in favour of on-demand, the remainder spot), and
  the on-demand twin counts 0 in every scenario: it only takes a spot
  shortfall, and Ray's `max_workers` bounds the group across both ASGs. What
  running everything on-demand would cost is `Estimate.all_on_demand`.
  Without spot, the on-demand ASG holds every worker.
- on-demand instances are the group's first instance type (AWS's
  `prioritized` on-demand strategy); spot instances are priced as the
  cheapest type for the `lowest-price` and `price-capacity-optimized`
  strategies, and as the first for the capacity strategies.
- root volumes: the group's `root_volume_gb` × the ASG's instances.

An ASG's lines carry its planned resource's name, region and component, found
by the ASG name the model gives it: the plan must hold the model's ASGs and no
others. Usage-priced charges are not estimated (NAT data processing, S3,
transfer); load balancers assume `ASSUMED_LCU` capacity units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from components.contract import Market
from components.node_groups import ROOT_DEVICE, ROOT_VOLUME_TYPE, ClusterNodes, GroupAsg, NodeGroup
from cost.lines import Estimate, Line, Range
from cost.prices import HOURS_PER_MONTH, PriceCatalog
from stacks.node_groups import cluster_nodes

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig
    from stacks.plan import Plan

ASG = "aws:autoscaling/group:Group"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
HOSTED_ZONE = "aws:route53/zone:Zone"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
EBS_VOLUME = "aws:ebs/volume:Volume"
ELASTIC_IP = "aws:ec2/eip:Eip"
SECRET = "aws:secretsmanager/secret:Secret"

#: Load balancer capacity units assumed per hour (an ALB at light, steady traffic).
ASSUMED_LCU = Decimal(1)
_PRICE_LED_STRATEGIES = ("lowest-price", "price-capacity-optimized")
TWIN_DETAIL = "on-demand fallback twin: counted 0, the spot group's counts include its instances"


class Resource(Protocol):
    """What the estimate reads of a planned resource (`stacks.plan.PlannedResource`)."""

    type: str
    name: str
    id: str
    region: str
    component: str
    inputs: dict[str, Any]


def _monthly(count: Range, hourly: Decimal) -> Range:
    return count.map(lambda n: hourly * HOURS_PER_MONTH * n)


def _fixed(n: int = 1) -> Range:
    return Range(n, n, n)


# --- node groups ----------------------------------------------------------------


def _node_group_lines(resources: list[Resource], clusters: Mapping[str, ClusterNodes], prices: PriceCatalog) -> list[Line]:
    # An ASG's AWS name is all the estimate reads of its inputs: it says which of the model's ASGs the
    # planned resource is, so that the line carries the plan's resource name and component.
    planned = {(r.region, r.inputs.get("name")): r for r in resources if r.type == ASG}
    lines: list[Line] = []
    for region, nodes in clusters.items():
        for group in nodes.groups:
            for asg in group.asgs:
                res = planned.pop((region, asg.name), None)
                if res is None:
                    raise ValueError(f"the plan has no auto scaling group {asg.name} in {region}, which node group "
                                     f"{group.name} of cluster {nodes.cluster_id} has")
                lines += _asg_lines(group, asg, res, prices)
    if planned:
        unknown = ", ".join(sorted(f"{r.name} ({r.region})" for r in planned.values()))
        raise ValueError(f"auto scaling groups outside the node-group model: {unknown}")
    return lines


def _asg_lines(group: NodeGroup, asg: GroupAsg, res: Resource, prices: PriceCatalog) -> list[Line]:
    workers = Range(group.min_workers, group.expected_workers, group.max_workers)
    bought = workers.map(lambda n: group.purchases(n)[asg.market])
    on_demand, spot = bought.map(lambda p: p.on_demand), bought.map(lambda p: p.spot)
    distribution = asg.distribution
    lines = []
    if distribution.buys_spot:
        spot_type = _spot_type(asg, res.region, prices)
        spot_price = prices.spot(spot_type, res.region)
        lines.append(
            Line(res.region, res.component, res.name, "instances", spot_type, Market.SPOT, spot_price, spot,
                 _monthly(spot, spot_price), prices.on_demand(spot_type, res.region), distribution.spot_strategy)
        )
    if not distribution.buys_spot or on_demand.max > 0:
        od_type = asg.instance_types[0]
        od_price = prices.on_demand(od_type, res.region)
        twin = asg.market == Market.ON_DEMAND and group.spot is not None
        lines.append(
            Line(res.region, res.component, res.name, "instances", od_type, Market.ON_DEMAND, od_price, on_demand,
                 _monthly(on_demand, od_price), detail=TWIN_DETAIL if twin else "")
        )
    lines.append(_root_volume_line(group, res, bought.map(lambda p: p.total), prices))
    return lines


def _spot_type(asg: GroupAsg, region: str, prices: PriceCatalog) -> str:
    if asg.distribution.spot_strategy in _PRICE_LED_STRATEGIES:
        # min() keeps the first of equal prices: the order of the types breaks ties.
        return min(asg.instance_types, key=lambda t: prices.spot(t, region))
    return asg.instance_types[0]


def _root_volume_line(group: NodeGroup, res: Resource, instances: Range, prices: PriceCatalog) -> Line:
    size = group.root_volume_gb
    per_instance_month = Decimal(size) * prices.ebs_gb_month(ROOT_VOLUME_TYPE, res.region)
    return Line(res.region, res.component, f"{res.name} {ROOT_DEVICE}", "volumes", None, None,
                per_instance_month / HOURS_PER_MONTH, instances, instances.map(lambda n: per_instance_month * n),
                detail=f"{ROOT_VOLUME_TYPE} {size} GB per instance")


# --- everything else ------------------------------------------------------------


def _cache_nodes(inputs: dict[str, Any], type_token: str) -> int:
    if type_token == CACHE_CLUSTER:
        return int(inputs.get("numCacheNodes", 1))
    if inputs.get("numCacheClusters") is not None:
        return int(inputs["numCacheClusters"])
    groups = int(inputs.get("numNodeGroups") or 1)
    return groups * (1 + int(inputs.get("replicasPerNodeGroup") or 0))


def health_check_options(inputs: dict[str, Any]) -> tuple[bool, list[str]]:
    """(is the endpoint in AWS?, the priced optional features) of a Route 53 health check's inputs."""
    check_type = str(inputs.get("type", "HTTP")).upper()
    if check_type in ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
        return True, []
    fqdn = str(inputs.get("fqdn") or "")
    aws_endpoint = fqdn.endswith(".amazonaws.com")
    options = []
    if check_type.startswith("HTTPS"):
        options.append("HTTPS")
    if check_type.endswith("STR_MATCH"):
        options.append("string matching")
    if int(inputs.get("requestInterval", 30)) == 10:
        options.append("fast interval")
    if inputs.get("measureLatency"):
        options.append("latency measurement")
    return aws_endpoint, options


def _other_line(res: Resource, prices: PriceCatalog) -> Line | None:
    one = _fixed()
    if res.type == NAT_GATEWAY:
        hourly = prices.nat_gateway_hourly(res.region)
        per_gb = prices.nat_gateway_per_gb(res.region)
        return Line(res.region, res.component, res.name, "nat-gateway", None, None, hourly, one, _monthly(one, hourly),
                    detail=f"+${per_gb}/GB processed, not estimated")
    if res.type == ELASTIC_IP:
        hourly = prices.public_ipv4_hourly()
        return Line(res.region, res.component, res.name, "public-ip", None, None, hourly, one, _monthly(one, hourly),
                    detail="public IPv4 address")
    if res.type == SECRET:
        monthly = prices.secret_monthly()
        return Line(res.region, res.component, res.name, "secret", None, None, monthly / HOURS_PER_MONTH, one,
                    one.map(lambda n: monthly * n))
    if res.type in LOAD_BALANCERS:
        kind = res.inputs.get("loadBalancerType") or "application"
        hourly = prices.load_balancer_hourly(res.region, kind) + ASSUMED_LCU * prices.load_balancer_lcu_hourly(res.region, kind)
        return Line(res.region, res.component, res.name, "load-balancer", None, None, hourly, one, _monthly(one, hourly),
                    detail=f"{kind}, {ASSUMED_LCU} LCU assumed")
    if res.type in (REPLICATION_GROUP, CACHE_CLUSTER):
        node_type = res.inputs["nodeType"]
        hourly = prices.elasticache_hourly(node_type, res.region)
        nodes = _fixed(_cache_nodes(res.inputs, res.type))
        return Line(res.region, res.component, res.name, "cache-nodes", node_type, Market.ON_DEMAND, hourly, nodes,
                    _monthly(nodes, hourly))
    if res.type == HOSTED_ZONE:
        monthly = prices.hosted_zone_monthly()
        return Line(res.region, res.component, res.name, "hosted-zone", None, None, monthly / HOURS_PER_MONTH, one,
                    one.map(lambda n: monthly * n))
    if res.type == HEALTH_CHECK:
        aws_endpoint, options = health_check_options(res.inputs)
        monthly = prices.health_check_monthly(aws_endpoint=aws_endpoint, options=len(options))
        where = "AWS endpoint" if aws_endpoint else "non-AWS endpoint"
        return Line(res.region, res.component, res.name, "health-check", None, None, monthly / HOURS_PER_MONTH, one,
                    one.map(lambda n: monthly * n), detail=", ".join([where, *options]))
    if res.type == EBS_VOLUME:
        size = int(res.inputs.get("size") or 0)
        volume_type = res.inputs.get("type") or "gp3"
        monthly = Decimal(size) * prices.ebs_gb_month(volume_type, res.region)
        return Line(res.region, res.component, res.name, "volumes", None, None, monthly / HOURS_PER_MONTH, one,
                    one.map(lambda n: monthly * n), detail=f"{volume_type} {size} GB")
    return None


def estimate(
    env: str, resources: Iterable[Resource], prices: PriceCatalog, clusters: Mapping[str, ClusterNodes] | None = None
) -> Estimate:
    """Price a plan: the node groups of `clusters` (region -> its cluster), and every other costed resource."""
    resources = list(resources)
    lines = _node_group_lines(resources, clusters or {}, prices)
    lines += [line for r in resources if r.type != ASG and (line := _other_line(r, prices)) is not None]
    lines.sort(key=lambda l: (l.region, l.component, l.name, l.kind, l.market or ""))
    regions = sorted({l.region for l in lines if l.kind == "instances"})
    notes = [
        "monthly = 730 hours; usage-priced charges (NAT and load balancer data, S3, transfer) are not estimated",
        *sorted({prices.spot_basis(r) for r in regions}),
    ]
    return Estimate(env=env, lines=lines, source=prices.source(regions), notes=notes)


def estimate_plan(plan: Plan, cfg: EnvironmentConfig, prices: PriceCatalog) -> Estimate:
    """The estimate of an offline plan (`stacks.plan.Plan`) of the environment `cfg`."""
    clusters = {region: cluster_nodes(cfg, region) for region in cfg.region_names}
    return estimate(plan.env, plan.resources, prices, clusters)
