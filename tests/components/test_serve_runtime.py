"""Every node of every environment starts Ray with the environment's Serve ingress, as the plan renders it."""

from __future__ import annotations


import pytest

from components.serve_runtime import serve_environment
from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS
from tests.fakes.node_boots import ray_env_file, template_script



@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_launch_template_starts_ray_with_the_environments_ingress(plans, env):
    cfg = load_environment(env)
    templates = plans(env).of_type("aws:ec2/launchTemplate:LaunchTemplate")
    groups = {region: 1 + len(cfg.cluster.worker_groups) for region in cfg.region_names}
    assert len(templates) == sum(groups.values())  # the head and every worker group, in every region
    expected = serve_environment(cfg.serve.ingress, haproxy_dir="/var/lib/ray/haproxy")
    for template in templates:
        env_file = ray_env_file(template_script(template))
        assert {key: env_file.get(key) for key in expected} == expected, template.name


def test_the_shipped_environments_use_the_haproxy_ingress_by_default():
    assert {env: load_environment(env).serve.ingress for env in ENVIRONMENTS} == dict.fromkeys(ENVIRONMENTS, "haproxy")
