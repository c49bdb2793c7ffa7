"""`rayfleet render ...`: print what rayfleet generates for a cluster, exactly as the cluster receives it.

    rayfleet render autoscaler --env prod --region us-east-1
    rayfleet render serve --env prod --json
"""

from __future__ import annotations

from pathlib import Path

import typer

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load
from rayfleet.output import console, print_json

app = typer.Typer(help="Print generated configs (autoscaler, Serve) as the cluster receives them.", no_args_is_help=True)

RegionOption = typer.Option(
    None, "--region", "-r", help="Region of the environment (default: its primary region).", show_default=False
)


@app.command()
def autoscaler(env: str = EnvOption, file: Path = FileOption, region: str = RegionOption, as_json: bool = JsonOption) -> None:
    """The Ray autoscaler config a region's head runs with (the cluster YAML Ray's monitor validates)."""
    from components.ray_cluster.autoscaler_config import to_yaml
    from stacks.cluster_args import region_autoscaler_config

    cfg = load(env, file)
    config = region_autoscaler_config(cfg, region or cfg.primary_region.name)
    if as_json:
        print_json(config)
        return
    console.print(to_yaml(config), end="", markup=False, highlight=False, soft_wrap=True)


@app.command()
def serve(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = typer.Option(None, "--region", "-r", help="One region of the environment (default: every region)."),
    outputs: Path = typer.Option(None, "--outputs", help="Stack outputs JSON (pulumi stack output --json): the real artifact bucket.", dir_okay=False),
    as_json: bool = JsonOption,
) -> None:
    """The Serve config `rayfleet serve deploy` would PUT, checked against Ray's ServeDeploySchema.

    With --region, --json prints exactly the body of PUT /api/serve/applications/.
    """
    from rayfleet.views.serve import print_rendered

    print_rendered(load(env, file), region, outputs, as_json)
