"""A canary deploy's steps as a table: each step's share, both versions' counts and p99, the decision.

    console.print(canary_table(report, title="local"))
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from serve_apps.canary import CanaryReport
from serve_apps.traffic import Latency

_DECISION_STYLE = {"promote": "ok", "rollback": "error", "wait": "muted"}


def _counts(latency: Latency) -> str:
    p99 = "-" if latency.p99_ms is None else f"{latency.p99_ms:.0f} ms"
    return f"{latency.requests} req, {latency.errors} err, p99 {p99}"


def canary_table(report: CanaryReport, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in ("step", "new share", "watched", "current version", "new version", "decision"):
        table.add_column(column, no_wrap=True)
    for index, step in enumerate(report.steps, 1):
        table.add_row(str(index), f"{step.percent}%", f"{step.seconds:.0f} s", _counts(step.stable),
                      _counts(step.canary), Text(step.verdict.action, style=_DECISION_STYLE[step.verdict.action]))
    return table


def canary_summary(report: CanaryReport) -> Text:
    style = "ok" if report.outcome == "promoted" else "error"
    line = Text(f"{report.app}: {report.outcome}", style=style) + Text(f" in {report.seconds:.0f} s")
    if report.seconds_to_rollback is not None:
        line += Text(f"; new version out of traffic {report.seconds_to_rollback:.0f} s after the first step began")
    return line
