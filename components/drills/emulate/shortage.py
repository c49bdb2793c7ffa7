"""A spot shortage in the emulated region, as EC2 Auto Scaling shows one: no boto3, no moto.

    shortage = SpotShortage("rayfleet-dev-us-west-2-cpu-spot")
    shortage.set_desired(2, launched=1, now=now)    # 1: moto launches nothing new; one launch failed
    shortage.activities[0]["StatusMessage"]         # 'Could not launch Spot Instances. InsufficientInstanceCapacity - ...'
    shortage.desired_shown(1)                       # 2: what DescribeAutoScalingGroups answers

moto launches every instance a group asks for and records no scaling activity. On AWS, a spot
group that finds no capacity keeps its desired count, launches nothing, and records each failed
launch as a scaling activity (StatusCode "Failed"). The emulated region's AWS router (the nodes'
only way to moto) answers the short group's calls through this model: a SetDesiredCapacity
reaches moto capped at what the group already runs, the part that cannot launch is remembered
(`unlaunched`) and shown in DescribeAutoScalingGroups' DesiredCapacity, and
DescribeScalingActivities answers the failed launches, newest first. The twin, and every other
group, stay moto's.

The wording is AWS's: a spot launch that finds no capacity fails with EC2's
InsufficientInstanceCapacity, "There is no Spot capacity available that matches your request"
(AWS re:Post knowledge center, ec2-spot-instance-insufficient-capacity), and Auto Scaling's status
message wraps it as "Could not launch Spot Instances. <code> - <message>. Launching EC2 instance
failed." (the form components/node_agents/spot_fallback.py's CAPACITY_FAILURE_MARKERS match).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from components.errors import RayfleetError

#: The Query API's XML namespace of EC2 Auto Scaling (API version 2011-01-01).
NAMESPACE = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
#: Auto Scaling's status message of a spot launch that found no capacity.
SPOT_CAPACITY_FAILURE = ("Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity "
                         "available that matches your request. Launching EC2 instance failed.")


def query(body: bytes) -> dict[str, str]:
    """A Query API request's parameters (`Action=SetDesiredCapacity&AutoScalingGroupName=...`), first value each."""
    try:
        return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return {}


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def failed_launch(group: str, before: int, after: int, now: datetime, message: str = SPOT_CAPACITY_FAILURE) -> dict[str, Any]:
    """The scaling activity AWS records when `group` fails to launch from `before` to `after` instances."""
    at = _timestamp(now)
    return {
        "ActivityId": str(uuid.uuid4()),
        "AutoScalingGroupName": group,
        "Description": f"Launching a new EC2 instance.  Status Reason: {message}",
        "Cause": (f"At {at} an instance was started in response to a difference between desired and actual capacity, "
                  f"increasing the capacity from {before} to {after}."),
        "StartTime": at,
        "EndTime": at,
        "StatusCode": "Failed",
        "StatusMessage": message,
        "Progress": 100,
        "Details": "{}",
    }


