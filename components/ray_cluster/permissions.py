"""The IAM permissions the cluster's nodes need, declared next to the code that needs them.

    >>> doc = head_policy(scope)
    >>> [s["Sid"] for s in doc["Statement"]][:2]
    ['DiscoverClusterNodes', 'ScaleOwnAutoScalingGroups']

Each `Permission` says which actions a node role needs, on what, and why. The
policy documents are plain JSON built here (no invoke, no pulumi), so tests
check the scoping directly. Rules they keep, in contrast to Ray's own launcher
(AmazonEC2FullAccess + AmazonS3FullAccess on the head):

- no `*` in any action; `Resource: "*"` only for actions AWS cannot scope
  (Describe*, PutMetricData), and then with a condition where AWS offers one;
- changes to Auto Scaling Groups only on ASGs tagged with the node's own
  `rayfleet:cluster`; secrets, bucket, log group and DNS zone by exact ARN;
- Session Manager through AWS's `AmazonSSMManagedInstanceCore` (no SSH).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.tags import CLUSTER_KEY

#: Session Manager access instead of SSH (AWS-managed; not a *FullAccess policy).
SSM_MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
#: The CloudWatch namespace nodes may write metrics to.
METRICS_NAMESPACE = "rayfleet"

EC2_ASSUME_ROLE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class Scope:
    """The concrete resources one cluster's node policies name."""

    region: str
    account_id: str
    cluster_id: str
    artifact_bucket_arn: str
    dashboard_token_secret_arn: str
    hosted_zone_id: str
    head_record_name: str
    log_group_arn: str
    #: The Redis auth-token secret, when the head keeps GCS state in ElastiCache.
    redis_secret_arn: str | None = None

    @property
    def asg_arns(self) -> str:
        return f"arn:aws:autoscaling:{self.region}:{self.account_id}:autoScalingGroup:*:autoScalingGroupName/*"

    @property
    def own_cluster(self) -> dict[str, Any]:
        """The condition that limits an action to resources tagged with this cluster."""
        return {"StringEquals": {f"aws:ResourceTag/{CLUSTER_KEY}": self.cluster_id}}


@dataclass(frozen=True)
class Permission:
    sid: str
    actions: tuple[str, ...]
    why: str
    resources: tuple[str, ...] = ("*",)
    condition: dict[str, Any] = field(default_factory=dict)

    def statement(self) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            statement["Condition"] = self.condition
        return statement


def _artifact_read(s: Scope) -> Permission:
    return Permission(
        "ReadArtifacts",
        ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"),
        "fetch the node-agent package and model artifacts from the region's bucket",
        (s.artifact_bucket_arn, f"{s.artifact_bucket_arn}/*"),
    )


def _logs(s: Scope) -> Permission:
    return Permission(
        "WriteLogs",
        ("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
        "ship node logs to the cluster's own log group",
        (s.log_group_arn, f"{s.log_group_arn}:log-stream:*"),
    )


def _metrics() -> Permission:
    return Permission(
        "WriteMetrics",
        ("cloudwatch:PutMetricData",),
        "publish node metrics (PutMetricData cannot be resource-scoped; the namespace is fixed)",
        condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


def _read_token(s: Scope) -> Permission:
    return Permission(
        "ReadDashboardToken",
        ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
        "Ray token auth: every node presents the cluster's token to join and to call the dashboard",
        (s.dashboard_token_secret_arn,),
    )


def _mark_unhealthy(s: Scope) -> Permission:
    return Permission(
        "MarkFailedBootUnhealthy",
        ("autoscaling:SetInstanceHealth",),
        "a node whose boot failed marks itself Unhealthy so that its ASG replaces it, only in this cluster's ASGs",
        (s.asg_arns,),
        s.own_cluster,
    )


def head_permissions(s: Scope) -> list[Permission]:
    secrets = (s.dashboard_token_secret_arn,) + ((s.redis_secret_arn,) if s.redis_secret_arn else ())
    return [
        Permission(
            "DiscoverClusterNodes",
            (
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeScalingActivities",
                "ec2:DescribeInstances",
            ),
            "the node provider lists the cluster's ASGs and instances (Describe calls cannot be resource-scoped)",
        ),
        Permission(
            "ScaleOwnAutoScalingGroups",
            (
                "autoscaling:SetDesiredCapacity",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
                "autoscaling:UpdateAutoScalingGroup",
            ),
            "the node provider sets desired capacity and removes idle workers, only in this cluster's ASGs",
            (s.asg_arns,),
            s.own_cluster,
        ),
        Permission(
            "ReadClusterSecrets",
            ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
            "start Ray with the dashboard token (and the Redis auth token for GCS fault tolerance)",
            secrets,
        ),
        Permission(
            "CreateDashboardToken",
            ("secretsmanager:PutSecretValue",),
            "the first head generates the dashboard token, so it never passes through Pulumi state",
            (s.dashboard_token_secret_arn,),
        ),
        Permission(
            "PublishHeadAddress",
            ("route53:ChangeResourceRecordSets",),
            "the head UPSERTs its private IP as the stable head address workers join",
            (f"arn:aws:route53:::hostedzone/{s.hosted_zone_id}",),
            {
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames": [s.head_record_name],
                    "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                }
            },
        ),
        Permission(
            "WaitForDnsChange",
            ("route53:GetChange",),
            "wait until the head address is live before starting Ray",
            ("arn:aws:route53:::change/*",),
        ),
        _artifact_read(s),
        _logs(s),
        _metrics(),
        _mark_unhealthy(s),
    ]


def worker_permissions(s: Scope) -> list[Permission]:
    return [
        _read_token(s),
        Permission(
            "FindOwnAutoScalingGroup",
            ("autoscaling:DescribeAutoScalingInstances",),
            "the spot watcher learns which ASG holds its instance (Describe calls cannot be resource-scoped)",
        ),
        Permission(
            "CompleteDrainHook",
            ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"),
            "the spot watcher holds the termination hook while the node drains, then completes it",
            (s.asg_arns,),
            s.own_cluster,
        ),
        _artifact_read(s),
        _logs(s),
        _metrics(),
        _mark_unhealthy(s),
    ]


def _document(permissions: list[Permission]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [p.statement() for p in permissions]}


def head_policy(scope: Scope) -> dict[str, Any]:
    """The head role's inline policy document."""
    return _document(head_permissions(scope))


def worker_policy(scope: Scope) -> dict[str, Any]:
    """The worker role's inline policy document."""
    return _document(worker_permissions(scope))
