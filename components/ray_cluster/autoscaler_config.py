"""The Ray cluster config the head's autoscaler reads, rendered from a region's node groups.

    >>> config = autoscaler_config(cluster_nodes(load_environment("prod"), "us-east-1"), "us-east-1", Scaling())
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

from dataclasses import dataclass
from typing import Any

import yaml

from components.node_groups import ClusterNodes
from components.ray_cluster.plan import HEAD_NODE_TYPE, HEAD_RESOURCES, node_resources

NODE_PROVIDER_CLASS = "components.node_agents.node_provider.AsgNodeProvider"

#: Fields of Ray's cluster launcher that mean nothing with an external provider whose nodes boot from
#: user data, written out empty because `prepare_config` would not fill them in.
UNUSED_LAUNCHER_FIELDS: dict[str, Any] = {
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


@dataclass(frozen=True)
class Scaling:
    """How Ray's autoscaler paces itself: how fast it adds nodes, how long an idle one stays."""

    upscaling_speed: float = 1.0
    idle_timeout_minutes: float = 5


def autoscaler_config(nodes: ClusterNodes, region: str, scaling: Scaling) -> dict[str, Any]:
    """The autoscaler config of the cluster whose node groups are `nodes`, in `region`."""
    return {
        "cluster_name": nodes.cluster_id,
        "max_workers": sum(group.max_workers for group in nodes.workers),
        "upscaling_speed": scaling.upscaling_speed,
        "idle_timeout_minutes": scaling.idle_timeout_minutes,
        "provider": provider_section(nodes, region),
        "auth": {},
        "head_node_type": HEAD_NODE_TYPE,
        "available_node_types": node_types(nodes),
        **UNUSED_LAUNCHER_FIELDS,
    }


def provider_section(nodes: ClusterNodes, region: str) -> dict[str, Any]:
    """What rayfleet's node provider reads: where the cluster's ASGs are, when spot falls back and
    how fast workers move back to it."""
    return {
        "type": "external",
        "module": NODE_PROVIDER_CLASS,
        "region": region,
        "cluster_name": nodes.cluster_id,
        # BatchingNodeProvider requires all three: nodes are set up by user data, not by SSH updaters.
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
        "foreground_node_launch": True,
        "fallback_after_seconds": {group.name: group.fallback_after_seconds for group in nodes.workers},
        # Moving workers back to spot replaces each one: launch on spot, then drain the on-demand one.
        "consolidate_nodes_per_minute": {group.name: group.consolidate_nodes_per_minute for group in nodes.workers},
    }


def node_types(nodes: ClusterNodes) -> dict[str, Any]:
    """The head, then one node type per worker group, in config order."""
    types: dict[str, Any] = {
        HEAD_NODE_TYPE: {"resources": dict(HEAD_RESOURCES), "node_config": {}, "min_workers": 0, "max_workers": 0}
    }
    for group in nodes.workers:
        types[group.name] = {
            "resources": node_resources(group),
            # The node provider finds a type's ASGs by tags; nothing per node is configured here.
            "node_config": {},
            "min_workers": group.min_workers,
            "max_workers": group.max_workers,
        }
    return types


def to_yaml(config: dict[str, Any]) -> str:
    """The config as the YAML file the head writes (key order kept, so diffs read well)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100)
