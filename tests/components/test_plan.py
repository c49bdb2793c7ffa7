"""The offline plan: the real program under mocks, captured with types, regions, components and inputs."""

from __future__ import annotations

import json

import pytest

from components.errors import ConfigError
from stacks.plan import run_plan
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack


def test_prod_plans_both_regions_with_at_least_30_resources(plans):
    plan = plans("prod")
    # `global`: account-wide resources (Route 53 health checks and records, the budget and the
    # cost-allocation tags) under the aws-global provider.
    assert plan.regions == ["global", "us-east-1", "us-west-2"]
    assert len(plan.resources) >= 30
    # Both regions are built alike; only the primary replicates its artifacts to the other and holds the
    # environment's dashboard, and us-east-1 holds the alarms on Route 53's health checks of every region.
    def per_region_part(r) -> bool:
        account_wide = r.type == "aws:cloudwatch/dashboard:Dashboard" or r.inputs.get("namespace") == "AWS/Route53"
        return r.component != "replication" and not account_wide

    per_region = {
        region: len([r for r in plan.in_region(region) if per_region_part(r)]) for region in ("us-east-1", "us-west-2")
    }
    assert per_region["us-east-1"] == per_region["us-west-2"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_json_has_the_contract_shape(plans, env):
    data = json.loads(json.dumps(plans(env).to_json()))
    assert set(data) == {"env", "resources", "summary", "outputs"}
    assert data["env"] == env
    for resource in data["resources"]:
        assert set(resource) == {"type", "name", "urn", "region", "component", "inputs"}
        assert resource["urn"].startswith(f"urn:pulumi:{env}::rayfleet::")
        assert resource["urn"].endswith("::" + resource["name"])
    summary = data["summary"]
    assert summary["total"] == len(data["resources"])
    assert sum(summary["byRegion"].values()) == summary["total"]
    assert sum(summary["byComponent"].values()) == summary["total"]


def test_resources_are_attributed_to_their_component_and_region(plans):
    plan = plans("prod")
    vpc = plan.named("network-us-west-2-vpc")
    assert (vpc.component, vpc.component_name, vpc.region) == ("network", "network-us-west-2", "us-west-2")
    provider = plan.named("aws-us-east-1")
    assert (provider.component, provider.region) == ("stack", "us-east-1")


def test_mock_outputs_flow_between_resources(plans):
    plan = plans("prod")
    vpc = plan.named("network-us-east-1-vpc")
    assert vpc.id.startswith("vpc-")
    subnets = plan.of_type("aws:ec2/subnet:Subnet", "us-east-1")
    assert {s.inputs["vpcId"] for s in subnets} == {vpc.id}


def test_stack_outputs_are_resolved(plans):
    outputs = plans("prod").outputs
    assert outputs["env"] == "prod" and outputs["primaryRegion"] == "us-east-1"
    assert outputs["regions"]["us-west-2"]["vpcId"].startswith("vpc-")
    assert outputs["regions"]["us-east-1"]["cluster"] == "rayfleet-prod-us-east-1"


def test_repeated_runs_capture_the_same_resources(plans):
    first = plans("dev")
    again = run_plan("dev")
    assert [(r.urn, r.id) for r in again.resources] == [(r.urn, r.id) for r in first.resources]


def test_invalid_environment_is_rejected_before_the_program_runs(tmp_path):
    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["maxWorkers"] = -1
    with pytest.raises(ConfigError, match=r"maxWorkers = -1: must be at least 0"):
        run_plan(path=write_stack(tmp_path, config))
