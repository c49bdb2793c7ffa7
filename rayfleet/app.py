"""The `rayfleet` command line.

    rayfleet config validate --env prod
    rayfleet plan --env prod --json
    rayfleet render autoscaler --env prod --region us-east-1

Every command group lives in its own module under rayfleet/commands/; this
module wires them together and turns errors into one clear message and a
non-zero exit (`rayfleet --debug ...` also prints the traceback).
"""

from __future__ import annotations

import os
import sys
import traceback

import typer
from rich.text import Text

from rayfleet.commands import config as config_cmd
from rayfleet.commands import cost as cost_cmd
from rayfleet.commands import drill as drill_cmd
from rayfleet.commands import local as local_cmd
from rayfleet.commands import plan as plan_cmd
from rayfleet.commands import render as render_cmd
from rayfleet.commands import serve as serve_cmd
from rayfleet.commands import status as status_cmd
from rayfleet.output import err_console
from components.errors import RayfleetError

app = typer.Typer(
    name="rayfleet",
    help="Ray Serve on AWS: spot clusters with on-demand fallback, multi-region failover, cost tracking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(cost_cmd.app, name="cost")
app.add_typer(drill_cmd.app, name="drill")
app.command(name="plan")(plan_cmd.plan)
app.add_typer(render_cmd.app, name="render")
app.add_typer(serve_cmd.app, name="serve")
app.add_typer(local_cmd.app, name="local")
app.command(name="status")(status_cmd.status)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Print the full traceback when a command fails."),
) -> None:
    """Ray Serve on AWS: spot clusters with on-demand fallback, multi-region failover, cost tracking."""
    if debug:
        os.environ["RAYFLEET_DEBUG"] = "1"


def _debugging() -> bool:
    return os.environ.get("RAYFLEET_DEBUG") == "1" or "--debug" in sys.argv[1:2]


def main() -> None:
    try:
        app()
    except RayfleetError as err:
        if _debugging():
            traceback.print_exc()
        err_console.print(Text("error: ", style="error") + Text(str(err)))
        sys.exit(1)
    except BrokenPipeError:
        # The reader went away (`rayfleet plan --json | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        err_console.print(Text("interrupted", style="warn"))
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - the last line of defence: no traceback unless asked
        if _debugging():
            traceback.print_exc()
        err_console.print(
            Text("internal error: ", style="error")
            + Text(f"{type(err).__name__}: {err}")
            + Text(" (run 'rayfleet --debug ...' for the traceback)", style="muted")
        )
        sys.exit(2)
