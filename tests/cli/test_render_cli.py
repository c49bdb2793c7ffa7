"""`rayfleet render autoscaler`: the cluster YAML a region's head runs with, as a user sees it."""

from __future__ import annotations

import copy

import pytest
import yaml


def test_render_autoscaler_prints_yaml_that_rays_checks_accept(cli):
    from ray.autoscaler._private.util import prepare_config, validate_config

    run = cli("render", "autoscaler", "--env", "prod", "--region", "us-east-1")
    assert run.code == 0, run.err
    config = yaml.safe_load(run.out)
    assert config["cluster_name"] == "rayfleet-prod-us-east-1"
    assert config["provider"]["module"] == "components.node_agents.node_provider.AsgNodeProvider"
    validate_config(prepare_config(copy.deepcopy(config)))


def test_render_autoscaler_defaults_to_the_primary_region(cli):
    run = cli("render", "autoscaler", "--env", "prod", "--json")
    assert run.code == 0, run.err
    assert '"cluster_name": "rayfleet-prod-us-east-1"' in run.out


def test_render_autoscaler_refuses_a_region_outside_the_environment(cli):
    run = cli("render", "autoscaler", "--env", "prod", "--region", "eu-west-1")
    assert run.code == 1
    assert run.out == ""
    assert run.err == (
        "error: region 'eu-west-1' is not in environment 'prod' (its regions: us-east-1, us-west-2). "
        "Fix: pass --region with one of us-east-1, us-west-2\n"
    )


@pytest.mark.slow  # prod's full offline plan, in a subprocess
def test_plan_prod_shows_the_cluster_of_each_region(cli):
    run = cli("plan", "--env", "prod")
    assert run.code == 0, run.err
    for region in ("us-east-1", "us-west-2"):
        assert f"cluster (cluster-{region})" in run.out
        assert f"artifacts (artifacts-{region})" in run.out
    assert "autoscaling.Group ×5  cpu-on-demand, cpu-spot, gpu-on-demand, gpu-spot, head" in run.out
    assert "ec2.LaunchTemplate ×3  cpu-template, gpu-template, head-template" in run.out
    assert "elasticache.ReplicationGroup ×1  redis" in run.out
    assert "iam.Role ×2  head-role, worker-role" in run.out
