"""`--scenario` names one scenario, or several run after one boot: anything else is refused, naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.errors import RayfleetError
from serve_apps import emulated_region


@pytest.fixture
def after_boot(monkeypatch):
    """Two scenarios after boot, as the registry would hold them."""
    scenarios = {"scale": lambda region: None, "spot": lambda region: None}
    monkeypatch.setattr(emulated_region, "AFTER_BOOT", scenarios)
    monkeypatch.setattr(emulated_region, "SCENARIOS", ("control-plane", "boot", *scenarios))
    return scenarios


def test_scenarios_after_boot_combine_in_the_order_given(after_boot):
    assert emulated_region.check_scenario("spot, scale") == ("spot", "scale")
    assert emulated_region.check_scenario("boot") == ("boot",)


@pytest.mark.parametrize("names", ["boot,scale", "control-plane,spot"])
def test_boot_and_control_plane_do_not_combine(after_boot, names):
    with pytest.raises(RayfleetError) as raised:
        emulated_region.check_scenario(names)
    assert str(raised.value) == (f"--scenario {names!r}: only scenarios run after boot can be combined (scale, spot); "
                                 f"each boots the region once. Fix: pass {names.split(',')[0]!r} alone, or a list "
                                 "of scale, spot")


def test_a_scenario_named_twice_is_refused(after_boot):
    with pytest.raises(RayfleetError, match=r"--scenario 'scale,scale' names a scenario twice\. Fix: name each once"):
        emulated_region.check_scenario("scale,scale")


def test_an_unknown_scenario_in_a_list_is_named(after_boot):
    with pytest.raises(RayfleetError) as raised:
        emulated_region.check_scenario("scale,sideways")
    assert str(raised.value) == ("--scenario 'sideways' is not a scenario of this rayfleet (scenarios: control-plane, "
                                 "boot, scale, spot). Fix: pass --scenario control-plane")


@pytest.mark.parametrize("names, first, after, allowed", [
    ("head-failover,scale", "head-failover", "scale", ""),
    ("spot,shortage,scale", "shortage", "scale", "; only head-failover may follow it"),
    ("head-failover,shortage", "head-failover", "shortage", ""),
])
def test_a_scenario_that_changes_the_region_is_followed_only_by_what_does_not_read_the_change(names, first, after,
                                                                                             allowed):
    with pytest.raises(RayfleetError) as raised:
        emulated_region.check_scenario(names)
    assert str(raised.value) == (
        f"--scenario {names!r}: {after} cannot follow {first} ({first} leaves the region changed: a new head, or a "
        f"raised config, that {after} would not see{allowed}). Fix: run {after} before {first}, or in a separate "
        "emulation")


@pytest.mark.parametrize("names", ["scale,spot,shortage", "spot,head-failover", "head-failover",
                                   "shortage,head-failover"])
def test_a_scenario_that_changes_the_region_may_come_last(names):
    assert emulated_region.check_scenario(names) == tuple(names.split(","))


def test_head_failover_without_head_fault_tolerance_is_refused_before_anything_starts(monkeypatch):
    import stacks.plan

    def no_plan(**_kwargs):
        raise AssertionError("the emulation started")

    monkeypatch.setattr(stacks.plan, "run_plan", no_plan)
    with pytest.raises(RayfleetError) as raised:
        emulated_region.emulate(Path("stacks/Pulumi.dev.yaml"), "head-failover")
    assert str(raised.value) == (
        "--scenario head-failover: dev has rayfleet:cluster.headFaultTolerance false; the head's replacement can only "
        "restore the cluster from the GCS state in Redis, which headFaultTolerance true keeps. Fix: set "
        "headFaultTolerance: true in its stack file, or pass --file tests/fakes/stacks/Pulumi.failover.yaml")
