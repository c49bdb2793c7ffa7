"""The node-group model: names, sizes, distributions and tags of every ASG, and where workers run."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.contract import HEAD_NODE_TYPE, MARKET_KEY, NODE_TYPE_KEY, Market
from components.node_groups import ALL_ON_DEMAND, Distribution, NodeGroup, Purchase, SpotPolicy
from stacks.loader import load_environment
from stacks.node_groups import cluster_nodes
from tests.fakes.environments import ENVIRONMENTS


def _group(spot: SpotPolicy | None, lo: int = 2, hi: int = 20, expected: int = 4) -> NodeGroup:
    return NodeGroup("cpu", "rf-test", ("m6i.2xlarge", "m6a.2xlarge"), lo, hi, expected, 100, spot)


def test_a_spot_group_is_a_spot_asg_holding_the_minimum_and_an_empty_twin():
    group = _group(SpotPolicy(Distribution(1, 25, "capacity-optimized")))
    spot, twin = group.asgs
    assert (spot.name, spot.market, spot.min_size, spot.max_size) == ("rf-test-cpu-spot", Market.SPOT, 2, 20)
    assert spot.distribution == Distribution(1, 25, "capacity-optimized")
    assert (twin.name, twin.market, twin.min_size, twin.max_size) == ("rf-test-cpu-on-demand", Market.ON_DEMAND, 0, 20)
    assert twin.distribution == ALL_ON_DEMAND
    assert spot.tags == {NODE_TYPE_KEY: "cpu", MARKET_KEY: "spot"}
    assert twin.tags == {NODE_TYPE_KEY: "cpu", MARKET_KEY: "on-demand"}


def test_a_group_without_spot_is_one_on_demand_asg_holding_the_minimum():
    (only,) = _group(None).asgs
    assert (only.name, only.market, only.min_size, only.distribution) == ("rf-test-cpu-on-demand", Market.ON_DEMAND, 2, ALL_ON_DEMAND)


def test_the_head_is_one_on_demand_node_in_an_asg_named_head():
    nodes = cluster_nodes(load_environment("prod"), "us-east-1")
    (head,) = nodes.head.asgs
    assert (head.name, head.node_type, head.market, head.min_size, head.max_size) == (
        "rayfleet-prod-us-east-1-head", HEAD_NODE_TYPE, Market.ON_DEMAND, 1, 1
    )
    assert head.role == HEAD_NODE_TYPE


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_has_one_model_per_worker_group_in_config_order(env):
    cfg = load_environment(env)
    for region in cfg.region_names:
        nodes = cluster_nodes(cfg, region)
        assert [g.name for g in nodes.workers] == [g.name for g in cfg.cluster.worker_groups]
        for group, config in zip(nodes.workers, cfg.cluster.worker_groups):
            assert group.cluster_id == cfg.cluster_id(region)
            assert (group.min_workers, group.max_workers, group.expected_workers) == (
                config.min_workers, config.max_workers, config.expected
            )
            assert [a.market for a in group.asgs] == ([Market.SPOT] if config.spot.enabled else []) + [Market.ON_DEMAND]


def test_expected_workers_outside_the_limits_is_refused():
    with pytest.raises(ValueError, match=r"expected workers \(9\) must lie within min \(2\) and max \(4\)"):
        _group(None, lo=2, hi=4, expected=9)


def test_with_the_whole_percentage_on_demand_the_spot_asg_buys_no_spot_and_the_twin_holds_nothing():
    group = _group(SpotPolicy(Distribution(0, 100, "price-capacity-optimized")))
    assert group.purchases(7) == {Market.SPOT: Purchase(on_demand=7, spot=0), Market.ON_DEMAND: Purchase(0, 0)}


@given(
    workers=st.integers(0, 200),
    base=st.integers(0, 200),
    percent=st.integers(0, 100),
    spot_enabled=st.booleans(),
)
def test_purchases_place_every_worker_once_and_only_the_holder_buys(workers, base, percent, spot_enabled):
    group = NodeGroup("cpu", "rf", ("m6i.xlarge",), 0, 200, 0, 100,
                      SpotPolicy(Distribution(base, percent)) if spot_enabled else None)
    bought = group.purchases(workers)
    assert set(bought) == {asg.market for asg in group.asgs}
    assert sum(p.total for p in bought.values()) == workers
    assert bought[Market.ON_DEMAND] == (Purchase(0, 0) if spot_enabled else Purchase(workers, 0))
    if spot_enabled:
        on_demand = min(workers, base) + -(-(workers - min(workers, base)) * percent // 100)
        assert bought[Market.SPOT] == Purchase(on_demand, workers - on_demand)
