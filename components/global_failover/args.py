"""Inputs of the GlobalFailover component."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.global_failover.plan import FailoverMode
from components.tags import TagContext


class RegionEndpoint(BaseModel):
    """One region's load balancer, as Route 53 checks it and points at it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str
    load_balancer_dns_name: Any
    #: The load balancer's canonical hosted zone (per region; an alias record needs it).
    load_balancer_zone_id: Any
    #: The region's tag context: its health check is tagged with that region's cluster.
    tags: TagContext


class GlobalFailoverArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    mode: FailoverMode
    #: The one name clients use, e.g. api.example.com.
    domain: str
    #: The user's hosted zone that holds `domain` (looked up by name, never created).
    zone_id: Any
    #: First = the primary region.
    endpoints: list[RegionEndpoint] = Field(min_length=2)
