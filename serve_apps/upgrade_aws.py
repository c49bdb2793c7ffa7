"""The upgrade's `Fleet` on AWS: a slot's healthy targets, the environment's firing alarms, a slot's workers drained.

    fleet = AwsFleet()
    fleet.healthy_targets("us-east-1", target_group_arn)      # elbv2 DescribeTargetHealth: targets `healthy`
    fleet.firing_alarms("prod", "us-east-1", names)           # CloudWatch DescribeAlarms, StateValue ALARM
    fleet.drain_workers("us-east-1", ["rayfleet-prod-us-east-1-cpu-spot", ...])

Draining sets each worker ASG's minimum, maximum and desired capacity to 0. AWS
empties a group before deleting it by minimum and desired 0 (DeleteAutoScalingGroup),
but Ray's autoscaler keeps each node type at its min_workers through our node
provider, which sets the desired capacity within the group's bounds: a maximum of
0 is what keeps it from starting the workers again. Auto Scaling then
terminates the instances, each through the cluster's rayfleet-drain lifecycle
hook (Terminating:Wait), where the node agent drains Ray before the instance
goes. A force delete, by contrast, "also deletes any outstanding lifecycle
actions" (DeleteAutoScalingGroup, ForceDelete), so the retire step's `pulumi up`
finds the workers already gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from components.errors import RayfleetError
from serve_apps.environment_status import boto_client, read_alarms, read_targets
from stacks.upgrade_plan import AsgSize

#: IAM actions the upgrade needs besides `pulumi up`'s, next to the code that calls them.
PERMISSIONS = (
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:DescribeAlarms",
    "autoscaling:UpdateAutoScalingGroup",  # the drain, and a rollback's restore
    "autoscaling:DescribeAutoScalingGroups",
)


class AwsFleet:
    def __init__(
        self,
        drain_timeout_seconds: float = 900.0,
        poll_seconds: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] = lambda line: None,
    ):
        self.drain_timeout_seconds = drain_timeout_seconds
        self.poll_seconds = poll_seconds
        self.sleep, self.clock, self.progress = sleep, clock, progress

    def healthy_targets(self, region: str, target_group_arn: str) -> int:
        return read_targets(boto_client("elbv2", region), target_group_arn)[0]

    def firing_alarms(self, env: str, region: str, names: list[str]) -> list[str]:
        """Which of the alarms `names` of `env` watching `region` are in ALARM: `rayfleet status`'s reading, in
        the region and in us-east-1, where Route 53's health-check alarms live."""
        return [alarm.name for alarm in read_alarms(boto_client, env, region)
                if alarm.name in names and alarm.state == "ALARM"]

    def worker_sizes(self, region: str, asg_names: list[str]) -> dict[str, AsgSize]:
        """Each ASG's minimum, maximum and desired capacity now."""
        import boto3

        groups = boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups(
            AutoScalingGroupNames=_named(region, asg_names))["AutoScalingGroups"]
        return {g["AutoScalingGroupName"]: AsgSize(min=g["MinSize"], max=g["MaxSize"], desired=g["DesiredCapacity"])
                for g in groups}

    def restore_workers(self, region: str, sizes: dict[str, AsgSize]) -> None:
        """Give drained ASGs back their sizes: Auto Scaling launches the workers, Ray's autoscaler takes them."""
        import boto3

        autoscaling = boto3.client("autoscaling", region_name=region)
        for name, size in sizes.items():
            autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=size.min, MaxSize=size.max, DesiredCapacity=size.desired)

    def drain_workers(self, region: str, asg_names: list[str]) -> None:
        import boto3

        autoscaling = boto3.client("autoscaling", region_name=region)
        for name in _named(region, asg_names):
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0)
        deadline = self.clock() + self.drain_timeout_seconds
        while (left := self._instances(autoscaling, asg_names)) > 0:
            if self.clock() >= deadline:
                raise RayfleetError(
                    f"workers still running in {region} after {self.drain_timeout_seconds:.0f} s of draining: {left} "
                    f"({', '.join(asg_names)}). Fix: look at their rayfleet-drain lifecycle actions "
                    f"(`aws autoscaling describe-scaling-activities`), then --resume"
                )
            self.progress(f"  {left} workers of {region} draining")
            self.sleep(self.poll_seconds)

    @staticmethod
    def _instances(autoscaling, asg_names: list[str]) -> int:
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=asg_names)["AutoScalingGroups"]
        return sum(len(g.get("Instances", [])) for g in groups)


def _named(region: str, asg_names: list[str]) -> list[str]:
    """The names, never none: DescribeAutoScalingGroups without names describes every group of the region."""
    if not asg_names:
        raise RayfleetError(
            f"no worker ASGs of the old slot in {region}: the stack outputs name none (regions.{region}.workerAsgs), "
            f"and without names Auto Scaling would answer for every group of the region. Fix: run `pulumi up` so the "
            f"outputs list them, then --resume"
        )
    return asg_names
