"""`rayfleet render ...`: print what rayfleet would hand to Ray, without deploying it."""

from __future__ import annotations

from pathlib import Path

import typer

from rayfleet.commands.common import EnvOption, JsonOption

app = typer.Typer(help="Print rendered configs (Serve config, ...) for an environment.", no_args_is_help=True)


@app.command()
def serve(
    env: str = EnvOption,
    region: str = typer.Option(None, "--region", "-r", help="One region of the environment (default: every region)."),
    outputs: Path = typer.Option(None, "--outputs", help="Stack outputs JSON (pulumi stack output --json): the real artifact bucket.", dir_okay=False),
    as_json: bool = JsonOption,
) -> None:
    """Print the Serve config `rayfleet serve deploy` would PUT, checked against Ray's ServeDeploySchema.

    With --region, --json prints exactly the body of PUT /api/serve/applications/.
    """
    from rayfleet.views.serve import print_rendered

    print_rendered(env, region, outputs, as_json)
