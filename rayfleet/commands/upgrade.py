"""`rayfleet upgrade`: a change that cannot roll in place (a Ray version, an instance architecture), blue/green."""

from __future__ import annotations

from pathlib import Path

import typer

from components.errors import RayfleetError
from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load, stack_file
from rayfleet.output import console, err_console, print_json

RegionOption = typer.Option(None, "--region", "-r", help="Check that the upgrade covers this region (it moves every region together).")
OutputsOption = typer.Option(None, "--outputs", help="Stack outputs JSON file for --dry-run (default: 'pulumi stack output --json').", dir_okay=False)


def upgrade(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the steps for the stack file's change; change nothing."),
    resume: bool = typer.Option(False, "--resume", help="Continue a failed upgrade at the step that failed."),
    rollback: bool = typer.Option(False, "--rollback", help="Return all traffic to the old slot and remove the new one."),
    outputs: Path = OutputsOption,
    settle: float = typer.Option(60.0, "--settle", help="Seconds each traffic step holds before its gate is read."),
    as_json: bool = JsonOption,
) -> None:
    """Bring a new cluster slot up beside the live one, move traffic to it in gated steps, retire the old one."""
    from rayfleet.views.upgrade import upgrade_json, upgrade_steps_view
    from serve_apps.paths import rayfleet_home
    from serve_apps.upgrade import StateStore, Upgrade

    if sum((dry_run, resume, rollback)) > 1:
        raise RayfleetError("give at most one of --dry-run, --resume and --rollback")
    if settle < 0:
        raise RayfleetError(f"--settle {settle:g}: the seconds each traffic step holds cannot be negative. "
                            f"Fix: pass --settle 0 or more (each step holds at least evaluationMinutes x 60 s anyway)")
    cfg = load(env, file)
    _check_region(cfg, region)
    path = stack_file(env, file)
    store = StateStore(rayfleet_home() / "upgrades" / f"{cfg.env}.json")
    say = (lambda line: err_console.print(line, markup=False)) if as_json else (lambda line: console.print(line, markup=False))
    upgrade = Upgrade(runner=_runner(cfg.env, path, outputs, dry_run, say), serve=_serve(dry_run), fleet=_fleet(dry_run, say),
                      store=store, report=say, settle_seconds=settle)
    if dry_run:
        state = upgrade.plan(cfg)
    elif resume:
        state = upgrade.resume(cfg.env)
    elif rollback:
        state = upgrade.rollback(cfg.env)
    else:
        state = upgrade.start(cfg)
    if as_json:
        print_json(upgrade_json(state, dry_run=dry_run))
    else:
        console.print(upgrade_steps_view(state, dry_run=dry_run))


def _check_region(cfg, region: str | None) -> None:
    if region is None:
        return
    if region not in cfg.region_names:
        raise RayfleetError(f"region '{region}' is not in environment '{cfg.env}' (its regions: "
                            f"{', '.join(cfg.region_names)}). Fix: pass --region with one of them, or omit it")
    if len(cfg.region_names) > 1:
        raise RayfleetError(
            f"--region {region}: an upgrade moves every region of {cfg.env} together (rayfleet:slot and "
            f"rayfleet:upgrade are environment-wide), and gates each of them. Fix: omit --region"
        )


def _runner(env: str, path: Path, outputs: Path | None, dry_run: bool, say):
    from serve_apps.upgrade_runner import AutomationRunner, ReadOnlyStack

    return ReadOnlyStack(env, path, outputs) if dry_run else AutomationRunner(env, path, on_output=say)


def _serve(dry_run: bool):
    from serve_apps.upgrade_serve import ClusterSlotServe

    return None if dry_run else ClusterSlotServe()


def _fleet(dry_run: bool, say):
    from serve_apps.upgrade_aws import AwsFleet

    return None if dry_run else AwsFleet(progress=say)
