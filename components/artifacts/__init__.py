"""The per-region artifact bucket: the node-agent package the cluster's nodes install, and model artifacts."""

from components.artifacts.args import ArtifactsArgs
from components.artifacts.component import Artifacts

__all__ = ["Artifacts", "ArtifactsArgs"]
