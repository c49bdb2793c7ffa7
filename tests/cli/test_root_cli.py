"""The `rayfleet` command itself: its version, shell completion, and the order `--help` lists commands in."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest

from tests.fakes.environments import ROOT

# typer's own switch to take the shell from the command line instead of detecting the parent shell.
NAMED_SHELL = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def test_version_prints_the_installed_version(cli):
    run = cli("--version")
    assert (run.code, run.err) == (0, "")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run.out == f"rayfleet {declared}\n" == f"rayfleet {version('rayfleet')}\n"


@pytest.mark.parametrize(
    ("shell", "registers"),
    [("bash", "complete -o default -F _rayfleet_completion rayfleet"), ("zsh", "compdef _rayfleet_completion rayfleet")],
)
def test_show_completion_prints_a_script_for_the_rayfleet_command(cli, shell, registers):
    run = cli("--show-completion", shell, env=NAMED_SHELL)
    assert run.code == 0, run.err
    assert "_RAYFLEET_COMPLETE" in run.out
    assert registers in run.out


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("rayfleet co", "1", ["config", "cost"]), ("rayfleet cost d", "2", ["diff"])],
)
def test_completion_completes_command_names(cli, words, cword, expected):
    run = cli(env={"_RAYFLEET_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword})
    assert run.code == 0, run.err
    assert run.out.split() == expected


def test_install_completion_writes_the_script_and_sources_it(cli, tmp_path):
    run = cli("--install-completion", "bash", env={**NAMED_SHELL, "HOME": str(tmp_path)})
    assert run.code == 0, run.err
    script = tmp_path / ".bash_completions" / "rayfleet.sh"
    assert "_RAYFLEET_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_help_lists_commands_in_the_order_of_an_environments_life(cli):
    run = cli("--help")
    assert run.code == 0, run.err
    panel = run.out[run.out.index("Commands"):]
    listed = re.findall(r"^│ (\w+) ", panel, flags=re.MULTILINE)
    assert listed == ["config", "plan", "serve", "upgrade", "status", "cost", "local", "drill", "emulate", "render",
                      # their own panel: operating a deployed cluster
                      "ssh", "exec", "dashboard", "logs", "job"]


def test_help_offers_version_and_completion(cli):
    run = cli("--help")
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in run.out
