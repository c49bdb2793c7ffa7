"""The CIDR planner: table-driven cases and properties over every valid VPC block."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.network.plan import nat_count, nat_for_az, subnet_layout


@pytest.mark.parametrize(
    "vpc, azs, private, public",
    [
        ("10.10.0.0/16", 2, ["10.10.0.0/18", "10.10.64.0/18"], ["10.10.128.0/21", "10.10.136.0/21"]),
        (
            "10.20.0.0/16",
            3,
            ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"],
            ["10.20.128.0/22", "10.20.132.0/22", "10.20.136.0/22"],
        ),
        (
            "172.16.0.0/20",
            4,
            ["172.16.0.0/23", "172.16.2.0/23", "172.16.4.0/23", "172.16.6.0/23"],
            ["172.16.8.0/26", "172.16.8.64/26", "172.16.8.128/26", "172.16.8.192/26"],
        ),
        ("192.168.0.0/22", 2, ["192.168.0.0/24", "192.168.1.0/24"], ["192.168.2.0/27", "192.168.2.32/27"]),
    ],
)
def test_layout_table(vpc, azs, private, public):
    layout = subnet_layout(ipaddress.IPv4Network(vpc), azs)
    assert [str(s.cidr) for s in layout if s.tier == "private"] == private
    assert [str(s.cidr) for s in layout if s.tier == "public"] == public
    assert [s.az_index for s in layout if s.tier == "private"] == list(range(azs))


def test_too_small_a_block_is_refused():
    with pytest.raises(ValueError, match=r"10.0.0.0/26 is too small for 2 AZs: public subnets would be /31"):
        subnet_layout(ipaddress.IPv4Network("10.0.0.0/26"), 2)


@given(
    network=st.builds(
        lambda base, prefix: ipaddress.IPv4Network((base >> (32 - prefix) << (32 - prefix), prefix)),
        st.integers(min_value=0, max_value=2**32 - 1),
        st.integers(min_value=16, max_value=22),
    ),
    azs=st.integers(min_value=2, max_value=4),
)
def test_layout_properties(network, azs):
    layout = subnet_layout(network, azs)
    cidrs = [s.cidr for s in layout]
    assert len(layout) == 2 * azs
    assert all(c.subnet_of(network) for c in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    assert all(c.prefixlen <= 28 for c in cidrs)
    private = [s for s in layout if s.tier == "private"]
    public = [s for s in layout if s.tier == "public"]
    assert {s.az_index for s in private} == {s.az_index for s in public} == set(range(azs))
    # Ray nodes live in private subnets: together they hold at least a quarter of the block.
    assert sum(s.cidr.num_addresses for s in private) * 4 >= network.num_addresses
    assert all(p.cidr.num_addresses > q.cidr.num_addresses for p in private for q in public)


@pytest.mark.parametrize(
    "azs, mode, routes, count",
    [(2, "one-per-az", [0, 1], 2), (3, "one-per-az", [0, 1, 2], 3), (2, "single", [0, 0], 1), (4, "single", [0] * 4, 1)],
)
def test_nat_placement(azs, mode, routes, count):
    assert nat_for_az(azs, mode) == routes
    assert nat_count(azs, mode) == count
