"""Inputs of the Artifacts component."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from components.artifacts.plan import NODE_AGENT_FILES
from components.tags import TagContext


class ArtifactsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    tags: TagContext
    #: The repository root the node-agent files are read from (at deploy time, not under mocks).
    source_root: Path
    #: The node-agent modules, relative to `source_root` (default: plan.NODE_AGENT_FILES).
    node_agent_files: tuple[str, ...] = NODE_AGENT_FILES
