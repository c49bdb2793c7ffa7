"""Where the serving path's tests find the cluster's parts in a plan: node security group, ASGs, buckets."""

from __future__ import annotations

from stacks.plan import Plan


def node_security_group_id(plan: Plan, region: str) -> str:
    return plan.outputs["regions"][region]["nodeSecurityGroupId"]


def worker_asg_names(plan: Plan, region: str) -> set[str]:
    """Every ASG whose nodes run Serve replicas: both markets of every worker group (not the head)."""
    outputs = plan.outputs["regions"][region]
    return {name for markets in outputs["workerAsgs"].values() for name in markets.values()}


def artifact_bucket(plan: Plan, region: str) -> tuple[str, str]:
    """(bucket id, bucket ARN) of the region's artifact bucket."""
    (bucket,) = [r for r in plan.of_type("aws:s3/bucket:Bucket", region) if r.component == "artifacts"]
    return bucket.id, f"arn:aws:s3:::{bucket.id}"
