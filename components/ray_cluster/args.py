"""Inputs of the RayCluster component."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from components.tags import TagContext
from stacks.config import ClusterConfig


class RayClusterArgs(BaseModel):
    # Pulumi outputs (VPC and subnet IDs, bucket names) are carried as they are.
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str
    cluster: ClusterConfig
    tags: TagContext
    #: The rendered autoscaler config (autoscaler_config.to_yaml), written on the head.
    autoscaler_yaml: str
    vpc_id: Any
    #: Where the nodes (and Redis) live: the region's private subnets.
    private_subnet_ids: list[Any]
    artifact_bucket_name: Any
    artifact_bucket_arn: Any
    node_agent_key: str
