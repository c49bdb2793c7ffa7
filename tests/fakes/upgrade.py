"""Doubles for `rayfleet upgrade`'s interfaces: a stack runner and a Serve deployer that can fail at a chosen step.

    world = UpgradeWorld(stack_config=stack_config("dev"), target_groups={"blue": arn1, "green": arn2}, fail_at="shift-50")
    Upgrade(runner=world.runner, serve=world.serve, fleet=AwsFleet(sleep=lambda s: None), store=..., report=world.report)

The runner applies a config the way `pulumi up` would for what the upgrade reads
back (the stack outputs: each slot's cluster, ASGs and target group); the test
points each slot's target group at one in moto. `report` follows the upgrade's
progress lines, so a failure can be injected at any step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from components.errors import RayfleetError
from stacks.config import EnvironmentConfig
from stacks.loader import parse_stack_config
from stacks.node_groups import cluster_nodes
from stacks.outputs_model import RegionOutputs, StackOutputs, UpgradeOutputs
from stacks.slots import forward_weights, new_slot_config
from serve_apps.upgrade_aws import AwsFleet
from stacks.upgrade_plan import STEP_NAMES


class InjectedFailure(RayfleetError):
    """The failure a test asked for."""


def slot_outputs(cfg: EnvironmentConfig, region: str, target_group_arn: str) -> RegionOutputs:
    """One slot's cluster in `region` as the program's outputs name it."""
    nodes = cluster_nodes(cfg, region)
    return RegionOutputs(
        cluster=cfg.region_id(region),
        cluster_name=nodes.cluster_id,
        head_asg_name=nodes.head.asgs[0].name,
        worker_asgs={g.name: {a.market.value: a.name for a in g.asgs} for g in nodes.workers},
        dashboard_url=f"http://head.{nodes.cluster_id}.rayfleet.internal:8265",
        target_group_arn=target_group_arn,
    )


@dataclass
class UpgradeWorld:
    #: The stack's config, as its file holds it (`rayfleet:` keys).
    stack_config: dict[str, Any]
    #: The moto target group each slot's instances are registered with.
    target_groups: dict[str, str]
    fail_at: str | None = None
    #: With a failing `pulumi up`: whether the engine had applied the config before it failed.
    applied_before_failing: bool = False
    #: Fail every call at `fail_at`, not only the first (a cause that stays).
    persistent: bool = False
    step: str | None = None
    #: Every config `up` applied, in order.
    applied: list[dict[str, Any]] = field(default_factory=list)
    deployed: list[tuple[str, str]] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def report(self, line: str) -> None:
        self.lines.append(line)
        name = line.split(":", 1)[0]
        if name in STEP_NAMES:
            self.step = name

    def _fail_here(self) -> bool:
        if self.fail_at is None or self.step != self.fail_at:
            return False
        if not self.persistent:
            self.fail_at = None
        return True

    @property
    def cfg(self) -> EnvironmentConfig:
        return parse_stack_config("dev", self.stack_config, source="the fake stack")

    def weights(self) -> dict[str, int]:
        """The listener's forward weights under the last applied config."""
        return forward_weights(self.cfg)

    @property
    def runner(self) -> UpgradeWorld:
        return self

    @property
    def serve(self) -> _Serve:
        return _Serve(self)

    # --- StackRunner -------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self.stack_config)

    def outputs(self) -> StackOutputs:
        cfg = self.cfg
        new = new_slot_config(cfg)
        regions = {r: slot_outputs(cfg, r, self.target_groups[cfg.slot]) for r in cfg.region_names}
        upgrade = None
        if new is not None and cfg.upgrade is not None:
            upgrade = UpgradeOutputs(
                slot=new.slot, ray_version=new.cluster.ray_version, weight=cfg.upgrade.weight,
                regions={r: slot_outputs(new, r, self.target_groups[new.slot]) for r in cfg.region_names},
            )
        return StackOutputs(env=cfg.env, ray_version=cfg.cluster.ray_version, slot=cfg.slot, regions=regions,
                            upgrade=upgrade)

    def up(self, config: dict[str, Any]) -> StackOutputs:
        failing = self._fail_here()
        if failing and not self.applied_before_failing:
            raise InjectedFailure(f"pulumi up failed during {self.step}")
        self.stack_config = copy.deepcopy(config)
        self.applied.append(self.config())
        if failing:
            raise InjectedFailure(f"pulumi up failed during {self.step}, after the listener changed")
        return self.outputs()


@dataclass
class _Serve:
    world: UpgradeWorld

    def deploy(self, cfg: EnvironmentConfig, region: str, outputs: RegionOutputs) -> None:
        if self.world._fail_here():
            raise InjectedFailure(f"Serve deploy to {outputs.cluster_name} failed")
        self.world.deployed.append((cfg.slot, outputs.cluster_name))

    def drain(self, region: str, outputs: RegionOutputs) -> None:
        if self.world._fail_here():
            raise InjectedFailure(f"Serve drain of {outputs.cluster_name} failed")
        self.world.drained.append(outputs.cluster_name)


class ScaleInFleet(AwsFleet):
    """AwsFleet on moto, with Auto Scaling's scale-in as AWS does it: an instance leaves its group's target
    groups before it terminates (moto deregisters only on EC2 TerminateInstances)."""

    def drain_workers(self, region: str, asg_names: list[str]) -> None:
        import boto3

        if not asg_names:
            return super().drain_workers(region, asg_names)
        autoscaling = boto3.client("autoscaling", region_name=region)
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=asg_names)["AutoScalingGroups"]
        try:
            super().drain_workers(region, asg_names)
        finally:
            left = {i["InstanceId"] for g in autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=asg_names)["AutoScalingGroups"] for i in g["Instances"]}
            elbv2 = boto3.client("elbv2", region_name=region)
            for group in groups:
                gone = [{"Id": i["InstanceId"]} for i in group["Instances"] if i["InstanceId"] not in left]
                for arn in group.get("TargetGroupARNs", []):
                    if gone:
                        elbv2.deregister_targets(TargetGroupArn=arn, Targets=gone)
