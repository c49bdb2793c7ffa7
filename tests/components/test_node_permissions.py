"""Over every environment's plan: each node role grants exactly what the code on its nodes calls.

The calls are read from the code (tests/fakes/aws_call_scan.py): the node agents each role runs,
the Python in the user data of each planned launch template; Session Manager's and the CloudWatch
agent's are their declarations.
"""

from __future__ import annotations

import json

import pytest

from components.contract import HEAD_NODE_TYPE, NODE_TYPE_KEY
from components.ray_cluster.cloudwatch_agent import PERMISSIONS as CLOUDWATCH_AGENT
from components.ray_cluster.permissions import HEAD_AGENTS, SESSION_MANAGER, WORKER_AGENTS
from components.ray_cluster.userdata import HEAD_BOOT_PERMISSIONS, WORKER_BOOT_PERMISSIONS
from stacks.loader import load_environment
from tests.fakes.aws_call_scan import actions, agent_services, agent_source, calls_in, granted, user_data_calls
from tests.fakes.environments import ENVIRONMENTS
from tests.fakes.node_boots import template_script

TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
POLICY = "aws:iam/rolePolicy:RolePolicy"
REGIONS = [(env, region) for env in ENVIRONMENTS for region in load_environment(env).region_names]


def _user_data(plan, region, *, head: bool) -> list[str]:
    scripts = [
        template_script(t)
        for t in plan.of_type(TEMPLATE, region)
        if (t.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY] == HEAD_NODE_TYPE) == head
    ]
    assert scripts
    return scripts


def _policy(plan, region, kind: str) -> dict:
    (policy,) = [p for p in plan.of_type(POLICY, region) if p.name.endswith(f"-{kind}-policy")]
    return json.loads(policy.inputs["policy"])


def _agent_calls(modules) -> set[str]:
    return set().union(*(calls_in(agent_source(m), set(agent_services())) for m in modules))


@pytest.mark.parametrize("env, region", REGIONS)
def test_head_user_data_calls_exactly_what_the_head_boot_declares(plans, env, region):
    (script,) = _user_data(plans(env), region, head=True)
    assert user_data_calls(script) == actions(HEAD_BOOT_PERMISSIONS)


@pytest.mark.parametrize("env, region", REGIONS)
def test_worker_user_data_calls_exactly_what_the_worker_boot_declares(plans, env, region):
    for script in _user_data(plans(env), region, head=False):
        assert user_data_calls(script) == actions(WORKER_BOOT_PERMISSIONS)


@pytest.mark.parametrize("env, region", REGIONS)
def test_head_role_grants_exactly_what_the_heads_code_calls(plans, env, region):
    plan = plans(env)
    (script,) = _user_data(plan, region, head=True)
    called = _agent_calls(HEAD_AGENTS) | user_data_calls(script) | actions(SESSION_MANAGER) | actions(CLOUDWATCH_AGENT)
    assert granted(_policy(plan, region, "head")) == called


@pytest.mark.parametrize("env, region", REGIONS)
def test_worker_role_grants_exactly_what_the_workers_code_calls(plans, env, region):
    plan = plans(env)
    scripts = _user_data(plan, region, head=False)
    called = _agent_calls(WORKER_AGENTS) | set().union(*map(user_data_calls, scripts)) | actions(SESSION_MANAGER)
    called |= actions(CLOUDWATCH_AGENT)
    assert granted(_policy(plan, region, "worker")) == called


def test_a_boot_call_without_a_declaration_is_caught(plans):
    (script,) = _user_data(plans("prod"), "us-east-1", head=False)[:1]
    extra = 'boto3.client("ec2").terminate_instances(InstanceIds=[i])\n'
    with_call = script.replace("\nPY\n", "\n" + extra + "PY\n", 1)
    assert user_data_calls(with_call) - actions(WORKER_BOOT_PERMISSIONS) == {"ec2:TerminateInstances"}
    with_cli = script + "aws ec2 terminate-instances --instance-ids i\n"
    assert user_data_calls(with_cli) - actions(WORKER_BOOT_PERMISSIONS) == {"ec2:TerminateInstances"}


def test_a_boot_declaration_without_a_call_is_caught(plans):
    (script,) = _user_data(plans("prod"), "us-east-1", head=False)[:1]
    declared = actions(WORKER_BOOT_PERMISSIONS) | {"route53:ChangeResourceRecordSets"}
    assert declared - user_data_calls(script) == {"route53:ChangeResourceRecordSets"}
