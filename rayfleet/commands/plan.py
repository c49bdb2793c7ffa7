"""`rayfleet plan`: run the Pulumi program offline and show what `pulumi up` would create."""

from __future__ import annotations

from pathlib import Path

from rich.status import Status

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, stack_file
from rayfleet.output import console, err_console, print_json
from rayfleet.views.plan import plan_tree
from stacks.plan import run_plan


def plan(env: str = EnvOption, file: Path = FileOption, as_json: bool = JsonOption) -> None:
    """Preview an environment with no cloud account: the real Pulumi program, run under mocks.

    Shows every resource `pulumi up --stack ENV` would create, per region and component.
    """
    path = stack_file(env, file)
    with Status("running the Pulumi program under mocks...", console=err_console):
        result = run_plan(path=path)
    if as_json:
        print_json(result.to_json())
        return
    console.print(plan_tree(result))
