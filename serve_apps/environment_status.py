"""One environment at a glance, per region: its ASGs, Ray, Serve, load balancer targets, alarms, spend and drift.

    outputs = read_stack_outputs("prod")
    regions = [region_status(cfg, outputs, r, price=hourly_price(PriceCatalog.load())) for r in cfg.region_names]
    regions[0].asgs[0].desired, regions[0].spend_per_hour, regions[0].drift["digits"]

Where each part comes from:

- ASGs: EC2 Auto Scaling, found by the `rayfleet:env` tag; their node type and
  market from the tag contract (components/contract.py); running = InService.
- Ray nodes and Serve: the region's dashboard (`dashboardUrl`, token from
  `dashboardTokenSecretArn`), as `serve status --env` reaches it.
- Targets: elbv2 DescribeTargetHealth on the stack output `targetGroupArn`.
- Alarms: CloudWatch DescribeAlarms, names starting `rayfleet-<env>-<region>-`
  (alarm_prefix), in the region and in us-east-1, where Route 53's health-check
  alarms of every region live.
- Spend: running instances by type and market, priced by the caller's `price`
  (the price catalog in cost/: on-demand or spot price per instance-hour).
- Drift: the latest DRIFT_METRIC of each application in the environment's
  namespace, with the dimensions the node agent ships it with (the region's
  cluster and the application), over the last DRIFT_LOOKBACK_S.

The ASGs are the one part the view cannot do without: AWS refusing that call
(no credentials, no permission) fails the command with the fix. Any other part
that cannot be read says why in its own place and the rest still shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.alarms.plan import ROUTE53_METRICS_REGION, alarm_prefix
from components.contract import (
    APPLICATION_LABEL,
    CLUSTER_DIMENSION,
    CLUSTER_KEY,
    DRIFT_METRIC,
    ENV_KEY,
    MARKET_KEY,
    NODE_TYPE_KEY,
    Market,
    metrics_namespace,
)
from components.errors import RayfleetError
from serve_apps.dashboard import Dashboard
from serve_apps.status import AppState, parse_status
from stacks.config import EnvironmentConfig
from stacks.outputs import dashboard_token, stack_region
from stacks.outputs_model import StackOutputs

#: IAM actions `rayfleet status --env` calls, next to the code that calls them.
PERMISSIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricStatistics",
    "secretsmanager:GetSecretValue",
)
#: How far back a drift score still counts as current: the apps publish it every minute or so.
DRIFT_LOOKBACK_S = 15 * 60

#: price(instance type, region, market) -> $ per instance-hour.
Pricer = Callable[[str, str, Market], Decimal]
Client = Callable[[str, str], Any]


@dataclass(frozen=True)
class AsgState:
    name: str
    cluster: str
    node_type: str
    market: Market
    desired: int
    #: InService instances by instance type.
    running_by_type: dict[str, int] = field(hash=False)

    @property
    def running(self) -> int:
        return sum(self.running_by_type.values())


@dataclass(frozen=True)
class Alarm:
    name: str
    state: str
    reason: str


@dataclass
class RegionStatus:
    """One region; a part that could not be read is None, with the reason in `problems[part]`."""

    region: str
    asgs: list[AsgState]
    ray_nodes: int | None = None
    apps: list[AppState] | None = None
    #: (healthy, registered) targets of the load balancer's target group.
    targets: tuple[int, int] | None = None
    alarms: list[Alarm] | None = None
    spend_per_hour: Decimal | None = None
    #: Application -> its latest drift score; None where the metric has no recent value.
    drift: dict[str, float | None] | None = None
    problems: dict[str, str] = field(default_factory=dict)


def boto_client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)


def region_status(
    cfg: EnvironmentConfig, outputs: StackOutputs, region: str, *, price: Pricer, client: Client = boto_client
) -> RegionStatus:
    """Everything the view shows of `region`; raises only when the stack outputs or the ASGs cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    found = stack_region(outputs, cfg.env, region)
    status = RegionStatus(region, read_asgs(client("autoscaling", region), cfg.env, region))
    parts: list[tuple[str, Callable[[], None]]] = [
        ("ray", lambda: _read_ray(status, found.dashboard_url, found.dashboard_token_secret_arn)),
        ("targets", lambda: _read_targets(status, client("elbv2", region), found.target_group_arn)),
        ("alarms", lambda: setattr(status, "alarms", read_alarms(client, cfg.env, region))),
        ("spend", lambda: setattr(status, "spend_per_hour", spend_per_hour(status.asgs, region, price))),
        ("drift", lambda: setattr(status, "drift", read_drift(client("cloudwatch", region), cfg, region))),
    ]
    for part, read in parts:
        try:
            read()
        except (RayfleetError, BotoCoreError, ClientError) as err:  # shown in its place; the other parts still show
            status.problems[part] = _one_line(err)
    return status


