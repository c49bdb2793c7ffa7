"""Pure cluster decisions: which ASGs a worker group becomes, and the names the cluster uses."""

from __future__ import annotations

from components.ray_cluster.plan import head_record_name, node_groups, redis_group_id
from stacks.loader import load_environment, load_file
from tests.conftest import stack_config, write_stack


def test_each_spot_group_is_a_spot_asg_and_an_empty_on_demand_twin():
    plans = node_groups(load_environment("prod").cluster)
    assert [(p.group, p.market, p.min_size, p.max_size) for p in plans] == [
        ("cpu", "spot", 2, 20),
        ("cpu", "on-demand", 0, 20),
        ("gpu", "spot", 0, 4),
        ("gpu", "on-demand", 0, 4),
    ]
    spot, twin = plans[2], plans[3]
    assert (spot.spot_allocation_strategy, spot.on_demand_base, spot.on_demand_percent_above_base) == (
        "capacity-optimized",
        0,
        25,
    )
    assert (twin.spot_allocation_strategy, twin.on_demand_percent_above_base) == (None, 100)
    assert spot.instance_types == twin.instance_types == ("g5.xlarge", "g6.xlarge", "g4dn.xlarge")


def test_group_without_spot_is_one_on_demand_asg_holding_the_minimum(tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"] = {"enabled": False}
    plans = node_groups(load_file(write_stack(tmp_path, config)).cluster)
    cpu = [p for p in plans if p.group == "cpu"]
    assert [(p.market, p.min_size, p.max_size, p.on_demand_percent_above_base) for p in cpu] == [
        ("on-demand", 2, 20, 100)
    ]


def test_redis_group_ids_fit_elasticaches_40_characters():
    assert redis_group_id("rayfleet-prod-us-east-1") == "rayfleet-prod-us-east-1-gcs"
    long_id = "rayfleet-" + "a" * 24 + "-ap-southeast-2"
    shortened = redis_group_id(long_id)
    assert len(shortened) <= 40 and shortened.endswith("-gcs") and shortened != redis_group_id(long_id + "x")


def test_head_address_is_in_the_clusters_private_zone():
    assert head_record_name("rayfleet-dev-us-west-2") == "head.rayfleet-dev-us-west-2.rayfleet.internal"
