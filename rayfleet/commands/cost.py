"""`rayfleet cost ...`: what an environment will cost, what it cost, and which application spent it.

    rayfleet cost estimate --env prod
    rayfleet cost diff --env staging --against prod
    rayfleet cost report --env prod --days 14 --json
    rayfleet cost allocate --local
    rayfleet cost catalog refresh --regions us-east-1 us-west-2
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.status import Status

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, stack_file
from rayfleet.output import console, err_console, print_json

app = typer.Typer(help="Cost: estimate before deploying, actuals from Cost Explorer, per-application shares.",
                  no_args_is_help=True)
catalog_app = typer.Typer(help="The price catalog: shipped prices, or a local cache refreshed from AWS.",
                          no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _estimate(path: Path):
    from cost.environment import estimate_environment

    with Status(f"pricing {path.name} (the Pulumi program under mocks)...", console=err_console):
        return estimate_environment(path)


@app.command()
def estimate(env: str = EnvOption, file: Path = FileOption, as_json: bool = JsonOption) -> None:
    """Monthly cost of an environment at min / expected / max size, from the offline plan's resources."""
    from rayfleet.views.cost_estimate import estimate_view

    result = _estimate(stack_file(env, file))
    if as_json:
        print_json(result.to_json())
        return
    console.print(estimate_view(result))


@app.command()
def diff(
    env: str = EnvOption,
    against: str = typer.Option(..., "--against", help="The environment to compare with.", show_default=False),
    as_json: bool = JsonOption,
) -> None:
    """Compare two environments' estimates line by line."""
    from cost.diff import diff_estimates
    from rayfleet.views.cost_estimate import diff_view

    result = diff_estimates(_estimate(stack_file(env, None)), _estimate(stack_file(against, None)))
    if as_json:
        print_json(result.to_json())
        return
    console.print(diff_view(result))
