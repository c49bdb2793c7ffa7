"""A rayfleet cluster's ASGs built in moto from the node-group model, as the Ray cluster component builds
them, plus a spot capacity limit moto cannot produce on its own.

    names = build_cluster(session, "rayfleet-test-us-east-1", {"cpu": GroupSpec(max_size=10)})
    names["cpu"][Market.SPOT]  # 'rayfleet-test-us-east-1-cpu-spot'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from components.contract import CLUSTER_KEY, ENV_KEY, HEAD_NODE_TYPE, Market
from components.node_groups import ClusterNodes, GroupAsg, NodeGroup, SpotPolicy, head_group

REGION = "us-east-1"
CLUSTER = "rayfleet-test-us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images
#: The instance type of the fixture's groups (moto launches the launch template's type).
INSTANCE_TYPE = "m6i.large"


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
    """A worker group of the fixture, in the config's terms: its min and max workers, and whether it uses spot."""

    min_size: int = 0
    max_size: int = 10
    spot: bool = True

    def node_group(self, name: str, cluster: str) -> NodeGroup:
        return NodeGroup(
            name, cluster, (INSTANCE_TYPE,), self.min_size, self.max_size, self.min_size, 100,
            SpotPolicy() if self.spot else None,
        )


def build_cluster(
    session: boto3.session.Session,
    cluster: str = CLUSTER,
    groups: dict[str, GroupSpec] | None = None,
    head: bool = True,
    region: str = REGION,
) -> dict[str, dict[Market, str]]:
    """The ASGs of a cluster with these worker groups (default: one spot `cpu` group) and, unless `head` is
    false, the head's; their names by node type and market."""
    groups = groups if groups is not None else {"cpu": GroupSpec()}
    workers = tuple(spec.node_group(name, cluster) for name, spec in groups.items())
    nodes = ClusterNodes(cluster, head_group(cluster, INSTANCE_TYPE, 100), workers)
    return create_asgs(session, nodes, region, head=head)


def build_planned_cluster(session: boto3.session.Session, cfg, region: str = REGION) -> dict[str, dict[Market, str]]:
    """The cluster's ASGs exactly as the Ray cluster component builds them for `cfg` in `region`."""
    from stacks.node_groups import cluster_nodes

    return create_asgs(session, cluster_nodes(cfg, region), region, env=cfg.env)


def create_asgs(
    session: boto3.session.Session, nodes: ClusterNodes, region: str = REGION, *, head: bool = True, env: str | None = None
) -> dict[str, dict[Market, str]]:
    """Every ASG of `nodes` (the head's unless `head` is false) over one launch template: names, sizes,
    distributions and tags from the model (and `rayfleet:env` when `env` is given, as the component tags
    them). Returns their names by node type and market."""
    asg = session.client("autoscaling", region_name=region)
    ec2 = session.client("ec2", region_name=region)
    template = f"{nodes.cluster_id}-lt"
    try:
        ec2.create_launch_template(LaunchTemplateName=template, LaunchTemplateData={"ImageId": AMI, "InstanceType": INSTANCE_TYPE})
    except ec2.exceptions.ClientError as err:
        # A second cluster in the same test shares the template; any other refusal is a broken fixture.
        if err.response["Error"]["Code"] != "InvalidLaunchTemplateName.AlreadyExistsException":
            raise
    names: dict[str, dict[Market, str]] = {}
    for group in nodes.groups if head else nodes.workers:
        for planned in group.asgs:
            asg.create_auto_scaling_group(**_asg_request(planned, nodes.cluster_id, template, region, env))
            names.setdefault(group.name, {})[planned.market] = planned.name
    return names


