"""`rayfleet cost estimate` and `rayfleet cost diff`, run as a user runs them."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from components.contract import Market
from tests.fakes.environments import ENVIRONMENTS, ROOT, stack_config, write_stack

LINE_KEYS = {"region", "component", "name", "instanceType", "market", "hourlyPrice", "count", "monthly"}


@pytest.fixture
def no_cache(tmp_path):
    return {"RAYFLEET_PRICE_CACHE": str(tmp_path / "prices")}


@pytest.mark.slow  # every environment's full offline plan, in a subprocess
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_estimate_json_follows_the_contract_and_adds_up(cli, no_cache, env):
    run = cli("cost", "estimate", "--env", env, "--json", env=no_cache)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert list(data) == ["env", "currency", "monthly", "lines", "priceSource"]
    assert (data["env"], data["currency"]) == (env, "USD")
    assert data["priceSource"] == {"kind": "shipped", "asOf": "2025-01-15"}
    monthly = {k: D(v) for k, v in data["monthly"].items()}
    assert D(0) < monthly["min"] <= monthly["expected"] <= monthly["max"]
    for scenario in ("min", "expected", "max"):
        assert sum(D(line["monthly"][scenario]) for line in data["lines"]) == monthly[scenario]
    for line in data["lines"]:
        assert set(line) == LINE_KEYS
        assert line["market"] in (*(m.value for m in Market), None)
        assert line["count"]["min"] <= line["count"]["expected"] <= line["count"]["max"]
        for scenario in ("min", "expected", "max"):
            # monthly-billed lines (zones, health checks) carry a rounded hourly price, hence the tolerance
            assert abs(D(line["monthly"][scenario]) - D(line["hourlyPrice"]) * 730 * line["count"][scenario]) < D("0.000001")


@pytest.mark.slow  # prod's full offline plan, in a subprocess
def test_estimate_prices_prod_spot_below_its_on_demand_twins(cli, no_cache):
    data = json.loads(cli("cost", "estimate", "--env", "prod", "--json", env=no_cache).out)
    on_demand = {l["name"]: D(l["hourlyPrice"]) for l in data["lines"] if l["market"] == Market.ON_DEMAND}
    spot = [l for l in data["lines"] if l["market"] == Market.SPOT]
    assert {l["name"] for l in spot} == {
        f"cluster-{region}-{group}-spot" for region in ("us-east-1", "us-west-2") for group in ("cpu", "gpu")
    }
    for line in spot:
        twin = line["name"].removesuffix("-spot") + "-on-demand"
        assert D(line["hourlyPrice"]) < on_demand[twin]
    twins = [l for l in data["lines"] if l["name"].endswith(f"-{Market.ON_DEMAND}") and l["market"] == Market.ON_DEMAND]
    assert twins and all(l["count"] == {"min": 0, "expected": 0, "max": 0} for l in twins)


@pytest.mark.slow  # prod's full offline plan, in a subprocess
def test_estimate_uses_real_public_prices_for_prod_instance_types(cli, no_cache):
    data = json.loads(cli("cost", "estimate", "--env", "prod", "--json", env=no_cache).out)
    hourly = {(l["name"], l["market"]): l["hourlyPrice"] for l in data["lines"]}
    # AWS's public on-demand Linux prices in us-east-1 and us-west-2
    assert hourly[("cluster-us-east-1-head", Market.ON_DEMAND)] == "0.192"  # m6i.xlarge
    assert hourly[("cluster-us-west-2-cpu-spot", Market.ON_DEMAND)] == "0.384"  # m6i.2xlarge
    assert hourly[("cluster-us-east-1-gpu-spot", Market.ON_DEMAND)] == "1.006"  # g5.xlarge
    assert hourly[("cluster-us-east-1-redis", Market.ON_DEMAND)] == "0.065"  # cache.t4g.medium


@pytest.mark.slow  # prod's full offline plan, in a subprocess
def test_estimate_tree_shows_regions_components_and_the_price_source(cli, no_cache):
    run = cli("cost", "estimate", "--env", "prod", env=no_cache)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].startswith("prod: $") and "a month expected" in lines[0]
    for region in ("us-east-1", "us-west-2"):
        assert any(line.lstrip("├└─│ ").startswith(region + "  $") for line in lines)
    assert "network-us-east-1-nat-0  nat-gateway  ×1/1/1  $0.0450/h  $32.85 / $32.85 / $32.85" in run.out
    assert "prices: shipped, as of 2025-01-15" in run.out


@pytest.mark.slow  # dev's full offline plan, in a subprocess
def test_estimate_counts_a_spot_group_bought_all_on_demand_once(cli, no_cache, tmp_path):
    config = stack_config("dev")  # cpu: 0..4 workers, 1 expected, m6i.xlarge first, spot enabled
    config["rayfleet:cluster"]["workerGroups"][0]["spot"]["onDemandPercentAboveBase"] = 100
    run = cli("cost", "estimate", "--file", str(write_stack(tmp_path, config)), "--json", env=no_cache)
    assert run.code == 0, run.err
    instances = {
        (l["name"], l["market"]): l
        for l in json.loads(run.out)["lines"]
        if l["name"].startswith("cluster-us-west-2-cpu-") and l["instanceType"]
    }
    assert set(instances) == {
        ("cluster-us-west-2-cpu-spot", Market.ON_DEMAND.value), ("cluster-us-west-2-cpu-on-demand", Market.ON_DEMAND.value)
    }
    spot_asg = instances[("cluster-us-west-2-cpu-spot", Market.ON_DEMAND.value)]
    assert spot_asg["count"] == {"min": 0, "expected": 1, "max": 4}
    assert spot_asg["monthly"] == {"min": "0.000", "expected": "140.160", "max": "560.640"}  # m6i.xlarge 0.192 × 730
    twin = instances[("cluster-us-west-2-cpu-on-demand", Market.ON_DEMAND.value)]
    assert twin["count"] == {"min": 0, "expected": 0, "max": 0}


@pytest.mark.slow  # four full offline plans, in subprocesses
def test_diff_compares_two_environments_line_by_line(cli, no_cache):
    run = cli("cost", "diff", "--env", "staging", "--against", "prod", "--json", env=no_cache)
    assert run.code == 0, run.err
    assert run.err == ""
    data = json.loads(run.out)
    assert (data["env"], data["against"]) == ("staging", "prod")
    staging = json.loads(cli("cost", "estimate", "--env", "staging", "--json", env=no_cache).out)
    prod = json.loads(cli("cost", "estimate", "--env", "prod", "--json", env=no_cache).out)
    assert D(data["monthly"]["delta"]["expected"]) == D(staging["monthly"]["expected"]) - D(prod["monthly"]["expected"])
    removed = [l for l in data["lines"] if l["status"] == "removed"]
    assert {l["region"] for l in removed} >= {"us-west-2"}  # prod's second region, absent from staging
    assert sum(D(l["monthly"]["delta"]["max"]) for l in data["lines"]) == D(data["monthly"]["delta"]["max"])


def test_estimate_of_an_unknown_environment_says_which_exist(cli):
    run = cli("cost", "estimate", "--env", "nope")
    assert run.code == 1
    stacks = ROOT / "stacks"
    assert run.err == (
        f"error: no environment 'nope' in {stacks} (environments: dev, prod, staging). "
        f"Fix: create {stacks / 'Pulumi.nope.yaml'}\n"
    )
