"""The emulated control plane's decisions from the plan: every planned input reaches a call or is a known gap."""

from __future__ import annotations

import pytest

from components.drills.emulate.plane import (BOOT_TYPES, GAPS, GROUP, SECRET_VERSION, IdMap, boot_resources, mapped_inputs,
                                            plain, recipe_for)
from stacks.loader import load_environment

ENVS = ["dev", "staging", "prod"]
# Each environment's full offline plan.
pytestmark = pytest.mark.slow


def _boot(plans, env):
    plan = plans(env)
    return boot_resources(plan.resources, plan.outputs["primaryRegion"])


@pytest.mark.parametrize("env", ENVS)
def test_every_planned_input_is_sent_or_listed_as_a_gap(plans, env):
    unaccounted = {
        (r.type, key)
        for r in _boot(plans, env)
        for key in r.inputs
        if key not in mapped_inputs(r.type) and (r.type, key) not in GAPS
    }
    assert unaccounted == set()


@pytest.mark.parametrize("env", ENVS)
def test_each_resource_is_created_after_those_it_depends_on(plans, env):
    resources = _boot(plans, env)
    position = {r.urn: i for i, r in enumerate(resources)}
    # A secret's version holds the GCS store's AUTH token: only with head fault tolerance.
    tolerant = load_environment(env).cluster.head_fault_tolerance
    assert {r.type for r in resources} == set(BOOT_TYPES) - (set() if tolerant else {SECRET_VERSION})
    for resource in resources:
        assert all(position[d] < position[resource.urn] for d in resource.dependencies if d in position)


@pytest.mark.parametrize("env", ENVS)
def test_group_calls_name_emulated_ids_only(plans, env):
    resources = _boot(plans, env)
    planned_ids = {r.id for r in resources if r.type != "aws:s3/bucket:Bucket"}  # a bucket keeps its name
    ids = IdMap(ids={i: f"emulated-{n}" for n, i in enumerate(sorted(planned_ids))},
                versions={f"emulated-{n}": "1" for n in range(len(planned_ids))})
    for group in (r for r in resources if r.type == GROUP):
        call = recipe_for(group, ids).create
        sent = repr(call.kwargs)
        assert [i for i in planned_ids if f"'{i}'" in sent or i in call.kwargs["VPCZoneIdentifier"]] == []


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_redis_auth_token_is_put_in_its_secret_as_planned(plans, env):
    """The head reads the token at boot: the emulated secret holds the plan's value, not Pulumi's secret wrapper."""
    resources = _boot(plans, env)
    version = next(r for r in resources if r.type == SECRET_VERSION)
    call = recipe_for(version, IdMap(ids={version.inputs["secretId"]: "arn:emulated"})).create
    assert (call.operation, call.kwargs["SecretId"]) == ("put_secret_value", "arn:emulated")
    assert call.kwargs["SecretString"] == plain(version.inputs["secretString"])
    assert isinstance(version.inputs["secretString"], dict) and "value" in version.inputs["secretString"]
    assert call.kwargs["SecretString"] and "{" not in call.kwargs["SecretString"]
