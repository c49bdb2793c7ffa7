"""Each node agent declares exactly the AWS calls it makes, found by reading its code (AST + botocore)."""

from __future__ import annotations

import importlib

import pytest

from components.ray_cluster.permissions import HEAD_AGENTS, WORKER_AGENTS, declared_by
from tests.fakes.aws_call_scan import (
    AGENT_MODULES,
    agent_services,
    agent_source,
    calls_in,
    declared_actions,
    user_data_calls,
)


def _calls(source: str) -> set[str]:
    return calls_in(source, set(agent_services()))


def test_the_scan_sees_the_clients_the_agents_make():
    assert agent_services() == {"autoscaling", "cloudwatch", "ec2"}


@pytest.mark.parametrize("module", AGENT_MODULES)
def test_each_agent_declares_exactly_the_aws_calls_it_makes(module):
    assert _calls(agent_source(module)) == declared_actions(module)


def test_every_agent_that_calls_aws_runs_on_a_node_role():
    calling = {m for m in AGENT_MODULES if _calls(agent_source(m))}
    assert calling == set(HEAD_AGENTS) | set(WORKER_AGENTS)


@pytest.mark.parametrize("module", HEAD_AGENTS + WORKER_AGENTS)
def test_declarations_read_from_source_are_the_modules_own(module):
    assert declared_by(module) == importlib.import_module(module).PERMISSIONS


def test_a_call_without_a_declaration_is_caught():
    (provider,) = HEAD_AGENTS
    source = agent_source(provider) + "\nself.asg.update_auto_scaling_group(AutoScalingGroupName=name)\n"
    assert _calls(source) - declared_actions(provider) == {"autoscaling:UpdateAutoScalingGroup"}


def test_a_declaration_without_a_call_is_caught():
    (provider,) = HEAD_AGENTS
    declared = declared_actions(provider) | {"autoscaling:UpdateAutoScalingGroup"}
    assert declared - _calls(agent_source(provider)) == {"autoscaling:UpdateAutoScalingGroup"}


def test_calls_dispatched_by_name_paginators_and_waiters_are_found():
    source = (
        'getattr(asg, "complete_lifecycle_action")(**params)\n'
        'ec2.get_paginator("describe_instances").paginate()\n'
        'route53.get_waiter("resource_record_sets_changed").wait(Id=change_id)\n'
    )
    assert calls_in(source, {"autoscaling", "ec2", "route53"}) == {
        "autoscaling:CompleteLifecycleAction",
        "ec2:DescribeInstances",
        "route53:GetChange",
    }


def test_boot_python_is_found_in_any_heredoc_the_user_data_writes():
    script = (
        "cat > /opt/rayfleet/bin/mark-unhealthy <<'RAYFLEET_EOF'\n"
        "import boto3\n"
        'boto3.client("autoscaling").set_instance_health(InstanceId=i, HealthStatus="Unhealthy")\n'
        "RAYFLEET_EOF\n"
        "cat > /etc/rayfleet/ray.env <<'RAYFLEET_EOF'\nHOME=/var/lib/ray\nRAYFLEET_EOF\n"
    )
    assert user_data_calls(script) == {"autoscaling:SetInstanceHealth"}
