"""Pure network decisions: how a VPC block is carved into subnets, where NAT gateways go.

    >>> [str(s.cidr) for s in subnet_layout(ipaddress.IPv4Network("10.10.0.0/16"), 2)]
    ['10.10.0.0/18', '10.10.64.0/18', '10.10.128.0/21', '10.10.136.0/21']

Private subnets (where Ray nodes live) share the lower half of the block, one
per AZ, sized to the next power of two above the AZ count; public subnets (load
balancers and NAT gateways only) are eight times smaller and start at the
midpoint. The upper part of the block stays free for later tiers.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Literal

Tier = Literal["private", "public"]

#: AWS's smallest subnet is a /28.
MIN_SUBNET_PREFIX = 28


@dataclass(frozen=True)
class SubnetPlan:
    tier: Tier
    az_index: int
    cidr: ipaddress.IPv4Network


def subnet_layout(vpc: ipaddress.IPv4Network, az_count: int) -> list[SubnetPlan]:
    """Private subnets (one per AZ) then public subnets (one per AZ), disjoint and inside `vpc`."""
    if az_count < 1:
        raise ValueError(f"az_count ({az_count}) must be at least 1")
    private_bits = math.ceil(math.log2(az_count)) + 1
    public_bits = private_bits + 3
    if vpc.prefixlen + public_bits > MIN_SUBNET_PREFIX:
        raise ValueError(
            f"{vpc} is too small for {az_count} AZs: public subnets would be "
            f"/{vpc.prefixlen + public_bits}, smaller than AWS's /{MIN_SUBNET_PREFIX}"
        )
    private = list(vpc.subnets(prefixlen_diff=private_bits))[:az_count]
    upper_half = list(vpc.subnets(prefixlen_diff=1))[1]
    public = list(upper_half.subnets(new_prefix=vpc.prefixlen + public_bits))[:az_count]
    return [SubnetPlan("private", i, c) for i, c in enumerate(private)] + [
        SubnetPlan("public", i, c) for i, c in enumerate(public)
    ]


def nat_for_az(az_count: int, mode: Literal["one-per-az", "single"]) -> list[int]:
    """For each AZ, the index of the NAT gateway its private subnet routes through.

    NAT gateway `k` lives in the public subnet of AZ `k`; `single` puts one in AZ 0.
    """
    return list(range(az_count)) if mode == "one-per-az" else [0] * az_count


def nat_count(az_count: int, mode: Literal["one-per-az", "single"]) -> int:
    return len(set(nat_for_az(az_count, mode)))
