"""The Ray cluster config the head's autoscaler reads, rendered per region from the environment.

    >>> config = autoscaler_config(load_environment("prod"), "us-east-1")
    >>> config["provider"]["module"], sorted(config["available_node_types"])
    ('components.node_agents.node_provider.AsgNodeProvider', ['cpu', 'gpu', 'head'])

The head writes it to /etc/rayfleet/autoscaler.yaml (user data) and starts
`ray start --head --autoscaling-config=...`; Ray's monitor then runs
`prepare_config` and `validate_config` on it. With `provider.type: external`,
`prepare_config` fills in almost nothing, so every field Ray reads is written
out here, even when empty. The provider section is the contract with
rayfleet's node provider (components/node_agents/node_provider.py).
"""

from __future__ import annotations

from typing import Any

import yaml

from components.ray_cluster.plan import HEAD_NODE_TYPE, HEAD_RESOURCES, node_resources
from components.errors import RayfleetError

NODE_PROVIDER_CLASS = "components.node_agents.node_provider.AsgNodeProvider"


class UnknownRegionError(RayfleetError):
    """A region was asked for that the environment does not deploy to."""


def autoscaler_config(cfg, region: str) -> dict[str, Any]:
    """The autoscaler config of `cfg` (a `stacks.config.EnvironmentConfig`) in `region`."""
    if region not in cfg.region_names:
        regions = ", ".join(cfg.region_names)
        raise UnknownRegionError(
            f"region '{region}' is not in environment '{cfg.env}' (its regions: {regions}). "
            f"Fix: pass --region with one of {regions}"
        )
    cluster = cfg.cluster
    node_types: dict[str, Any] = {
        HEAD_NODE_TYPE: {"resources": dict(HEAD_RESOURCES), "node_config": {}, "min_workers": 0, "max_workers": 0}
    }
    for group in cluster.worker_groups:
        node_types[group.name] = {
            "resources": node_resources(group),
            # The node provider finds a type's ASGs by tags; nothing per node is configured here.
            "node_config": {},
            "min_workers": group.min_workers,
            "max_workers": group.max_workers,
        }
    return {
        "cluster_name": cfg.cluster_id(region),
        "max_workers": sum(g.max_workers for g in cluster.worker_groups),
        "upscaling_speed": cluster.upscaling_speed,
        "idle_timeout_minutes": cluster.idle_timeout_minutes,
        "provider": {
            "type": "external",
            "module": NODE_PROVIDER_CLASS,
            "region": region,
            "cluster_name": cfg.cluster_id(region),
            # BatchingNodeProvider requires all three: nodes are set up by user data, not by SSH updaters.
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "foreground_node_launch": True,
            "fallback_after_seconds": {g.name: g.spot.fallback_after_seconds for g in cluster.worker_groups},
        },
        "auth": {},
        "head_node_type": HEAD_NODE_TYPE,
        "available_node_types": node_types,
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
        "no_restart": False,
    }


def to_yaml(config: dict[str, Any]) -> str:
    """The config as the YAML file the head writes (key order kept, so diffs read well)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100)
