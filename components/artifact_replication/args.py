"""Inputs of the ArtifactReplication component."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.tags import TagContext


class ArtifactReplicationArgs(BaseModel):
    """Replicate the primary region's artifact bucket into each secondary region's bucket.

    Both sides must have versioning enabled before the replication configuration is
    written: pass the versioning resources in `opts.depends_on`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    source_region: str
    source_bucket_id: Any
    source_bucket_arn: Any
    #: The key prefix replicated (the models): the rest of a bucket (node agents, app code) is
    #: written by each region for itself, and replicas would overwrite it.
    prefix: str = Field(min_length=1, pattern=r"/$")
    #: Destination bucket ARN per secondary region, in region order.
    destination_bucket_arns: dict[str, Any] = Field(min_length=1)
    #: The primary region's tag context (the role and the configuration live there).
    tags: TagContext
