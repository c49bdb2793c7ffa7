"""Pure cluster decisions: which ASGs prod's worker groups become, and the names the cluster uses."""

from __future__ import annotations

from components.contract import HEAD_NODE_TYPE, Market
from components.node_groups import ALL_ON_DEMAND, Distribution
from components.ray_cluster.plan import has_gpus, head_record_name, redis_group_id
from stacks.loader import load_environment, load_file
from stacks.node_groups import cluster_nodes
from tests.fakes.environments import stack_config, write_stack


def test_each_spot_group_is_a_spot_asg_and_an_empty_on_demand_twin():
    nodes = cluster_nodes(load_environment("prod"), "us-east-1")
    asgs = [asg for group in nodes.workers for asg in group.asgs]
    assert [(a.node_type, a.market, a.min_size, a.max_size) for a in asgs] == [
        ("cpu", Market.SPOT, 2, 20),
        ("cpu", Market.ON_DEMAND, 0, 20),
        ("gpu", Market.SPOT, 0, 4),
        ("gpu", Market.ON_DEMAND, 0, 4),
    ]
    spot, twin = asgs[2], asgs[3]
    assert spot.distribution == Distribution(0, 25, "capacity-optimized")
    assert twin.distribution == ALL_ON_DEMAND
    assert spot.instance_types == twin.instance_types == ("g5.xlarge", "g6.xlarge", "g4dn.xlarge")


def test_group_without_spot_is_one_on_demand_asg_holding_the_minimum(tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"] = {"enabled": False}
    cpu = cluster_nodes(load_file(write_stack(tmp_path, config)), "us-east-1").group("cpu")
    assert [(a.market, a.min_size, a.max_size, a.distribution) for a in cpu.asgs] == [
        (Market.ON_DEMAND, 2, 20, ALL_ON_DEMAND)
    ]


def test_only_groups_of_gpu_types_install_the_gpu_driver():
    nodes = cluster_nodes(load_environment("prod"), "us-east-1")
    assert {group.name: has_gpus(group) for group in nodes.groups} == {HEAD_NODE_TYPE: False, "cpu": False, "gpu": True}


def test_redis_group_ids_fit_elasticaches_40_characters():
    assert redis_group_id("rayfleet-prod-us-east-1") == "rayfleet-prod-us-east-1-gcs"
    long_id = "rayfleet-" + "a" * 24 + "-ap-southeast-2"
    shortened = redis_group_id(long_id)
    assert len(shortened) <= 40 and shortened.endswith("-gcs") and shortened != redis_group_id(long_id + "x")


def test_head_address_is_in_the_clusters_private_zone():
    assert head_record_name("rayfleet-dev-us-west-2") == "head.rayfleet-dev-us-west-2.rayfleet.internal"
