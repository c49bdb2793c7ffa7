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
from importlib.metadata import version

import typer
from typer.core import TyperGroup
from rich.text import Text

from rayfleet.commands import config as config_cmd
from rayfleet.commands import cost as cost_cmd
from rayfleet.commands import drill as drill_cmd
from rayfleet.commands import emulate as emulate_cmd
from rayfleet.commands import local as local_cmd
from rayfleet.commands import ops as ops_cmd
from rayfleet.commands import plan as plan_cmd
from rayfleet.commands import render as render_cmd
from rayfleet.commands import serve as serve_cmd
from rayfleet.commands import status as status_cmd
from rayfleet.commands import upgrade as upgrade_cmd
from rayfleet.output import err_console
from components.errors import RayfleetError

#: How `rayfleet --help` lists the commands: an environment's life (describe it, preview it, deploy its
#: applications, pay for it), then working on one machine, rehearsing failure, and the generated configs.
#: A command not listed comes last, in the order it was added.
COMMAND_ORDER = (
    "config", "plan", "serve", "upgrade", "status", "cost", "local", "drill", "emulate", "render", "ssh", "exec", "dashboard",
    "logs", "job"
)


class _OrderedGroup(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        rank = {name: index for index, name in enumerate(COMMAND_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))


app = typer.Typer(
    name="rayfleet",
    cls=_OrderedGroup,
    help="Ray Serve on AWS: spot clusters with on-demand fallback, multi-region failover, cost tracking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(cost_cmd.app, name="cost")
app.add_typer(drill_cmd.app, name="drill")
app.command(name="emulate")(emulate_cmd.emulate)
app.command(name="plan")(plan_cmd.plan)
app.add_typer(render_cmd.app, name="render")
app.add_typer(serve_cmd.app, name="serve")
app.add_typer(local_cmd.app, name="local")
app.command(name="status")(status_cmd.status)
app.command(name="upgrade")(upgrade_cmd.upgrade)
# Operating a deployed cluster through Session Manager (no SSH, no open port), listed together.
app.command(name="ssh", rich_help_panel=ops_cmd.PANEL)(ops_cmd.ssh)
app.command(name="exec", rich_help_panel=ops_cmd.PANEL)(ops_cmd.exec_)
app.command(name="dashboard", rich_help_panel=ops_cmd.PANEL)(ops_cmd.dashboard)
app.command(name="logs", rich_help_panel=ops_cmd.PANEL)(ops_cmd.logs)
app.add_typer(ops_cmd.job_app, name="job", rich_help_panel=ops_cmd.PANEL)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"rayfleet {version('rayfleet')}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Print the full traceback when a command fails."),
    _version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                  help="Print rayfleet's version and exit."),
) -> None:
    """Ray Serve on AWS: spot clusters with on-demand fallback, multi-region failover, cost tracking."""
    if debug:
        os.environ["RAYFLEET_DEBUG"] = "1"


def _debugging() -> bool:
    return os.environ.get("RAYFLEET_DEBUG") == "1" or "--debug" in sys.argv[1:2]


def main() -> None:
    try:
        # The name completion scripts register (`_RAYFLEET_COMPLETE`), also under `python -m rayfleet`.
        app(prog_name="rayfleet")
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
