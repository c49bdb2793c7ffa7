"""The program under mocks, for every environment: each region's network is complete and tagged."""

from __future__ import annotations

import ipaddress

import pytest

from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


def _regions(env):
    return [(env, r.name) for r in load_environment(env).regions]


REGIONS = [pair for env in ENVIRONMENTS for pair in _regions(env)]


@pytest.mark.parametrize("env, region", REGIONS)
def test_each_region_has_one_vpc_with_its_cidr(plans, env, region):
    cfg = load_environment(env)
    vpcs = plans(env).of_type(VPC, region)
    assert len(vpcs) == 1
    assert vpcs[0].inputs["cidrBlock"] == str(cfg.region(region).cidr)
    assert vpcs[0].inputs["enableDnsHostnames"] is True


@pytest.mark.parametrize("env, region", REGIONS)
def test_subnets_span_distinct_azs_inside_the_vpc(plans, env, region):
    cfg = load_environment(env)
    vpc = cfg.region(region).cidr
    subnets = plans(env).of_type(SUBNET, region)
    assert len(subnets) == 2 * cfg.network.az_count
    for tier in ("private", "public"):
        tiered = [s for s in subnets if s.inputs["tags"]["rayfleet:tier"] == tier]
        assert len({s.inputs["availabilityZone"] for s in tiered}) == cfg.network.az_count
        assert all(s.inputs["availabilityZone"].startswith(region) for s in tiered)
    assert all(ipaddress.IPv4Network(s.inputs["cidrBlock"]).subnet_of(vpc) for s in subnets)
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)


@pytest.mark.parametrize("env, region", REGIONS)
def test_subnets_sit_in_availability_zones_never_in_an_opted_in_local_zone(plans, env, region):
    # The mocks answer like an account opted in to a Local Zone, which AWS lists first.
    zones = {s.inputs["availabilityZone"] for s in plans(env).of_type(SUBNET, region)}
    assert zones == {f"{region}{letter}" for letter in "abcd"[: load_environment(env).network.az_count]}


@pytest.mark.parametrize("env, region", REGIONS)
def test_nat_gateways_follow_the_configured_mode(plans, env, region):
    cfg = load_environment(env)
    expected = cfg.network.az_count if cfg.network.nat_gateways == "one-per-az" else 1
    plan = plans(env)
    nats = plan.of_type(NAT, region)
    assert len(nats) == expected
    public_ids = {plan.outputs["regions"][region]["publicSubnetIds"][i] for i in range(cfg.network.az_count)}
    assert {n.inputs["subnetId"] for n in nats} <= public_ids


def test_dev_shares_one_nat_and_prod_has_one_per_az(plans):
    assert len(plans("dev").of_type(NAT)) == 1
    assert len(plans("prod").of_type(NAT, "us-east-1")) == 2


@pytest.mark.parametrize("env, region", REGIONS)
def test_private_subnets_route_through_nat_and_public_through_the_internet_gateway(plans, env, region):
    plan = plans(env)
    azs = load_environment(env).network.az_count
    tables = {t.id: t for t in plan.of_type(ROUTE_TABLE, region)}
    nat_ids = {n.id for n in plan.of_type(NAT, region)}
    (igw,) = plan.of_type("aws:ec2/internetGateway:InternetGateway", region)
    subnet_tier = {s.id: s.inputs["tags"]["rayfleet:tier"] for s in plan.of_type(SUBNET, region)}
    associations = plan.of_type(ASSOCIATION, region)
    assert len(associations) == 2 * azs
    used_nats = set()
    for association in associations:
        route = tables[association.inputs["routeTableId"]].inputs["routes"][0]
        assert route["cidrBlock"] == "0.0.0.0/0"
        if subnet_tier[association.inputs["subnetId"]] == "public":
            assert route["gatewayId"] == igw.id
        else:
            assert route["natGatewayId"] in nat_ids
            used_nats.add(route["natGatewayId"])
    assert used_nats == nat_ids


@pytest.mark.parametrize("env, region", REGIONS)
def test_s3_gateway_endpoint_serves_every_route_table(plans, env, region):
    plan = plans(env)
    endpoints = plan.of_type(ENDPOINT, region)
    assert len(endpoints) == 1
    endpoint = endpoints[0].inputs
    assert endpoint["serviceName"] == f"com.amazonaws.{region}.s3"
    assert endpoint["vpcEndpointType"] == "Gateway"
    assert len(endpoint["routeTableIds"]) == len(plan.of_type(ROUTE_TABLE, region))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_resources_carry_rayfleet_and_cost_tags(plans, env):
    cfg = load_environment(env)
    for resource in plans(env).resources:
        if resource.component != "network" or "tags" not in resource.inputs:
            continue
        tags = resource.inputs["tags"]
        assert tags["rayfleet:env"] == env
        assert tags["rayfleet:cluster"] == cfg.cluster_id(resource.region)
        assert tags["rayfleet:component"] == "network"
        for key, value in cfg.cost.tags.items():
            assert tags[key] == value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_explicit_provider_per_region(plans, env):
    cfg = load_environment(env)
    providers = plans(env).of_type("pulumi:providers:aws")
    assert sorted(p.inputs["region"] for p in providers if p.name.startswith("aws-") and p.region != "global") == sorted(
        cfg.region_names
    )
