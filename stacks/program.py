"""The Pulumi program: one environment -> per region, an AWS provider and the components.

    build(load_environment("prod"))   # inside a Pulumi run (pulumi up, or the offline plan)

`build` is the only place that composes components; each component gets its
region's explicit provider, so nothing depends on the default provider's region.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cost_allocation import CostAllocation, CostAllocationArgs
from components.network import Network, NetworkArgs
from components.tags import TagContext, build_tags
from stacks.config import EnvironmentConfig


@dataclass
class RegionStack:
    """What `build` created in one region, for later components and the stack outputs."""

    name: str
    primary: bool
    provider: aws.Provider
    tags: TagContext
    network: Network


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
        stacks.append(RegionStack(region.name, index == 0, provider, tags, network))
    cost_allocation(cfg, global_provider(cfg))
    export_outputs(cfg, stacks)
    return stacks


def global_provider(cfg: EnvironmentConfig) -> aws.Provider:
    """The provider of account-wide resources (budgets, cost-allocation tags, DNS): the primary region's API."""
    primary = cfg.primary_region.name
    return aws.Provider(
        "aws-global",
        region=primary,
        default_tags=aws.ProviderDefaultTagsArgs(tags=build_tags(region_tags(cfg, primary), "default")),
    )


def cost_allocation(cfg: EnvironmentConfig, provider: aws.Provider) -> CostAllocation:
    """The environment's cost-allocation tags and budget, once per environment (they are account-wide)."""
    return CostAllocation(
        f"cost-{cfg.env}",
        CostAllocationArgs(
            env=cfg.env,
            cost_tag_keys=list(cfg.cost.tags),
            monthly_budget_usd=cfg.cost.monthly_budget_usd,
            alert_emails=list(cfg.cost.alert_emails),
            tags=region_tags(cfg, cfg.primary_region.name),
        ),
        opts=pulumi.ResourceOptions(provider=provider),
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
            }
            for s in stacks
        },
    )
