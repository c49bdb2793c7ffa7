"""Estimate arithmetic on hand-built node groups and planned resources, checked against hand-computed Decimals.

Shipped prices used below (cost/data/prices.json, us-east-1): m6i.2xlarge 0.384, m6a.2xlarge 0.3456,
m5.2xlarge 0.384, m6i.xlarge 0.192, g5.xlarge 1.006, g6.xlarge 0.8048, g4dn.xlarge 0.526; spot factors
m6i/m6a/m5 0.35, g5 0.40; gp3 0.08/GB-month; NAT 0.045/h; ALB 0.0225/h + 0.008/LCU-h;
cache.t4g.medium 0.065/h; public IPv4 0.005/h; secret 0.40/month; hosted zone 0.50/month; health check 0.50 (AWS) / 0.75 (other) + 1.00 / 2.00 per option.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.contract import HEAD_NODE_TYPE, Market
from components.node_groups import ROOT_DEVICE, Distribution, SpotPolicy
from cost.estimate import ASG, Range, estimate, estimate_plan, health_check_options
from cost.prices import PriceCatalog, PriceNotFound, RegionCache
from stacks.loader import load_environment, parse_environment
from stacks.node_groups import cluster_nodes
from stacks.plan import Plan
from tests.fakes.environments import ENVIRONMENTS, stack_config
from tests.fakes.cost import REGION, asg_resource_name, cluster, planned, planned_asgs, shipped_prices, worker

CPU_TYPES = ("m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge")
TWIN_DETAIL = "on-demand fallback twin: counted 0, the spot group's counts include its instances"


@pytest.fixture
def prices():
    return shipped_prices()


def priced(nodes, prices, *others):
    return estimate("t", [*planned_asgs(nodes), *others], prices, {REGION: nodes})


def line(est, name, market):
    matches = [l for l in est.lines if l.name == name and l.market == market]
    assert len(matches) == 1, [(l.name, l.market) for l in est.lines]
    return matches[0]


def instances(est, name, market) -> Range:
    """The count of one ASG's instances of one market: zero when the estimate has no such line."""
    matches = [l for l in est.lines if l.name == name and l.kind == "instances" and l.market == market]
    assert len(matches) <= 1
    return matches[0].count if matches else Range(0, 0, 0)


@pytest.mark.parametrize(
    ("workers", "base", "pct", "expected"),
    [
        (10, 2, 25, (4, 6)),  # 2 base + ceil(25 % of 8 = 2)
        (3, 0, 50, (2, 1)),  # 1.5 on-demand rounds up
        (4, 0, 25, (1, 3)),
        (1, 0, 25, (1, 0)),  # 0.25 rounds up to one on-demand
        (5, 1, 0, (1, 4)),
        (2, 5, 0, (2, 0)),  # fewer workers than the base: all on-demand
        (0, 1, 0, (0, 0)),
        (7, 2, 100, (7, 0)),
        (9, 0, 0, (0, 9)),
    ],
)
def test_spot_asg_buys_the_base_first_then_rounds_on_demand_up(prices, workers, base, pct, expected):
    nodes = cluster(worker(lo=workers, hi=workers, expected=workers, spot=SpotPolicy(Distribution(base, pct))))
    est = priced(nodes, prices)
    on_demand, spot = instances(est, "cluster-us-east-1-cpu-spot", Market.ON_DEMAND), instances(
        est, "cluster-us-east-1-cpu-spot", Market.SPOT
    )
    assert (on_demand.expected, spot.expected) == expected


