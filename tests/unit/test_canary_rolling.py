"""Redeploys start each replacement replica before the replica it replaces stops, in every environment."""

from __future__ import annotations

import pytest

from serve_apps.render import CloudTarget, LocalTarget, Machine, render_serve_config, validate_serve_config
from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS

CLOUD = CloudTarget(models_base="s3://bucket/models", working_dir="s3://bucket/serve/code-abc.zip")
LAPTOP = LocalTarget(models_base="file:///tmp/models", machine=Machine(cpus=2, gpus=0, memory_gb=8))


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("target", [CLOUD, LAPTOP], ids=["cloud", "local"])
def test_every_deployment_starts_one_extra_replica_at_a_time_before_stopping_one(env, target):
    # Ray 2.60's default max_surge_percent is 0: a rolling update stops a replica first, so an application
    # of one replica has none while the new one starts, and its requests wait seconds for it.
    rendered = render_serve_config(load_environment(env), target)
    surges = {(app["name"], d["name"]): d.get("max_surge_percent")
              for app in rendered.config["applications"] for d in app.get("deployments", [])}
    # One extra replica at a time (Ray rounds 1 % of any target up to 1): 100 % would start a second full
    # set of replicas, which a cluster at its node limit can never place, so the update would never finish.
    assert surges and set(surges.values()) == {1}, surges
    validate_serve_config(rendered.config)
