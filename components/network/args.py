"""Inputs of the Network component."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from components.tags import TagContext


class NetworkArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    #: The VPC's block; subnets are carved from it by plan.subnet_layout.
    cidr: ipaddress.IPv4Network
    #: Availability zones to spread over (default 2).
    az_count: int = Field(default=2, ge=2, le=4)
    #: `one-per-az` (default) keeps egress through an AZ outage; `single` costs one gateway.
    nat_gateways: Literal["one-per-az", "single"] = "one-per-az"
    tags: TagContext
