"""Inputs of the RayCluster component: typed fields of its own, built by the stacks layer from the config.

    RayClusterArgs(region="us-east-1", nodes=cluster_nodes(cfg, "us-east-1"), ray_version="2.60.0",
                   images={"head": NodeImage(ssm_parameter=UBUNTU), "cpu": NodeImage(ami="ami-0123...")}, ...)
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from components.node_groups import ClusterNodes
from components.ray_cluster.autoscaler_config import Scaling
from components.serve_runtime import DEFAULT_INGRESS, Ingress
from components.tags import TagContext


class NodeImage(BaseModel):
    """A launch template's machine image: a fixed AMI, or the public SSM parameter that names one per region."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ami: str | None = None
    ssm_parameter: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> NodeImage:
        if (self.ami is None) == (self.ssm_parameter is None):
            raise ValueError(f"an image is an AMI or an SSM parameter, exactly one (got ami={self.ami!r}, "
                             f"ssm_parameter={self.ssm_parameter!r})")
        return self


class GcsRedis(BaseModel):
    """The ElastiCache Redis that keeps the GCS state for head fault tolerance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_type: str
    #: Read replicas besides the primary; with one or more, failover is automatic and multi-AZ.
    replicas: int = Field(ge=0, le=5)


class RayClusterArgs(BaseModel):
    # Pulumi outputs (VPC and subnet IDs, bucket names) are carried as they are.
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str
    #: The head and worker groups: every ASG, launch template and autoscaler node type comes from here.
    nodes: ClusterNodes
    #: The `ray[serve]` version every node installs.
    ray_version: str
    #: What takes HTTP on every node: Serve's HAProxy ingress (high-throughput mode) or its Python proxy.
    serve_ingress: Ingress = DEFAULT_INGRESS
    #: How Ray's autoscaler paces itself (the rest of its config comes from `nodes`).
    scaling: Scaling
    #: Head fault tolerance: GCS state in this Redis, so a replaced head picks up where the last one was.
    #: None: no fault tolerance, and no Redis.
    gcs_redis: GcsRedis | None = None
    #: Days the cluster's log group keeps what the nodes ship (a period CloudWatch Logs accepts).
    log_retention_days: int = 30
    #: Who may reach the Ray dashboard (8265); default nobody.
    operator_cidrs: list[ipaddress.IPv4Network] = []
    #: The machine image of each node type's launch template: the head and every worker group.
    images: dict[str, NodeImage]
    tags: TagContext
    vpc_id: Any
    #: Where the nodes (and Redis) live: the region's private subnets.
    private_subnet_ids: list[Any]
    artifact_bucket_name: Any
    artifact_bucket_arn: Any
    node_agent_key: str
    #: The S3 object holding the node-agent package at `node_agent_key`: every ASG waits for it,
    #: since a node's first boot fetches it. None only where no cluster is deployed (rendering).
    node_agent: Any = None

    @model_validator(mode="after")
    def _one_cluster(self) -> RayClusterArgs:
        if self.tags.cluster != self.nodes.cluster_id:
            raise ValueError(f"tags.cluster ({self.tags.cluster}) must be the node groups' cluster ({self.nodes.cluster_id})")
        node_types = [group.name for group in self.nodes.groups]
        if sorted(self.images) != sorted(node_types):
            raise ValueError(f"images ({', '.join(sorted(self.images))}) must name every node type ({', '.join(node_types)})")
        return self

    @property
    def cluster_id(self) -> str:
        return self.nodes.cluster_id

    @property
    def head_fault_tolerance(self) -> bool:
        return self.gcs_redis is not None
