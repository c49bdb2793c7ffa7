"""`rayfleet cost ...`: what an environment will cost, what it cost, and which application spent it.

    rayfleet cost estimate --env prod
    rayfleet cost diff --env staging --against prod
    rayfleet cost diff --file new.yaml --base-ref origin/main --format markdown
    rayfleet cost report --env prod --days 14 --json
    rayfleet cost allocate --local
    rayfleet cost catalog refresh --regions us-east-1 us-west-2
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.status import Status

from components.contract import COMPONENT_KEY
from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load, stack_file
from rayfleet.output import console, err_console, print_json

app = typer.Typer(help="Cost: estimate before deploying, actuals from Cost Explorer, per-application shares.",
                  no_args_is_help=True)
catalog_app = typer.Typer(help="The price catalog: shipped prices, or a local cache refreshed from AWS.",
                          no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _estimate(path: Path):
    from cost.environment import estimate_environment

    with Status(f"pricing {path.name} (the Pulumi program under mocks)...", console=err_console):
        return estimate_environment(path)


@app.command()
def estimate(env: str = EnvOption, file: Path = FileOption, as_json: bool = JsonOption) -> None:
    """Monthly cost of an environment at min / expected / max size, from the offline plan's resources."""
    from rayfleet.views.cost_estimate import estimate_view

    result = _estimate(stack_file(env, file))
    if as_json:
        print_json(result.to_json())
        return
    console.print(estimate_view(result))


FORMATS = ("table", "json", "markdown")


@app.command()
def diff(
    env: str = EnvOption,
    file: Path = FileOption,
    against: str = typer.Option(None, "--against", help="The environment to compare with (default with "
                                "--base-ref: the one under review).", show_default=False),
    base_ref: str = typer.Option(None, "--base-ref", help="Compare with the stack file as committed at this git "
                                 "ref (git show REF:stacks/Pulumi.ENV.yaml).", show_default=False),
    everything: bool = typer.Option(False, "--all", help="List unchanged lines too."),
    output: str = typer.Option("table", "--format", help="table, json, or markdown (a pull request comment)."),
    as_json: bool = JsonOption,
) -> None:
    """Compare an environment's estimate with another's, or with its own stack file at a git ref."""
    from components.errors import RayfleetError
    from cost.diff import diff_estimates

    fmt = _diff_format(output, as_json)
    path = stack_file(env, file)
    if not (against or base_ref):
        raise RayfleetError(
            "cost diff needs something to compare with. Fix: add --against ENV (its stack file now) or "
            "--base-ref GIT_REF (the stack file as committed there, e.g. --base-ref origin/main)"
        )
    if base_ref:
        from cost.committed import committed_stack_file
        from stacks.loader import env_name_of

        with committed_stack_file(against or env_name_of(path), base_ref) as base_path:
            base = _estimate(base_path)
    else:
        base = _estimate(stack_file(against, None))
    result = diff_estimates(_estimate(path), base, base_ref=base_ref)
    _print_diff(result, fmt, everything)


def _diff_format(output: str, as_json: bool) -> str:
    from components.errors import RayfleetError

    if output not in FORMATS:
        raise RayfleetError(f"--format {output!r} is not a format of cost diff. Fix: use one of {', '.join(FORMATS)}")
    if as_json and output not in ("table", "json"):
        raise RayfleetError(f"--json asks for JSON and --format for {output}. Fix: give one of them")
    return "json" if as_json else output


def _print_diff(result, fmt: str, everything: bool) -> None:
    import sys

    if fmt == "json":
        print_json(result.to_json(everything))
    elif fmt == "markdown":
        from rayfleet.views.cost_diff_markdown import diff_markdown

        # Written as is: a console would wrap the table's rows at the terminal's width.
        sys.stdout.write(diff_markdown(result, everything))
    else:
        from rayfleet.views.cost_estimate import diff_view

        console.print(diff_view(result, everything))


@catalog_app.command()
def refresh(
    regions: list[str] = typer.Option(
        None, "--regions", help="Regions to refresh (repeat or comma-separate); default: the shipped catalog's.",
        show_default=False,
    ),
    types: list[str] = typer.Option(
        None, "--types", help="Instance types to refresh (default: every type rayfleet knows).", show_default=False
    ),
    as_json: bool = JsonOption,
) -> None:
    """Rebuild the local price cache from the AWS Pricing API and the spot price history."""
    from cost.prices import cache_dir, shipped
    from cost.refresh import refresh as run_refresh

    wanted = [r for value in regions or [] for r in value.split(",") if r] or sorted(shipped()["ec2OnDemandHourly"])
    wanted_types = [t for value in types or [] for t in value.split(",") if t] or None
    folder = cache_dir()
    with Status("refreshing prices...", console=err_console) as status:
        entries = run_refresh(wanted, folder, types=wanted_types, progress=lambda msg: status.update(msg))
    summary = [
        {"region": e.region, "asOf": e.as_of, "onDemandTypes": len(e.on_demand), "spotTypes": len(e.spot),
         "file": str(folder / f"{e.region}.json")}
        for e in entries
    ]
    if as_json:
        print_json({"cache": str(folder), "regions": summary})
        return
    for row in summary:
        console.print(
            f"{row['region']}: {row['onDemandTypes']} on-demand and {row['spotTypes']} spot prices as of "
            f"{row['asOf']} -> {row['file']}"
        )


