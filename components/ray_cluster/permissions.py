"""The IAM permissions the cluster's nodes need, composed from what the code on them declares.

    >>> doc = head_policy(scope)
    >>> [s["Sid"] for s in doc["Statement"]][:2]
    ['DescribeClusterNodes', 'ScaleWorkerGroups']

The code that makes an AWS call declares the IAM action next to it, with the
reason, as plain data (as Cloud Custodian's actions declare `permissions`):
each node agent's `PERMISSIONS`, the user data's `HEAD_BOOT_PERMISSIONS` and
`WORKER_BOOT_PERMISSIONS`, and here `SESSION_MANAGER` for the SSM agent the
image ships. This module only adds *where* each action may act (`GRANTS`) and
which code runs on which role; tests check that every declared action is
called and every call is declared. Rules the documents keep, in contrast to
Ray's own launcher (AmazonEC2FullAccess + AmazonS3FullAccess on the head):

- no `*` in any action; `Resource: "*"` only for actions AWS cannot scope
  (Describe*, Session Manager's channels);
- changes to Auto Scaling Groups only on this cluster's worker ASGs (by tag),
  never the head's own; secrets, bucket and DNS zone by exact ARN;
- no AWS-managed policy: `AmazonSSMManagedInstanceCore` would also give user
  code on the nodes `ssm:GetParameter(s)` on every parameter of the account.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from components.contract import NODE_TYPE_KEY
from components.ray_cluster import cloudwatch_agent
from components.ray_cluster.plan import log_group_name
from components.ray_cluster.userdata import HEAD_BOOT_PERMISSIONS, WORKER_BOOT_PERMISSIONS
from components.tags import CLUSTER_KEY

#: (IAM action, why the code needs it): the form every declaration takes.
Declared = tuple[tuple[str, str], ...]

EC2_ASSUME_ROLE_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}

#: What the SSM agent needs for Session Manager (no SSH), per AWS's "minimal Session Manager
#: permissions" for a custom instance profile: no Run Command (ec2messages), no parameters.
SESSION_MANAGER: Declared = (
    ("ssm:UpdateInstanceInformation", "the SSM agent registers the node with Session Manager"),
    ("ssmmessages:CreateControlChannel", "the SSM agent opens Session Manager's control channel"),
    ("ssmmessages:CreateDataChannel", "the SSM agent opens a session's data channel"),
    ("ssmmessages:OpenControlChannel", "the SSM agent opens Session Manager's control channel"),
    ("ssmmessages:OpenDataChannel", "the SSM agent opens a session's data channel"),
    ("s3:GetEncryptionConfiguration", "the SSM agent checks the encryption of a session-log bucket"),
)

#: The node-agent modules each role runs (the head runs the autoscaler; workers the spot watcher).
HEAD_AGENTS = ("components.node_agents.node_provider",)
WORKER_AGENTS = ("components.node_agents.spot_watcher",)


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
    #: `contract.metrics_namespace(env)`: the only namespace the nodes may put metrics in.
    metrics_namespace: str
    #: The worker groups' node types: the only ASGs the head may scale.
    worker_node_types: tuple[str, ...] = ()
    #: The Redis auth-token secret, when the head keeps GCS state in ElastiCache.
    redis_secret_arn: str | None = None

    @property
    def asg_arns(self) -> str:
        return f"arn:aws:autoscaling:{self.region}:{self.account_id}:autoScalingGroup:*:autoScalingGroupName/*"

    @property
    def own_cluster(self) -> dict[str, Any]:
        """The condition that limits an action to resources tagged with this cluster."""
        return {"StringEquals": {f"aws:ResourceTag/{CLUSTER_KEY}": self.cluster_id}}

    @property
    def own_workers(self) -> dict[str, Any]:
        """This cluster's worker ASGs: its tag and a worker node type, so never the head's own ASG."""
        tags = {f"aws:ResourceTag/{CLUSTER_KEY}": self.cluster_id}
        tags[f"aws:ResourceTag/{NODE_TYPE_KEY}"] = list(self.worker_node_types)
        return {"StringEquals": tags}

    @property
    def log_group_arns(self) -> tuple[str, ...]:
        """The cluster's log group and its streams: where the nodes' CloudWatch agent writes."""
        group = f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{log_group_name(self.cluster_id)}"
        return group, f"{group}:log-stream:*"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.dashboard_token_secret_arn,) + ((self.redis_secret_arn,) if self.redis_secret_arn else ())


@dataclass(frozen=True)
class Grant:
    """Where a group of actions may act: one policy statement per `sid`."""

    sid: str
    resources: Callable[[Scope], tuple[str, ...]] = lambda s: ("*",)
    condition: Callable[[Scope], dict[str, Any]] = lambda s: {}


_UNSCOPABLE = Grant("DescribeClusterNodes")
_SESSION_MANAGER = Grant("SessionManager")
_SHIP_LOGS = Grant("ShipLogs", lambda s: s.log_group_arns)

#: Where each declared action may act. An action some code declares but this table lacks fails
#: the policy build: a new call gets a deliberate scope, never `*` by default.
GRANTS: dict[str, Grant] = {
    "autoscaling:DescribeAutoScalingGroups": _UNSCOPABLE,
    "autoscaling:DescribeAutoScalingInstances": _UNSCOPABLE,
    "autoscaling:DescribeScalingActivities": _UNSCOPABLE,
    "ec2:DescribeInstances": _UNSCOPABLE,
    "autoscaling:SetDesiredCapacity": Grant("ScaleWorkerGroups", lambda s: (s.asg_arns,), lambda s: s.own_workers),
    "autoscaling:TerminateInstanceInAutoScalingGroup": Grant(
        "ScaleWorkerGroups", lambda s: (s.asg_arns,), lambda s: s.own_workers
    ),
    "autoscaling:CompleteLifecycleAction": Grant("CompleteDrainHook", lambda s: (s.asg_arns,), lambda s: s.own_cluster),
    "autoscaling:RecordLifecycleActionHeartbeat": Grant(
        "CompleteDrainHook", lambda s: (s.asg_arns,), lambda s: s.own_cluster
    ),
    # A failed boot marks its own instance unhealthy; IAM cannot narrow InstanceId to "self".
    "autoscaling:SetInstanceHealth": Grant("ReportFailedBoot", lambda s: (s.asg_arns,), lambda s: s.own_cluster),
    "s3:GetObject": Grant("ReadArtifacts", lambda s: (f"{s.artifact_bucket_arn}/*",)),
    "secretsmanager:GetSecretValue": Grant("ReadClusterSecrets", lambda s: s.secrets),
    "secretsmanager:PutSecretValue": Grant("CreateDashboardToken", lambda s: (s.dashboard_token_secret_arn,)),
    "route53:ChangeResourceRecordSets": Grant(
        "PublishHeadAddress",
        lambda s: (f"arn:aws:route53:::hostedzone/{s.hosted_zone_id}",),
        lambda s: {
            "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [s.head_record_name],
                "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
            }
        },
    ),
    "route53:GetChange": Grant("WaitForDnsChange", lambda s: ("arn:aws:route53:::change/*",)),
    **{action: _SESSION_MANAGER for action, _ in SESSION_MANAGER},
    "logs:CreateLogStream": _SHIP_LOGS,
    "logs:PutLogEvents": _SHIP_LOGS,
    "logs:DescribeLogStreams": _SHIP_LOGS,
    # PutMetricData has no resource to name; its namespace is a condition key.
    "cloudwatch:PutMetricData": Grant(
        "PublishMetrics", condition=lambda s: {"StringEquals": {"cloudwatch:namespace": s.metrics_namespace}}
    ),
}


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


def declared_by(module: str) -> Declared:
    """A node-agent module's `PERMISSIONS`, read from its source without importing it.

    Agents import ray and boto3, which the Pulumi program does not need; the declaration is a
    literal, so reading it is enough.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"{module}: no such module")
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), spec.origin)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PERMISSIONS" for t in node.targets):
            return tuple(tuple(pair) for pair in ast.literal_eval(node.value))
    raise ValueError(f"{module}: no PERMISSIONS declaration")


