"""What the failover drill acts on: the IDs in the stack's `failover` output, read from Pulumi or a file.

    target = target_from_outputs(read_stack_outputs("prod"), env="prod")   # stacks.outputs
    target.primary.health_check_id, [o.region for o in target.others]

Standard library only (plus the error root); the outputs come from `stacks.outputs.read_stack_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def target_from_outputs(outputs: dict[str, Any], env: str) -> DrillTarget:
    failover = outputs.get("failover")
    if not isinstance(failover, dict):
        raise DrillError(
            f"the stack outputs of '{env}' have no 'failover' entry: the stack was deployed before failover was "
            f"configured, or by an older rayfleet. Fix: run 'pulumi up --stack {env}', then drill again"
        )
    try:
        records = [
            RegionTarget(r["region"], r["role"], r["healthCheckId"], r["loadBalancerDnsName"])
            for r in failover["records"]
        ]
        target = DrillTarget(
            env=env,
            mode=failover["mode"],
            domain=failover["domain"],
            hosted_zone_id=failover["hostedZoneId"],
            primary=records[0],
            others=records[1:],
        )
    except (KeyError, IndexError, TypeError) as err:
        raise DrillError(
            f"the failover output of '{env}' lacks {err}: it was written by an older rayfleet. "
            f"Fix: run 'pulumi up --stack {env}' with this rayfleet, then drill again"
        ) from None
    if not target.others:
        raise DrillError(f"the failover output of '{env}' has one region only. Fix: add a second region")
    return target
