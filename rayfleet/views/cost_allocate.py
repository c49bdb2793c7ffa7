"""Per-application cost shares as a table: applications, then __system__ and __idle__, summing to the cluster.

    console.print(allocation_view(allocate_local(cfg, "http://127.0.0.1:8265", window_hours=Decimal(24))))
"""

from __future__ import annotations

from decimal import Decimal

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cost.allocation import Allocation
from rayfleet.views.money import usd


def _hours(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def allocation_view(alloc: Allocation) -> Group:
    total = alloc.total
    factor = alloc.reconciliation.factor if alloc.reconciliation else None
    title = Text.assemble(
        (f"{alloc.cluster}: ", "bold"),
        (usd(total, 4), "money"),
        (f" over the last {alloc.window_hours.normalize():f} h window", "bold"),
        (f"  ({len(alloc.nodes)} node{'s' * (len(alloc.nodes) != 1)}; {alloc.basis})", "muted"),
    )
    table = Table(show_edge=False)
    table.add_column("app / deployment", no_wrap=True)
    table.add_column("replicas", justify="right")
    table.add_column("CPU h", justify="right")
    table.add_column("GPU h", justify="right")
    table.add_column("GiB h", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("share", justify="right")
    table.add_column("per 1k req", justify="right")
    if factor is not None:
        table.add_column("billed", justify="right")
    for share in alloc.shares:
        percent = f"{(share.cost / total * 100).quantize(Decimal('0.1'))} %" if total else "-"
        per_k = usd(share.per_thousand_requests, 4) if share.per_thousand_requests is not None else ""
        row = [Text(share.name, style="component"), "", "", "", "", usd(share.cost, 4), percent, per_k]
        if factor is not None:
            row.append(usd(share.cost * factor, 4))
        table.add_row(*row)
        for dep in share.deployments.values():
            row = [
                f"  {dep.name}", str(dep.replicas), _hours(dep.usage["CPU"]), _hours(dep.usage["GPU"]),
                _hours(dep.usage["memory"]), usd(dep.cost, 4), "", "",
            ]
            if factor is not None:
                row.append("")
            table.add_row(*row, style="muted")
    lines: list = [title, table]
    if alloc.reconciliation:
        lines.append(
            Text(f"reconciled with Cost Explorer: actual {usd(alloc.reconciliation.actual)}, "
                 f"factor {alloc.reconciliation.factor.quantize(Decimal('0.001'))}")
        )
    lines.append(Text(f"prices: {alloc.source.kind}, as of {alloc.source.as_of}", style="muted"))
    lines += [Text(note, style="muted") for note in alloc.notes]
    return Group(*lines)