def head_declarations() -> Declared:
    """Every action code on the head calls: its agents, its boot, the SSM and CloudWatch agents."""
    return sum((declared_by(m) for m in HEAD_AGENTS), ()) + HEAD_BOOT_PERMISSIONS + SESSION_MANAGER + cloudwatch_agent.PERMISSIONS


def worker_declarations() -> Declared:
    """Every action code on a worker calls: its agents, its boot, the SSM and CloudWatch agents."""
    return (
        sum((declared_by(m) for m in WORKER_AGENTS), ())
        + WORKER_BOOT_PERMISSIONS
        + SESSION_MANAGER
        + cloudwatch_agent.PERMISSIONS
    )


def compose(declarations: Declared, scope: Scope) -> list[Permission]:
    """One statement per grant, in first-declared order, holding the actions declared for it and why."""
    by_sid: dict[str, tuple[Grant, dict[str, str]]] = {}
    for action, why in declarations:
        grant = GRANTS.get(action)
        if grant is None:
            raise ValueError(f"{action} is declared by node code but has no scope in GRANTS; add one")
        reasons = by_sid.setdefault(grant.sid, (grant, {}))[1]
        reasons.setdefault(action, why)
    return [
        Permission(
            grant.sid,
            tuple(reasons),
            "; ".join(dict.fromkeys(reasons.values())),
            grant.resources(scope),
            grant.condition(scope),
        )
        for grant, reasons in by_sid.values()
    ]


def head_permissions(s: Scope) -> list[Permission]:
    return compose(head_declarations(), s)


def worker_permissions(s: Scope) -> list[Permission]:
    # Workers never read the Redis AUTH token: only the head talks to Redis.
    return compose(worker_declarations(), replace(s, redis_secret_arn=None))


def _document(permissions: list[Permission]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [p.statement() for p in permissions]}


def head_policy(scope: Scope) -> dict[str, Any]:
    """The head role's inline policy document."""
    return _document(head_permissions(scope))


def worker_policy(scope: Scope) -> dict[str, Any]:
    """The worker role's inline policy document."""
    return _document(worker_permissions(scope))
