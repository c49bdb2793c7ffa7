"""Pure decisions of spot-to-on-demand fallback: which ASG of a worker group gets how many nodes.

Each worker group is a spot ASG plus its on-demand twin. Ray's autoscaler asks for a number of
workers per group; this module splits that number between the two ASGs:

- new demand goes to spot while spot is healthy;
- spot is *impaired* when its ASG is short of its desired count and either its scaling
  activities report a capacity failure or it has stayed short for the group's grace period
  (`fallback_after_seconds`); the shortfall then moves to the on-demand twin;
- an impaired spot market is retried for new demand after `retry_spot_after_seconds`
  ("spot capacity returns");
- as demand falls, on-demand capacity goes first.

    >>> spot = AsgState("s", min_size=0, max_size=10, desired=4, live=1)
    >>> od = AsgState("o", min_size=0, max_size=10, desired=0, live=0)
    >>> split_target(4, GroupMarkets("cpu", spot, od), spot_impaired=True)
    {'s': 1, 'o': 3}

No boto3, ray or pulumi here: the node provider feeds these functions what it read from AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Mapping

#: Substrings of a scaling activity's StatusMessage/StatusCode that mean "no capacity", as
#: EC2 Auto Scaling words them for spot and on-demand launches.
CAPACITY_FAILURE_MARKERS = (
    "InsufficientInstanceCapacity",
    "There is no Spot capacity available",
    "UnfulfillableCapacity",
    "InsufficientCapacity",
    "capacity-not-available",
    "MaxSpotInstanceCountExceeded",
    "We currently do not have sufficient",
)


@dataclass(frozen=True)
class AsgState:
    """One ASG of a group as read from AWS: its size limits, desired count and live instances."""

    asg_name: str
    min_size: int
    max_size: int
    desired: int
    #: Instances pending or in service (not terminating).
    live: int

    @property
    def shortfall(self) -> int:
        return max(0, self.desired - self.live)


@dataclass(frozen=True)
class GroupMarkets:
    """A worker group (Ray node type): its spot ASG, if spot is enabled, and its on-demand ASG."""

    node_type: str
    spot: AsgState | None
    on_demand: AsgState | None

    @property
    def desired(self) -> int:
        return sum(m.desired for m in (self.spot, self.on_demand) if m)


@dataclass(frozen=True)
class SpotMemory:
    """What the provider remembers about one group's spot market between autoscaler updates."""

    #: When the spot ASG was first seen short of its desired count (epoch seconds).
    short_since: float | None = None
    #: Until when new demand avoids spot after a failure (epoch seconds).
    impaired_until: float | None = None
    #: Why spot was last judged impaired, for logs and node status.
    reason: str = ""


def capacity_failure(activities: Iterable[Mapping], since: datetime | None = None) -> str | None:
    """The first capacity failure among an ASG's scaling activities (newest first), if any.

    `activities` are `describe_scaling_activities` entries; only those started at or after
    `since` count, so a failure from an earlier shortage does not trip the fallback again.
    """
    for activity in activities:
        started = activity.get("StartTime")
        if since is not None and isinstance(started, datetime) and started < since:
            continue
        text = f"{activity.get('StatusCode', '')} {activity.get('StatusMessage', '')}"
        # A failed activity for another reason (a bad AMI, a missing role) is no case for on-demand.
        if any(marker in text for marker in CAPACITY_FAILURE_MARKERS):
            return activity.get("StatusMessage") or activity.get("StatusCode")
    return None


def assess_spot(
    memory: SpotMemory,
    spot: AsgState,
    failure: str | None,
    *,
    now: float,
    grace_seconds: float,
    retry_after_seconds: float,
) -> SpotMemory:
    """The group's spot memory after one observation of its spot ASG.

    `failure` is a capacity failure read from the ASG's activities since it went short.
    """
    short_since = memory.short_since
    if spot.shortfall > 0:
        short_since = short_since if short_since is not None else now
    else:
        short_since = None
    impaired_until, reason = memory.impaired_until, memory.reason
    if spot.shortfall > 0:
        if failure:
            impaired_until, reason = now + retry_after_seconds, f"spot capacity failure: {failure}"
        elif short_since is not None and now - short_since >= grace_seconds:
            impaired_until = now + retry_after_seconds
            reason = f"spot short by {spot.shortfall} for {now - short_since:.0f}s (grace {grace_seconds:.0f}s)"
    return replace(memory, short_since=short_since, impaired_until=impaired_until, reason=reason)


def spot_impaired(memory: SpotMemory, now: float) -> bool:
    return memory.impaired_until is not None and now < memory.impaired_until


def _clamp(value: int, market: AsgState) -> int:
    return max(market.min_size, min(market.max_size, value))


def split_target(target: int, group: GroupMarkets, *, spot_impaired: bool) -> dict[str, int]:
    """Desired capacity per ASG so that the group holds `target` workers, within each ASG's min/max.

    Healthy spot: growth goes to spot, shrinkage comes off on-demand first. Impaired spot: spot
    keeps only what it actually runs and on-demand takes the rest. Whatever spot cannot hold
    (its max) overflows to on-demand; the sum exceeds `target` only when an ASG's min forces it.
    """
    target = max(0, target)
    spot, od = group.spot, group.on_demand
    if spot is None or od is None:
        only = spot or od
        if only is None:
            return {}
        return {only.asg_name: _clamp(target, only)}
    if spot_impaired:
        want_spot = min(spot.live, spot.desired, target)
        want_od = target - want_spot
    else:
        delta = target - (spot.desired + od.desired)
        if delta >= 0:
            want_spot, want_od = spot.desired + delta, od.desired
        else:
            off_od = min(od.desired, -delta)
            want_od = od.desired - off_od
            want_spot = spot.desired - (-delta - off_od)
    spot_desired = _clamp(want_spot, spot)
    # Spot over its max spills to on-demand; a spot min above the share takes it from on-demand.
    od_desired = _clamp(want_od + (want_spot - spot_desired), od)
    # What on-demand cannot hold (its max) goes back to spot, impaired or not: better a try than nothing.
    spot_desired = _clamp(spot_desired + max(0, target - spot_desired - od_desired), spot)
    # And what on-demand's min forces beyond the target comes off spot.
    spot_desired = _clamp(spot_desired - max(0, spot_desired + od_desired - target), spot)
    return {spot.asg_name: spot_desired, od.asg_name: od_desired}


def fallback_moves(group: GroupMarkets, *, spot_impaired: bool) -> dict[str, int]:
    """Desired-capacity changes that move an impaired spot ASG's shortfall to on-demand (or none)."""
    if not spot_impaired or group.spot is None or group.on_demand is None or group.spot.shortfall == 0:
        return {}
    split = split_target(group.desired, group, spot_impaired=True)
    current = {group.spot.asg_name: group.spot.desired, group.on_demand.asg_name: group.on_demand.desired}
    return {name: value for name, value in split.items() if current[name] != value}
