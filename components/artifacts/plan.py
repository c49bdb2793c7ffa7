"""Pure decisions about the artifact bucket: what the node-agent package holds, and where it lives.

    >>> NODE_AGENT_KEY
    'node-agent/rayfleet-node-agent.zip'
    >>> bucket_prefix("rayfleet-prod-us-east-1")
    'rayfleet-prod-us-east-1-'

The node agents run on cluster nodes that have only ray and boto3, so the
package holds exactly the modules they import: the agents themselves, the
light `components.ray_cluster` package that holds them, and the tag keys.
"""

from __future__ import annotations

#: The `rayfleet:component` tag value of the bucket and its objects (and the type token's middle part).
COMPONENT = "artifacts"

#: Paths relative to the repository root; the archive keeps them, so `components.ray_cluster...` imports.
NODE_AGENT_FILES = (
    "components/__init__.py",
    "components/tags.py",
    "components/ray_cluster/__init__.py",
    "components/ray_cluster/node_provider.py",
    "components/ray_cluster/spot_watcher.py",
    # What the two agents import in turn (a module missing here fails on the node, not in CI).
    "components/ray_cluster/aws_calls.py",
    "components/ray_cluster/imds.py",
    "components/ray_cluster/ray_membership.py",
    "components/ray_cluster/spot_fallback.py",
)
NODE_AGENT_KEY = "node-agent/rayfleet-node-agent.zip"
#: Where model versions go (replicated across regions by the failover work).
MODELS_PREFIX = "models/"

#: S3 allows at most 37 characters in a bucket-name prefix (Pulumi appends a random suffix).
_MAX_PREFIX = 37


def bucket_prefix(cluster_id: str) -> str:
    """A bucket-name prefix that says whose bucket it is, within S3's limit."""
    return cluster_id[: _MAX_PREFIX - 1].rstrip("-") + "-"
