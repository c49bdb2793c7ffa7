"""The node roles' policies: each action scoped to this cluster's own resources."""

from __future__ import annotations

import pytest

from components.ray_cluster.permissions import Scope, compose, head_policy, worker_policy

SCOPE = Scope(
    region="us-east-1",
    account_id="123456789012",
    cluster_id="rayfleet-prod-us-east-1",
    artifact_bucket_arn="arn:aws:s3:::rayfleet-prod-us-east-1-abc",
    dashboard_token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf",
    hosted_zone_id="Z0123",
    head_record_name="head.rayfleet-prod-us-east-1.rayfleet.internal",
    metrics_namespace="Rayfleet/prod",
    worker_node_types=("cpu", "gpu"),
    redis_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-GhIjKl",
)
OWN_CLUSTER = {"StringEquals": {"aws:ResourceTag/rayfleet:cluster": "rayfleet-prod-us-east-1"}}
OWN_WORKERS = {
    "StringEquals": {
        "aws:ResourceTag/rayfleet:cluster": "rayfleet-prod-us-east-1",
        "aws:ResourceTag/rayfleet:node-type": ["cpu", "gpu"],
    }
}
#: AWS's minimal Session Manager permissions for an instance profile (no ssm:GetParameter*).
SESSION_MANAGER_ACTIONS = {
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "s3:GetEncryptionConfiguration",
}
ASG_ARNS = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*"


def _statements(doc):
    return {s["Sid"]: s for s in doc["Statement"]}


def _granting(doc, action):
    return [s for s in doc["Statement"] if action in s["Action"]]


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_no_action_is_a_wildcard(policy):
    for statement in policy(SCOPE)["Statement"]:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in statement["Action"]), statement


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_only_unscopable_actions_run_on_every_resource(policy):
    unscopable = {
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeAutoScalingInstances",
        "autoscaling:DescribeScalingActivities",
        "ec2:DescribeInstances",
    } | SESSION_MANAGER_ACTIONS
    for statement in policy(SCOPE)["Statement"]:
        if statement["Resource"] == "*" and statement["Action"] == ["cloudwatch:PutMetricData"]:
            # No resource to name: the namespace condition is its scope.
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Rayfleet/prod"}}
        elif statement["Resource"] == "*":
            assert set(statement["Action"]) <= unscopable, statement


def test_head_scales_only_its_own_clusters_worker_asgs_never_its_own():
    doc = head_policy(SCOPE)
    for action in ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"):
        (statement,) = _granting(doc, action)
        assert statement["Resource"] == ASG_ARNS
        assert statement["Condition"] == OWN_WORKERS
        assert "head" not in statement["Condition"]["StringEquals"]["aws:ResourceTag/rayfleet:node-type"]


def test_head_cannot_reconfigure_auto_scaling_groups():
    """No code calls UpdateAutoScalingGroup: Pulumi owns the ASGs' sizes and templates."""
    assert not _granting(head_policy(SCOPE), "autoscaling:UpdateAutoScalingGroup")


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_nodes_get_session_manager_but_no_parameter_store(policy):
    actions = {a for s in policy(SCOPE)["Statement"] for a in s["Action"]}
    assert SESSION_MANAGER_ACTIONS <= actions
    assert not {a for a in actions if a.startswith(("ssm:Get", "ec2messages:"))}


def test_head_reads_exactly_its_secrets_and_writes_only_the_token():
    doc = head_policy(SCOPE)
    (read,) = _granting(doc, "secretsmanager:GetSecretValue")
    assert read["Resource"] == [SCOPE.dashboard_token_secret_arn, SCOPE.redis_secret_arn]
    (write,) = _granting(doc, "secretsmanager:PutSecretValue")
    assert write["Resource"] == SCOPE.dashboard_token_secret_arn


def test_head_without_redis_reads_only_the_token():
    from dataclasses import replace

    (read,) = _granting(head_policy(replace(SCOPE, redis_secret_arn=None)), "secretsmanager:GetSecretValue")
    assert read["Resource"] == SCOPE.dashboard_token_secret_arn


def test_head_may_change_only_its_own_a_record():
    (statement,) = _granting(head_policy(SCOPE), "route53:ChangeResourceRecordSets")
    assert statement["Resource"] == "arn:aws:route53:::hostedzone/Z0123"
    assert statement["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["head.rayfleet-prod-us-east-1.rayfleet.internal"],
        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
    }


def test_workers_complete_lifecycle_hooks_only_on_their_clusters_asgs():
    doc = worker_policy(SCOPE)
    (hook,) = _granting(doc, "autoscaling:CompleteLifecycleAction")
    assert set(hook["Action"]) == {"autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"}
    assert (hook["Resource"], hook["Condition"]) == (ASG_ARNS, OWN_CLUSTER)
    assert _granting(doc, "autoscaling:DescribeAutoScalingInstances")


def test_workers_cannot_scale_write_secrets_or_touch_dns():
    actions = {a for s in worker_policy(SCOPE)["Statement"] for a in s["Action"]}
    assert not actions & {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
        "secretsmanager:PutSecretValue",
        "route53:ChangeResourceRecordSets",
    }
    (read,) = _granting(worker_policy(SCOPE), "secretsmanager:GetSecretValue")
    assert read["Resource"] == SCOPE.dashboard_token_secret_arn


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_artifacts_are_read_only_from_the_regions_bucket(policy):
    statement = _statements(policy(SCOPE))["ReadArtifacts"]
    assert statement["Action"] == ["s3:GetObject"]
    assert statement["Resource"] == SCOPE.artifact_bucket_arn + "/*"


def test_an_action_without_a_scope_is_refused():
    with pytest.raises(ValueError) as raised:
        compose((("autoscaling:UpdateAutoScalingGroup", "resize"),), SCOPE)
    assert str(raised.value) == (
        "autoscaling:UpdateAutoScalingGroup is declared by node code but has no scope in GRANTS; add one"
    )


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_nodes_may_mark_instances_unhealthy_only_in_their_own_clusters_asgs(policy):
    # A node whose boot failed marks itself Unhealthy so that its ASG replaces it.
    assert _granting(policy(SCOPE), "autoscaling:SetInstanceHealth") == [
        {
            "Sid": "ReportFailedBoot",
            "Effect": "Allow",
            "Action": ["autoscaling:SetInstanceHealth"],
            "Resource": ASG_ARNS,
            "Condition": OWN_CLUSTER,
        }
    ]


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_nodes_ship_logs_only_to_their_clusters_log_group(policy):
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/rayfleet/rayfleet-prod-us-east-1"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"):
        (statement,) = _granting(policy(SCOPE), action)
        assert statement["Resource"] == [group, f"{group}:log-stream:*"]
    # The log group is Pulumi's, with its retention: the agent neither creates nor changes one.
    granted = {a for s in policy(SCOPE)["Statement"] for a in s["Action"]}
    assert not {"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"} & granted


@pytest.mark.parametrize("policy", [head_policy, worker_policy])
def test_nodes_put_metrics_only_in_their_environments_namespace(policy):
    (statement,) = _granting(policy(SCOPE), "cloudwatch:PutMetricData")
    assert statement["Action"] == ["cloudwatch:PutMetricData"]
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Rayfleet/prod"}}
