"""`pulumi up`'s entry point, stacks/__main__.py, run the way Pulumi runs it: under mocks, with the config as passed.

Pulumi's language host hands the program the stack's config as strings (structured
values JSON-encoded) and its entry script runs `stacks/` with runpy; these tests do
the same, with the plan's mocks and capture.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

import stacks
from components.errors import ConfigError
from stacks.loader import load_file
from stacks.mocks import pulumi_program_config
from stacks.plan import Plan, capture
from tests.fakes.environments import stack_config, write_stack

PROGRAM = Path(stacks.__file__).resolve().parent  # `main: stacks/` in Pulumi.yaml
FAILOVER = {"mode": "active-passive", "domain": "api.example.com", "hostedZone": "example.com"}


def _pulumi_up(env: str, config: dict[str, str]) -> Plan:
    return capture(
        env,
        "pulumi up",
        lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
        primary_region="us-west-2",
        config=config,
    )


def _comparable(plan: Plan) -> list[tuple]:
    """Each resource's URN, ID and inputs; assets by their path (they compare by identity)."""

    def plain(value):
        if isinstance(value, pulumi.asset.FileAsset):
            return ("FileAsset", value.path)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return [(r.urn, r.id, r.region, plain(r.inputs)) for r in plan.resources]


def test_unknown_rayfleet_key_fails_pulumi_up_with_the_did_you_mean_of_config_validate(tmp_path):
    config = stack_config("dev")
    config["rayfleet:failovr"] = FAILOVER
    with pytest.raises(pulumi.RunError) as caught:
        _pulumi_up("dev", pulumi_program_config(config))
    assert str(caught.value) == (
        "stack 'dev' config: 1 problem\n"
        "  - rayfleet:failovr = {'mode': 'active-passive', 'domain': 'api.example.com', '...: "
        "is not a known key. Fix: did you mean 'rayfleet:failover'?"
    )
    with pytest.raises(ConfigError) as validated:  # what `rayfleet config validate --file` says of the same config
        load_file(write_stack(tmp_path, config, env="dev"))
    assert str(caught.value).splitlines()[1:] == str(validated.value).splitlines()[1:]


def test_config_pulumi_passes_in_its_environment_variable_is_checked_too(monkeypatch):
    config = {**stack_config("dev"), "rayfleet:ingres": {}}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(pulumi_program_config(config)))
    with pytest.raises(pulumi.RunError) as caught:
        _pulumi_up("dev", {})
    assert str(caught.value) == (
        "stack 'dev' config: 1 problem\n"
        "  - rayfleet:ingres = {}: is not a known key. Fix: did you mean 'rayfleet:ingress'?"
    )


def test_stack_file_run_as_pulumi_up_registers_what_the_offline_plan_does(plans):
    via_pulumi = _pulumi_up("dev", pulumi_program_config(stack_config("dev")))
    plan = plans("dev")
    assert _comparable(via_pulumi) == _comparable(plan)
    assert via_pulumi.outputs == plan.outputs
