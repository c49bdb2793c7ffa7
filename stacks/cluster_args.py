"""The Ray cluster's inputs in one region, built from the validated config: the component's args and the
autoscaler config `rayfleet render autoscaler` prints.

    >>> args = ray_cluster_args(cfg, "us-east-1", tags, network, artifacts)   # inside the program
    >>> args.nodes.workers[0].name, args.gcs_redis.node_type
    ('cpu', 'cache.t4g.medium')
    >>> region_autoscaler_config(load_environment("prod"), "us-east-1")["cluster_name"]
    'rayfleet-prod-us-east-1'

With `stacks/node_groups.py` (the node groups), the one place the config's
`cluster` section becomes the Ray cluster component's typed inputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from components.contract import HEAD_NODE_TYPE
from components.errors import RayfleetError
from components.ray_cluster.args import GcsRedis, NodeImage, RayClusterArgs
from components.ray_cluster.autoscaler_config import Scaling, autoscaler_config
from components.tags import TagContext
from stacks.config import ClusterConfig, EnvironmentConfig, ImageConfig
from stacks.node_groups import cluster_nodes

if TYPE_CHECKING:
    from components.artifacts import Artifacts
    from components.network import Network


class UnknownRegionError(RayfleetError):
    """A region was asked for that the environment does not deploy to."""


def ray_cluster_args(
    cfg: EnvironmentConfig, region: str, tags: TagContext, network: Network, artifacts: Artifacts
) -> RayClusterArgs:
    """The Ray cluster of `cfg` in `region`, in the region's private subnets, with its artifact bucket."""
    cluster = cfg.cluster
    return RayClusterArgs(
        region=region,
        nodes=cluster_nodes(cfg, region),
        ray_version=cluster.ray_version,
        serve_ingress=cfg.serve.ingress,
        scaling=scaling(cluster),
        gcs_redis=GcsRedis(node_type=cluster.redis.node_type, replicas=cluster.redis.replicas)
        if cluster.head_fault_tolerance
        else None,
        operator_cidrs=cluster.operator_cidrs,
        images=node_images(cluster),
        tags=tags,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        artifact_bucket_name=artifacts.bucket_name,
        artifact_bucket_arn=artifacts.bucket_arn,
        node_agent_key=artifacts.node_agent_key,
        node_agent=artifacts.node_agent,
    )


def region_autoscaler_config(cfg: EnvironmentConfig, region: str) -> dict[str, Any]:
    """The autoscaler config the head of `cfg`'s cluster in `region` runs with; the region must be `cfg`'s."""
    if region not in cfg.region_names:
        regions = ", ".join(cfg.region_names)
        raise UnknownRegionError(
            f"region '{region}' is not in environment '{cfg.env}' (its regions: {regions}). "
            f"Fix: pass --region with one of {regions}"
        )
    return autoscaler_config(cluster_nodes(cfg, region), region, scaling(cfg.cluster))


def scaling(cluster: ClusterConfig) -> Scaling:
    return Scaling(upscaling_speed=cluster.upscaling_speed, idle_timeout_minutes=cluster.idle_timeout_minutes)


def node_images(cluster: ClusterConfig) -> dict[str, NodeImage]:
    """Each launch template's image: the cluster's for the head, a worker group's own where it has one."""
    images = {HEAD_NODE_TYPE: node_image(cluster.image)}
    images.update({group.name: node_image(group.image or cluster.image) for group in cluster.worker_groups})
    return images


def node_image(image: ImageConfig) -> NodeImage:
    # A configured AMI wins over the SSM parameter, which always has its default.
    return NodeImage(ami=image.ami) if image.ami else NodeImage(ssm_parameter=image.ssm_parameter)