def read_asgs(autoscaling: Any, env: str, region: str) -> list[AsgState]:
    """The environment's ASGs in the region (tag `rayfleet:env`); the command's error when AWS refuses."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": f"tag:{ENV_KEY}", "Values": [env]}]
        )
        groups = [group for page in pages for group in page["AutoScalingGroups"]]
    except NoCredentialsError:
        raise RayfleetError(
            f"no AWS credentials found, so environment '{env}' cannot be read in {region}. "
            "Fix: configure credentials (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        ) from None
    except (BotoCoreError, ClientError) as err:
        raise RayfleetError(
            f"cannot list the Auto Scaling groups of environment '{env}' in {region} ({_one_line(err)}). "
            "Fix: use AWS credentials allowed autoscaling:DescribeAutoScalingGroups in that region"
        ) from None
    return sorted((_asg(group) for group in groups), key=lambda a: (a.cluster, a.node_type != "head", a.name))


def _asg(group: dict[str, Any]) -> AsgState:
    tags = {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}
    running: dict[str, int] = {}
    for instance in group.get("Instances", []):
        if instance.get("LifecycleState") == "InService":
            running[instance["InstanceType"]] = running.get(instance["InstanceType"], 0) + 1
    return AsgState(
        name=group["AutoScalingGroupName"],
        cluster=tags.get(CLUSTER_KEY, ""),
        node_type=tags.get(NODE_TYPE_KEY, "?"),
        market=Market(tags.get(MARKET_KEY, Market.ON_DEMAND.value)),
        desired=int(group["DesiredCapacity"]),
        running_by_type=running,
    )


def spend_per_hour(asgs: list[AsgState], region: str, price: Pricer) -> Decimal:
    """$ per hour of the running instances: each at its market's price."""
    return sum(
        (price(kind, region, asg.market) * count for asg in asgs for kind, count in asg.running_by_type.items()),
        Decimal(0),
    )


def _read_ray(status: RegionStatus, dashboard_url: str | None, secret_arn: str | None) -> None:
    if not dashboard_url or not secret_arn:
        raise RayfleetError("the stack outputs lack dashboardUrl or dashboardTokenSecretArn")
    dashboard = Dashboard(dashboard_url, dashboard_token(secret_arn, status.region), timeout_s=10)
    status.apps = parse_status(dashboard.get_applications())
    status.ray_nodes = sum(1 for node in dashboard.get_nodes() if node.get("state") == "ALIVE")


def _read_targets(status: RegionStatus, elbv2: Any, target_group_arn: str | None) -> None:
    if not target_group_arn:
        raise RayfleetError("the stack outputs lack targetGroupArn (stack deployed by an older rayfleet)")
    status.targets = read_targets(elbv2, target_group_arn)


def read_targets(elbv2: Any, target_group_arn: str) -> tuple[int, int]:
    """(healthy, registered) targets of a target group."""
    health = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return sum(1 for target in health if target["TargetHealth"]["State"] == "healthy"), len(health)


def read_alarms(client: Client, env: str, region: str) -> list[Alarm]:
    """The alarms of `env` watching `region`: every one named alarm_prefix(env, region), in the region itself
    and in ROUTE53_METRICS_REGION, where the region's Route 53 health-check alarm lives."""
    alarms = []
    for home in dict.fromkeys([region, ROUTE53_METRICS_REGION]):
        pages = client("cloudwatch", home).get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=alarm_prefix(env, region)
        )
        alarms += [Alarm(a["AlarmName"], a["StateValue"], a.get("StateReason", "")) for page in pages for a in page["MetricAlarms"]]
    return sorted(alarms, key=lambda a: a.name)


def read_drift(
    cloudwatch: Any, cfg: EnvironmentConfig, region: str, now: dt.datetime | None = None
) -> dict[str, float | None]:
    """Each configured application's latest drift score from the region's cluster; None when absent.

    CloudWatch matches a query's dimensions exactly, so they are the set the node agent ships the gauge
    with and the drift alarm reads: the cluster and the application.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    drift: dict[str, float | None] = {}
    for app in cfg.serve.applications:
        points = cloudwatch.get_metric_statistics(
            Namespace=metrics_namespace(cfg.env),
            MetricName=DRIFT_METRIC,
            Dimensions=[
                {"Name": CLUSTER_DIMENSION, "Value": cfg.cluster_id(region)},
                {"Name": APPLICATION_LABEL, "Value": app.name},
            ],
            StartTime=now - dt.timedelta(seconds=DRIFT_LOOKBACK_S),
            # EndTime is exclusive: a score published this very second, or by a node whose clock runs a
            # little ahead, still counts.
            EndTime=now + dt.timedelta(seconds=60),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        latest = max(points, key=lambda p: p["Timestamp"], default=None)
        drift[app.name] = None if latest is None else float(latest["Maximum"])
    return drift



def _one_line(err: BaseException) -> str:
    """botocore's and our errors are one line already; anything else keeps its first line."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def region_json(status: RegionStatus) -> dict[str, Any]:
    """`rayfleet status --env --json`: one region; a part that could not be read is null, and `problems` says why."""
    from serve_apps.status import status_json

    return {
        "region": status.region,
        "asgs": [
            {"name": a.name, "cluster": a.cluster, "nodeType": a.node_type, "market": a.market.value,
             "desired": a.desired, "running": a.running, "runningByType": a.running_by_type}
            for a in status.asgs
        ],
        "rayNodes": status.ray_nodes,
        "applications": None if status.apps is None else status_json(status.apps),
        "targets": None if status.targets is None else {"healthy": status.targets[0], "registered": status.targets[1]},
        "alarms": None if status.alarms is None else [{"name": a.name, "state": a.state, "reason": a.reason} for a in status.alarms],
        "spendPerHour": None if status.spend_per_hour is None else str(status.spend_per_hour),
        "drift": status.drift,
        "problems": status.problems,
    }
