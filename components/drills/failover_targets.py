"""What the failover drill acts on: the primary region's health check, the others' load balancers, the zone.

    target = DrillTarget(env="prod", mode="active-passive", domain="api.example.com", hosted_zone_id="Z0...",
                         primary=RegionTarget("us-east-1", "PRIMARY", "hc-1", "a.elb"), others=[...])
    target.primary.health_check_id, [o.region for o in target.others]

Standard library only (plus the error root). The CLI builds a target from the
stack's `failover` output (`stacks.drill_target.drill_target`).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.errors import RayfleetError


class DrillError(RayfleetError):
    """The drill cannot start, or could not put the health check back."""


@dataclass(frozen=True)
class RegionTarget:
    region: str
    #: PRIMARY / SECONDARY (active-passive) or the region (active-active).
    role: str
    health_check_id: str
    load_balancer_dns_name: str


@dataclass(frozen=True)
class DrillTarget:
    """What the drill acts on, read from the stack's `failover` output."""

    env: str
    mode: str
    domain: str
    hosted_zone_id: str
    primary: RegionTarget
    others: list[RegionTarget]
