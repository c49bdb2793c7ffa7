"""`rayfleet config validate|show`: check an environment file, or print it with every default filled in."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
import yaml
from rich.text import Text

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load, stack_file
from rayfleet.output import console, print_json
from components.errors import RayfleetError
from stacks.config import EnvironmentConfig

ImportsOption = typer.Option(
    True, "--imports/--no-imports",
    help="Also import and build every application (a subprocess, about 2 s) to check its import path and overrides.",
)

app = typer.Typer(help="Check and show environment configuration.", no_args_is_help=True)


@app.command()
def validate(env: str = EnvOption, file: Path = FileOption, imports: bool = ImportsOption) -> None:
    """Validate an environment file against rayfleet's config model; exit 1 with every problem found."""
    from serve_apps.discovery import check_applications

    path = stack_file(env, file)
    cfg = load(None, path)
    problems = check_applications(cfg.serve.applications, ingress=cfg.serve.ingress, imports=imports)
    if len(problems) == 1:
        raise RayfleetError(f"{path}: {problems[0]}")
    if problems:
        raise RayfleetError(f"{path}: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems))
    groups = len(cfg.cluster.worker_groups)
    apps = len(cfg.serve.applications)
    console.print(
        Text("✓ ", style="ok")
        + Text(f"{path}: environment '{cfg.env}' is valid ")
        + Text(
            f"({len(cfg.regions)} region{'s' * (len(cfg.regions) != 1)}, "
            f"{groups} worker group{'s' * (groups != 1)}, {apps} application{'s' * (apps != 1)})",
            style="muted",
        )
    )


def resolved(cfg: EnvironmentConfig) -> dict:
    """The environment as a stack file's `config:` mapping, every default written out."""
    data = cfg.model_dump(mode="json", by_alias=True)
    out = {}
    env_region = data.pop("awsRegion") or cfg.primary_region.name
    data.pop("env")
    out["aws:region"] = env_region
    for key, value in data.items():
        out[f"rayfleet:{key}"] = value
    return {"config": out}


@app.command()
def show(env: str = EnvOption, file: Path = FileOption, as_json: bool = JsonOption) -> None:
    """Print the resolved environment: the file's values with every default filled in."""
    cfg = load(env, file)
    data = resolved(cfg)
    if as_json:
        print_json({"env": cfg.env, **data})
        return
    # Written as is, not through rich: a console wraps long values at the terminal's width (80 columns
    # when piped), and `config show > dev.yaml` must give YAML that parses back to the same environment.
    text = yaml.safe_dump(data, sort_keys=False, width=float("inf"), allow_unicode=True)
    sys.stdout.write(f"# environment '{cfg.env}', with defaults\n{text}")
    sys.stdout.flush()
