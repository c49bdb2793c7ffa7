"""A rayfleet cluster's ASGs built in moto the way the Ray cluster component tags them, plus a spot
capacity limit moto cannot produce on its own.

    names = build_cluster(session, "rayfleet-test-us-east-1", {"cpu": GroupSpec(max_size=10)})
    names["cpu"]["spot"]  # 'rayfleet-test-us-east-1-cpu-spot'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from components.tags import CLUSTER_KEY, MARKET_KEY, NODE_TYPE_KEY

REGION = "us-east-1"
CLUSTER = "rayfleet-test-us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images


@pytest.fixture
def aws(monkeypatch):
    """moto in-process, fake credentials, one region (import this fixture into a test module)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def session(aws):
    return boto3.session.Session(region_name=REGION)


@dataclass
class GroupSpec:
    min_size: int = 0
    max_size: int = 10
    spot: bool = True
    spot_min_size: int | None = None


def _tags(asg: str, cluster: str, node_type: str, market: str) -> list[dict]:
    tags = {CLUSTER_KEY: cluster, NODE_TYPE_KEY: node_type, MARKET_KEY: market, "Name": asg}
    return [
        {"ResourceId": asg, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": True}
        for k, v in tags.items()
    ]


def build_cluster(
    session: boto3.session.Session,
    cluster: str = CLUSTER,
    groups: dict[str, GroupSpec] | None = None,
    head: bool = True,
    region: str = REGION,
) -> dict[str, dict[str, str]]:
    """Create a launch template, the head ASG (1/1) and a spot + on-demand ASG per group; return names."""
    groups = groups if groups is not None else {"cpu": GroupSpec()}
    asg = session.client("autoscaling", region_name=region)
    ec2 = session.client("ec2", region_name=region)
    template = f"{cluster}-lt"
    try:
        ec2.create_launch_template(LaunchTemplateName=template, LaunchTemplateData={"ImageId": AMI, "InstanceType": "m6i.large"})
    except ec2.exceptions.ClientError:
        pass  # a second cluster in the same test shares it
    names: dict[str, dict[str, str]] = {}

    def create(name: str, node_type: str, market: str, min_size: int, max_size: int, desired: int) -> None:
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": template, "Version": "$Latest"},
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            AvailabilityZones=[f"{region}a"],
            Tags=_tags(name, cluster, node_type, market),
        )

    if head:
        create(f"{cluster}-head", "head", "on-demand", 1, 1, 1)
        names["head"] = {"on-demand": f"{cluster}-head"}
    for group, spec in groups.items():
        names[group] = {}
        if spec.spot:
            spot_min = spec.min_size if spec.spot_min_size is None else spec.spot_min_size
            create(f"{cluster}-{group}-spot", group, "spot", spot_min, spec.max_size, spot_min)
            names[group]["spot"] = f"{cluster}-{group}-spot"
        od_min = 0 if spec.spot else spec.min_size
        create(f"{cluster}-{group}-od", group, "on-demand", od_min, spec.max_size, od_min)
        names[group]["on-demand"] = f"{cluster}-{group}-od"
    return names


def build_planned_cluster(session: boto3.session.Session, cfg, region: str = REGION) -> dict[str, dict[str, str]]:
    """The cluster's ASGs exactly as the Ray cluster component plans them for `cfg` in `region`."""
    from components.ray_cluster.plan import node_groups

    groups: dict[str, GroupSpec] = {}
    for plan in node_groups(cfg.cluster):
        spec = groups.setdefault(plan.group, GroupSpec(spot=False, max_size=plan.max_size))
        if plan.market == "spot":
            spec.spot, spec.spot_min_size, spec.min_size = True, plan.min_size, plan.min_size
        elif not spec.spot:
            spec.min_size = plan.min_size
    return build_cluster(session, cfg.cluster_id(region), groups, region=region)


def desired(session: boto3.session.Session, name: str, region: str = REGION) -> int:
    asg = session.client("autoscaling", region_name=region)
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["DesiredCapacity"]


def in_service(session: boto3.session.Session, name: str, region: str = REGION) -> list[str]:
    asg = session.client("autoscaling", region_name=region)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService")


class SpotCapacityLimit:
    """Makes one spot ASG behave like a pool with `capacity` instances: AWS keeps the requested desired
    count, launches only what the pool holds, and records the failed launch in its activities.

    Installed on the session the provider under test uses; moto itself stays untouched.
    """

    MESSAGE = "There is no Spot capacity available that matches your request. Launching EC2 instance failed."

    def __init__(self, session: boto3.session.Session, asg_name: str, capacity: int, report_failures: bool = True):
        self.asg_name, self.capacity, self.report_failures = asg_name, capacity, report_failures
        self.requested: int | None = None
        self._plain = boto3.session.Session(region_name=REGION).client("autoscaling")
        events = session.events
        events.register("before-parameter-build.autoscaling.SetDesiredCapacity", self._on_set_desired)
        events.register("before-parameter-build.autoscaling.TerminateInstanceInAutoScalingGroup", self._on_terminate)
        events.register("after-call.autoscaling.DescribeAutoScalingGroups", self._on_describe)
        events.register("before-parameter-build.autoscaling.DescribeScalingActivities", self._remember_asg)
        events.register("before-call.autoscaling.DescribeScalingActivities", self._on_activities)

    def _on_set_desired(self, params, **_):
        if params.get("AutoScalingGroupName") == self.asg_name:
            self.requested = params["DesiredCapacity"]
            params["DesiredCapacity"] = min(self.requested, self.capacity)

    def _on_terminate(self, params, **_):
        if self.requested is not None and params.get("ShouldDecrementDesiredCapacity"):
            if params["InstanceId"] in in_service_plain(self._plain, self.asg_name):
                self.requested -= 1

    def _on_describe(self, parsed, **_):
        for group in parsed.get("AutoScalingGroups", []):
            if group["AutoScalingGroupName"] == self.asg_name and self.requested is not None:
                group["DesiredCapacity"] = max(group["DesiredCapacity"], self.requested)

    def _remember_asg(self, params, context, **_):
        context["asg_name"] = params.get("AutoScalingGroupName")

    def _on_activities(self, context, **_):
        if context.get("asg_name") != self.asg_name:
            return None
        activities = []
        if self.report_failures and self.requested is not None and self.requested > self.capacity:
            activities.append(
                {
                    "ActivityId": "a-1",
                    "AutoScalingGroupName": self.asg_name,
                    "Cause": "an instance was started in response to a difference between desired and actual capacity",
                    "StartTime": dt.datetime.now(dt.timezone.utc),
                    "StatusCode": "Failed",
                    "StatusMessage": self.MESSAGE,
                    "Progress": 100,
                }
            )
        return AWSResponse("https://autoscaling.local/", 200, {}, None), {"Activities": activities}

    def restore(self, capacity: int) -> None:
        """Spot capacity comes back: the pool now holds `capacity` instances."""
        self.capacity = capacity


def in_service_plain(client, name: str) -> set[str]:
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {i["InstanceId"] for i in group["Instances"]}
