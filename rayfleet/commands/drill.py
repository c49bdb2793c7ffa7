"""`rayfleet drill ...`: rehearse failures on a deployed environment.

    rayfleet drill failover --env prod --dry-run
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from rayfleet.commands.common import EnvOption, JsonOption
from rayfleet.output import console, err_console, print_json
from stacks.errors import RayfleetError

app = typer.Typer(help="Rehearse failures on a deployed environment.", no_args_is_help=True)


@app.command()
def failover(
    env: str = EnvOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the exact steps; change nothing."),
    outputs: Path = typer.Option(
        None, "--outputs", help="Stack outputs JSON (pulumi stack output --json); default: ask Pulumi.", dir_okay=False
    ),
    timeout: float = typer.Option(300, "--timeout", min=1, help="Give up after this many seconds."),
    poll: float = typer.Option(5, "--poll", min=0.1, help="Seconds between polls of Route 53."),
    as_json: bool = JsonOption,
) -> None:
    """Invert the primary region's health check, time Route 53's move to another region, restore it."""
    from components.global_failover import drill

    if not env:
        raise RayfleetError("no environment given. Fix: pass --env ENV")
    target, source = _target(env, outputs, dry_run)
    if dry_run:
        steps = drill.drill_steps(target, timeout=timeout, poll=poll)
        if as_json:
            print_json({"env": env, "source": source, "steps": [s.__dict__ for s in steps]})
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


def _target(env: str, outputs: Path | None, dry_run: bool):
    """The drill's target, and where its IDs came from."""
    from components.global_failover import targets
    from stacks.loader import load_environment

    if load_environment(env).failover is None:
        raise RayfleetError(
            f"environment '{env}' has no failover: DNS failover needs two or more regions and "
            "'rayfleet:failover' in its stack file. Fix: drill an environment with failover"
        )
    try:
        data = targets.read_outputs(env, outputs)
        source = str(outputs) if outputs else f"'pulumi stack output --stack {env}'"
    except targets.DrillError:
        if not dry_run or outputs is not None:
            raise
        # A dry run still shows the steps before anything is deployed: with the offline plan's placeholder IDs.
        from stacks.plan import run_plan

        data = run_plan(env).outputs
        source = "the offline plan (placeholders until 'pulumi up')"
    return targets.target_from_outputs(data, env), source
