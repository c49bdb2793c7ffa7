"""The user data's inputs for one prod region's nodes (and a dev head): what the user-data tests render."""

from __future__ import annotations

import dataclasses

from components.contract import HEAD_NODE_TYPE, metrics_namespace
from components.ray_cluster.plan import head_record_name, log_group_name
from components.ray_cluster.userdata import NodeBoot, RedisBoot

CLUSTER = "rayfleet-prod-us-east-1"
BASE = NodeBoot(
    cluster_id=CLUSTER,
    region="us-east-1",
    node_type=HEAD_NODE_TYPE,
    ray_version="2.60.0",
    artifact_bucket="rayfleet-prod-us-east-1-0123456789ab",
    agent_key="node-agent/rayfleet-node-agent.zip",
    dashboard_token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:dashboard-token-AbCdEf",
    head_address=head_record_name(CLUSTER),
    gcs_fault_tolerance=True,
    metrics_namespace=metrics_namespace("prod"),
    log_group=log_group_name(CLUSTER),
)
HEAD = dataclasses.replace(
    BASE,
    hosted_zone_id="Z0123456789ABCDEFGHIJ",
    autoscaler_yaml="cluster_name: rayfleet-prod-us-east-1\nmax_workers: 24\n",
    redis=RedisBoot(
        "master.rayfleet-prod-us-east-1-gcs.abc123.use1.cache.amazonaws.com",
        6379,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-GhIjKl",
    ),
)
GPU_WORKER = dataclasses.replace(BASE, node_type="gpu", gpus=1, resources={"video_slots": 2})
DEV_HEAD = dataclasses.replace(
    HEAD,
    cluster_id="rayfleet-dev-us-west-2",
    region="us-west-2",
    redis=None,
    gcs_fault_tolerance=False,
    metrics_namespace=metrics_namespace("dev"),
    log_group=log_group_name("rayfleet-dev-us-west-2"),
)
CPU_WORKER = dataclasses.replace(GPU_WORKER, node_type="cpu", gpus=0, resources={})


def written(script: str, path: str) -> str:
    """The content a rendered user data script writes to `path` with its heredoc."""
    start = script.index(f"cat > {path} <<'RAYFLEET_EOF'\n") + len(f"cat > {path} <<'RAYFLEET_EOF'\n")
    return script[start:script.index("RAYFLEET_EOF\n", start)]


def ray_env_file(script: str) -> dict[str, str]:
    """The variables a rendered user data script writes to /etc/rayfleet/ray.env (the Ray units' environment)."""
    return dict(line.split("=", 1) for line in written(script, "/etc/rayfleet/ray.env").splitlines())


def template_script(template) -> str:
    """The script a planned launch template's nodes run: its `userData`, unpacked as cloud-init does."""
    return unpack_user_data(template.inputs["userData"])


def unpack_user_data(user_data: str) -> str:
    """A launch template's base64 `UserData` as cloud-init runs it: gunzipped when it is gzip-compressed."""
    import base64
    import gzip

    data = base64.b64decode(user_data)
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()