def test_spot_group_splits_counts_and_prices_spot_at_the_cheapest_type(prices):
    spot_policy = SpotPolicy(Distribution(1, 0, "price-capacity-optimized"))
    est = priced(cluster(worker(types=CPU_TYPES, lo=2, hi=20, expected=4, spot=spot_policy)), prices)
    spot = line(est, "cluster-us-east-1-cpu-spot", Market.SPOT)
    assert spot.instance_type == "m6a.2xlarge"  # 0.3456 × 0.35 = 0.12096 beats m6i/m5 at 0.1344
    assert spot.hourly_price == D("0.12096")
    assert spot.count == Range(1, 3, 19)
    assert spot.monthly == Range(D("88.3008"), D("264.9024"), D("1677.7152"))
    assert spot.detail == "price-capacity-optimized"
    on_demand = line(est, "cluster-us-east-1-cpu-spot", Market.ON_DEMAND)
    assert on_demand.instance_type == "m6i.2xlarge"  # the first type: AWS's prioritized on-demand strategy
    assert on_demand.count == Range(1, 1, 1)
    assert on_demand.monthly == Range(D("280.32"), D("280.32"), D("280.32"))
    volumes = line(est, f"cluster-us-east-1-cpu-spot {ROOT_DEVICE}", None)
    assert volumes.count == Range(2, 4, 20)
    assert volumes.monthly == Range(D("16.00"), D("32.00"), D("160.00"))
    assert volumes.detail == "gp3 100 GB per instance"


def test_capacity_strategy_prices_spot_at_the_first_type_and_percentage_above_base(prices):
    gpu = worker("gpu", ("g5.xlarge", "g6.xlarge", "g4dn.xlarge"), lo=0, hi=4, expected=1, root_volume_gb=200,
                 spot=SpotPolicy(Distribution(0, 25, "capacity-optimized")))
    est = priced(cluster(gpu), prices)
    spot = line(est, "cluster-us-east-1-gpu-spot", Market.SPOT)
    assert spot.instance_type == "g5.xlarge"
    assert spot.hourly_price == D("0.40240")
    assert spot.count == Range(0, 0, 3)
    on_demand = line(est, "cluster-us-east-1-gpu-spot", Market.ON_DEMAND)
    assert on_demand.count == Range(0, 1, 1)
    assert on_demand.monthly.expected == D("734.38")  # 1.006 × 730
    assert line(est, f"cluster-us-east-1-gpu-spot {ROOT_DEVICE}", None).monthly == Range(D(0), D("16.00"), D("64.00"))


def test_on_demand_twin_counts_zero_and_head_counts_one(prices):
    nodes = cluster(worker(lo=0, hi=4, expected=0, spot=SpotPolicy(Distribution(0, 0, "lowest-price"))))
    est = priced(nodes, prices)
    twin = line(est, "cluster-us-east-1-cpu-on-demand", Market.ON_DEMAND)
    assert twin.count == Range(0, 0, 0) and twin.monthly == Range(D(0), D(0), D(0))
    assert twin.detail == TWIN_DETAIL
    assert line(est, "cluster-us-east-1-cpu-spot", Market.SPOT).count == Range(0, 0, 4)
    head = line(est, f"cluster-us-east-1-{HEAD_NODE_TYPE}", Market.ON_DEMAND)
    assert head.instance_type == "m6i.xlarge"
    assert head.count == Range(1, 1, 1)
    assert head.monthly.expected == D("140.16")
    assert line(est, f"cluster-us-east-1-{HEAD_NODE_TYPE} {ROOT_DEVICE}", None).monthly.expected == D("4.80")  # 60 GB × 0.08
    assert not [l for l in est.lines if l.name == "cluster-us-east-1-cpu-spot" and l.market == Market.ON_DEMAND]


def test_with_the_whole_percentage_on_demand_the_twin_counts_zero_and_the_group_costs_its_workers_once(prices):
    nodes = cluster(worker(lo=2, hi=20, expected=4, spot=SpotPolicy(Distribution(0, 100, "price-capacity-optimized"))))
    est = priced(nodes, prices)
    twin = line(est, "cluster-us-east-1-cpu-on-demand", Market.ON_DEMAND)
    assert twin.count == Range(0, 0, 0) and twin.monthly == Range(D(0), D(0), D(0))
    assert line(est, f"cluster-us-east-1-cpu-on-demand {ROOT_DEVICE}", None).count == Range(0, 0, 0)
    spot_asg = line(est, "cluster-us-east-1-cpu-spot", Market.ON_DEMAND)
    assert spot_asg.count == Range(2, 4, 20)
    assert not [l for l in est.lines if l.market == Market.SPOT]
    cpu = [l for l in est.lines if l.kind == "instances" and "-cpu-" in l.name]
    # m6i.2xlarge on-demand 0.384 × 730 = 280.32 a month per worker, 4 expected and 20 at most: counted once
    assert sum(l.monthly.expected for l in cpu) == D("280.32") * 4
    assert sum(l.monthly.max for l in cpu) == D("280.32") * 20


