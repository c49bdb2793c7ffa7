"""`rayfleet drill ...`: rehearse failures and measure what users would see.

    rayfleet drill spot --local
    rayfleet drill failover --env prod --dry-run
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load, stack_file
from rayfleet.output import THEME, console, err_console, print_json
from components.errors import RayfleetError

app = typer.Typer(
    help="Rehearse failures: a spot interruption on a local cluster, a region failover on a deployed environment.",
    no_args_is_help=True,
)


@app.command()
def failover(
    env: str = EnvOption,
    file: Path = FileOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact steps; change nothing."),
    outputs: Path = typer.Option(
        None, "--outputs", help="Stack outputs JSON (pulumi stack output --json); default: ask Pulumi.", dir_okay=False
    ),
    timeout: float = typer.Option(300, "--timeout", min=1, help="Give up after this many seconds."),
    poll: float = typer.Option(5, "--poll", min=0.1, help="Seconds between polls of Route 53."),
    as_json: bool = JsonOption,
) -> None:
    """Invert the primary region's health check, time Route 53's move to another region, restore it."""
    from components.drills import failover as drill

    path = stack_file(env, file)
    target, source = _target(path, outputs, dry_run)
    if dry_run:
        steps = drill.drill_steps(target, timeout=timeout, poll=poll)
        if as_json:
            print_json({"env": target.env, "source": source, "steps": [s.__dict__ for s in steps]})
            return
        from rayfleet.views.failover_drill import drill_steps_view

        # Unwrapped, so each command can be copied as one line.
        console.print(drill_steps_view(target, steps, source=source), soft_wrap=True)
        return

    import boto3
    from rich.status import Status

    from rayfleet.views.failover_drill import drill_result_view

    client = boto3.client("route53")
    with Status(f"inverting {target.primary.region}'s health check...", console=err_console) as status:

        def progress(observed: drill.Poll) -> None:
            where = observed.answer_region or ", ".join(observed.answer) or "no answer"
            status.update(f"{observed.seconds:.0f} s: Route 53 answers {where}; waiting for another region...")

        try:
            result = drill.run_failover_drill(target, client, timeout=timeout, poll=poll, on_poll=progress)
        except (KeyboardInterrupt, drill.DrillInterrupted):
            err_console.print(
                Text("interrupted; ", style="warn")
                + Text(f"health check {target.primary.health_check_id} restored (no longer inverted)")
            )
            raise typer.Exit(130) from None
    if as_json:
        print_json(result.to_json())
    else:
        console.print(drill_result_view(result))
    if result.timed_out:
        raise typer.Exit(1)


def _target(path: Path, outputs: Path | None, dry_run: bool):
    """The drill's target, and where its IDs came from."""
    from stacks.drill_target import drill_target
    from stacks.outputs import OutputsUnavailable, parse_stack_outputs, read_stack_outputs

    cfg = load(None, path)
    env = cfg.env
    if cfg.failover is None:
        raise RayfleetError(
            f"environment '{env}' has no failover: DNS failover needs two or more regions and "
            "'rayfleet:failover' in its stack file. Fix: drill an environment with failover"
        )
    try:
        found = read_stack_outputs(env, outputs)
        source = str(outputs) if outputs else f"'pulumi stack output --stack {env}'"
    except OutputsUnavailable:
        if not dry_run or outputs is not None:
            raise
        # A dry run still shows the steps before anything is deployed: with the offline plan's placeholder IDs.
        from stacks.plan import run_plan

        source = "the offline plan (placeholders until 'pulumi up')"
        found = parse_stack_outputs(run_plan(path=path).outputs, env, source)
    return drill_target(found, env), source


