"""Pure decisions of spot-to-on-demand fallback: which ASG of a worker group gets how many nodes.

Each worker group is a spot ASG plus its on-demand twin. Ray's autoscaler asks for a number of
workers per group; this module splits that number between the two ASGs:

- new demand goes to spot while spot is healthy;
- spot is *impaired* when its ASG is short of its desired count and either its scaling
  activities report a capacity failure or it has stayed short for the group's grace period
  (`fallback_after_seconds`) with no other launch failure reported; the shortfall then moves
  to the on-demand twin;
- an impaired spot ASG counts only the workers it runs: its desired or minimum capacity beyond
  them is shortfall too, so a minimum it cannot launch never stands in for workers;
- an impaired spot market is retried for new demand after `retry_spot_after_seconds`
  ("spot capacity returns");
- as demand falls, on-demand capacity goes first.

    >>> spot = AsgState("s", min_size=0, max_size=10, desired=4, live=1)
    >>> od = AsgState("o", min_size=0, max_size=10, desired=0, live=0)
    >>> split_target(4, GroupMarkets("cpu", spot, od), spot_impaired=True)
    {'s': 1, 'o': 3}
    >>> short_min = AsgState("s", min_size=2, max_size=10, desired=2, live=0)   # created during a shortage
    >>> split_target(2, GroupMarkets("cpu", short_min, od), spot_impaired=True)
    {'s': 2, 'o': 2}

No boto3, ray or pulumi here: the node provider feeds these functions what it read from AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Iterable, Mapping

#: Substrings of a scaling activity's StatusMessage/StatusCode that mean "no capacity", as
#: EC2 Auto Scaling words them for spot and on-demand launches ("Could not launch Spot Instances.
#: <EC2 error code> - <EC2 message>. Launching EC2 instance failed."): no spot or on-demand capacity
#: in the pools, a spot price below the market's, the account's spot instance limit.
CAPACITY_FAILURE_MARKERS = (
    "InsufficientInstanceCapacity",
    "There is no Spot capacity available",
    "UnfulfillableCapacity",
    "InsufficientCapacity",
    "capacity-not-available",
    "MaxSpotInstanceCountExceeded",
    "Max spot instance count exceeded",
    "SpotMaxPriceTooLow",
    "lower than the minimum required Spot request fulfillment price",
    "We currently do not have sufficient",
)

#: StatusCodes of a scaling activity that ended without launching.
FAILED_STATUS_CODES = ("Failed", "Cancelled")


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

    @property
    def requested(self) -> int:
        """The worker count this group's ASGs stand for, read from their sizes alone.

        For a provider that has not yet been asked for a count. After a fallback the spot ASG
        keeps only what it runs, or its minimum when it runs less: that minimum, beyond what runs,
        is already on the twin and must not be counted twice.
        """
        spot, od = self.spot, self.on_demand
        if spot is None or od is None:
            return self.desired
        if spot.live < spot.desired <= spot.min_size:
            return max(spot.min_size, spot.live + od.desired)
        return spot.desired + od.desired


@dataclass(frozen=True)
class SpotMemory:
    """What the provider remembers about one group's spot market between autoscaler updates."""

    #: When the spot ASG was first seen short of its desired count (epoch seconds).
    short_since: float | None = None
    #: Until when new demand avoids spot after a failure (epoch seconds).
    impaired_until: float | None = None
    #: Why spot was last judged impaired, for logs and node status.
    reason: str = ""
    #: A failed spot launch that is not a capacity failure, while the ASG is short of it.
    launch_error: str = ""


def _recent(activities: Iterable[Mapping], since: datetime | None) -> Iterable[Mapping]:
    for activity in activities:
        started = activity.get("StartTime")
        if since is None or not isinstance(started, datetime) or started >= since:
            yield activity


def _is_capacity_failure(activity: Mapping) -> bool:
    text = f"{activity.get('StatusCode', '')} {activity.get('StatusMessage', '')}"
    return any(marker in text for marker in CAPACITY_FAILURE_MARKERS)


def capacity_failure(activities: Iterable[Mapping], since: datetime | None = None) -> str | None:
    """The first capacity failure among an ASG's scaling activities (newest first), if any.

    `activities` are `describe_scaling_activities` entries; only those started at or after
    `since` count, so a failure from an earlier shortage does not trip the fallback again.
    """
    for activity in _recent(activities, since):
        if _is_capacity_failure(activity):
            return activity.get("StatusMessage") or activity.get("StatusCode")
    return None


