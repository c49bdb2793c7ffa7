"""Over every environment's plan: each node ships logs to its cluster's log group and metrics to its
environment's namespace, and its role may write only there."""

from __future__ import annotations

import base64
import json

import pytest

from components.catalog import instance_type
from components.contract import NODE_GROUP_DIMENSION, NODE_TYPE_KEY, metrics_namespace
from components.ray_cluster.cloudwatch_agent import AGENT_CONFIG_PATH, log_files
from components.ray_cluster.plan import log_group_name
from tests.fakes.environments import ENVIRONMENTS
from components.ray_cluster.userdata import EC2_USER_DATA_LIMIT
from tests.fakes.node_boots import template_script

TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
POLICY = "aws:iam/rolePolicy:RolePolicy"
#: What EC2 accepts as user data, before base64.
USER_DATA_LIMIT = EC2_USER_DATA_LIMIT


def _agent_config(script: str) -> dict:
    start = script.index(f"cat > {AGENT_CONFIG_PATH} <<'RAYFLEET_EOF'\n")
    body = script[start:].split("\n", 2)[1]
    return json.loads(body)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_node_ships_to_its_clusters_log_group_and_its_environments_namespace(plans, env):
    plan = plans(env)
    templates = plan.of_type(TEMPLATE)
    assert templates
    for template in templates:
        script = template_script(template)
        # What EC2 counts: the user data as sent (gzip-compressed), before base64.
        assert len(base64.b64decode(template.inputs["userData"])) <= USER_DATA_LIMIT, template.name
        cluster = f"rayfleet-{env}-{template.region}"
        node_type = template.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY]
        config = _agent_config(script)
        assert config["metrics"]["namespace"] == metrics_namespace(env)
        assert {f["log_group_name"] for f in log_files(config)} == {log_group_name(cluster)}
        collected = config["metrics"]["metrics_collected"]
        assert collected["cpu"]["append_dimensions"][NODE_GROUP_DIMENSION] == node_type
        gpus = instance_type(template.inputs["instanceType"]).gpus
        assert ("nvidia_gpu" in collected) == (gpus > 0), template.name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_clusters_log_group_keeps_logs_30_days_by_default(plans, env):
    groups = plans(env).of_type(LOG_GROUP)
    assert groups and {g.inputs["retentionInDays"] for g in groups} == {30}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_node_roles_write_logs_only_to_their_log_group_and_metrics_only_to_their_namespace(plans, env):
    plan = plans(env)
    for policy in plan.of_type(POLICY):
        if not policy.name.endswith(("-head-policy", "-worker-policy")):
            continue
        cluster = f"rayfleet-{env}-{policy.region}"
        statements = json.loads(policy.inputs["policy"])["Statement"]
        for statement in statements:
            if any(action.startswith("logs:") for action in statement["Action"]):
                assert all(resource.split(":log-group:", 1)[1].startswith(log_group_name(cluster))
                           for resource in statement["Resource"]), statement
            if "cloudwatch:PutMetricData" in statement["Action"]:
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": metrics_namespace(env)}}
        assert any("cloudwatch:PutMetricData" in s["Action"] for s in statements), policy.name
