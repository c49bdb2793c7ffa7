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

from components.alarms.args import AlertsArgs, ClusterSignals, IngressSignals
from components.alarms.plan import ReplicaDemand, Thresholds, targets_needed
from components.catalog import instance_type
from components.contract import HEAD_NODE_TYPE
from components.errors import RayfleetError
from components.ray_cluster.args import GcsRedis, NodeImage, RayClusterArgs
from components.ray_cluster.autoscaler_config import Scaling, autoscaler_config
from components.tags import TagContext
from stacks.config import ClusterConfig, EnvironmentConfig, ImageConfig, ServeConfig
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
        log_retention_days=cfg.observability.log_retention_days,
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


def alerts_args(
    cfg: EnvironmentConfig,
    region: str,
    tags: TagContext,
    ingress: IngressSignals | None,
    *,
    health_checks: dict[str, Any] | None = None,
    budgets_publish: bool = False,
) -> AlertsArgs:
    """The alarms of `cfg` in `region`: its load balancer's (`ingress`) and its cluster's, if it has one."""
    alarms = cfg.observability.alarms
    cluster = cluster_signals(cfg, region) if region in cfg.region_names else None
    return AlertsArgs(
        env=cfg.env,
        region=region,
        alert_emails=list(cfg.cost.alert_emails),
        thresholds=Thresholds(
            error_rate_percent=alarms.error_rate_percent,
            latency_p99_seconds=alarms.latency_p99_seconds,
            evaluation_minutes=alarms.evaluation_minutes,
        ),
        ingress=ingress,
        cluster=cluster,
        health_checks=health_checks or {},
        budgets_publish=budgets_publish,
        tags=tags,
    )


def cluster_signals(cfg: EnvironmentConfig, region: str) -> ClusterSignals:
    """What `cfg`'s cluster slot in `region` publishes that alarms watch."""
    return ClusterSignals(
        name=cfg.cluster_id(region),
        spot_groups=[group.name for group in cluster_nodes(cfg, region).workers if group.spot is not None],
        drift_thresholds={app.name: app.drift.threshold for app in cfg.serve.applications},
    )


def min_healthy_targets(cfg: EnvironmentConfig) -> int:
    """The configured floor of healthy load-balancer targets, else the workers the apps' minimum replicas need."""
    configured = cfg.observability.alarms.min_healthy_targets
    if configured is not None:
        return configured
    # A lower bound wants the most a worker can hold: each group's largest instance type.
    sizes = [
        (max(instance_type(t).vcpus for t in group.instance_types), max(instance_type(t).gpus for t in group.instance_types))
        for group in cfg.cluster.worker_groups
    ]
    return targets_needed(replica_demands(cfg.serve), sizes)


def replica_demands(serve: ServeConfig) -> list[ReplicaDemand]:
    """Each application's ingress deployment at its minimum, and every deployment the config sizes itself."""
    demands = []
    for app in serve.applications:
        demands.append(ReplicaDemand(app.autoscaling.min_replicas, app.resources.cpus, app.resources.gpus))
        for override in app.deployments.values():
            count = override.num_replicas if override.autoscaling is None else override.autoscaling.min_replicas
            if count is not None and override.resources is not None:
                demands.append(ReplicaDemand(count, override.resources.cpus, override.resources.gpus))
    return demands