def _asg_request(planned: GroupAsg, cluster: str, template: str, region: str, env: str | None = None) -> dict:
    """CreateAutoScalingGroup's parameters for one ASG of the model; the head has no MixedInstancesPolicy."""
    request = {
        "AutoScalingGroupName": planned.name,
        "MinSize": planned.min_size,
        "MaxSize": planned.max_size,
        "DesiredCapacity": planned.min_size,
        "AvailabilityZones": [f"{region}a"],
        "Tags": _tags(planned, cluster, env),
    }
    spec = {"LaunchTemplateName": template, "Version": "$Latest"}
    if planned.node_type == HEAD_NODE_TYPE:
        return {**request, "LaunchTemplate": spec}
    distribution = planned.distribution
    instances = {"OnDemandBaseCapacity": distribution.on_demand_base,
                 "OnDemandPercentageAboveBaseCapacity": distribution.on_demand_percent_above_base}
    if distribution.spot_allocation_strategy:
        instances["SpotAllocationStrategy"] = distribution.spot_allocation_strategy
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": spec,
            "Overrides": [{"InstanceType": t} for t in planned.instance_types],
        },
        "InstancesDistribution": instances,
    }
    return {**request, "MixedInstancesPolicy": policy}


def _tags(planned: GroupAsg, cluster: str, env: str | None) -> list[dict]:
    # Every ASG is tagged with its environment; without `env`, as the cluster's name spells it (rayfleet-<env>-<region>).
    tags = {ENV_KEY: env or cluster.split("-")[1], CLUSTER_KEY: cluster, **planned.tags, "Name": planned.name}
    return [
        {"ResourceId": planned.name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": True}
        for k, v in tags.items()
    ]


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

    Installed on the session (or client) the provider under test uses; moto itself stays untouched.
    moto records no failed scaling activity, and a botocore Stubber would have to script every call
    of Ray's loop in order, so the fake answers DescribeScalingActivities at the client's event seam
    with what EC2 Auto Scaling writes, and lets every other call through to moto.
    """

    #: The StatusMessage EC2 Auto Scaling writes when a spot pool has no capacity.
    MESSAGE = (
        "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available "
        "that matches your request. Launching EC2 instance failed."
    )

    def __init__(self, session, asg_name: str, capacity: int, report_failures: bool = True, message: str = MESSAGE):
        """`session` is the boto3 session or the client the provider under test calls through."""
        self.asg_name, self.capacity, self.report_failures, self.message = asg_name, capacity, report_failures, message
        self.requested: int | None = None
        self._plain = boto3.session.Session(region_name=REGION).client("autoscaling")
        self._shrink_to_capacity()
        events = session.events if isinstance(session, boto3.session.Session) else session.meta.events
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
                    "StatusMessage": self.message,
                    "Progress": 100,
                }
            )
        return AWSResponse("https://autoscaling.local/", 200, {}, None), {"Activities": activities}

    def restore(self, capacity: int) -> None:
        """Spot capacity comes back: the pool now holds `capacity` instances, and the ASG launches
        what it was asked for up to that, as AWS retries a failed launch by itself."""
        self.capacity = capacity
        if self.requested is not None:
            self._plain.set_desired_capacity(
                AutoScalingGroupName=self.asg_name, DesiredCapacity=min(self.requested, capacity)
            )

    def reclaim(self, count: int = 1) -> list[str]:
        """EC2 reclaims `count` running spot instances and the pool shrinks by as many: the ASG keeps
        its desired count and fails to replace them."""
        self.capacity = max(0, len(in_service_plain(self._plain, self.asg_name)) - count)
        return self._shrink_to_capacity()

    def _shrink_to_capacity(self) -> list[str]:
        """Instances beyond the pool are gone (or were never launched): AWS still asks for them."""
        group = self._plain.describe_auto_scaling_groups(AutoScalingGroupNames=[self.asg_name])["AutoScalingGroups"][0]
        extra = sorted(in_service_plain(self._plain, self.asg_name))[self.capacity:]
        if extra:
            self.requested = max(self.requested or 0, group["DesiredCapacity"])
            for iid in extra:
                self._plain.terminate_instance_in_auto_scaling_group(InstanceId=iid, ShouldDecrementDesiredCapacity=True)
        return extra


def in_service_plain(client, name: str) -> set[str]:
    group = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {i["InstanceId"] for i in group["Instances"]}
