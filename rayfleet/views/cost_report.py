"""Actual spend as a table per group, a daily bar chart, the forecast, the budget and the estimate.

    console.print(report_view(cost_report("prod", days=14, budget="rayfleet-prod-monthly")))
"""

from __future__ import annotations

from decimal import Decimal

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cost.actuals import CostReport
from rayfleet.views.money import usd

BAR_WIDTH = 40


def _bar(value: Decimal, biggest: Decimal) -> str:
    if biggest <= 0 or value <= 0:
        return ""
    cells = int((value / biggest * BAR_WIDTH).to_integral_value())
    return "█" * max(cells, 1)


def report_view(report: CostReport) -> Group:
    title = Text.assemble(
        (f"{report.env}: ", "bold"),
        (usd(report.total), "money"),
        (f" from {report.start} to {report.end} (end exclusive, unblended, tagged rayfleet:env={report.env})", "muted"),
    )
    groups = Table(title=f"by {report.group_by}", title_justify="left")
    groups.add_column(report.group_by)
    groups.add_column("cost", justify="right")
    groups.add_column("share", justify="right")
    for name, amount in report.by_group.items():
        share = amount / report.total * 100 if report.total else Decimal(0)
        groups.add_row(name, usd(amount), f"{share.quantize(Decimal('0.1'))} %")
    daily = Table(title="per day", title_justify="left", show_edge=False, box=None)
    daily.add_column("date")
    daily.add_column("cost", justify="right")
    daily.add_column("", no_wrap=True)
    biggest = max((d.total for d in report.daily), default=Decimal(0))
    for day in report.daily:
        daily.add_row(day.day, usd(day.total), Text(_bar(day.total, biggest), style="money"))
    lines: list = [title, groups, daily]
    if report.forecast:
        lines.append(Text(f"forecast {report.forecast.start} to {report.forecast.end}: {usd(report.forecast.total)}"))
    if report.budget:
        b = report.budget
        style = "error" if b.actual >= b.limit else "warn" if b.used_percent >= 80 else "ok"
        lines.append(
            Text.assemble(
                (f"budget {b.name}: ", "bold"),
                (f"{usd(b.actual)} of {usd(b.limit)} ({b.used_percent.quantize(Decimal('0.1'))} %)", style),
                (f", forecast {usd(b.forecast)}" if b.forecast is not None else "", "muted"),
            )
        )
    if report.estimate_monthly is not None:
        lines.append(
            Text(
                f"estimate vs actual: {usd(report.estimate_monthly)} a month expected; the period ran at "
                f"{usd(report.monthly_rate)} a month"
            )
        )
    lines += [Text(note, style="muted") for note in report.notes]
    return Group(*lines)
