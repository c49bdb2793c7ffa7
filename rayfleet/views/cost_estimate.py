"""The estimate as a tree (region -> component -> line), and two estimates' differences as a table.

    console.print(estimate_view(estimate_plan(run_plan("prod"), cfg, PriceCatalog.load())))
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from cost.diff import EstimateDiff
from cost.estimate import Estimate, Line, Range
from rayfleet.views.money import rate, signed_usd, usd


def _span(monthly: Range) -> str:
    return f"{usd(monthly.min)} / {usd(monthly.expected)} / {usd(monthly.max)}"


def _total(lines: list[Line]) -> Range:
    total = Range.zero()
    for line in lines:
        total = total + line.monthly
    return total


def _line_label(line: Line) -> Text:
    what = " ".join(str(p) for p in (line.market, line.instance_type) if p) or line.kind
    count = f"×{line.count.min}/{line.count.expected}/{line.count.max}"
    label = Text(line.name) + Text(f"  {what}  {count}  {rate(line.hourly_price)}  ", style="muted")
    label += Text(_span(line.monthly), style="money")
    if line.detail:
        label += Text(f"  ({line.detail})", style="muted")
    return label


def estimate_view(est: Estimate) -> Group:
    monthly = est.monthly
    root = Tree(
        Text(f"{est.env}: ", style="bold")
        + Text(usd(monthly.expected), style="money")
        + Text(" a month expected", style="bold")
        + Text(f"  (min {usd(monthly.min)}, max {usd(monthly.max)}; per line: min / expected / max)", style="muted")
    )
    by_region: dict[str, dict[str, list[Line]]] = defaultdict(lambda: defaultdict(list))
    for line in est.lines:
        by_region[line.region][line.component].append(line)
    for region in sorted(by_region):
        components = by_region[region]
        region_lines = [line for lines in components.values() for line in lines]
        branch = root.add(Text(region, style="region") + Text(f"  {_span(_total(region_lines))}", style="muted"))
        for component in sorted(components):
            node = branch.add(
                Text(component, style="component") + Text(f"  {_span(_total(components[component]))}", style="muted")
            )
            for line in components[component]:
                node.add(_line_label(line))
    saved = est.spot_savings
    footer = Text.assemble(
        ("spot saves ", "bold"),
        (f"{usd(saved.min)} / {usd(saved.expected)} / {usd(saved.max)}", "saving"),
        (" a month against the same instances on-demand ", "bold"),
        (f"({usd(est.all_on_demand.min)} / {usd(est.all_on_demand.expected)} / {usd(est.all_on_demand.max)})", "muted"),
    )
    source = Text(f"prices: {est.source.kind}, as of {est.source.as_of}", style="muted")
    notes = [Text(note, style="muted") for note in est.notes]
    return Group(root, footer, source, *notes)


def diff_view(diff: EstimateDiff, everything: bool = False) -> Group:
    against = diff.against_label
    table = Table(title=f"{diff.env} against {against}: monthly cost, expected (and the difference at max)",
                  title_justify="left")
    table.add_column("region")
    table.add_column("component")
    table.add_column("line")
    table.add_column("market")
    table.add_column(diff.env, justify="right")
    table.add_column(against, justify="right")
    table.add_column("difference", justify="right")
    table.add_column("at max", justify="right")
    for line in diff.shown(everything):
        table.add_row(
            line.region,
            line.component,
            line.name,
            str(line.market or ""),
            usd(line.monthly.expected) if line.monthly else "-",
            usd(line.against.expected) if line.against else "-",
            signed_usd(line.delta.expected),
            signed_usd(line.delta.max),
        )
    hidden = "" if everything else f"; {diff.unchanged} identical lines not shown"
    summary = Text.assemble(
        (f"{diff.env} ", "bold"),
        (f"{usd(diff.total.expected)}", "money"),
        (f" against {against} ", "bold"),
        (f"{usd(diff.against_total.expected)}", "money"),
        (f": {signed_usd(diff.delta.expected)} a month expected ", "bold"),
        (f"(min {signed_usd(diff.delta.min)}, max {signed_usd(diff.delta.max)}){hidden}", "muted"),
    )
    return Group(table, summary)
