"""The upgrade drill's result: per version shipped, requests sent and failed, p99 per step against the steady p99.

    console.print(upgrade_drill_table(report))
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from serve_apps.upgrade_drill import UpgradeReport


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def upgrade_drill_table(report: UpgradeReport) -> Table:
    steady = report.steady
    table = Table(title=f"{report.app} at {report.rate:g} requests/s; steady: {steady.sent} sent, {steady.failed} failed, "
                        f"p50 {_ms(steady.p50_ms)} ms, p99 {_ms(steady.p99_ms)} ms",
                  title_justify="left", show_edge=False, pad_edge=False)
    for column in ("version", "window", "sent", "failed", "p50 ms", "p99 ms", "p99 / steady"):
        table.add_column(column, no_wrap=True)
    table.add_column("outcome")
    table.add_column("target met", no_wrap=True)
    for result in report.variants:
        outcome = result.outcome
        if result.seconds_to_rollback is not None:
            outcome += f" after {result.seconds_to_rollback:.0f} s"
        if result.failure_bound is not None:
            outcome += f"; {result.failure_bound:.0f} failures allowed"
        for index, window in enumerate(result.windows):
            ratio = f"{window.p99_ms / steady.p99_ms:.1f}x" if window.p99_ms and steady.p99_ms else "-"
            first = index == 0
            table.add_row(result.variant if first else "", window.label, str(window.sent), str(window.failed),
                          _ms(window.p50_ms), _ms(window.p99_ms), ratio, outcome if first else "",
                          Text("yes" if result.ok else "no", style="ok" if result.ok else "error") if first else "")
    return table