def launch_failure(activities: Iterable[Mapping], since: datetime | None = None) -> str | None:
    """The first failed launch among the activities that is *not* a capacity failure, if any.

    A bad launch template, AMI or instance profile fails on-demand the same way: moving capacity
    would hide it, so it is reported instead and the shortfall stays where it is.
    """
    for activity in _recent(activities, since):
        if activity.get("StatusCode") in FAILED_STATUS_CODES and not _is_capacity_failure(activity):
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
    launch_error: str | None = None,
) -> SpotMemory:
    """The group's spot memory after one observation of its spot ASG.

    `failure` is a capacity failure read from the ASG's activities since it went short; AWS's
    word moves the shortfall at once. `launch_error` is a failed launch for another reason: it is
    remembered for the node status and stops the grace period from moving anything, since the
    twin would fail the same way.
    """
    short_since = memory.short_since
    if spot.shortfall > 0:
        short_since = short_since if short_since is not None else now
    else:
        short_since = None
    impaired_until, reason = memory.impaired_until, memory.reason
    error = (launch_error or "") if spot.shortfall > 0 else ""
    if spot.shortfall > 0:
        if failure:
            impaired_until, reason = now + retry_after_seconds, f"spot capacity failure: {failure}"
        # A launch failing for another reason (an invalid launch template, say) is surfaced through
        # `launch_error`, never taken for a shortage: on-demand would fail the same way.
        elif not error and short_since is not None and now - short_since >= grace_seconds:
            impaired_until = now + retry_after_seconds
            reason = f"spot short by {spot.shortfall} for {now - short_since:.0f}s (grace {grace_seconds:.0f}s)"
    return replace(memory, short_since=short_since, impaired_until=impaired_until, reason=reason, launch_error=error)


def spot_impaired(memory: SpotMemory, now: float) -> bool:
    return memory.impaired_until is not None and now < memory.impaired_until


def _clamp(value: int, market: AsgState) -> int:
    return max(market.min_size, min(market.max_size, value))


def split_target(target: int, group: GroupMarkets, *, spot_impaired: bool) -> dict[str, int]:
    """Desired capacity per ASG so that the group holds `target` workers, within each ASG's min/max.

    Healthy spot: growth goes to spot, shrinkage comes off on-demand first. Impaired spot: spot
    keeps only what it actually runs and on-demand takes the rest, including any part of spot's
    minimum that spot cannot launch. Whatever spot cannot hold (its max) overflows to on-demand;
    the sum exceeds `target` only when an ASG's min forces it.
    """
    target = max(0, target)
    spot, od = group.spot, group.on_demand
    if spot is None or od is None:
        only = spot or od
        if only is None:
            return {}
        return {only.asg_name: _clamp(target, only)}
    if spot_impaired:
        return _split_impaired(target, spot, od)
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
    # What on-demand cannot hold (its max) goes back to spot: better a try than nothing.
    spot_desired = _clamp(spot_desired + max(0, target - spot_desired - od_desired), spot)
    # And what on-demand's min forces beyond the target comes off spot.
    spot_desired = _clamp(spot_desired - max(0, spot_desired + od_desired - target), spot)
    return {spot.asg_name: spot_desired, od.asg_name: od_desired}


def _split_impaired(target: int, spot: AsgState, od: AsgState) -> dict[str, int]:
    """Only running spot nodes count: desired or minimum capacity spot fails to launch is shortfall.

    The spot ASG's minimum is requested capacity too, so the twin covers it while spot runs less;
    the minimum stays on the spot ASG (AWS allows no less), where it launches when spot returns.
    """
    target = max(target, spot.min_size)
    counted = min(spot.live, spot.max_size, max(0, target - od.min_size))
    od_desired = _clamp(target - counted, od)
    # What on-demand cannot hold (its max) stays asked of spot: better a try than nothing.
    spot_desired = _clamp(counted + max(0, target - counted - od_desired), spot)
    return {spot.asg_name: spot_desired, od.asg_name: od_desired}


def fallback_moves(group: GroupMarkets, requested: int, *, spot_impaired: bool) -> dict[str, int]:
    """Desired-capacity changes that put an impaired spot ASG's shortfall on on-demand (or none).

    `requested` is the group's worker count as last asked for (`GroupMarkets.requested` when
    nothing has been asked yet): the split is recomputed from it, not from the ASGs' desired
    counts, which include the spot capacity that is not arriving.
    """
    if not spot_impaired or group.spot is None or group.on_demand is None or group.spot.shortfall == 0:
        return {}
    split = split_target(requested, group, spot_impaired=True)
    current = {group.spot.asg_name: group.spot.desired, group.on_demand.asg_name: group.on_demand.desired}
    return {name: value for name, value in split.items() if current[name] != value}
