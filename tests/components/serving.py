"""Plans of the serving path (ingress, failover, replication) for the component tests.

Until the Ray cluster component is on main, the program is run with stand-in
cluster handles: a node security group ID, head and worker ASG names and
artifact bucket names per region, given as plain values.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

import stacks.program as program
from stacks.plan import Plan, run_plan


def stand_in_handles(stack) -> program.ClusterHandles:
    cluster = stack.tags.cluster

    def allow_serve_from(name: str, source):
        # What the cluster's hook does: the nodes' Serve port, from that one group.
        return aws.vpc.SecurityGroupIngressRule(
            f"stand-in-{stack.name}-serve-from-{name}",
            security_group_id=f"sg-nodes-{stack.name}",
            referenced_security_group_id=source,
            ip_protocol="tcp",
            from_port=8000,
            to_port=8000,
            opts=pulumi.ResourceOptions(provider=stack.provider),
        )

    return program.ClusterHandles(
        node_security_group_id=f"sg-nodes-{stack.name}",
        asg_names={"head": f"{cluster}-head", "cpu-spot": f"{cluster}-cpu-spot", "cpu-on-demand": f"{cluster}-cpu-od"},
        artifact_bucket_id=f"{cluster}-artifacts",
        artifact_bucket_arn=f"arn:aws:s3:::{cluster}-artifacts",
        allow_serve_from=allow_serve_from,
    )


def _build_with_stand_ins(cfg):
    stacks = program.build_regions(cfg)
    serving = program.add_serving(cfg, stacks, {s.name: stand_in_handles(s) for s in stacks})
    program.export_outputs(cfg, stacks, serving)
    return stacks


def serving_plan(env: str | None = None, *, path: Path | None = None) -> Plan:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(program, "build", _build_with_stand_ins)
        return run_plan(env, path=path)


def node_security_group_id(plan: Plan, region: str) -> str:
    return f"sg-nodes-{region}"


def proxy_asg_names(plan: Plan, region: str) -> set[str]:
    cluster = plan.outputs["regions"][region]["cluster"]
    return {f"{cluster}-head", f"{cluster}-cpu-spot", f"{cluster}-cpu-od"}


def artifact_bucket(plan: Plan, region: str) -> tuple[str, str]:
    """(bucket id, bucket ARN) of the region's artifact bucket."""
    cluster = plan.outputs["regions"][region]["cluster"]
    return f"{cluster}-artifacts", f"arn:aws:s3:::{cluster}-artifacts"