def test_group_without_spot_is_priced_on_demand_at_its_counts(prices):
    est = priced(cluster(worker(lo=1, hi=3, expected=2, spot=None)), prices)
    assert line(est, "cluster-us-east-1-cpu-on-demand", Market.ON_DEMAND).monthly == Range(
        D("280.32"), D("560.64"), D("840.96")
    )
    assert line(est, "cluster-us-east-1-cpu-on-demand", Market.ON_DEMAND).detail == ""


def test_a_plan_missing_an_asg_of_the_model_is_refused(prices):
    nodes = cluster(worker(lo=0, hi=2, expected=0, spot=None))
    with pytest.raises(ValueError) as err:
        estimate("t", planned_asgs(nodes)[:1], prices, {REGION: nodes})
    assert str(err.value) == (
        "the plan has no auto scaling group rf-test-cpu-on-demand in us-east-1, which node group cpu of "
        "cluster rf-test has"
    )


def test_an_asg_outside_the_model_is_refused(prices):
    nodes = cluster()
    stray = planned(ASG, "cluster-us-east-1-extra", {"name": "rf-test-extra"})
    with pytest.raises(ValueError) as err:
        priced(nodes, prices, stray)
    assert str(err.value) == "auto scaling groups outside the node-group model: cluster-us-east-1-extra (us-east-1)"


# Valid spot mixes of one worker group: spot on or off, base 0..max, percentage above base 0..100.
@st.composite
def spot_mixes(draw):
    hi = draw(st.integers(1, 40))
    lo = draw(st.integers(0, hi))
    return {
        "name": "cpu",
        "instanceTypes": list(CPU_TYPES),
        "minWorkers": lo,
        "maxWorkers": hi,
        "expectedWorkers": draw(st.integers(lo, hi)),
        "spot": {
            "enabled": draw(st.booleans()),
            "onDemandBase": draw(st.integers(0, hi)),
            "onDemandPercentAboveBase": draw(st.integers(0, 100)),
            "allocationStrategy": draw(st.sampled_from(["price-capacity-optimized", "lowest-price", "capacity-optimized"])),
        },
    }


DEV = {key.removeprefix("rayfleet:"): value for key, value in stack_config("dev").items() if key.startswith("rayfleet:")}
SHIPPED = shipped_prices()


