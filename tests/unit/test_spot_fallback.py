"""The pure spot-to-on-demand decisions: splitting a target, judging spot, reading activities."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.node_agents.spot_fallback import (
    GroupMarkets,
    AsgState,
    SpotMemory,
    assess_spot,
    capacity_failure,
    fallback_moves,
    split_target,
    spot_impaired,
)


def group(spot=(0, 10, 0, 0), od=(0, 10, 0, 0)) -> GroupMarkets:
    return GroupMarkets("cpu", AsgState("s", *spot), AsgState("o", *od))


@pytest.mark.parametrize(
    ("target", "spot", "od", "impaired", "expected"),
    [
        (3, (0, 10, 0, 0), (0, 10, 0, 0), False, {"s": 3, "o": 0}),  # new demand: spot
        (5, (0, 10, 2, 2), (0, 10, 2, 2), False, {"s": 3, "o": 2}),  # growth: spot only
        (3, (0, 10, 2, 2), (0, 10, 2, 2), False, {"s": 2, "o": 1}),  # shrink: on-demand first
        (1, (0, 10, 2, 2), (0, 10, 2, 2), False, {"s": 1, "o": 0}),
        (5, (0, 10, 5, 2), (0, 10, 0, 0), True, {"s": 2, "o": 3}),  # impaired: shortfall to od
        (6, (0, 10, 2, 2), (0, 10, 3, 3), True, {"s": 2, "o": 4}),  # impaired: new demand to od
        (12, (0, 10, 0, 0), (0, 10, 0, 0), False, {"s": 10, "o": 2}),  # spot max spills over
        (30, (0, 10, 0, 0), (0, 10, 0, 0), False, {"s": 10, "o": 10}),  # both maxed
        (0, (1, 10, 3, 3), (0, 10, 2, 2), False, {"s": 1, "o": 0}),  # spot min holds
    ],
)
def test_split_target(target, spot, od, impaired, expected):
    assert split_target(target, group(spot, od), spot_impaired=impaired) == expected


def test_a_group_without_spot_uses_only_its_on_demand_asg():
    only_od = GroupMarkets("gpu", None, AsgState("o", 0, 4, 1, 1))
    assert split_target(9, only_od, spot_impaired=False) == {"o": 4}


@given(
    target=st.integers(0, 40),
    s=st.tuples(st.integers(0, 3), st.integers(3, 20), st.integers(0, 20), st.integers(0, 20)),
    o=st.tuples(st.integers(0, 3), st.integers(3, 20), st.integers(0, 20), st.integers(0, 20)),
    impaired=st.booleans(),
)
def test_split_stays_within_limits_and_meets_the_target_when_it_can(target, s, o, impaired):
    spot, od = AsgState("s", *s), AsgState("o", *o)
    out = split_target(target, GroupMarkets("cpu", spot, od), spot_impaired=impaired)
    assert spot.min_size <= out["s"] <= spot.max_size
    assert od.min_size <= out["o"] <= od.max_size
    if spot.min_size + od.min_size <= target <= spot.max_size + od.max_size:
        # Impaired, spot's minimum beyond what it runs is asked of the twin as well: that much more.
        phantom = max(0, spot.min_size - spot.live) if impaired else 0
        assert target <= out["s"] + out["o"] <= target + phantom


def test_spot_is_impaired_at_once_on_a_capacity_failure():
    memory = assess_spot(SpotMemory(), AsgState("s", 0, 10, 5, 2), "no capacity", now=100, grace_seconds=180, retry_after_seconds=600)
    assert spot_impaired(memory, 100)
    assert memory.reason == "spot capacity failure: no capacity"
    assert not spot_impaired(memory, 700)  # spot is tried again for new demand


def test_spot_is_impaired_after_the_grace_period_short():
    short = AsgState("s", 0, 10, 5, 2)
    memory = assess_spot(SpotMemory(), short, None, now=100, grace_seconds=180, retry_after_seconds=600)
    assert not spot_impaired(memory, 100)
    memory = assess_spot(memory, short, None, now=279, grace_seconds=180, retry_after_seconds=600)
    assert not spot_impaired(memory, 279)
    memory = assess_spot(memory, short, None, now=280, grace_seconds=180, retry_after_seconds=600)
    assert spot_impaired(memory, 280)
    assert memory.reason == "spot short by 3 for 180s (grace 180s)"


def test_a_shortfall_that_clears_resets_the_grace_clock():
    memory = assess_spot(SpotMemory(), AsgState("s", 0, 10, 5, 2), None, now=100, grace_seconds=180, retry_after_seconds=600)
    memory = assess_spot(memory, AsgState("s", 0, 10, 5, 5), None, now=200, grace_seconds=180, retry_after_seconds=600)
    assert memory.short_since is None


def test_fallback_moves_only_an_impaired_shortfall():
    short = group(spot=(0, 10, 5, 2))
    assert fallback_moves(short, 5, spot_impaired=False) == {}
    assert fallback_moves(short, 5, spot_impaired=True) == {"s": 2, "o": 3}
    assert fallback_moves(group(spot=(0, 10, 2, 2)), 2, spot_impaired=True) == {}


@pytest.mark.parametrize(
    ("shape", "spot", "od", "requested", "expected"),
    [
        ("created during a shortage", (2, 10, 2, 0), (0, 10, 0, 0), 2, {"o": 2}),
        ("reclaimed during a shortage", (3, 10, 3, 2), (0, 10, 0, 0), 3, {"o": 1}),
        ("a wave on a fallen-back group", (2, 10, 2, 0), (0, 10, 2, 2), 5, {"o": 5}),
        ("steady state", (0, 10, 5, 2), (0, 10, 0, 0), 5, {"s": 2, "o": 3}),
    ],
)
def test_a_spot_minimum_that_cannot_launch_moves_to_the_twin(shape, spot, od, requested, expected):
    assert fallback_moves(group(spot, od), requested, spot_impaired=True) == expected


def test_a_fallen_back_group_reads_as_its_requested_count():
    assert group((2, 10, 2, 0), (0, 10, 2, 2)).requested == 2  # spot's minimum is on the twin
    assert group((2, 10, 2, 1), (0, 10, 4, 4)).requested == 5
    assert group((2, 10, 2, 0), (0, 10, 0, 0)).requested == 2  # created during a shortage
    assert group((0, 10, 5, 2), (0, 10, 2, 2)).requested == 7  # spot still launching


asg_sizes = st.tuples(st.integers(0, 3), st.integers(3, 20), st.integers(0, 20), st.integers(0, 20))


@given(target=st.integers(0, 40), s=asg_sizes, od_max=st.integers(3, 20), od_desired=st.integers(0, 20))
def test_impaired_spot_counts_only_what_it_runs(target, s, od_max, od_desired):
    spot, od = AsgState("s", *s), AsgState("o", 0, od_max, min(od_desired, od_max), 0)
    out = split_target(target, GroupMarkets("cpu", spot, od), spot_impaired=True)
    wanted = max(target, spot.min_size)
    counted = min(out["s"], spot.live) + out["o"]
    if wanted - min(spot.live, spot.max_size) <= od.max_size:
        assert counted == wanted
        # Once the twin runs its share, the group reads as the same count and nothing moves again.
        after = GroupMarkets(
            "cpu",
            AsgState("s", spot.min_size, spot.max_size, out["s"], min(spot.live, out["s"])),
            AsgState("o", 0, od_max, out["o"], out["o"]),
        )
        assert after.requested == wanted
        assert fallback_moves(after, after.requested, spot_impaired=True) == {}


def test_capacity_failures_are_read_from_activity_messages():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    activities = [
        {"StatusCode": "Failed", "StatusMessage": "Invalid IAM instance profile", "StartTime": now},
        {"StatusCode": "Failed", "StatusMessage": "InsufficientInstanceCapacity: no m6i.2xlarge", "StartTime": now},
    ]
    assert capacity_failure(activities) == "InsufficientInstanceCapacity: no m6i.2xlarge"
    assert capacity_failure(activities[:1]) is None
    assert capacity_failure(activities, since=now + dt.timedelta(seconds=1)) is None
    assert capacity_failure([{"StatusCode": "Successful", "StatusMessage": ""}]) is None
