"""Options and lookups shared by the command groups."""

from __future__ import annotations

from pathlib import Path

import typer

from stacks.config import EnvironmentConfig
from components.errors import RayfleetError
from stacks.loader import environment_file, environment_names, load_file

ENV_HELP = "Environment name: reads stacks/Pulumi.<ENV>.yaml (dev, staging, prod, ...)."
FILE_HELP = "Path of a Pulumi stack file to use instead of --env."

EnvOption = typer.Option(None, "--env", "-e", help=ENV_HELP, show_default=False)
FileOption = typer.Option(None, "--file", "-f", help=FILE_HELP, show_default=False, dir_okay=False)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of the terminal view.")


def stack_file(env: str | None, file: Path | None) -> Path:
    """The stack file named by exactly one of --env / --file."""
    if env and file:
        raise RayfleetError("give either --env or --file, not both")
    if file:
        return file
    if env:
        return environment_file(env)
    known = ", ".join(environment_names()) or "none found"
    raise RayfleetError(f"no environment given. Fix: pass --env ENV (environments: {known}) or --file PATH")


def load(env: str | None, file: Path | None, default: str | None = None) -> EnvironmentConfig:
    """The validated config of --env or --file; `default` is the environment when neither is given."""
    return load_file(stack_file(env or (None if file else default), file))