@settings(max_examples=300, deadline=None)
@given(group=spot_mixes())
def test_the_estimate_counts_each_group_as_the_node_group_model_buys_it(group):
    cfg = parse_environment("dev", {**DEV, "cluster": {**DEV["cluster"], "workerGroups": [group]}})
    region = cfg.region_names[0]
    nodes = cluster_nodes(cfg, region)
    est = estimate_plan(Plan("dev", "test", planned_asgs(nodes, region)), cfg, SHIPPED)
    for node_group in nodes.groups:
        workers = Range(node_group.min_workers, node_group.expected_workers, node_group.max_workers)
        counted = Range(0, 0, 0)
        for asg in node_group.asgs:
            resource = asg_resource_name(asg, region)
            bought = workers.map(lambda n, market=asg.market: node_group.purchases(n)[market])
            on_demand, spot = instances(est, resource, Market.ON_DEMAND), instances(est, resource, Market.SPOT)
            assert on_demand == bought.map(lambda p: p.on_demand)
            assert spot == bought.map(lambda p: p.spot)
            assert line(est, f"{resource} {ROOT_DEVICE}", None).count == bought.map(lambda p: p.total)
            counted = counted + on_demand + spot
        assert counted == workers  # every worker is bought once, whichever ASG holds it


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_priced_root_volumes_and_on_demand_types_are_those_the_program_plans(plans, env):
    plan = plans(env)
    est = estimate_plan(plan, load_environment(env), shipped_prices())
    templates = {r.id: r.inputs for r in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for asg in plan.of_type(ASG):
        mixed = asg.inputs.get("mixedInstancesPolicy")
        template = templates[
            mixed["launchTemplate"]["launchTemplateSpecification"]["launchTemplateId"] if mixed
            else asg.inputs["launchTemplate"]["id"]
        ]
        (mapping,) = template["blockDeviceMappings"]
        volume = line(est, f"{asg.name} {mapping['deviceName']}", None)
        ebs = mapping["ebs"]
        assert volume.detail == f"{ebs['volumeType']} {int(ebs['volumeSize'])} GB per instance"
        on_demand = [l for l in est.lines if l.name == asg.name and l.market == Market.ON_DEMAND]
        assert all(l.instance_type == template["instanceType"] for l in on_demand)


def test_network_balancer_cache_and_dns_lines(prices):
    est = estimate(
        "t",
        [
            planned("aws:ec2/natGateway:NatGateway", "nat-0", {"connectivityType": "public"}, component="network"),
            planned("aws:ec2/eip:Eip", "nat-eip-0", {"domain": "vpc"}, component="network"),
            planned("aws:secretsmanager/secret:Secret", "token", {}),
            planned("aws:lb/loadBalancer:LoadBalancer", "alb", {"loadBalancerType": "application"}, component="ingress"),
            planned("aws:elasticache/replicationGroup:ReplicationGroup", "redis",
                    {"nodeType": "cache.t4g.medium", "numCacheClusters": 2}),
            planned("aws:route53/zone:Zone", "zone", {"name": "example.com"}, region="global", component="failover"),
            planned("aws:route53/healthCheck:HealthCheck", "hc-other",
                    {"type": "HTTPS", "fqdn": "api.example.com", "requestInterval": 10}, region="global",
                    component="failover"),
            planned("aws:route53/healthCheck:HealthCheck", "hc-alb",
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
    assert line(est, "redis", Market.ON_DEMAND).count == Range(2, 2, 2)


def test_replication_group_counts_replicas_per_node_group(prices):
    est = estimate(
        "t",
        [planned("aws:elasticache/replicationGroup:ReplicationGroup", "redis",
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
    nodes = cluster(worker(lo=1, hi=2, expected=1, spot=SpotPolicy(Distribution(0, 0, "lowest-price"))),
                    head_type="m6i.xlarge", head_volume_gb=60)
    est = priced(nodes, prices, planned("aws:ec2/natGateway:NatGateway", "nat-0", {}, component="network"))
    # spot 0.384 × 0.35 = 0.1344 / h: 98.112 a month per worker, plus 8.00 for its 100 GB root volume;
    # the head 140.16 + 4.80 for its 60 GB volume; the NAT gateway 32.85
    fixed = D("140.16") + D("4.80") + D("32.85")
    assert est.monthly == Range(fixed + D("106.112"), fixed + D("106.112"), fixed + D("212.224"))
    # 0.384 - 0.1344 = 0.2496 / h saved per spot instance
    assert est.spot_savings == Range(D("182.208"), D("182.208"), D("364.416"))
    assert est.all_on_demand.max == fixed + D("560.64") + D("16.00")
    data = est.to_json()
    assert sum(D(l["monthly"]["max"]) for l in data["lines"]) == D(data["monthly"]["max"])
    assert {l["market"] for l in data["lines"]} == {Market.SPOT.value, Market.ON_DEMAND.value, None}
    assert data["priceSource"] == {"kind": "shipped", "asOf": "2025-01-15"}


def test_refreshed_cache_prices_spot_at_the_mean_over_zones(tmp_path):
    cache = RegionCache(
        REGION,
        "2026-11-20",
        on_demand={"m6i.2xlarge": D("0.400")},
        spot={"m6i.2xlarge": {"us-east-1a": D("0.10"), "us-east-1b": D("0.14")}},
    )
    (tmp_path / f"{REGION}.json").write_text(json.dumps(cache.to_json()))
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