@contextlib.contextmanager
def _ray_output_to(log_path: Path):
    """Send fds 1 and 2 to `log_path` meanwhile; yield a console on the real stderr for progress.

    The drill's Ray processes (raylets, workers, Serve) inherit fds 1 and 2 and write coloured
    internal logs there, and Ray's loggers in this process write to sys.stderr: on the terminal they
    buried the result table, and piped they put ANSI codes in stderr. The file keeps them for later.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    real_stderr = os.fdopen(os.dup(saved[2]), "w", buffering=1)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield Console(file=real_stderr, theme=THEME, highlight=False, soft_wrap=True)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(log)
        real_stderr.close()


def _drill_log_path() -> Path:
    from serve_apps.paths import rayfleet_home

    return rayfleet_home() / "logs" / f"drill-spot-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


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
    from components.drills.spot import DrillOptions
    from rayfleet.views.spot_drill import spot_drill_table

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
    log_path = _drill_log_path()
    try:
        with _ray_output_to(log_path) as progress_console:
            report = _run_with_progress(options, progress_console)
    finally:
        err_console.print(Text(f"Ray's logs of the drill: {log_path}", style="muted"))
    if as_json:
        print_json(report.to_json())
    else:
        console.print(spot_drill_table(report))
    watched = [r for r in report.results if r.variant == "watcher"]
    if any(r.failed or not r.drained for r in watched):
        err_console.print(Text("error: ", style="error") + Text("with the watcher, requests failed or the node was not drained"))
        raise typer.Exit(1)


def _run_with_progress(options, progress_console: Console):
    """The drill, with a spinner on a terminal, or one line per step when stderr is a pipe or a file."""
    from rich.status import Status

    from components.drills.spot import run_spot_drill

    if not progress_console.is_terminal:
        return run_spot_drill(options, progress=lambda message: progress_console.print(Text(f"spot drill: {message}")))
    with Status("spot drill: starting...", console=progress_console) as status:
        return run_spot_drill(options, progress=lambda message: status.update(f"spot drill: {message}"))


@app.command()
def upgrade(
    local: bool = typer.Option(False, "--local", help="Run on the cluster of 'rayfleet local up'."),
    env: str = EnvOption,
    file: Path = FileOption,
    app_name: str = typer.Option("digits", "--app", help="The running application to ship new versions of."),
    rate: float = typer.Option(30.0, "--rate", min=1, max=500, help="Requests per second of steady load."),
    steady: float = typer.Option(10.0, "--steady", min=1, help="Seconds of load before the first version ships."),
    watch: float = typer.Option(20.0, "--watch", help="Seconds each canary step is watched."),
    steps: str = typer.Option("10,50,100", "--steps", help="The canary's shares of traffic, in percent."),
    variant: list[str] = typer.Option(
        ["good", "bad"], "--variant", help="Which versions to ship: good, bad (canary), in-place (plain deploy); repeatable."
    ),
    max_requests: int = typer.Option(50_000, "--max-requests", min=1, help="Upper bound on requests sent."),
    as_json: bool = JsonOption,
) -> None:
    """Ship a good and a bad version of a running application under steady load; count what users saw.

    The good one goes through the canary and must lose no request, with p99 at most 2x the steady p99 at
    every step; the bad one (fails every request) must be rolled back on its own, failing at most the
    canary share x the watch window x the rate. Exits 1 if either target is missed.
    """
    if not local:
        raise RayfleetError("drill upgrade runs only locally for now. Fix: pass --local (with 'rayfleet local up' running)")
    from rayfleet.views.upgrade_drill import upgrade_drill_table
    from serve_apps.canary_plan import CanaryPolicy, parse_steps
    from serve_apps.local_status import running_state
    from serve_apps.upgrade_drill import UpgradeOptions, run_upgrade_drill

    policy = CanaryPolicy.from_options(parse_steps(steps)[0], steps, watch)
    options = UpgradeOptions(app=app_name, rate=rate, steady_s=steady, watch_s=watch, steps=policy.steps,
                             variants=tuple(dict.fromkeys(variant)), max_requests=max_requests)
    cfg = load(env, file, default="dev")
    report = run_upgrade_drill(running_state(), cfg, options,
                               progress=lambda message: err_console.print(Text(f"upgrade drill: {message}", style="muted")))
    if as_json:
        print_json(report.to_json())
    else:
        console.print(upgrade_drill_table(report))
    if not all(v.ok for v in report.variants):
        err_console.print(Text("error: ", style="error") + Text("a target was missed (see the rows marked no)"))
        raise typer.Exit(1)
