"""Estimate arithmetic on hand-built planned resources, checked against hand-computed Decimals.

Shipped prices used below (cost/data/prices.json, us-east-1): m6i.2xlarge 0.384, m6a.2xlarge 0.3456,
m5.2xlarge 0.384, m6i.xlarge 0.192, g5.xlarge 1.006, g6.xlarge 0.8048, g4dn.xlarge 0.526; spot factors
m6i/m6a/m5 0.35, g5 0.40; gp3 0.08/GB-month; NAT 0.045/h; ALB 0.0225/h + 0.008/LCU-h;
cache.t4g.medium 0.065/h; public IPv4 0.005/h; secret 0.40/month; hosted zone 0.50/month; health check 0.50 (AWS) / 0.75 (other) + 1.00 / 2.00 per option.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from cost.estimate import Range, estimate, health_check_options, split_market
from cost.prices import PriceCatalog, PriceNotFound, RegionCache
from stacks.plan import PlannedResource

REGION = "us-east-1"


@pytest.fixture
def prices(tmp_path):
    return PriceCatalog.load(tmp_path)  # an empty cache: shipped prices only


def res(type_, name, inputs, *, id_=None, region=REGION, component="cluster"):
    return PlannedResource(type_, name, f"urn:{name}", id_ or name, region, component, f"{component}-x", inputs, None)


def tags(node_type, market):
    return [
        {"key": "rayfleet:node-type", "value": node_type, "propagateAtLaunch": True},
        {"key": "rayfleet:market", "value": market, "propagateAtLaunch": True},
    ]


def template(id_, instance_type, size=100, volume_type="gp3"):
    return res(
        "aws:ec2/launchTemplate:LaunchTemplate",
        f"{id_}-name",
        {
            "instanceType": instance_type,
            "blockDeviceMappings": [{"deviceName": "/dev/sda1", "ebs": {"volumeSize": size, "volumeType": volume_type}}],
        },
        id_=id_,
    )


def mixed_asg(name, lt_id, overrides, *, lo, hi, base, pct, strategy, node_type):
    return res(
        "aws:autoscaling/group:Group",
        name,
        {
            "minSize": lo,
            "maxSize": hi,
            "mixedInstancesPolicy": {
                "instancesDistribution": {
                    "onDemandBaseCapacity": base,
                    "onDemandPercentageAboveBaseCapacity": pct,
                    "spotAllocationStrategy": strategy,
                },
                "launchTemplate": {
                    "launchTemplateSpecification": {"launchTemplateId": lt_id, "version": "$Latest"},
                    "overrides": [{"instanceType": t} for t in overrides],
                },
            },
            "tags": tags(node_type, "spot"),
        },
    )


def plain_asg(name, lt_id, *, lo, hi, node_type, market="on-demand"):
    return res(
        "aws:autoscaling/group:Group",
        name,
        {"minSize": lo, "maxSize": hi, "launchTemplate": {"id": lt_id, "version": "$Latest"}, "tags": tags(node_type, market)},
    )


def line(est, name, market):
    matches = [l for l in est.lines if l.name == name and l.market == market]
    assert len(matches) == 1, [(l.name, l.market) for l in est.lines]
    return matches[0]


@pytest.mark.parametrize(
    ("count", "base", "pct", "expected"),
    [
        (10, 2, 25, (4, 6)),  # 2 base + ceil(25 % of 8 = 2)
        (3, 0, 50, (2, 1)),  # 1.5 on-demand rounds up
        (4, 0, 25, (1, 3)),
        (1, 0, 25, (1, 0)),  # 0.25 rounds up to one on-demand
        (5, 1, 0, (1, 4)),
        (2, 5, 0, (2, 0)),  # fewer instances than the base: all on-demand
        (0, 1, 0, (0, 0)),
        (7, 2, 100, (7, 0)),
        (9, 0, 0, (0, 9)),
    ],
)
def test_mixed_instances_split_puts_base_first_then_rounds_on_demand_up(count, base, pct, expected):
    assert split_market(count, base, pct) == expected


def test_spot_group_splits_counts_and_prices_spot_at_the_cheapest_override(prices):
    est = estimate(
        "t",
        [
            template("lt-cpu", "m6i.2xlarge"),
            mixed_asg("cpu-spot", "lt-cpu", ["m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge"], lo=2, hi=20, base=1, pct=0,
                      strategy="price-capacity-optimized", node_type="cpu"),
        ],
        prices,
        {"cpu": 4},
    )
    spot = line(est, "cpu-spot", "spot")
    assert spot.instance_type == "m6a.2xlarge"  # 0.3456 × 0.35 = 0.12096 beats m6i/m5 at 0.1344
    assert spot.hourly_price == D("0.12096")
    assert spot.count == Range(1, 3, 19)
    assert spot.monthly == Range(D("88.3008"), D("264.9024"), D("1677.7152"))
    on_demand = line(est, "cpu-spot", "on-demand")
    assert on_demand.instance_type == "m6i.2xlarge"  # the first override: AWS's prioritized on-demand strategy
    assert on_demand.count == Range(1, 1, 1)
    assert on_demand.monthly == Range(D("280.32"), D("280.32"), D("280.32"))
    volumes = line(est, "cpu-spot /dev/sda1", None)
    assert volumes.count == Range(2, 4, 20)
    assert volumes.monthly == Range(D("16.00"), D("32.00"), D("160.00"))


def test_capacity_strategy_prices_spot_at_the_first_override_and_percentage_above_base(prices):
    est = estimate(
        "t",
        [
            template("lt-gpu", "g5.xlarge", size=200),
            mixed_asg("gpu-spot", "lt-gpu", ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"], lo=0, hi=4, base=0, pct=25,
                      strategy="capacity-optimized", node_type="gpu"),
        ],
        prices,
        {"gpu": 1},
    )
    spot = line(est, "gpu-spot", "spot")
    assert spot.instance_type == "g5.xlarge"
    assert spot.hourly_price == D("0.40240")
    assert spot.count == Range(0, 0, 3)
    on_demand = line(est, "gpu-spot", "on-demand")
    assert on_demand.count == Range(0, 1, 1)
    assert on_demand.monthly.expected == D("734.38")  # 1.006 × 730
    assert line(est, "gpu-spot /dev/sda1", None).monthly == Range(D(0), D("16.00"), D("64.00"))


def test_on_demand_twin_counts_zero_and_head_counts_one(prices):
    est = estimate(
        "t",
        [
            template("lt-cpu", "m6i.2xlarge"),
            template("lt-head", "m6i.xlarge", size=60),
            mixed_asg("cpu-spot", "lt-cpu", ["m6i.2xlarge"], lo=0, hi=4, base=0, pct=0, strategy="lowest-price",
                      node_type="cpu"),
            plain_asg("cpu-od", "lt-cpu", lo=0, hi=4, node_type="cpu"),
            plain_asg("head", "lt-head", lo=1, hi=1, node_type="head"),
        ],
        prices,
        {},
    )
    twin = line(est, "cpu-od", "on-demand")
    assert twin.count == Range(0, 0, 0) and twin.monthly == Range(D(0), D(0), D(0))
    assert line(est, "cpu-spot", "spot").count == Range(0, 0, 4)  # expected defaults to min
    head = line(est, "head", "on-demand")
    assert head.count == Range(1, 1, 1)
    assert head.monthly.expected == D("140.16")
    assert line(est, "head /dev/sda1", None).monthly.expected == D("4.80")  # 60 GB × 0.08
    assert not [l for l in est.lines if l.name == "cpu-spot" and l.market == "on-demand"]  # all-spot group


def test_group_without_spot_is_priced_on_demand_at_its_counts(prices):
    est = estimate(
        "t",
        [template("lt-cpu", "m6i.2xlarge"), plain_asg("cpu-od", "lt-cpu", lo=1, hi=3, node_type="cpu")],
        prices,
        {"cpu": 2},
    )
    assert line(est, "cpu-od", "on-demand").monthly == Range(D("280.32"), D("560.64"), D("840.96"))


def test_network_balancer_cache_and_dns_lines(prices):
    est = estimate(
        "t",
        [
            res("aws:ec2/natGateway:NatGateway", "nat-0", {"connectivityType": "public"}, component="network"),
            res("aws:ec2/eip:Eip", "nat-eip-0", {"domain": "vpc"}, component="network"),
            res("aws:secretsmanager/secret:Secret", "token", {}),
            res("aws:lb/loadBalancer:LoadBalancer", "alb", {"loadBalancerType": "application"}, component="ingress"),
            res("aws:elasticache/replicationGroup:ReplicationGroup", "redis",
                {"nodeType": "cache.t4g.medium", "numCacheClusters": 2}),
            res("aws:route53/zone:Zone", "zone", {"name": "example.com"}, region="global", component="failover"),
            res("aws:route53/healthCheck:HealthCheck", "hc-other",
                {"type": "HTTPS", "fqdn": "api.example.com", "requestInterval": 10}, region="global", component="failover"),
            res("aws:route53/healthCheck:HealthCheck", "hc-alb",
                {"type": "HTTPS", "fqdn": "x.us-east-1.elb.amazonaws.com", "requestInterval": 30},
                region="global", component="failover"),
        ],
        prices,
    )
    monthly = {l.name: l.monthly.expected for l in est.lines}
    assert monthly == {
        "nat-0": D("32.850"),
        "nat-eip-0": D("3.650"),  # 0.005 × 730
        "token": D("0.40"),
        "alb": D("22.2650"),
        "redis": D("94.900"),
        "zone": D("0.50"),
        "hc-other": D("4.75"),  # 0.75 + HTTPS 2.00 + fast interval 2.00
        "hc-alb": D("1.50"),  # 0.50 + HTTPS 1.00
    }
    assert line(est, "redis", "on-demand").count == Range(2, 2, 2)


def test_replication_group_counts_replicas_per_node_group(prices):
    est = estimate(
        "t",
        [res("aws:elasticache/replicationGroup:ReplicationGroup", "redis",
             {"nodeType": "cache.t4g.small", "numNodeGroups": 2, "replicasPerNodeGroup": 1})],
        prices,
    )
    assert est.lines[0].count == Range(4, 4, 4)
    assert est.lines[0].monthly.max == D("93.440")  # 4 × 0.032 × 730


def test_health_check_options_are_recognised():
    assert health_check_options({"type": "HTTPS_STR_MATCH", "fqdn": "a.b.com", "measureLatency": True}) == (
        False,
        ["HTTPS", "string matching", "latency measurement"],
    )
    assert health_check_options({"type": "CALCULATED"}) == (True, [])


def test_totals_are_the_sum_of_lines_and_savings_compare_spot_with_on_demand(prices):
    est = estimate(
        "t",
        [
            template("lt-cpu", "m6i.2xlarge", size=0),
            mixed_asg("cpu-spot", "lt-cpu", ["m6i.2xlarge"], lo=1, hi=2, base=0, pct=0, strategy="lowest-price",
                      node_type="cpu"),
            res("aws:ec2/natGateway:NatGateway", "nat-0", {}, component="network"),
        ],
        prices,
    )
    # spot 0.384 × 0.35 = 0.1344 / h: 98.112 a month per instance, plus the NAT gateway's 32.85
    assert est.monthly == Range(D("98.112") + D("32.85"), D("98.112") + D("32.85"), D("196.224") + D("32.85"))
    # 0.384 - 0.1344 = 0.2496 / h saved per spot instance
    assert est.spot_savings == Range(D("182.208"), D("182.208"), D("364.416"))
    assert est.all_on_demand.max == D("560.64") + D("32.850")
    data = est.to_json()
    assert sum(D(l["monthly"]["max"]) for l in data["lines"]) == D(data["monthly"]["max"])
    assert data["priceSource"] == {"kind": "shipped", "asOf": "2025-01-15"}


def test_refreshed_cache_prices_spot_at_the_mean_over_zones(tmp_path):
    cache = RegionCache(
        REGION,
        "2026-11-20",
        on_demand={"m6i.2xlarge": D("0.400")},
        spot={"m6i.2xlarge": {"us-east-1a": D("0.10"), "us-east-1b": D("0.14")}},
    )
    (tmp_path / f"{REGION}.json").write_text(__import__("json").dumps(cache.to_json()))
    prices = PriceCatalog.load(tmp_path)
    assert prices.on_demand("m6i.2xlarge", REGION) == D("0.400")
    assert prices.spot("m6i.2xlarge", REGION) == D("0.12")
    assert prices.on_demand("m6a.2xlarge", REGION) == D("0.3456")  # not in the cache: shipped
    assert prices.source([REGION]).to_json() == {"kind": "aws-pricing-api", "asOf": "2026-11-20"}
    assert prices.source([REGION, "us-west-2"]).to_json() == {"kind": "aws-pricing-api+shipped", "asOf": "2025-01-15"}


def test_unpriced_region_names_the_type_region_and_fix(prices):
    with pytest.raises(PriceNotFound) as err:
        prices.on_demand("m6i.2xlarge", "ap-south-1")
    assert str(err.value) == (
        "no on-demand price for m6i.2xlarge in ap-south-1: the shipped catalog (cost/data/prices.json, as of "
        "2025-01-15) covers eu-central-1, eu-west-1, us-east-1, us-east-2, us-west-1, us-west-2. "
        "Fix: run 'rayfleet cost catalog refresh --regions ap-south-1'"
    )
