"""The autoscaler config rendered per region from the node-group model: Ray's own checks accept it, and it
keeps the provider contract."""

from __future__ import annotations

import copy
import logging

import pytest
import yaml

from components.contract import HEAD_NODE_TYPE
from components.node_groups import ClusterNodes, NodeGroup, SpotPolicy, head_group
from components.ray_cluster.autoscaler_config import NODE_PROVIDER_CLASS, Scaling, autoscaler_config, to_yaml
from stacks.cluster_args import UnknownRegionError, region_autoscaler_config
from stacks.loader import load_environment, load_file
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack
from tests.fakes.snapshots import assert_matches_snapshot

REGIONS = [(env, region) for env in ENVIRONMENTS for region in load_environment(env).region_names]


@pytest.mark.parametrize("env, region", REGIONS)
def test_rays_prepare_and_validate_accept_the_rendered_config(env, region, caplog):
    from ray.autoscaler._private.util import prepare_config, validate_config

    caplog.set_level(logging.ERROR)
    # The head's monitor reads the YAML file, then runs exactly these two calls.
    config = yaml.safe_load(to_yaml(region_autoscaler_config(load_environment(env), region)))
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    # Nothing is left for Ray to fill in: what we render is what the autoscaler runs.
    assert prepared == config


@pytest.mark.parametrize("env, region", REGIONS)
def test_provider_section_names_rayfleets_node_provider(env, region):
    cfg = load_environment(env)
    provider = region_autoscaler_config(cfg, region)["provider"]
    assert provider == {
        "type": "external",
        "module": NODE_PROVIDER_CLASS,
        "region": region,
        "cluster_name": f"rayfleet-{env}-{region}",
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
        "foreground_node_launch": True,
        "fallback_after_seconds": {g.name: g.spot.fallback_after_seconds for g in cfg.cluster.worker_groups},
        "consolidate_nodes_per_minute": {g.name: g.spot.consolidate_nodes_per_minute for g in cfg.cluster.worker_groups},
    }


def test_node_provider_module_is_the_node_agents_provider_class():
    from components.node_agents.node_provider import AsgNodeProvider

    module, name = NODE_PROVIDER_CLASS.rsplit(".", 1)
    assert (AsgNodeProvider.__module__, AsgNodeProvider.__name__) == (module, name)


def test_a_group_without_spot_keeps_its_configured_fallback_delay(tmp_path):
    # Nothing acts on it without a spot ASG, but the rendered config lists it exactly as configured.
    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"] = {"enabled": False, "fallbackAfterSeconds": 45}
    provider = region_autoscaler_config(load_file(write_stack(tmp_path, config)), "us-west-2")["provider"]
    assert provider["fallback_after_seconds"] == {"cpu": 45}


def test_node_types_are_the_worker_groups_plus_the_head():
    config = region_autoscaler_config(load_environment("prod"), "us-east-1")
    assert config["head_node_type"] == HEAD_NODE_TYPE
    assert list(config["available_node_types"]) == [HEAD_NODE_TYPE, "cpu", "gpu"]
    head = config["available_node_types"][HEAD_NODE_TYPE]
    assert (head["min_workers"], head["max_workers"], head["resources"]) == (0, 0, {"CPU": 0})
    cpu = config["available_node_types"]["cpu"]
    assert (cpu["min_workers"], cpu["max_workers"]) == (2, 20)
    assert config["max_workers"] == 24
    assert (config["idle_timeout_minutes"], config["upscaling_speed"]) == (5, 1.0)


def test_node_resources_come_from_the_groups_smallest_instance_type():
    # gpu: g5.xlarge, g6.xlarge, g4dn.xlarge -> all 4 vCPUs / 16 GiB / 1 GPU; Ray keeps 30% for the object store.
    types = region_autoscaler_config(load_environment("prod"), "us-east-1")["available_node_types"]
    assert types["gpu"]["resources"] == {"CPU": 4, "GPU": 1, "memory": int(16 * 2**30 * 0.7)}
    assert types["cpu"]["resources"] == {"CPU": 8, "memory": int(32 * 2**30 * 0.7)}


def test_smallest_type_wins_when_a_group_mixes_sizes(tmp_path):
    config = stack_config("dev")
    group = config["rayfleet:cluster"]["workerGroups"][0]
    group["instanceTypes"] = ["m6i.2xlarge", "m6i.xlarge"]
    group["resources"] = {"io_slots": 3}
    cfg = load_file(write_stack(tmp_path, config))
    resources = region_autoscaler_config(cfg, "us-west-2")["available_node_types"]["cpu"]["resources"]
    assert resources == {"CPU": 4, "memory": int(16 * 2**30 * 0.7), "io_slots": 3}


def test_region_outside_the_environment_is_refused():
    with pytest.raises(UnknownRegionError) as caught:
        region_autoscaler_config(load_environment("dev"), "us-east-1")
    assert str(caught.value) == (
        "region 'us-east-1' is not in environment 'dev' (its regions: us-west-2). "
        "Fix: pass --region with one of us-west-2"
    )


@pytest.mark.parametrize("env, region", [("prod", "us-east-1"), ("dev", "us-west-2")])
def test_rendered_yaml_matches_its_snapshot(env, region):
    assert_matches_snapshot(to_yaml(region_autoscaler_config(load_environment(env), region)), f"autoscaler-{env}-{region}.yaml")


def test_renders_from_the_node_group_model_alone():
    cpu = NodeGroup("cpu", "rf-test", ("m6i.xlarge", "m6i.2xlarge"), 1, 6, 2, 100, SpotPolicy(),
                    custom_resources={"zeta": 1, "alpha": 2}, fallback_after_seconds=30)
    nodes = ClusterNodes("rf-test", head_group("rf-test", "m6i.large", 50), (cpu,))
    config = autoscaler_config(nodes, "eu-west-1", Scaling(upscaling_speed=2.0, idle_timeout_minutes=10))
    assert (config["cluster_name"], config["max_workers"], config["upscaling_speed"], config["idle_timeout_minutes"]) == (
        "rf-test", 6, 2.0, 10
    )
    assert (config["provider"]["region"], config["provider"]["fallback_after_seconds"]) == ("eu-west-1", {"cpu": 30})
    node_type = config["available_node_types"]["cpu"]
    assert (node_type["min_workers"], node_type["max_workers"]) == (1, 6)
    # The smallest type's CPUs and memory, then the custom resources in name order.
    assert list(node_type["resources"].items()) == [("CPU", 4), ("memory", int(16 * 2**30 * 0.7)), ("alpha", 2), ("zeta", 1)]
