"""`rayfleet status --env ENV | --local`: an environment region by region, or the local cluster's traffic."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text

from rayfleet.commands.common import EnvOption, FileOption, JsonOption
from rayfleet.commands.serve import OutputsOption, RegionOption
from rayfleet.output import console, err_console, print_json
from components.errors import RayfleetError

LocalOption = typer.Option(False, "--local", help="The local cluster of 'rayfleet local up' instead of an environment.")
WatchOption = typer.Option(False, "--watch", help="Refresh in place until Ctrl-C.")
IntervalOption = typer.Option(5.0, "--interval", min=1.0, help="Seconds between refreshes with --watch.")
WindowOption = typer.Option(
    0.0, "--window", min=0.0,
    help="--local: seconds over which to measure requests/s (Ray reports metrics every 10 s; 0: no rate). "
         "With --watch, the rate covers the last --window seconds (default 10).",
)


def status(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    outputs: Path = OutputsOption,
    local: bool = LocalOption,
    as_json: bool = JsonOption,
    watch: bool = WatchOption,
    interval: float = IntervalOption,
    window: float = WindowOption,
) -> None:
    """Per region: ASGs by market, Ray nodes, Serve apps, healthy targets, alarms, spend rate and drift.

    With --local: the local cluster's applications, replicas, requests/s, p50/p99 and error rate.
    """
    environment = [f"{name} {value}" for name, value in
                   (("--env", env), ("--file", file), ("--region", region), ("--outputs", outputs)) if value]
    if local and environment:
        given = ", ".join(environment)
        raise RayfleetError(f"--local shows the local cluster, not an environment: it takes no {given}. "
                            f"Fix: drop {given}, or drop --local to see the environment")
    if window and not local:
        raise RayfleetError(f"--window {window:g} measures the local cluster's requests/s. Fix: give it with --local, or drop it")
    if watch and as_json:
        raise RayfleetError("--watch refreshes a terminal view, --json prints one report: give one of them. "
                            "Fix: drop --json to watch, or drop --watch for the JSON report")
    read = _local_reader(window, watch) if local else _env_reader(env, file, region, outputs)
    if watch:
        _watch(read, interval)
        return
    data, view = read()
    if as_json:
        print_json(data)
    else:
        console.print(view)


def _env_reader(env, file, region, outputs):
    from cost.prices import PriceCatalog
    from cost.spend import hourly_price
    from rayfleet.commands.common import load
    from rayfleet.views.status import region_view
    from serve_apps.environment_status import region_json, region_status
    from serve_apps.targets import check_regions
    from stacks.outputs import read_stack_outputs

    cfg = load(env, file)
    regions = check_regions(cfg, region)
    found = read_stack_outputs(cfg.env, outputs)
    price = hourly_price(PriceCatalog.load())

    def read():
        statuses = [region_status(cfg, found, name, price=price) for name in regions]
        data = {"env": cfg.env, "regions": [region_json(s) for s in statuses]}
        return data, Group(*(region_view(s, cfg.env) for s in statuses))

    return read


def _local_reader(window: float, watch: bool):
    from rayfleet.views.status import local_table
    from serve_apps.local_status import LocalTraffic, running_state

    traffic = LocalTraffic(running_state(), window_s=window or (10.0 if watch else 0.0))

    def read():
        if window and not watch:
            with err_console.status(f"measuring requests/s over {window:g} s"):
                traffic.read()
                time.sleep(window)
        status = traffic.read()
        return status.to_json(), local_table(status)

    return read


def _watch(read, interval: float) -> None:
    with Live(Text("reading…", style="muted"), console=console, auto_refresh=False) as live:
        try:
            while True:
                _, view = read()
                stamp = Text(f"{time.strftime('%H:%M:%S')}  every {interval:g} s  (Ctrl-C to stop)", style="muted")
                live.update(Group(view, stamp), refresh=True)
                time.sleep(interval)
        except KeyboardInterrupt:
            pass
