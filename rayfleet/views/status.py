"""`rayfleet status` as tables: an environment region by region, or the local cluster's applications.

    console.print(region_view(status, env="prod"))
    console.print(local_table(local_status))
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from rayfleet.views.money import rate
from serve_apps.environment_status import RegionStatus
from serve_apps.local_status import LocalStatus

_STATE_STYLE = {"OK": "ok", "ALARM": "error", "INSUFFICIENT_DATA": "muted",
                "RUNNING": "ok", "DEPLOYING": "warn", "DELETING": "warn", "NOT_STARTED": "muted"}


def _state(text: str) -> Text:
    return Text(text, style=_STATE_STYLE.get(text, "error"))


def _problem(status: RegionStatus, part: str) -> Text:
    return Text(f"unavailable: {status.problems.get(part, 'unknown')}", style="warn")


def region_view(status: RegionStatus, env: str) -> Group:
    """One region: its ASGs, then Ray, targets, alarms and spend, then the applications with their drift."""
    return Group(Text(f"{env}/{status.region}", style="region"), _asg_table(status), _summary(status), _apps_table(status), Text(""))


def _asg_table(status: RegionStatus) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("ASG", "node type", "market", "desired", "running"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("desired", "running") else "left")
    if not status.asgs:
        table.add_row(Text("(no ASGs tagged for this environment)", style="muted"), "", "", "", "")
    for asg in status.asgs:
        style = "warn" if asg.running < asg.desired else ""
        table.add_row(asg.name, asg.node_type, asg.market.value, str(asg.desired), Text(str(asg.running), style=style))
    return table


def _summary(status: RegionStatus) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="key", no_wrap=True)
    grid.add_column()
    grid.add_row("ray nodes", _problem(status, "ray") if status.ray_nodes is None else Text(f"{status.ray_nodes} joined"))
    if status.targets is None:
        targets = _problem(status, "targets")
    else:
        healthy, registered = status.targets
        targets = Text(f"{healthy}/{registered} healthy", style="ok" if healthy and healthy == registered else "warn")
    grid.add_row("ALB targets", targets)
    grid.add_row("alarms", _problem(status, "alarms") if status.alarms is None else _alarms(status))
    spend = _problem(status, "spend") if status.spend_per_hour is None else Text(rate(status.spend_per_hour), style="money")
    grid.add_row("spend", spend)
    return grid


def _alarms(status: RegionStatus) -> Text:
    alarms = status.alarms or []
    if not alarms:
        return Text("none found", style="muted")
    counts: dict[str, int] = {}
    for alarm in alarms:
        counts[alarm.state] = counts.get(alarm.state, 0) + 1
    line = Text(" · ").join(_state(f"{n} {state}") for state, n in sorted(counts.items()))
    firing = [a.name for a in alarms if a.state == "ALARM"]
    return line + Text(f"  firing: {', '.join(firing)}", style="error") if firing else line


def _apps_table(status: RegionStatus) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("app", "status", "replicas", "drift"):
        table.add_column(column, no_wrap=True)
    drift = status.drift or {}
    names = sorted({a.name for a in status.apps or []} | set(drift))
    by_name = {a.name: a for a in status.apps or []}
    for name in names:
        app = by_name.get(name)
        if app is not None:
            state: Text = _state(app.status)
            replicas = f"{sum(d.running for d in app.deployments)}/{sum(d.target for d in app.deployments)}"
        else:
            # The reason is on the `ray nodes` line already; once per application would drown the table.
            state = Text("unknown (see ray nodes)" if status.apps is None else "not deployed", style="warn")
            replicas = "-"
        table.add_row(name, state, replicas, _drift(status, name))
    return table


def _drift(status: RegionStatus, name: str) -> Text:
    if status.drift is None:
        return _problem(status, "drift") if "drift" in status.problems else Text("n/a", style="muted")
    value = status.drift.get(name)
    return Text("n/a", style="muted") if value is None else Text(f"{value:.3f}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def local_table(status: LocalStatus) -> Group:
    """The local cluster's applications: replicas, requests/s over the window, and since-start counts."""
    table = Table(title=f"local ({status.dashboard_url})", title_justify="left", show_edge=False, pad_edge=False)
    for column in ("app", "status", "replicas", "req/s", "requests", "errors", "p50 ms", "p99 ms"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("app", "status") else "right")
    if not status.apps:
        table.add_row(Text("(no applications)", style="muted"), "", "", "", "", "", "", "")
    for app in status.apps:
        total = app.since_start
        rps = "-" if app.requests_per_second is None else f"{app.requests_per_second:.1f}"
        errors = "-" if total.error_rate is None else f"{total.errors} ({total.error_rate:.1%})"
        running = sum(d.running for d in app.app.deployments)
        target = sum(d.target for d in app.app.deployments)
        table.add_row(app.app.name, _state(app.app.status), f"{running}/{target}", rps, str(total.requests), errors,
                      _ms(total.p50_ms), _ms(total.p99_ms))
    window = next((a.window_s for a in status.apps if a.window_s), None)
    note = f"req/s over the last {window:.0f} s; " if window else "req/s needs a window (--window, or --watch); "
    parts = [table, Text(note + "requests, errors and latency since the ingress replicas started", style="muted")]
    parts += [Text(f"metrics endpoint unreachable: {u}", style="warn") for u in status.unreachable]
    return Group(*parts)
