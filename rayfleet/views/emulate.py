"""The terminal view of `rayfleet emulate`: what the emulated region holds, and how long each part took.

    console.print(emulation_view(report))
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from components.drills.emulate.plane import KNOWN_GAPS
from serve_apps.emulated_region import EmulationReport

#: The parts of a run, in the order they happen, as the view names them.
_PHASES = (("plan", "plan (program under mocks)"), ("motoStart", "moto server start"),
           ("controlPlane", "control plane created"), ("boot", "boot scenario (nodes running)"),
           ("motoStop", "moto server stop"), ("total", "total"))


def emulation_view(report: EmulationReport) -> Group:
    plane = report.plane
    created = Table(title=f"{report.env} {plane.region}: {report.scenario}", title_justify="left",
                    caption=f"in a moto server on {plane.endpoint}", caption_justify="left")
    created.add_column("resource")
    created.add_column("count", justify="right")
    for kind, count in plane.counts().items():
        created.add_row(kind, str(count))
    created.add_row(Text("total", style="component"), Text(str(len(plane.created)), style="component"))
    timing = Table(title="seconds", title_justify="left")
    timing.add_column("step")
    timing.add_column("s", justify="right")
    phases = [*_PHASES[:4], *((r.name, f"{r.name} scenario") for r in report.scenarios), *_PHASES[4:]]
    for key, label in phases:
        if key in report.seconds:
            timing.add_row(label, f"{report.seconds[key]:.2f}")
    stopped = Text("moto server stopped", style="ok") if report.moto_stopped else Text("moto server running", style="error")
    parts = [created, timing]
    if report.boot is not None:
        parts.append(_boot_view(report))
    parts.extend(_scenario_view(result) for result in report.scenarios)
    gaps = Text("known gaps:\n", style="muted") + Text("\n".join(f"- {gap}" for gap in KNOWN_GAPS), style="muted")
    return Group(*parts, stopped, gaps)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _boot_view(report: EmulationReport) -> Table:
    boot = report.boot
    assert boot is not None
    table = Table(title="boot (seconds from the first node's start)", title_justify="left",
                  caption=f"node directories (boot and Ray logs): {report.run_dir}", caption_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("head up (its GCS lists it ALIVE)", _seconds(boot.head_up_s))
    table.add_row("workers joined", f"{boot.workers_joined} at {_seconds(boot.workers_joined_s)}")
    table.add_row("applications RUNNING", f"{', '.join(boot.apps) or '-'} at {_seconds(boot.apps_running_s)}")
    table.add_row("requests answered", f"{boot.requests_answered} of {len(boot.requests)}")
    return table


def _scenario_view(result) -> Table:
    table = Table(title=result.name, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for figure, value in result.rows():
        table.add_row(figure, value)
    for sentence in result.missed():
        table.add_row(Text("target missed", style="error"), Text(sentence, style="error"))
    return table
