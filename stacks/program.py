"""The Pulumi program: one environment -> per region, an AWS provider and the components.

    build(load_environment("prod"))   # inside a Pulumi run (pulumi up, or the offline plan)

`build` is the only place that composes components; each component gets its
region's explicit provider, so nothing depends on the default provider's region.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.artifacts import Artifacts, ArtifactsArgs
from components.network import Network, NetworkArgs
from components.ray_cluster.args import RayClusterArgs
from components.ray_cluster.autoscaler_config import autoscaler_config, to_yaml
from components.ray_cluster.component import RayCluster
from components.tags import TagContext, build_tags
from stacks.config import EnvironmentConfig

#: The repository root: where the node-agent modules are read from at deploy time.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RegionStack:
    """What `build` created in one region, for later components and the stack outputs."""

    name: str
    primary: bool
    provider: aws.Provider
    tags: TagContext
    network: Network
    artifacts: Artifacts | None = None
    cluster: RayCluster | None = None


def region_tags(cfg: EnvironmentConfig, region: str) -> TagContext:
    return TagContext(env=cfg.env, cluster=cfg.cluster_id(region), cost_tags=cfg.cost.tags)


def build(cfg: EnvironmentConfig) -> list[RegionStack]:
    stacks = []
    for index, region in enumerate(cfg.regions):
        tags = region_tags(cfg, region.name)
        provider = aws.Provider(
            f"aws-{region.name}",
            region=region.name,
            # Reaches resources that forget their tags; ASG-launched instances get
            # theirs from the ASG and launch template (see components/tags.py).
            default_tags=aws.ProviderDefaultTagsArgs(tags=build_tags(tags, "default")),
        )
        in_region = pulumi.ResourceOptions(provider=provider)
        network = Network(
            f"network-{region.name}",
            NetworkArgs(
                region=region.name,
                cidr=region.cidr,
                az_count=cfg.network.az_count,
                nat_gateways=cfg.network.nat_gateways,
                tags=tags,
            ),
            opts=in_region,
        )
        stack = RegionStack(region.name, index == 0, provider, tags, network)
        add_cluster(cfg, stack)
        stacks.append(stack)
    export_outputs(cfg, stacks)
    return stacks


def add_cluster(cfg: EnvironmentConfig, stack: RegionStack) -> None:
    """The region's artifact bucket and Ray cluster, in the region's private subnets."""
    in_region = pulumi.ResourceOptions(provider=stack.provider)
    stack.artifacts = Artifacts(
        f"artifacts-{stack.name}",
        ArtifactsArgs(region=stack.name, tags=stack.tags, source_root=SOURCE_ROOT),
        opts=in_region,
    )
    stack.cluster = RayCluster(
        f"cluster-{stack.name}",
        RayClusterArgs(
            region=stack.name,
            cluster=cfg.cluster,
            tags=stack.tags,
            autoscaler_yaml=to_yaml(autoscaler_config(cfg, stack.name)),
            vpc_id=stack.network.vpc_id,
            private_subnet_ids=stack.network.private_subnet_ids,
            artifact_bucket_name=stack.artifacts.bucket_name,
            artifact_bucket_arn=stack.artifacts.bucket_arn,
            node_agent_key=stack.artifacts.node_agent_key,
        ),
        opts=in_region,
    )


def export_outputs(cfg: EnvironmentConfig, stacks: list[RegionStack]) -> None:
    """Stack outputs the CLI reads back (`pulumi stack output --json`)."""
    pulumi.export("env", cfg.env)
    pulumi.export("primaryRegion", cfg.primary_region.name)
    pulumi.export(
        "regions",
        {
            s.name: {
                "primary": s.primary,
                "cluster": s.tags.cluster,
                "vpcId": s.network.vpc_id,
                "privateSubnetIds": s.network.private_subnet_ids,
                "publicSubnetIds": s.network.public_subnet_ids,
                **(cluster_outputs(s) if s.cluster else {}),
            }
            for s in stacks
        },
    )


def cluster_outputs(s: RegionStack) -> dict:
    """What the deployer and operators need to reach a region's cluster."""
    assert s.cluster is not None and s.artifacts is not None
    return {
        "clusterName": s.cluster.cluster_name,
        "headAsgName": s.cluster.head_asg_name,
        "workerAsgs": s.cluster.worker_asg_names,
        "headAddress": s.cluster.head_address,
        "dashboardUrl": s.cluster.dashboard_url,
        "dashboardTokenSecretArn": s.cluster.dashboard_token_secret_arn,
        "artifactBucket": s.artifacts.bucket_name,
        "nodeSecurityGroupId": s.cluster.node_security_group_id,
    }
