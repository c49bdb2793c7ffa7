"""Inputs of the Artifacts component."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from components.tags import TagContext


class ArtifactsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    tags: TagContext
    #: The repository root the node-agent package is read from (plan.node_agent_files says which files).
    source_root: Path
