"""The pure consolidation back to spot: replace on-demand workers only after spot ones joined, at a bounded rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.errors import ConfigError
from components.node_agents.spot_consolidation import Consolidation, budget_left, plan_consolidation
from components.node_agents.spot_fallback import AsgState
from components.node_groups import DEFAULT_CONSOLIDATE_NODES_PER_MINUTE
from stacks.cluster_args import region_autoscaler_config
from stacks.loader import load_file
from stacks.node_groups import cluster_nodes
from tests.fakes.environments import stack_config, write_stack

ON_DEMAND = ("i-1", "i-2", "i-3", "i-4")


def spot(desired: int, live: int, max_size: int = 10, min_size: int = 0) -> AsgState:
    return AsgState("s", min_size, max_size, desired, live)


@pytest.mark.parametrize(
    ("case", "requested", "asg", "joined", "on_demand", "budget", "healthy", "expected"),
    [
        ("spot returns: launch spot first", 6, spot(2, 2), 2, ON_DEMAND, 3, True, Consolidation(5, ())),
        ("replacements booting: wait", 6, spot(5, 5), 2, ON_DEMAND, 3, True, Consolidation(None, ())),
        ("one replacement joined: drain one", 6, spot(5, 5), 3, ON_DEMAND, 3, True, Consolidation(None, ("i-4",))),
        ("replacements joined: drain as many", 6, spot(5, 5), 5, ON_DEMAND, 3, True,
         Consolidation(None, ("i-4", "i-3", "i-2"))),
        ("spot still impaired: nothing launches", 6, spot(2, 2), 2, ON_DEMAND, 3, False, Consolidation(None, ())),
        ("spot short of its desired: nothing launches", 6, spot(3, 2), 2, ON_DEMAND, 3, True, Consolidation(None, ())),
        ("spot at its max: the overflow stays", 12, spot(8, 8, max_size=8), 8, ON_DEMAND, 3, True,
         Consolidation(None, ())),
        ("spot's minimum launched after a shortage: the surplus goes", 2, spot(2, 2, min_size=2), 2, ON_DEMAND[:2],
         3, False, Consolidation(None, ("i-2", "i-1"))),
        ("budget spent this minute", 6, spot(5, 5), 5, ON_DEMAND, 0, True, Consolidation(None, ())),
    ],
)
def test_plan_consolidation(case, requested, asg, joined, on_demand, budget, healthy, expected):
    plan = plan_consolidation(requested, asg, spot_joined=joined, on_demand=on_demand, budget=budget, spot_healthy=healthy)
    assert plan == expected


@given(
    requested=st.integers(0, 20),
    s=st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 20)),
    joined=st.integers(0, 20),
    od=st.integers(0, 10),
    budget=st.integers(0, 6),
    healthy=st.booleans(),
)
def test_consolidation_never_goes_below_the_requested_count_nor_past_its_budget(requested, s, joined, od, budget, healthy):
    desired, live, max_size = s
    asg = spot(min(desired, max_size), min(live, desired, max_size), max_size)
    joined = min(joined, asg.live)
    on_demand = tuple(f"i-{n}" for n in range(od))
    plan = plan_consolidation(requested, asg, spot_joined=joined, on_demand=on_demand, budget=budget, spot_healthy=healthy)
    before = joined + od
    assert before - len(plan.drain) >= min(requested, before)
    assert len(plan.drain) <= budget and set(plan.drain) <= set(on_demand)
    if plan.spot_desired is not None:
        assert healthy and not plan.drain
        assert asg.desired < plan.spot_desired <= min(asg.max_size, asg.desired + budget, asg.desired + od)


def test_only_drains_within_the_last_minute_spend_the_budget():
    assert budget_left(DEFAULT_CONSOLIDATE_NODES_PER_MINUTE, [100.0, 130.0], now=161.0) == DEFAULT_CONSOLIDATE_NODES_PER_MINUTE - 1
    assert budget_left(3, [100.0, 130.0, 150.0, 155.0], now=159.0) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (90, "rayfleet:cluster.workerGroups[0].spot.consolidateNodesPerMinute = 90: must be at most 60. "
             "Fix: use a value of 60 or less."),
        (-1, "rayfleet:cluster.workerGroups[0].spot.consolidateNodesPerMinute = -1: must be at least 0. "
             "Fix: use a value of 0 or more."),
    ],
)
def test_the_consolidation_rate_is_validated(tmp_path, value, message):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"]["consolidateNodesPerMinute"] = value
    with pytest.raises(ConfigError) as raised:
        load_file(write_stack(tmp_path, config))
    assert str(raised.value).splitlines()[1:] == [f"  - {message}"]


def test_the_consolidation_rate_reaches_the_node_provider(tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"]["consolidateNodesPerMinute"] = 5
    cfg = load_file(write_stack(tmp_path, config))
    assert cluster_nodes(cfg, "us-east-1").group("cpu").consolidate_nodes_per_minute == 5
    provider = region_autoscaler_config(cfg, "us-east-1")["provider"]
    assert provider["consolidate_nodes_per_minute"] == {"cpu": 5, "gpu": DEFAULT_CONSOLIDATE_NODES_PER_MINUTE}


def test_the_config_the_model_and_the_node_provider_share_one_default_rate():
    from components.node_agents import spot_markets
    from stacks.config import SpotConfig

    assert SpotConfig().consolidate_nodes_per_minute == DEFAULT_CONSOLIDATE_NODES_PER_MINUTE
    assert spot_markets.DEFAULT_CONSOLIDATE_NODES_PER_MINUTE == DEFAULT_CONSOLIDATE_NODES_PER_MINUTE
