"""Inputs of the Alerts and Dashboard components."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.alarms.plan import ROUTE53_METRICS_REGION, AlarmPlan, Thresholds
from components.tags import TagContext


class IngressSignals(BaseModel):
    """The region's load balancer, as CloudWatch names it in its dimensions (values may be Pulumi outputs)."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    #: `app/<name>/<id>`: the `LoadBalancer` dimension.
    load_balancer_arn_suffix: Any
    #: `targetgroup/<name>/<id>`: the `TargetGroup` dimension.
    target_group_arn_suffix: Any
    #: Healthy targets below which the region cannot hold its apps' minimum replicas; 0: no such alarm.
    min_healthy_targets: int = Field(ge=0)


class ClusterSignals(BaseModel):
    """What the region's cluster publishes to the environment's namespace, and what its apps tolerate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The cluster's name: the `Cluster` dimension of its metrics.
    name: str
    #: Worker groups with an on-demand twin to fall back to.
    spot_groups: list[str] = []
    #: Each Serve application's drift threshold (population stability index), by application name.
    drift_thresholds: dict[str, float] = {}


class SlotSignals(BaseModel):
    """Mid-upgrade, the new cluster slot beside the live one: its own target group and its cluster's metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    slot: str
    #: `targetgroup/<name>/<id>` of the slot's target group, behind the region's one load balancer.
    target_group_arn_suffix: Any
    cluster: ClusterSignals


class AlertsArgs(BaseModel):
    """One region's SNS topic and alarms. A region without a cluster may hold only Route 53's alarms."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    env: str
    region: str
    #: Subscribed to the topic by e-mail (each confirms once, from the message AWS sends).
    alert_emails: list[str] = []
    thresholds: Thresholds
    ingress: IngressSignals | None = None
    cluster: ClusterSignals | None = None
    #: Mid-upgrade, the new slot's signals: it gets its own healthy-targets and cluster alarms.
    next_slot: SlotSignals | None = None
    #: Route 53 health-check ID by the region it checks: alarms only where Route 53 publishes its metrics.
    health_checks: dict[str, Any] = {}
    #: Let AWS Budgets publish to the topic: the environment's budget notifies it.
    budgets_publish: bool = False
    tags: TagContext

    @model_validator(mode="after")
    def _health_checks_where_route53_publishes(self) -> AlertsArgs:
        if self.health_checks and self.region != ROUTE53_METRICS_REGION:
            raise ValueError(
                f"health-check alarms belong in {ROUTE53_METRICS_REGION}, where Route 53 publishes its metrics, "
                f"not in {self.region}"
            )
        return self


class DashboardArgs(BaseModel):
    """The environment's dashboard: per watched region, the alarms whose signals it shows."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    env: str
    sections: dict[str, list[AlarmPlan]]
