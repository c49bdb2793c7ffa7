"""What `rayfleet ssh|exec|dashboard|logs` rely on, in every environment's plan: SSM can reach every node, and
the stack outputs name the log group the nodes write to."""

from __future__ import annotations

import json

import pytest

from stacks.outputs_model import StackOutputs
from tests.fakes.environments import ENVIRONMENTS

#: What the SSM agent calls to take Session Manager sessions *and* Run Command documents: with the
#: ssmmessages channels allowed, the agent receives Command documents through them (AWS Systems Manager
#: User Guide, "Reference: ec2messages, ssmmessages, and other API operations"); ec2messages is its fallback.
AGENT_ACTIONS = {
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
}


def _cluster_log_groups(plan):
    """The log group of each region's cluster (the one the cluster component creates)."""
    return [g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup") if g.component == "cluster"]


def _node_policies(plan):
    roles = {p.inputs["role"] for p in plan.of_type("aws:iam/instanceProfile:InstanceProfile")}
    return [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] in roles]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_node_role_lets_the_ssm_agent_take_sessions_and_commands(plans, env):
    plan = plans(env)
    policies = _node_policies(plan)
    assert len(policies) == 2 * len(_cluster_log_groups(plan))  # a head role and a worker role per cluster
    for policy in policies:
        granted = {a for s in json.loads(policy.inputs["policy"])["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
        assert AGENT_ACTIONS <= granted, policy.name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_cluster_reaches_systems_manager_over_https(plans, env):
    """No interface endpoints: the agent reaches ssm/ssmmessages through the NAT (test_network checks the routes)."""
    plan = plans(env)
    for log_group in _cluster_log_groups(plan):
        rules = [r for r in plan.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", log_group.region)
                 if r.component_name == log_group.component_name]
        assert any(r.inputs.get("cidrIpv4") == "0.0.0.0/0" and r.inputs.get("fromPort") == 443 for r in rules), log_group.region


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_region_exports_the_log_group_its_nodes_write_to(plans, env):
    plan = plans(env)
    outputs = StackOutputs.model_validate(plan.outputs)
    created = {g.region: g.inputs["name"] for g in _cluster_log_groups(plan)}
    assert created
    assert {region: outputs.regions[region].log_group_name for region in created} == created
