"""Model artifacts in every region: S3 replication from the primary's bucket through a scoped role."""

from components.artifact_replication.args import ArtifactReplicationArgs
from components.artifact_replication.component import ArtifactReplication

__all__ = ["ArtifactReplication", "ArtifactReplicationArgs"]
