"""`config validate` reports cross-field problems in the same pass as field problems, where the fields involved are valid."""

from __future__ import annotations

import pytest

from components.errors import ConfigError
from stacks.loader import parse_stack_config
from tests.fakes.environments import stack_config

ROOT_VOLUME = "rayfleet:cluster.workerGroups[0].rootVolumeGb = 5: must be at least 20. Fix: use a value of 20 or more."


def problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_stack_config("broken", config, source="broken")
    return [str(issue) for issue in err.value.issues]


def test_overlapping_regions_are_reported_beside_a_bad_worker_group_field():
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["rootVolumeGb"] = 5
    config["rayfleet:regions"][1]["cidr"] = config["rayfleet:regions"][0]["cidr"]
    assert problems(config) == [
        ROOT_VOLUME,
        "rayfleet:regions[1].cidr = '10.10.0.0/16': overlaps regions[0].cidr (10.10.0.0/16) of us-east-1. "
        "Fix: give every region its own, non-overlapping block, for example 10.20.0.0/16.",
    ]


def test_a_replica_too_big_for_every_node_is_reported_beside_a_field_of_the_group_it_does_not_read():
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["rootVolumeGb"] = 5
    config["rayfleet:serve"]["applications"][0]["resources"]["cpus"] = 512
    assert problems(config) == [
        ROOT_VOLUME,
        "rayfleet:serve.applications[0].resources.cpus = 512: a replica needs more than any worker node offers "
        "(at most 8 vCPUs). Fix: lower resources.cpus, or add a worker group with larger instances.",
    ]


def test_worker_group_names_are_checked_beside_a_bad_field_of_another_group():
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][1]["name"] = "cpu"
    config["rayfleet:cluster"]["workerGroups"][0]["rootVolumeGb"] = 5
    assert problems(config) == [
        ROOT_VOLUME,
        "rayfleet:cluster.workerGroups[1].name = 'cpu': is already the name of another worker group. "
        "Fix: give each worker group its own name.",
    ]


def test_aws_region_and_failover_domain_are_checked_beside_a_bad_spot_field():
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["spot"]["onDemandBase"] = -1
    config["rayfleet:failover"]["domain"] = "api.other.com"
    config["aws:region"] = "eu-west-1"
    assert problems(config) == [
        "rayfleet:cluster.workerGroups[0].spot.onDemandBase = -1: must be at least 0. Fix: use a value of 0 or more.",
        "rayfleet:failover.domain = 'api.other.com': is not inside hostedZone 'example.com'. "
        "Fix: use a name ending in '.example.com', or change hostedZone.",
        "aws:region = 'eu-west-1': must equal the primary region, regions[0].name (us-east-1). "
        "Fix: set aws:region to us-east-1, or remove it.",
    ]


def test_a_rule_that_reads_an_invalid_field_is_not_checked():
    # The unknown instance type leaves the group's size unknown: whether a replica fits is not judged.
    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["instanceTypes"][0] = "m6i.huge"
    config["rayfleet:serve"]["applications"][0]["resources"]["cpus"] = 512
    assert problems(config) == [
        "rayfleet:cluster.workerGroups[0].instanceTypes[0] = 'm6i.huge': is not an instance type rayfleet knows. "
        "Fix: did you mean 'm6i.large'?",
    ]


def test_a_cross_field_problem_is_reported_once():
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["minWorkers"] = 30
    config["rayfleet:cluster"]["workerGroups"][1]["rootVolumeGb"] = 5
    assert problems(config) == [
        "rayfleet:cluster.workerGroups[0].minWorkers = 30: minWorkers (30) must be less than or equal to "
        "maxWorkers (20). Fix: lower minWorkers or raise maxWorkers.",
        "rayfleet:cluster.workerGroups[1].rootVolumeGb = 5: must be at least 20. Fix: use a value of 20 or more.",
    ]


def test_a_rule_that_breaks_on_valid_fields_is_not_hidden(monkeypatch):
    # Only a rule reading an invalid value goes unchecked; a rule failing on valid fields is a defect to surface.
    from stacks.config import EnvironmentConfig
    from stacks.config_errors import cross_field_issues

    def broken_rule(self):
        raise TypeError("the rule's own defect")

    decorators = EnvironmentConfig.__pydantic_decorators__.model_validators
    name = next(iter(decorators))
    monkeypatch.setattr(decorators[name], "func", broken_rule)
    config = stack_config("dev")
    with pytest.raises(TypeError, match="the rule's own defect"):
        values = {key.removeprefix("rayfleet:"): value for key, value in config.items() if key.startswith("rayfleet:")}
        cross_field_issues({"env": "dev", "awsRegion": config.get("aws:region"), **values})
