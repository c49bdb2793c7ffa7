"""The failover drill's target, from the stack's typed `failover` output.

    target = drill_target(read_stack_outputs("prod"), "prod")   # stacks.outputs
    target.primary.health_check_id, [o.region for o in target.others]

The drills (components/drills) know nothing of stack outputs; this is where
the outputs model becomes their `DrillTarget`, with the checks the drill needs.
"""

from __future__ import annotations

from components.drills.failover_targets import DrillError, DrillTarget, RegionTarget
from stacks.outputs_model import StackOutputs

#: What the drill reads from `failover` and from each of its records.
_FAILOVER_NEEDS = ("mode", "domain", "hosted_zone_id", "records")
_RECORD_NEEDS = ("region", "role", "health_check_id", "load_balancer_dns_name")


def drill_target(outputs: StackOutputs, env: str) -> DrillTarget:
    """The drill's target: the first failover record is the primary, the rest are where traffic may go."""
    failover = outputs.failover
    if failover is None:
        raise DrillError(
            f"the stack outputs of '{env}' have no 'failover' entry: the stack was deployed before failover was "
            f"configured, or by an older rayfleet. Fix: run 'pulumi up --stack {env}', then drill again"
        )
    records = failover.records or []
    missing = failover.missing(*_FAILOVER_NEEDS) + [key for r in records for key in r.missing(*_RECORD_NEEDS)]
    if missing:
        raise DrillError(
            f"the failover output of '{env}' lacks {', '.join(repr(k) for k in dict.fromkeys(missing))}: it was "
            f"written by an older rayfleet. Fix: run 'pulumi up --stack {env}' with this rayfleet, then drill again"
        )
    regions = [RegionTarget(r.region, r.role, r.health_check_id, r.load_balancer_dns_name) for r in records]
    if len(regions) < 2:
        raise DrillError(f"the failover output of '{env}' has one region only. Fix: add a second region")
    return DrillTarget(
        env=env,
        mode=failover.mode,
        domain=failover.domain,
        hosted_zone_id=failover.hosted_zone_id,
        primary=regions[0],
        others=regions[1:],
    )