@app.command()
def report(
    env: str = EnvOption,
    file: Path = FileOption,
    days: int = typer.Option(14, "--days", min=1, max=365, help="How many days back, ending yesterday."),
    group_by: str = typer.Option(COMPONENT_KEY, "--group-by", help="The tag key to group spend by."),
    estimate_too: bool = typer.Option(True, "--estimate/--no-estimate", help="Compare with the estimate."),
    as_json: bool = JsonOption,
) -> None:
    """What an environment cost: Cost Explorer by its rayfleet:env tag, forecast, budget, estimate vs actual."""
    from components.cost_allocation.plan import budget_name
    from cost.actuals import cost_report
    from rayfleet.views.cost_report import report_view

    path = stack_file(env, file)
    cfg = load(None, path)
    budget = budget_name(cfg.env) if cfg.cost.monthly_budget_usd is not None else None
    with Status("asking Cost Explorer...", console=err_console):
        result = cost_report(cfg.env, days=days, group_by=group_by, budget=budget)
    if as_json:
        print_json(result.to_json())
        return
    if estimate_too:
        result.estimate_monthly = _estimate(path).monthly.expected
    console.print(report_view(result))


def _window_hours(window: str):
    from decimal import Decimal, InvalidOperation

    from components.errors import RayfleetError

    # (multiply, divide): exact for whole minutes, hours and days
    units = {"m": (1, 60), "h": (1, 1), "d": (24, 1)}
    try:
        if window and window[-1] in units:
            times, per = units[window[-1]]
            hours = Decimal(window[:-1]) * times / per
        else:
            hours = Decimal(window)
    except InvalidOperation:
        hours = Decimal(-1)
    if not hours > 0:
        raise RayfleetError(f"--window {window!r} is not a duration. Fix: write it like 24h, 90m or 7d")
    return hours


@app.command()
def allocate(
    env: str = typer.Option(None, "--env", "-e", help="The environment whose prices (and cluster) to use.",
                            show_default=False),
    file: Path = FileOption,
    region: str = typer.Option(None, "--region", help="With --env: the region whose cluster to read.",
                               show_default=False),
    address: str = typer.Option(None, "--address", help="A Ray dashboard URL to read instead (needs --env).",
                                show_default=False),
    local: bool = typer.Option(False, "--local", help="The local Ray cluster (dashboard $RAY_DASHBOARD_ADDRESS, "
                               "else the one 'rayfleet local up' started, else http://127.0.0.1:8265), priced as "
                               "--env's worker type (default env: dev)."),
    token: str = typer.Option(None, "--token", help="The dashboard's auth token (default: $RAY_AUTH_TOKEN, "
                              "~/.ray/auth_token).", show_default=False),
    window: str = typer.Option("24h", "--window", help="How far back to charge running time: 24h, 90m, 7d."),
    outputs: Path = typer.Option(None, "--outputs", help="Stack outputs JSON ('pulumi stack output --json') "
                                 "to use with --env/--region instead of running Pulumi.", show_default=False,
                                 dir_okay=False),
    as_json: bool = JsonOption,
) -> None:
    """Each Serve application's share of its cluster's cost, plus __system__ and __idle__."""
    import os

    from cost.attribution import (
        LOCAL_DASHBOARD,
        allocate_cloud,
        allocate_local,
        reconcile_with_bill,
        stack_dashboard,
    )
    from cost.ray_state import auth_token
    from rayfleet.views.cost_allocate import allocation_view
    from components.errors import RayfleetError

    modes = [bool(local), bool(address), bool(region)]
    if sum(modes) != 1:
        raise RayfleetError(
            "say which cluster: exactly one of --local, --address URL, or --env ENV --region REGION. "
            "Fix: for a local Ray, run 'rayfleet cost allocate --local'"
        )
    hours = _window_hours(window)
    if local:
        cfg = load(env, file, default="dev")
        from serve_apps.local import local_token_for, read_state

        state = read_state()
        # `local up` picks free ports when 8265 is taken: its own record says where its dashboard is.
        url = os.environ.get("RAY_DASHBOARD_ADDRESS") or (state.dashboard_url if state else LOCAL_DASHBOARD)

        with Status(f"reading the local cluster at {url}...", console=err_console):
            # `rayfleet local up` keeps its token outside ~/.ray (see serve_apps/local.py).
            result = allocate_local(cfg, url, window_hours=hours, token=auth_token(token or local_token_for(url)))
    else:
        if not (env or file):
            raise RayfleetError(
                "--address and --region need the environment to price the nodes. Fix: add --env ENV or --file PATH"
            )
        cfg = load(env, file)
        if address:
            url, secret = address, None
            cluster_region = cfg.primary_region.name
        else:
            if region not in cfg.region_names:
                raise RayfleetError(
                    f"--region {region} is not a region of {cfg.env} ({', '.join(cfg.region_names)}). Fix: use one of them"
                )
            url, secret = stack_dashboard(cfg.env, region, outputs)
            cluster_region = region
        with Status(f"reading the cluster at {url}...", console=err_console):
            result = allocate_cloud(cfg, cluster_region, url, window_hours=hours, token=auth_token(token or secret))
            if region:
                reconcile_with_bill(result, cfg.cluster_id(region), hours)
    if as_json:
        print_json(result.to_json())
        return
    console.print(allocation_view(result))
