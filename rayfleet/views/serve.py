"""Serve status as a table, and one-line deploy progress.

    console.print(status_table(parse_status(dashboard.get_applications()), title="http://127.0.0.1:8265"))
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from serve_apps.status import AppState

_STYLE = {"RUNNING": "ok", "HEALTHY": "ok", "DEPLOYING": "warn", "UPDATING": "warn", "UPSCALING": "warn",
          "DOWNSCALING": "warn", "DELETING": "warn", "NOT_STARTED": "muted"}


def _status(text: str) -> Text:
    return Text(text, style=_STYLE.get(text, "error"))


def status_table(apps: list[AppState], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("app", "route", "status", "deployment", "replicas", "deployment status"):
        table.add_column(column, no_wrap=True)
    if not apps:
        table.add_row(Text("(no applications)", style="muted"), "", "", "", "", "")
    for app in apps:
        deployments = app.deployments or ()
        first = True
        for dep in deployments or (None,):
            table.add_row(
                app.name if first else "",
                (app.route_prefix or "-") if first else "",
                _status(app.status) if first else "",
                dep.name if dep else "-",
                f"{dep.running}/{dep.target}" if dep else "-",
                _status(dep.status) if dep else "",
            )
            first = False
        if app.failed and app.message:
            table.add_row("", "", Text(app.message.strip().splitlines()[-1][:200], style="error"), "", "", "")
    return table


def progress_line(apps: list[AppState], elapsed: float) -> Text:
    """`12s  digits RUNNING 1/1 · sentiment DEPLOYING 0/1`."""
    line = Text(f"{elapsed:4.0f}s  ", style="muted")
    for index, app in enumerate(apps):
        if index:
            line += Text(" · ", style="muted")
        running = sum(d.running for d in app.deployments)
        target = sum(d.target for d in app.deployments)
        line += Text(f"{app.name} ") + _status(app.status) + Text(f" {running}/{target}", style="muted")
    return line if apps else line + Text("waiting for the controller", style="muted")


def print_rendered(cfg, region: str | None, outputs, as_json: bool) -> None:
    """`rayfleet render serve`: each region's Serve config, validated by Ray's schema, as YAML or JSON."""
    import yaml

    from rayfleet.output import console, err_console, print_json
    from serve_apps.cloud import region_outputs
    from stacks.outputs import read_stack_outputs
    from serve_apps.render import validate_serve_config
    from serve_apps.targets import check_regions, render_cloud

    found = read_stack_outputs(cfg.env, outputs) if outputs else None
    rendered = {}
    for name in check_regions(cfg, region):
        item = render_cloud(cfg, region_outputs(found, cfg.env, name) if found else None)
        validate_serve_config(item.config, f"{cfg.env}/{name}")
        for note in item.notes:
            err_console.print(Text(f"note: {note}", style="muted"))
        rendered[name] = item.config
    if as_json:
        print_json(rendered[region] if region else rendered)
        return
    for name, config in rendered.items():
        console.print(Text(f"# {cfg.env}/{name}: Serve config (accepted by ray.serve.schema.ServeDeploySchema)", style="muted"))
        console.print(yaml.safe_dump(config, sort_keys=False, width=100), end="", markup=False)
