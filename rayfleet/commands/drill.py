"""`rayfleet drill spot`: rehearse failures and measure what users would see."""

from __future__ import annotations

import contextlib
import os
import sys

import typer
from rich.status import Status
from rich.text import Text

from rayfleet.commands.common import JsonOption
from rayfleet.output import console, err_console, print_json
from stacks.errors import RayfleetError

app = typer.Typer(help="Rehearse failures and measure what users would see.", no_args_is_help=True)


@contextlib.contextmanager
def _stdout_to_stderr():
    """Ray's processes, started meanwhile, inherit fd 1: keep their chatter off the report's stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@app.command()
def spot(
    local: bool = typer.Option(False, "--local", help="Run on this machine: a Ray cluster of a head and two workers."),
    deadline: float = typer.Option(30.0, "--deadline", min=1, help="Seconds from the spot notice to the node's loss (AWS: 120)."),
    warmup: float = typer.Option(3.0, "--warmup", min=0, help="Seconds of load before the notice."),
    after: float = typer.Option(5.0, "--after", min=0, help="Seconds of load after the replacement answers."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Concurrent HTTP clients."),
    work: float = typer.Option(0.05, "--work-seconds", min=0, help="Seconds each request works in its replica."),
    max_requests: int = typer.Option(50_000, "--max-requests", min=1, help="Upper bound on requests per variant."),
    gcs_port: int = typer.Option(6390, "--gcs-port", help="The drill cluster's GCS port."),
    dashboard_port: int = typer.Option(8270, "--dashboard-port", help="The drill cluster's dashboard port."),
    serve_port: int = typer.Option(8010, "--serve-port", help="The drill cluster's Serve HTTP port."),
    variant: list[str] = typer.Option(
        ["watcher", "abrupt"], "--variant", help="Which variants to run: watcher, abrupt (repeatable)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Lose a worker under load, drained on a spot notice by the watcher, then abruptly; compare.

    Builds a real multi-node Ray cluster on 127.0.0.1, deploys a Serve app with a replica on each worker, drives bounded concurrent load, and reports requests served and failed and the seconds until the replacement replica answers. Exits 1 if any request failed with the watcher.
    """
    if not local:
        raise RayfleetError("drill spot runs only locally for now. Fix: pass --local")
    unknown = sorted(set(variant) - {"watcher", "abrupt"})
    if unknown:
        raise RayfleetError(f"unknown --variant {', '.join(unknown)}. Fix: use watcher and/or abrupt")
    from components.ray_cluster.drill_spot import DrillOptions, run_spot_drill
    from rayfleet.views.drill import spot_drill_table

    options = DrillOptions(
        gcs_port=gcs_port,
        dashboard_port=dashboard_port,
        serve_port=serve_port,
        deadline_seconds=deadline,
        warmup_seconds=warmup,
        after_seconds=after,
        concurrency=concurrency,
        work_seconds=work,
        max_requests=max_requests,
        variants=tuple(dict.fromkeys(variant)),
    )
    with Status("spot drill: starting...", console=err_console) as status, _stdout_to_stderr():
        report = run_spot_drill(options, progress=lambda message: status.update(f"spot drill: {message}"))
    if as_json:
        print_json(report.to_json())
    else:
        console.print(spot_drill_table(report))
    watched = [r for r in report.results if r.variant == "watcher"]
    if any(r.failed or not r.drained for r in watched):
        err_console.print(Text("error: ", style="error") + Text("with the watcher, requests failed or the node was not drained"))
        raise typer.Exit(1)
