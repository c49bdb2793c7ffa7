"""Pure decisions of global failover: health-check timing, record routing per region, what users wait for.

    >>> [(r.region, r.policy, r.role) for r in records("active-passive", ["us-east-1", "us-west-2"])]
    [('us-east-1', 'failover', 'PRIMARY'), ('us-west-2', 'failover', 'SECONDARY')]
    >>> outage_timeline(60).worst_case_seconds, app_outage_timeline(60).worst_case_seconds
    (120, 132)

No pulumi, boto3 or ray imports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from components.contract import REGION_HEALTH_REFRESH_SECONDS, REGION_HEALTH_ROUTE

FailoverMode = Literal["active-passive", "active-active"]

#: Route 53 health checks (per region, from ~15 checker locations).
HEALTH_CHECK_TYPE = "HTTPS"
HEALTH_CHECK_PORT = 443
#: The region answers 200 there only while it can serve every configured application (a Serve
#: application the renderer adds); Serve's own /-/healthz stays 200 with no replica running.
HEALTH_CHECK_PATH = REGION_HEALTH_ROUTE
#: 10 s is the "fast" interval Route 53 offers (the other is 30 s).
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_FAILURE_THRESHOLD = 3
#: Route 53's own delay between a health-check verdict and its DNS servers answering differently.
#: AWS does not publish a bound; observed values are tens of seconds, so plan with 30.
ROUTE53_PROPAGATION_SECONDS = 30
#: Serve checks every replica this often (`health_check_period_s` in the rendered Serve config), so it
#: sees a replica that died at its next check at the latest; the region-health route then answers 503
#: from a status at most REGION_HEALTH_REFRESH_SECONDS old.
SERVE_REPLICA_CHECK_SECONDS = 10


@dataclass(frozen=True)
class RecordPlan:
    region: str
    #: `failover` (active-passive) or `latency` (active-active).
    policy: Literal["failover", "latency"]
    #: PRIMARY/SECONDARY for failover records; the region for latency records.
    role: str
    #: Route 53's set identifier: unique among the records of one name.
    set_identifier: str


def records(mode: FailoverMode, regions: list[str]) -> list[RecordPlan]:
    """One alias record per region for the environment's domain.

    active-passive: the first region is PRIMARY, the second SECONDARY (Route 53
    has no third failover role; the config model allows exactly two regions here).
    active-active: one latency record per region.
    """
    if len(regions) < 2:
        raise ValueError(f"failover needs at least two regions, got {regions}")
    if mode == "active-passive":
        if len(regions) != 2:
            raise ValueError(f"active-passive failover routes between exactly two regions, got {regions}")
        return [
            RecordPlan(regions[0], "failover", "PRIMARY", f"{regions[0]}-primary"),
            RecordPlan(regions[1], "failover", "SECONDARY", f"{regions[1]}-secondary"),
        ]
    return [RecordPlan(region, "latency", region, f"{region}-latency") for region in regions]


@dataclass(frozen=True)
class OutageTimeline:
    """What a client sees when a region stops answering 200 on its health route, in seconds."""

    detection_seconds: int
    propagation_seconds: int
    ttl_seconds: int
    #: Before Route 53's checks can fail: how long the region-health route may still answer 200
    #: (0 when the load balancer itself fails or has no worker left to forward to).
    serve_detection_seconds: int = 0

    @property
    def route53_switch_seconds(self) -> int:
        """From the outage until Route 53's servers answer with the healthy region."""
        return self.serve_detection_seconds + self.detection_seconds + self.propagation_seconds

    @property
    def worst_case_seconds(self) -> int:
        """Until every client whose resolver cached the old answer just before the switch moves too."""
        return self.route53_switch_seconds + self.ttl_seconds


def outage_timeline(ttl_seconds: int) -> OutageTimeline:
    """The region is gone: its load balancer fails, or has no worker left (it answers 503 itself)."""
    return OutageTimeline(
        detection_seconds=HEALTH_CHECK_INTERVAL_SECONDS * HEALTH_CHECK_FAILURE_THRESHOLD,
        propagation_seconds=ROUTE53_PROPAGATION_SECONDS,
        ttl_seconds=ttl_seconds,
    )


def app_outage_timeline(ttl_seconds: int) -> OutageTimeline:
    """An application loses every replica while the region's load balancer and proxies still answer."""
    return replace(
        outage_timeline(ttl_seconds),
        serve_detection_seconds=SERVE_REPLICA_CHECK_SECONDS + REGION_HEALTH_REFRESH_SECONDS,
    )
