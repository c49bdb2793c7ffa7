"""Terminal views of drill reports.

    console.print(spot_drill_table(report))
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from components.drills.spot import DrillReport

CAPTION = "watcher: the spot watcher drains the node on the notice; abrupt: lost with no warning"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def spot_drill_table(report: DrillReport) -> Table:
    """One row per variant: requests served and failed, and how fast a replacement replica answered."""
    o = report.options
    table = Table(
        title=f"spot drill: {o.concurrency} clients, notice deadline {o.deadline_seconds:g}s",
        title_justify="left",
        caption=CAPTION,
        caption_justify="left",
    )
    table.add_column("variant")
    table.add_column("served", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("replacement (s)", justify="right")
    table.add_column("node lost (s)", justify="right")
    table.add_column("p99 / max ms", justify="right")
    table.add_column("drained")
    for r in report.results:
        table.add_row(
            r.variant,
            f"{r.served:,}",
            Text(f"{r.failed:,}", style="error" if r.failed else "ok"),
            _seconds(r.replacement_seconds),
            _seconds(r.node_lost_after_seconds),
            f"{r.p99_ms:,.0f} / {r.max_ms:,.0f}",
            "yes" if r.drained else "no",
        )
    return table
