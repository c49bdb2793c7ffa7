"""The pre-deploy estimate: what an environment costs per month, from the offline plan's resources.

The estimate reads the resources `stacks.plan.run_plan(env)` captured (their
pulumi-aws camelCase inputs), never a second description of the stack, and
prices them with `cost.prices.PriceCatalog`. Each line has a count at three
scenarios (min / expected / max) and a monthly cost (730 hours) per scenario.

    >>> est = estimate_plan(run_plan("prod"), load_environment("prod"), PriceCatalog.load())
    >>> est.monthly.min <= est.monthly.expected <= est.monthly.max
    True

How an Auto Scaling group is counted (documented in the README):

- counts: min = `minSize`, max = `maxSize`, expected = the worker group's
  `expectedWorkers` (default `minWorkers`) found through the ASG's
  `rayfleet:node-type` tag; the head is 1. Expected is kept within min..max.
- a MixedInstancesPolicy splits n instances as AWS does: the on-demand base
  first (`onDemandBaseCapacity`), then `onDemandPercentageAboveBaseCapacity`
  of the rest on on-demand, rounded up in favour of on-demand; the remainder
  (rounded down) is spot. `split_market` is that rule.
- on-demand instances of a mixed group are the first override (AWS's
  `prioritized` on-demand strategy); spot instances are priced as the
  cheapest override for the `lowest-price` and `price-capacity-optimized`
  strategies, and as the first override for the capacity strategies.
- the on-demand twin of a spot group (same `rayfleet:node-type`, market
  `on-demand`) only carries the spot group's fallback: Ray's `max_workers`
  bounds the group across both ASGs and the spot ASG already counts it, so
  the twin counts 0 in every scenario. What running everything on-demand
  would cost is `Estimate.all_on_demand`.
- root volumes: the launch template's EBS sizes × the group's instances.

Usage-priced charges are not estimated (NAT data processing, S3, transfer);
load balancers assume `ASSUMED_LCU` capacity units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from components.tags import MARKET_KEY, NODE_TYPE_KEY
from cost.lines import Estimate, Line, Range
from cost.prices import HOURS_PER_MONTH, PriceCatalog

ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
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
#: AWS's default spot strategy when a MixedInstancesPolicy names none.
DEFAULT_SPOT_STRATEGY = "lowest-price"
_PRICE_LED_STRATEGIES = ("lowest-price", "price-capacity-optimized")


class Resource(Protocol):
    """What the estimate reads of a planned resource (`stacks.plan.PlannedResource`)."""

    type: str
    name: str
    id: str
    region: str
    component: str
    inputs: dict[str, Any]


# --- the pure rules -------------------------------------------------------------


def split_market(count: int, base: int, percent_above_base: int) -> tuple[int, int]:
    """(on-demand, spot) of `count` instances under a MixedInstancesPolicy's instances distribution.

    >>> split_market(10, 2, 25)   # 2 base, then 25 % of 8 = 2 on-demand, 6 spot
    (4, 6)
    >>> split_market(3, 0, 50)    # 50 % of 3 = 1.5: on-demand rounds up
    (2, 1)
    """
    on_demand_base = min(count, base)
    above = count - on_demand_base
    on_demand_above = math.ceil(Decimal(above * percent_above_base) / 100)
    return on_demand_base + on_demand_above, above - on_demand_above


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _tag(resource: Resource, key: str) -> str | None:
    for tag in resource.inputs.get("tags") or []:
        if isinstance(tag, dict) and tag.get("key") == key:
            return tag.get("value")
    return None


def _monthly(count: Range, hourly: Decimal) -> Range:
    return count.map(lambda n: hourly * HOURS_PER_MONTH * n)


def _fixed(n: int = 1) -> Range:
    return Range(n, n, n)


# --- auto scaling groups --------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    resource: Resource
    node_type: str | None
    market_tag: str | None
    template: Resource | None
    overrides: list[str]
    mixed: bool
    base: int
    percent: int
    strategy: str

    @property
    def is_spot_group(self) -> bool:
        return self.mixed and self.percent < 100


def _group(resource: Resource, templates: dict[str, Resource]) -> _Group:
    inputs = resource.inputs
    mip = inputs.get("mixedInstancesPolicy")
    if mip:
        lt_spec = (mip.get("launchTemplate") or {}).get("launchTemplateSpecification") or {}
        template_id = lt_spec.get("launchTemplateId") or lt_spec.get("launchTemplateName")
        overrides = [o["instanceType"] for o in (mip.get("launchTemplate") or {}).get("overrides") or [] if o.get("instanceType")]
        dist = mip.get("instancesDistribution") or {}
        base = int(dist.get("onDemandBaseCapacity", 0) or 0)
        # AWS's default for the percentage is 100 (all on-demand).
        percent = int(dist.get("onDemandPercentageAboveBaseCapacity", 100))
        strategy = dist.get("spotAllocationStrategy") or DEFAULT_SPOT_STRATEGY
    else:
        template_id = (inputs.get("launchTemplate") or {}).get("id") or (inputs.get("launchTemplate") or {}).get("name")
        overrides, base, percent, strategy = [], 0, 100, DEFAULT_SPOT_STRATEGY
    template = templates.get(template_id) if template_id else None
    if not overrides and template is not None and template.inputs.get("instanceType"):
        overrides = [template.inputs["instanceType"]]
    return _Group(
        resource=resource,
        node_type=_tag(resource, NODE_TYPE_KEY),
        market_tag=_tag(resource, MARKET_KEY),
        template=template,
        overrides=overrides,
        mixed=bool(mip),
        base=base,
        percent=percent,
        strategy=strategy,
    )


def _asg_lines(groups: list[_Group], expected_workers: dict[str, int], prices: PriceCatalog) -> list[Line]:
    spot_node_types = {(g.resource.region, g.node_type) for g in groups if g.is_spot_group}
    lines: list[Line] = []
    for group in groups:
        res = group.resource
        lo, hi = int(res.inputs.get("minSize", 0)), int(res.inputs.get("maxSize", 0))
        twin = not group.is_spot_group and group.node_type != "head" and (res.region, group.node_type) in spot_node_types
        if twin:
            total = Range(0, 0, 0)
            detail = "on-demand fallback twin: counted 0, the spot group's counts include its instances"
        else:
            wanted = 1 if group.node_type == "head" else expected_workers.get(group.node_type or "", lo)
            total = Range(lo, _clamp(wanted, lo, hi), hi)
            detail = ""
        if not group.overrides:
            raise ValueError(f"auto scaling group {res.name} has no instance type in its launch template or overrides")
        od_type = group.overrides[0]
        od_price = prices.on_demand(od_type, res.region)
        if group.mixed:
            split = total.map(lambda n: split_market(n, group.base, group.percent))
            od_count, spot_count = split.map(lambda s: s[0]), split.map(lambda s: s[1])
        else:
            od_count, spot_count = total, Range(0, 0, 0)
        if group.is_spot_group:
            spot_type = _spot_type(group, prices)
            spot_price = prices.spot(spot_type, res.region)
            lines.append(
                Line(res.region, res.component, res.name, "instances", spot_type, "spot", spot_price, spot_count,
                     _monthly(spot_count, spot_price), prices.on_demand(spot_type, res.region), group.strategy)
            )
        if not group.is_spot_group or od_count.max > 0:
            lines.append(
                Line(res.region, res.component, res.name, "instances", od_type, "on-demand", od_price, od_count,
                     _monthly(od_count, od_price), detail=detail)
            )
        lines.extend(_volume_lines(group, total, prices))
    return lines


def _spot_type(group: _Group, prices: PriceCatalog) -> str:
    if group.strategy in _PRICE_LED_STRATEGIES:
        # min() keeps the first of equal prices: the override order breaks ties.
        return min(group.overrides, key=lambda t: prices.spot(t, group.resource.region))
    return group.overrides[0]


def _volume_lines(group: _Group, instances: Range, prices: PriceCatalog) -> list[Line]:
    if group.template is None:
        return []
    res = group.resource
    lines = []
    for mapping in group.template.inputs.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        size = ebs.get("volumeSize")
        if not size:
            continue
        volume_type = ebs.get("volumeType") or "gp3"
        per_instance_month = Decimal(int(size)) * prices.ebs_gb_month(volume_type, res.region)
        lines.append(
            Line(res.region, res.component, f"{res.name} {mapping.get('deviceName', 'volume')}", "volumes", None,
                 None, per_instance_month / HOURS_PER_MONTH, instances, instances.map(lambda n: per_instance_month * n),
                 detail=f"{volume_type} {int(size)} GB per instance")
        )
    return lines


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
        return Line(res.region, res.component, res.name, "cache-nodes", node_type, "on-demand", hourly, nodes,
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
    env: str, resources: Iterable[Resource], prices: PriceCatalog, expected_workers: dict[str, int] | None = None
) -> Estimate:
    """Price every costed resource of a plan; `expected_workers` maps worker group -> expected count."""
    resources = list(resources)
    templates = {r.id: r for r in resources if r.type == LAUNCH_TEMPLATE}
    templates.update({r.inputs["name"]: r for r in templates.values() if isinstance(r.inputs.get("name"), str)})
    groups = [_group(r, templates) for r in resources if r.type == ASG]
    lines = _asg_lines(groups, expected_workers or {}, prices)
    lines += [line for r in resources if r.type != ASG and (line := _other_line(r, prices)) is not None]
    lines.sort(key=lambda l: (l.region, l.component, l.name, l.kind, l.market or ""))
    regions = sorted({l.region for l in lines if l.kind == "instances"})
    notes = [
        "monthly = 730 hours; usage-priced charges (NAT and load balancer data, S3, transfer) are not estimated",
        *sorted({prices.spot_basis(r) for r in regions}),
    ]
    return Estimate(env=env, lines=lines, source=prices.source(regions), notes=notes)


def estimate_plan(plan, cfg, prices: PriceCatalog) -> Estimate:
    """The estimate of an offline plan (`stacks.plan.Plan`) of the environment `cfg`."""
    expected = {group.name: group.expected for group in cfg.cluster.worker_groups}
    return estimate(plan.env, plan.resources, prices, expected)
