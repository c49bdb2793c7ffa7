"""Global failover under mocks: health checks per region, failover or latency records, none for one region."""

from __future__ import annotations

import pytest

from components.global_failover import plan as failover_plan
from stacks.plan import run_plan
from tests.fakes.environments import stack_config, write_stack

HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
ALB = "aws:lb/loadBalancer:LoadBalancer"


def _failover(plan, type_token):
    return {r.name.split("-", 1)[1].rsplit("-", 1)[0]: r for r in plan.of_type(type_token) if r.component == "failover"}


def test_prod_checks_each_regions_health_route_through_its_load_balancer_over_https_every_10_seconds(plans):
    plan = plans("prod")
    checks = _failover(plan, HEALTH_CHECK)
    assert sorted(checks) == ["us-east-1", "us-west-2"]
    for region, check in checks.items():
        assert check.region == "global"
        inputs = check.inputs
        assert inputs["fqdn"] == plan.outputs["regions"][region]["loadBalancerDnsName"]
        assert (inputs["type"], inputs["port"], inputs["resourcePath"]) == ("HTTPS", 443, "/-/region-health")
        assert (inputs["requestInterval"], inputs["failureThreshold"]) == (10, 3)
        assert inputs["tags"]["rayfleet:component"] == "failover"
        assert inputs["tags"]["rayfleet:cluster"] == f"rayfleet-prod-{region}"
        assert plan.outputs["regions"][region]["healthCheckId"] == check.id


def test_prod_has_primary_and_secondary_alias_records_with_their_health_checks(plans):
    plan = plans("prod")
    checks = _failover(plan, HEALTH_CHECK)
    records = _failover(plan, RECORD)
    albs = {r.region: r for r in plan.of_type(ALB)}
    zone_id = plan.outputs["failover"]["hostedZoneId"]
    roles = {}
    for region, record in records.items():
        inputs = record.inputs
        assert (inputs["name"], inputs["type"], inputs["zoneId"]) == ("api.example.com", "A", zone_id)
        assert inputs["healthCheckId"] == checks[region].id
        (alias,) = inputs["aliases"]
        assert alias["name"] == plan.outputs["regions"][region]["loadBalancerDnsName"]
        assert alias["zoneId"] == failover_plan_zone(albs[region])
        assert alias["evaluateTargetHealth"] is True
        (policy,) = inputs["failoverRoutingPolicies"]
        roles[region] = policy["type"]
        assert "latencyRoutingPolicies" not in inputs
    assert roles == {"us-east-1": "PRIMARY", "us-west-2": "SECONDARY"}
    assert len({r.inputs["setIdentifier"] for r in records.values()}) == 2


def failover_plan_zone(alb):
    """The canonical hosted zone of a region's ALBs, as the mocks (and AWS) report it."""
    from stacks.mocks import ALB_ZONE_IDS

    return ALB_ZONE_IDS[alb.region]


def test_hosted_zone_is_looked_up_by_name_not_created(plans):
    plan = plans("prod")
    # The only zones rayfleet creates are the clusters' private ones.
    assert all(z.inputs["name"].endswith(".rayfleet.internal") for z in plan.of_type("aws:route53/zone:Zone"))
    assert plan.outputs["failover"]["hostedZoneId"].startswith("Z0")
    assert plan.outputs["failover"]["hostedZone"] == "example.com"


def test_failover_output_names_what_the_drill_needs(plans):
    plan = plans("prod")
    failover = plan.outputs["failover"]
    assert (failover["mode"], failover["domain"], failover["ttlSeconds"]) == ("active-passive", "api.example.com", 60)
    assert [(r["region"], r["role"]) for r in failover["records"]] == [("us-east-1", "PRIMARY"), ("us-west-2", "SECONDARY")]
    for record in failover["records"]:
        region = plan.outputs["regions"][record["region"]]
        assert record["healthCheckId"] == region["healthCheckId"]
        assert record["loadBalancerDnsName"] == region["loadBalancerDnsName"]


def test_active_active_routes_by_latency_with_health_checks(tmp_path):
    config = stack_config("prod")
    config["rayfleet:failover"]["mode"] = "active-active"
    config["rayfleet:regions"].append({"name": "eu-west-1", "cidr": "10.30.0.0/16"})
    plan = run_plan(path=write_stack(tmp_path, config, env="prod"))
    checks = _failover(plan, HEALTH_CHECK)
    records = _failover(plan, RECORD)
    assert sorted(records) == sorted(checks) == ["eu-west-1", "us-east-1", "us-west-2"]
    for region, record in records.items():
        assert record.inputs["latencyRoutingPolicies"] == [{"region": region}]
        assert "failoverRoutingPolicies" not in record.inputs
        assert record.inputs["healthCheckId"] == checks[region].id
        assert record.inputs["aliases"][0]["evaluateTargetHealth"] is True


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_single_region_environment_creates_no_failover_resources(plans, env):
    plan = plans(env)
    assert not [r for r in plan.resources if r.component == "failover"]
    assert not plan.of_type(HEALTH_CHECK)
    # Account-wide resources remain only the cost allocation (budget, tags) and its provider.
    assert not [
        r for r in plan.resources
        if r.region == "global" and r.component != "cost" and r.type != "pulumi:providers:aws"
    ]
    assert "failover" not in plan.outputs
    assert all("healthCheckId" not in region for region in plan.outputs["regions"].values())


def test_route53_resources_use_the_account_wide_provider(plans):
    plan = plans("prod")
    public = [r for r in plan.resources if r.type.startswith("aws:route53/") and r.component in ("failover", "ingress")]
    assert public and {r.region for r in public} == {"global"}
    (provider,) = [p for p in plan.of_type("pulumi:providers:aws") if p.name == "aws-global"]
    assert provider.inputs["region"] == "us-east-1"


def test_outage_timeline_adds_detection_propagation_and_ttl():
    timeline = failover_plan.outage_timeline(60)
    assert timeline.detection_seconds == 30
    assert timeline.route53_switch_seconds == 30 + failover_plan.ROUTE53_PROPAGATION_SECONDS
    assert timeline.worst_case_seconds == timeline.route53_switch_seconds + 60


def test_application_outage_adds_serve_noticing_it_before_route53_checks_fail():
    region, app = failover_plan.outage_timeline(60), failover_plan.app_outage_timeline(60)
    # Serve sees a dead replica at its next check (10 s); the route answers from a status at most 2 s old.
    assert app.serve_detection_seconds == 10 + 2
    assert app.detection_seconds == region.detection_seconds == 30
    assert app.route53_switch_seconds == region.route53_switch_seconds + 12
    assert app.worst_case_seconds == app.route53_switch_seconds + 60


def test_active_passive_refuses_a_third_region():
    with pytest.raises(ValueError, match="exactly two regions"):
        failover_plan.records("active-passive", ["us-east-1", "us-west-2", "eu-west-1"])
