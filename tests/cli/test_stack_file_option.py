"""`--file STACK.yaml` wherever `--env` is taken: the same config, through the one loader."""

from __future__ import annotations

import shutil

import pytest
import typer

from tests.fakes.environments import ROOT

STACKS = ROOT / "stacks"


def _commands_with(option: str) -> dict:
    """Every leaf command of the CLI that has `option`, by its words ('serve deploy')."""
    from rayfleet.app import app

    found = {}

    def walk(command, path: tuple[str, ...]) -> None:
        if hasattr(command, "list_commands"):  # a group (typer ships its own click)
            ctx = type(command).context_class(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*path, name))
        elif any(option in param.opts for param in command.params):
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), ())
    return found


#: Each command taking --env, with the arguments that make it run as far as loading the config.
ENV_COMMANDS = {
    "config validate": (),
    "config show": (),
    "plan": (),
    "render autoscaler": (),
    "render serve": (),
    "serve deploy": (),
    "serve status": (),
    "serve rollback": (),
    "local up": (),
    "cost estimate": (),
    "cost diff": ("--against", "dev"),
    "cost report": (),
    "cost allocate": ("--region", "us-west-2"),
    "drill failover": ("--dry-run",),
    "drill upgrade": ("--local",),
    "emulate": ("--scenario", "control-plane"),
    "ssh": (),
    "exec": ("--", "true"),
    "dashboard": (),
    "logs": (),
    "job submit": ("--", "true"),
    "status": (),
    "upgrade": ("--dry-run",),
}


def test_every_command_that_takes_env_takes_file_too():
    with_env = _commands_with("--env")
    assert sorted(with_env) == sorted(ENV_COMMANDS)
    assert [name for name, command in with_env.items() if not any("--file" in p.opts for p in command.params)] == []


@pytest.fixture
def broken_stack(tmp_path):
    """dev's stack file under another name, with one unknown key: any command that loads it says so."""
    path = tmp_path / "Pulumi.mine.yaml"
    path.write_text(STACKS.joinpath("Pulumi.dev.yaml").read_text().replace("rayfleet:serve:", "rayfleet:serv:", 1))
    return path


@pytest.mark.parametrize("command", sorted(ENV_COMMANDS))
def test_file_is_read_by_the_one_loader(cli, command, broken_stack):
    run = cli(*command.split(), "--file", str(broken_stack), *ENV_COMMANDS[command])
    assert run.code == 1
    assert run.err.startswith(f"error: {broken_stack}: ")
    assert "rayfleet:serv" in run.err and "did you mean 'rayfleet:serve'?" in run.err
    assert "Traceback" not in run.err


@pytest.mark.parametrize("command", sorted(ENV_COMMANDS))
def test_env_and_file_together_are_refused(cli, command):
    run = cli(*command.split(), "--env", "dev", "--file", str(STACKS / "Pulumi.dev.yaml"), *ENV_COMMANDS[command])
    assert (run.code, run.out, run.err) == (1, "", "error: give either --env or --file, not both\n")


@pytest.mark.parametrize(
    "command", sorted(set(ENV_COMMANDS) - {"local up", "drill upgrade", "serve status", "serve rollback", "cost allocate"})
)
def test_neither_env_nor_file_is_refused(cli, command):
    run = cli(*command.split(), *ENV_COMMANDS[command])
    assert (run.code, run.out) == (1, "")
    assert run.err == "error: no environment given. Fix: pass --env ENV (environments: dev, prod, staging) or --file PATH\n"


@pytest.mark.parametrize("command", ["serve status", "serve rollback"])
def test_serve_status_and_rollback_take_exactly_one_of_env_file_address(cli, command):
    neither = cli(*command.split())
    file_and_address = cli(*command.split(), "--file", str(STACKS / "Pulumi.dev.yaml"), "--address", "http://127.0.0.1:9")
    assert neither.code == file_and_address.code == 1
    assert neither.err == file_and_address.err == "error: give exactly one of --env ENV, --file PATH or --address URL\n"


@pytest.fixture
def mine(tmp_path):
    """dev's stack file as a user's own file elsewhere: environment 'mine'."""
    path = tmp_path / "Pulumi.mine.yaml"
    shutil.copy(STACKS / "Pulumi.dev.yaml", path)
    return path


def test_render_serve_file_renders_that_environment(cli, mine):
    run = cli("render", "serve", "--file", str(mine))
    assert run.code == 0, run.err
    assert run.out.startswith("# mine/us-west-2: Serve config (accepted by ray.serve.schema.ServeDeploySchema)\n")


def test_drill_failover_file_names_the_files_environment(cli, mine):
    run = cli("drill", "failover", "--file", str(mine), "--dry-run")
    assert run.code == 1
    assert run.err == (
        "error: environment 'mine' has no failover: DNS failover needs two or more regions and "
        "'rayfleet:failover' in its stack file. Fix: drill an environment with failover\n"
    )


def test_cost_allocate_file_needs_a_region_of_that_environment(cli, mine):
    run = cli("cost", "allocate", "--file", str(mine), "--region", "eu-west-1")
    assert run.code == 1
    assert run.err == "error: --region eu-west-1 is not a region of mine (us-west-2). Fix: use one of them\n"


@pytest.mark.slow
def test_cost_diff_file_compares_the_file_with_another_environment(cli, mine):
    run = cli("cost", "diff", "--file", str(mine), "--against", "dev", "--json", timeout=300)
    assert run.code == 0, run.err
    assert '"mine"' in run.out and '"dev"' in run.out
