"""`rayfleet config validate|show`, and how every command reports errors."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fakes.environments import ENVIRONMENTS, STACKS, stack_config, write_stack


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_validate_accepts_shipped_environments(cli, env):
    run = cli("config", "validate", "--env", env)
    assert run.code == 0, run.err
    assert run.out.startswith(f"✓ {STACKS / f'Pulumi.{env}.yaml'}: environment '{env}' is valid (")


def test_validate_reports_every_problem_without_a_traceback(cli, tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["minWorkers"] = 30
    config["rayfleet:regions"][1]["name"] = "us-west-9"
    path = write_stack(tmp_path, config, env="broken")
    run = cli("config", "validate", "--file", str(path))
    assert run.code == 1
    assert run.out == ""
    assert run.err == (
        f"error: {path}: 2 problems\n"
        "  - rayfleet:regions[1].name = 'us-west-9': is not an AWS region. Fix: did you mean 'us-west-2'?\n"
        "  - rayfleet:cluster.workerGroups[0].minWorkers = 30: minWorkers (30) must be less than or equal to "
        "maxWorkers (20). Fix: lower minWorkers or raise maxWorkers.\n"
    )
    assert "Traceback" not in run.err


def test_yaml_error_exits_non_zero_with_the_line(cli, tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  rayfleet:regions: [\n")
    run = cli("config", "validate", "--file", str(path))
    assert run.code == 1
    assert run.err.startswith(f"error: {path}: YAML syntax error at line 3, column 1:")
    assert "Traceback" not in run.err


def test_debug_shows_the_traceback(cli, tmp_path):
    path = tmp_path / "Pulumi.empty.yaml"
    path.write_text("")
    run = cli("--debug", "config", "validate", "--file", str(path))
    assert run.code == 1
    assert "Traceback (most recent call last)" in run.err
    assert run.err.rstrip().endswith("config = (missing): the file is empty. Fix: add a 'config:' mapping.")


def test_env_and_file_together_are_refused(cli):
    run = cli("config", "validate", "--env", "dev", "--file", "x.yaml")
    assert run.code == 1
    assert run.err == "error: give either --env or --file, not both\n"


def test_no_environment_given_lists_the_known_ones(cli):
    run = cli("config", "validate")
    assert run.code == 1
    assert run.err == "error: no environment given. Fix: pass --env ENV (environments: dev, prod, staging) or --file PATH\n"


def test_unknown_environment_suggests_one(cli):
    run = cli("plan", "--env", "stagin")
    assert run.code == 1
    assert run.err == f"error: no environment 'stagin' in {STACKS} (environments: dev, prod, staging). Fix: did you mean 'staging'?\n"


def test_show_prints_defaults_as_a_stack_file(cli):
    run = cli("config", "show", "--env", "dev")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == "# environment 'dev', with defaults"
    shown = yaml.safe_load("\n".join(lines[1:]))["config"]
    assert shown["aws:region"] == "us-west-2"
    group = shown["rayfleet:cluster"]["workerGroups"][0]
    assert group["spot"]["fallbackAfterSeconds"] == 180  # a default the file does not spell out
    assert shown["rayfleet:failover"] is None


def test_show_json_round_trips_through_validation(cli, tmp_path):
    run = cli("config", "show", "--env", "prod", "--json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["env"] == "prod"
    path = write_stack(tmp_path, data["config"], env="prod")
    again = cli("config", "validate", "--file", str(path))
    assert again.code == 0, again.err


@pytest.mark.parametrize(
    "args",
    [(), ("config",), ("config", "validate"), ("config", "show"), ("plan",)],
)
def test_help_everywhere(cli, args):
    run = cli(*args, "--help")
    assert run.code == 0
    assert "Usage:" in run.out
