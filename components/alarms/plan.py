"""Pure decisions of an environment's alarms: which alarms each region gets, on which metric, when they fire.

    >>> t = Thresholds(error_rate_percent=5, latency_p99_seconds=2, evaluation_minutes=5)
    >>> [a.name for a in ingress_alarms("prod", "us-east-1", "app/lb/1", "targetgroup/tg/2", 2, t)]
    ['rayfleet-prod-us-east-1-5xx-ratio', 'rayfleet-prod-us-east-1-p99-latency', 'rayfleet-prod-us-east-1-healthy-targets']
    >>> health_check_alarm("prod", "us-west-2", "hc-1", t).region   # Route 53's metrics live in us-east-1 only
    'us-east-1'

Every alarm is named `rayfleet-{env}-{region}-{what}` (ALARM_PREFIX), which is
how `rayfleet status` finds them. Dimension values may be Pulumi outputs (the
component) or plain strings (the dashboard renders the same plans once they
are known). No pulumi, boto3 or ray imports.

Missing data, alarm by alarm (CloudWatch's `treat_missing_data`):
- the load balancer's 5xx ratio and p99 latency: `notBreaching`. The ALB
  publishes its request metrics only for minutes with requests: no traffic
  is neither an error nor a slow answer.
- healthy targets and the Route 53 health check: `breaching`. A target group
  with no targets and a health check that stops reporting are outages.
- spot fallback: `ignore`. The node provider publishes the metric only when a
  group moves to its on-demand twin (1) and when it returns (0); between
  changes there is no data, and the alarm must keep the last state it saw.
- boot failures and drift: `notBreaching`. A node publishes a boot failure
  only when one happens; an application with no requests publishes no drift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from components.contract import (
    APPLICATION_LABEL,
    BOOT_FAILED_METRIC,
    CLUSTER_DIMENSION,
    DRIFT_METRIC,
    NODE_GROUP_DIMENSION,
    SPOT_FALLBACK_METRIC,
    metrics_namespace,
)

#: Route 53 publishes its health-check metrics to CloudWatch only in US East (N. Virginia); an alarm on
#: them, and the SNS topic it notifies (alarm actions name a topic of the alarm's own region), live there.
ROUTE53_METRICS_REGION = "us-east-1"
ELB_NAMESPACE = "AWS/ApplicationELB"
ROUTE53_NAMESPACE = "AWS/Route53"
#: The period of every alarm on a per-minute metric (the ALB's, Route 53's, the node provider's).
MINUTE = 60
#: Drift gauges reach CloudWatch through the node agents' scrape; five minutes smooth a window's noise.
DRIFT_PERIOD_SECONDS = 300
#: Below this many requests a minute the 5xx ratio says nothing (one failed request in two is 50 %).
MIN_REQUESTS_FOR_RATIO = 10
#: Statistics CloudWatch accepts as `Statistic`; anything else (p99) is an `ExtendedStatistic`.
STANDARD_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")

MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]
Comparison = Literal[
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]


class Thresholds(BaseModel):
    """When the region alarms fire (the config's `rayfleet:observability.alarms` holds the defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The load balancer's 5xx answers, percent of its requests.
    error_rate_percent: float = Field(gt=0, le=100)
    #: The targets' 99th-percentile response time, in seconds.
    latency_p99_seconds: float = Field(gt=0)
    #: Minutes a condition lasts before its alarm fires.
    evaluation_minutes: int = Field(ge=1)


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric an alarm reads: `id` names it in a metric-math expression."""

    namespace: str
    name: str
    dimensions: Mapping[str, Any]
    stat: str
    id: str = "m1"


@dataclass(frozen=True)
class AlarmPlan:
    """One CloudWatch alarm: its metric (or metric math over several), its rule, and the region it lives in."""

    name: str
    #: The short name after the prefix (`5xx-ratio`); the dashboard's widget title.
    what: str
    region: str
    description: str
    metrics: tuple[Metric, ...]
    comparison: Comparison
    threshold: float
    treat_missing_data: MissingData
    period: int = MINUTE
    evaluation_periods: int = 1
    #: A metric-math expression over the metrics' ids; None: the alarm reads its one metric directly.
    expression: str | None = None
    #: The region whose service the alarm watches, when not its own (Route 53's view of another region).
    watches: str | None = None

    @property
    def watched_region(self) -> str:
        return self.watches or self.region

    @property
    def datapoints_to_alarm(self) -> int:
        # Every period of the range must breach: a condition that comes and goes within it is noise.
        return self.evaluation_periods


def alarm_prefix(env: str, region: str) -> str:
    """What every alarm of `env` watching `region` starts with: `rayfleet status` lists alarms by it.

    Per region, not per environment: environment names may hold a dash, and `rayfleet-prod-`
    would also match `rayfleet-prod-eu-...`.
    """
    return f"rayfleet-{env}-{region}-"


def alarm_name(env: str, region: str, what: str) -> str:
    """`rayfleet-{env}-{region}-{what}`: the region is the one the alarm watches."""
    return f"{alarm_prefix(env, region)}{what}"


def for_slot(plans: list[AlarmPlan], env: str, slot: str) -> list[AlarmPlan]:
    """A new cluster slot's own alarms mid-upgrade: named `rayfleet-{env}-{region}-{slot}-{what}`, beside the live one's.

    The live slot's alarms keep their names whichever slot is live, so retiring the old slot moves
    them onto the new one's signals rather than replacing them.
    """
    return [replace(p, name=alarm_name(env, p.region, f"{slot}-{p.what}"), what=f"{slot}-{p.what}") for p in plans]


def topic_name(env: str, region: str) -> str:
    """The SNS topic every alarm of `env` in `region` notifies."""
    return f"rayfleet-{env}-{region}-alerts"


def ingress_alarms(
    env: str, region: str, load_balancer: Any, target_group: Any, min_healthy_targets: int, t: Thresholds
) -> list[AlarmPlan]:
    """The load balancer's 5xx ratio and p99 latency, and its healthy targets (when the apps need any)."""
    lb = {"LoadBalancer": load_balancer}
    minutes = t.evaluation_minutes
    alarms = [
        AlarmPlan(
            name=alarm_name(env, region, "5xx-ratio"),
            what="5xx-ratio",
            region=region,
            description=f"More than {t.error_rate_percent:g}% of requests answered 5xx for {minutes} min",
            metrics=(
                Metric(ELB_NAMESPACE, "HTTPCode_Target_5XX_Count", lb, "Sum", "targets"),
                Metric(ELB_NAMESPACE, "HTTPCode_ELB_5XX_Count", lb, "Sum", "elb"),
                Metric(ELB_NAMESPACE, "RequestCount", lb, "Sum", "requests"),
            ),
            expression=error_ratio_expression(),
            comparison="GreaterThanThreshold",
            threshold=t.error_rate_percent,
            treat_missing_data="notBreaching",
            evaluation_periods=minutes,
        ),
        p99_alarm(env, region, lb, "Targets'", t),
    ]
    if min_healthy_targets > 0:  # apps that may all scale to zero need no target: a cold start is no outage
        alarms.append(healthy_targets_alarm(env, region, load_balancer, target_group, min_healthy_targets, t))
    return alarms


#: The `what` of a region's Route 53 health-check alarm (in ROUTE53_METRICS_REGION).
HEALTH_CHECK = "health-check"
#: A slot's alarms on its own target group: what the upgrade's traffic gate reads of the new slot.
SERVING_ALARMS = ("5xx-ratio", "p99-latency", "healthy-targets")


def slot_serving_alarms(env: str, region: str, load_balancer: Any, target_group: Any, t: Thresholds) -> list[AlarmPlan]:
    """One target group's 5xx ratio and p99 latency: a slot's own share of the load balancer's traffic.

    Per target group, the ALB publishes RequestCount, HTTPCode_Target_5XX_Count and TargetResponseTime
    (dimensions TargetGroup and LoadBalancer); its own 5xx (HTTPCode_ELB_5XX_Count) are per load balancer
    only, so a slot's ratio counts its targets' answers.
    """
    tg = {"TargetGroup": target_group, "LoadBalancer": load_balancer}
    minutes = t.evaluation_minutes
    ratio = "IF(FILL(requests, 0) >= %d, 100 * FILL(targets, 0) / FILL(requests, 0), 0)" % MIN_REQUESTS_FOR_RATIO
    return [
        AlarmPlan(
            name=alarm_name(env, region, "5xx-ratio"),
            what="5xx-ratio",
            region=region,
            description=f"More than {t.error_rate_percent:g}% of the target group's requests answered 5xx for {minutes} min",
            metrics=(
                Metric(ELB_NAMESPACE, "HTTPCode_Target_5XX_Count", tg, "Sum", "targets"),
                Metric(ELB_NAMESPACE, "RequestCount", tg, "Sum", "requests"),
            ),
            expression=ratio,
            comparison="GreaterThanThreshold",
            threshold=t.error_rate_percent,
            treat_missing_data="notBreaching",
            evaluation_periods=minutes,
        ),
        p99_alarm(env, region, tg, "The target group's", t),
    ]


def p99_alarm(env: str, region: str, dimensions: Mapping[str, Any], whose: str, t: Thresholds) -> AlarmPlan:
    """The targets' p99 response time (TargetResponseTime) under `dimensions`: a load balancer, or one target group."""
    return AlarmPlan(
        name=alarm_name(env, region, "p99-latency"),
        what="p99-latency",
        region=region,
        description=f"{whose} p99 response time above {t.latency_p99_seconds:g} s for {t.evaluation_minutes} min",
        metrics=(Metric(ELB_NAMESPACE, "TargetResponseTime", dimensions, "p99"),),
        comparison="GreaterThanThreshold",
        threshold=t.latency_p99_seconds,
        treat_missing_data="notBreaching",
        evaluation_periods=t.evaluation_minutes,
    )


def slot_serving_alarm_names(env: str, region: str, slot: str) -> list[str]:
    """The names `for_slot` gives a slot's SERVING_ALARMS in `region`."""
    return [alarm_name(env, region, f"{slot}-{what}") for what in SERVING_ALARMS]


def healthy_targets_alarm(
    env: str, region: str, load_balancer: Any, target_group: Any, min_healthy_targets: int, t: Thresholds
) -> AlarmPlan:
    """Fewer healthy Serve targets than the apps' minimum replicas need (HealthyHostCount is per target group)."""
    return AlarmPlan(
        name=alarm_name(env, region, "healthy-targets"),
        what="healthy-targets",
        region=region,
        description=f"Fewer than {min_healthy_targets} healthy Serve targets, what the apps' "
        f"minimum replicas need, for {t.evaluation_minutes} min",
        metrics=(
            Metric(
                ELB_NAMESPACE,
                "HealthyHostCount",
                {"TargetGroup": target_group, "LoadBalancer": load_balancer},
                "Minimum",
            ),
        ),
        comparison="LessThanThreshold",
        threshold=min_healthy_targets,
        treat_missing_data="breaching",
        evaluation_periods=t.evaluation_minutes,
    )


def error_ratio_expression() -> str:
    """Percent of requests answered 5xx, by the targets or by the load balancer itself; 0 under little traffic.

    RequestCount counts only requests for which the load balancer could choose a target: with no
    healthy target its own 503s are in HTTPCode_ELB_5XX_Count alone. Those are added to the
    requests too, so an outage reads as 100 %, not as no traffic. (A 502/504 after a target was
    chosen is then counted twice in the denominator: the ratio errs low, never silent.)
    """
    errors = "FILL(targets, 0) + FILL(elb, 0)"
    answered = "(FILL(requests, 0) + FILL(elb, 0))"
    return f"IF({answered} >= {MIN_REQUESTS_FOR_RATIO}, 100 * ({errors}) / {answered}, 0)"


def health_check_alarm(env: str, region: str, health_check_id: Any, t: Thresholds) -> AlarmPlan:
    """Route 53's health check of `region` failing; the alarm lives in ROUTE53_METRICS_REGION whatever `region`."""
    return AlarmPlan(
        name=alarm_name(env, region, HEALTH_CHECK),
        what=HEALTH_CHECK,
        region=ROUTE53_METRICS_REGION,
        description=f"Route 53 finds {region} unable to serve its applications for {t.evaluation_minutes} min",
        metrics=(Metric(ROUTE53_NAMESPACE, "HealthCheckStatus", {"HealthCheckId": health_check_id}, "Minimum"),),
        comparison="LessThanThreshold",
        threshold=1,
        treat_missing_data="breaching",
        evaluation_periods=t.evaluation_minutes,
        watches=region,
    )


def cluster_alarms(
    env: str, region: str, cluster: str, spot_groups: list[str], drift_thresholds: Mapping[str, float]
) -> list[AlarmPlan]:
    """From the environment's own namespace: spot fallback per group, boot failures, drift per application."""
    namespace = metrics_namespace(env)
    alarms = [
        AlarmPlan(
            name=alarm_name(env, region, f"spot-fallback-{group}"),
            what=f"spot-fallback-{group}",
            region=region,
            description=f"Worker group {group} runs its spot demand on on-demand capacity",
            metrics=(
                Metric(
                    namespace,
                    SPOT_FALLBACK_METRIC,
                    {CLUSTER_DIMENSION: cluster, NODE_GROUP_DIMENSION: group},
                    "Maximum",
                ),
            ),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            treat_missing_data="ignore",
        )
        for group in spot_groups
    ]
    alarms.append(
        AlarmPlan(
            name=alarm_name(env, region, "boot-failed"),
            what="boot-failed",
            region=region,
            description="A node failed to boot and marked its instance unhealthy",
            metrics=(Metric(namespace, BOOT_FAILED_METRIC, {CLUSTER_DIMENSION: cluster}, "Sum"),),
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            treat_missing_data="notBreaching",
        )
    )
    alarms += [
        AlarmPlan(
            name=alarm_name(env, region, f"drift-{app}"),
            what=f"drift-{app}",
            region=region,
            description=f"Inputs of {app} drifted from its model's baseline: PSI above {threshold:g}",
            metrics=(Metric(namespace, DRIFT_METRIC, {CLUSTER_DIMENSION: cluster, APPLICATION_LABEL: app}, "Maximum"),),
            comparison="GreaterThanThreshold",
            threshold=threshold,
            treat_missing_data="notBreaching",
            period=DRIFT_PERIOD_SECONDS,
        )
        for app, threshold in drift_thresholds.items()
    ]
    return alarms


@dataclass(frozen=True)
class ReplicaDemand:
    """What one deployment keeps running at its least: `replicas` replicas of `cpus` CPUs and `gpus` GPUs."""

    replicas: int
    cpus: float
    gpus: float = 0


def targets_needed(demands: list[ReplicaDemand], node_sizes: list[tuple[int, int]]) -> int:
    """The fewest workers (load-balancer targets) that can hold every deployment's minimum replicas.

    A lower bound: CPUs and GPUs each divided by the largest worker's `(vcpus, gpus)`; the head
    takes no replicas. Below it the applications certainly cannot run at their minimum, so the
    alarm never fires on a region that is only packed differently.

    >>> targets_needed([ReplicaDemand(2, 1), ReplicaDemand(2, 1)], [(8, 0), (4, 1)])
    1
    >>> targets_needed([ReplicaDemand(3, 1, gpus=1)], [(8, 0), (4, 1)])
    3
    >>> targets_needed([ReplicaDemand(0, 1)], [(8, 0)])
    0
    """
    running = [d for d in demands if d.replicas > 0]
    if not running:
        return 0
    cpus = sum(d.replicas * d.cpus for d in running)
    gpus = sum(d.replicas * d.gpus for d in running)
    most_cpus = max(v for v, _ in node_sizes)
    most_gpus = max(g for _, g in node_sizes)
    needed = math.ceil(cpus / most_cpus)
    if gpus and most_gpus:
        needed = max(needed, math.ceil(gpus / most_gpus))
    return max(needed, 1)


def topic_policy(
    topic_arn: str, account_id: str, env: str, region: str, watched: list[str], budgets: bool
) -> dict[str, Any]:
    """Who may publish to the topic: this account's alarms of `env` in `region` that watch the `watched`
    regions (its own, and in us-east-1 every region's Route 53 health check), and its budgets if they
    notify it.

    A topic policy replaces SNS's default one; the account's own principals keep their access
    through IAM (within one account, an allow in either policy suffices). AWS Budgets publishes
    only to a topic of its own account whose policy lets `budgets.amazonaws.com` do so.
    """
    statements = [
        _service_publish(
            "AlarmsPublish",
            "cloudwatch.amazonaws.com",
            topic_arn,
            account_id,
            [f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_prefix(env, r)}*" for r in watched],
        )
    ]
    if budgets:
        statements.append(
            _service_publish("BudgetsPublish", "budgets.amazonaws.com", topic_arn, account_id,
                             f"arn:aws:budgets::{account_id}:*")
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _service_publish(sid: str, service: str, topic_arn: str, account_id: str, source_arn: str | list[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}},
    }