@dataclass
class SpotShortage:
    """One spot group that cannot launch: its desired count beyond what it runs, and its failed launches."""

    group: str
    message: str = SPOT_CAPACITY_FAILURE
    #: Desired capacity the group holds but cannot launch.
    unlaunched: int = 0
    #: The failed launches, newest first (DescribeScalingActivities' order).
    activities: list[dict[str, Any]] = field(default_factory=list)
    #: Each desired count asked of the group, in order (the scenario's figures).
    asked: list[int] = field(default_factory=list)

    def set_desired(self, desired: int, launched: int, now: datetime) -> int:
        """The desired count moto gets when `desired` is asked and the group runs `launched` instances: no more
        than it runs. A launch beyond that fails and is recorded."""
        self.asked.append(desired)
        kept = min(desired, launched)
        self.unlaunched = desired - kept
        if self.unlaunched:
            self.activities.insert(0, failed_launch(self.group, launched, desired, now, self.message))
        return kept

    def desired_shown(self, moto_desired: int) -> int:
        """The group's DesiredCapacity as AWS would answer it: moto's, plus what could not launch."""
        return moto_desired + self.unlaunched

    def exchange(self, body: bytes, forward: Callable[[bytes], tuple[int, bytes]],
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> tuple[int, bytes] | None:
        """The AWS router's answer to a request body (aws_routing.intercepting), or None to let moto answer."""
        params = query(body)
        action, group = params.get("Action"), params.get("AutoScalingGroupName")
        if action == "DescribeAutoScalingGroups":
            status, data = forward(body)
            return status, with_desired(data, self.group, self.desired_shown) if status == 200 else data
        if group != self.group:
            return None
        if action == "DescribeScalingActivities":
            return 200, activities_answer(self.activities)
        if action == "SetDesiredCapacity" and params.get("DesiredCapacity", "").isdigit():
            kept = self.set_desired(int(params["DesiredCapacity"]), self._launched(forward), now())
            return forward(urlencode({**params, "DesiredCapacity": str(kept)}).encode())
        return None

    def _launched(self, forward: Callable[[bytes], tuple[int, bytes]]) -> int:
        """The instances moto's group holds (each names its InstanceId once in a one-group answer)."""
        ask = urlencode({"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01",
                         "AutoScalingGroupNames.member.1": self.group}).encode()
        _status, data = forward(ask)
        return data.count(b"<InstanceId>")

    def lifted(self) -> int:
        """The desired count moto gets when capacity returns: what it runs plus what could not launch."""
        unlaunched, self.unlaunched = self.unlaunched, 0
        return unlaunched


def set_desired_answer() -> bytes:
    return (f'<SetDesiredCapacityResponse xmlns="{NAMESPACE}"><ResponseMetadata><RequestId>{uuid.uuid4()}'
            "</RequestId></ResponseMetadata></SetDesiredCapacityResponse>").encode()


def activities_answer(activities: list[dict[str, Any]]) -> bytes:
    """DescribeScalingActivities' answer holding `activities`, in the Query API's XML."""
    members = "".join("<member>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in a.items()) + "</member>"
                      for a in activities)
    return (f'<DescribeScalingActivitiesResponse xmlns="{NAMESPACE}"><DescribeScalingActivitiesResult><Activities>'
            f"{members}</Activities></DescribeScalingActivitiesResult><ResponseMetadata><RequestId>{uuid.uuid4()}"
            "</RequestId></ResponseMetadata></DescribeScalingActivitiesResponse>").encode()


_GROUP_MEMBER = re.compile(rb"<member>(?:(?!</?member>).)*?<AutoScalingGroupName>(?P<name>[^<]*)</AutoScalingGroupName>",
                           re.S)


def with_desired(answer: bytes, group: str, shown: Any) -> bytes:
    """A DescribeAutoScalingGroups answer with `group`'s DesiredCapacity replaced by `shown(moto's)`.

    A group is a top-level `<member>` of AutoScalingGroups; its DesiredCapacity is a direct child, which no
    nested member (instances, tags, overrides) has."""
    out, position = [], 0
    for found in _GROUP_MEMBER.finditer(answer):
        if found.group("name").decode() != group:
            continue
        start = found.start()
        desired = re.compile(rb"<DesiredCapacity>(\d+)</DesiredCapacity>").search(answer, start)
        if desired is None:
            continue
        out += [answer[position:desired.start(1)], str(shown(int(desired.group(1)))).encode()]
        position = desired.end(1)
    return b"".join(out) + answer[position:]


def raised_demand(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The Serve config with one more replica of the first deployment that can grow (min below max, a whole CPU
    each): what a user's config change asks, one more worker's CPU. Returns the config and what changed."""
    import copy

    raised = copy.deepcopy(config)
    for app in raised["applications"]:
        for deployment in app.get("deployments", []):
            scaling = deployment.get("autoscaling_config") or {}
            cpus = (deployment.get("ray_actor_options") or {}).get("num_cpus", 0)
            low, top = scaling.get("min_replicas", 0), scaling.get("max_replicas", 0)
            if cpus >= 1 and low < top:
                scaling["min_replicas"] = low + 1
                if scaling.get("initial_replicas") is not None:
                    scaling["initial_replicas"] = max(scaling["initial_replicas"], low + 1)
                return raised, f"{app['name']}/{deployment['name']}: min replicas {low} -> {low + 1}"
    raise RayfleetError("shortage: no deployment of the deployed Serve config can grow by a replica of a whole CPU "
                        "(autoscaling min_replicas below max_replicas, ray_actor_options num_cpus >= 1), so no demand "
                        "can be raised. Fix: give one application in the stack file an autoscaling deployment with "
                        "maxReplicas above minReplicas whose replicas need a whole CPU (dev's sentiment)")


@dataclass
class ShortageFigures:
    """What the `shortage` scenario measured, in seconds from the raised demand."""

    name = "shortage"
    demand: str = ""
    spot_group: str = ""
    twin_group: str = ""
    #: The spot group's desired count asked by the node provider (None: never asked).
    spot_asked_s: float | None = None
    failed_launches: int = 0
    #: The twin's desired capacity raised by the provider's fallback.
    fallback_s: float | None = None
    twin_desired: int = 0
    #: The twin's new instance's Ray node ALIVE: the requested capacity is there.
    capacity_s: float | None = None
    #: The applications RUNNING with the raised replica placed.
    replicas_running_s: float | None = None
    #: Spot instances launched meanwhile (the shortage lets none through).
    spot_launched: int = 0
    timeout_s: float = 0.0
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {"demand": self.demand, "spotGroup": self.spot_group, "twinGroup": self.twin_group,
                "spotAskedSeconds": rounded(self.spot_asked_s), "failedLaunches": self.failed_launches,
                "fallbackSeconds": rounded(self.fallback_s), "twinDesired": self.twin_desired,
                "capacitySeconds": rounded(self.capacity_s), "replicasRunningSeconds": rounded(self.replicas_running_s),
                "spotLaunched": self.spot_launched, "error": self.error}

    def rows(self) -> list[tuple[str, str]]:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        return [("demand raised", self.demand),
                (f"spot group asked ({self.spot_group})", seconds(self.spot_asked_s)),
                ("failed spot launches (scaling activities)", str(self.failed_launches)),
                (f"shortfall moved to the on-demand twin ({self.twin_group})", seconds(self.fallback_s)),
                ("requested capacity: the twin's node ALIVE", seconds(self.capacity_s)),
                ("applications RUNNING, replica placed", seconds(self.replicas_running_s))]

    def missed(self) -> list[str]:
        out = []
        if self.spot_asked_s is None:
            out.append(f"the node provider never asked {self.spot_group} for the raised demand ({self.demand}) "
                       f"within {self.timeout_s:.0f} s")
        elif self.fallback_s is None:
            out.append(f"the shortfall of {self.spot_group} did not move to {self.twin_group} within "
                       f"{self.timeout_s:.0f} s ({self.failed_launches} failed launches recorded)")
        elif self.capacity_s is None:
            out.append(f"the twin's new node did not join Ray within {self.timeout_s:.0f} s")
        if self.spot_launched:
            out.append(f"{self.spot_launched} spot instance(s) launched during the shortage")
        if self.error:
            out.append(self.error)
        return out
