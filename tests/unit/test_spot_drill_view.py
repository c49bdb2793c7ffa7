"""The spot drill's terminal table, rendered at a fixed width."""

from __future__ import annotations

import io

from rich.console import Console

from components.drills.spot import DrillOptions, DrillReport, VariantResult
from rayfleet.views.spot_drill import spot_drill_table


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def test_spot_drill_table_shows_each_variant_side_by_side():
    report = DrillReport(
        DrillOptions(deadline_seconds=20),
        [
            VariantResult("watcher", 2210, 0, 4.8, 20.0, True, p99_ms=180.2, max_ms=310.0),
            VariantResult("abrupt", 1984, 31, None, 0.0, False, p99_ms=2250.0, max_ms=10012.4),
        ],
    )
    assert render(spot_drill_table(report)) == "\n".join(
        [
            "spot drill: 4 clients, notice deadline 20s",
            "┏━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━┓",
            "┃ variant ┃ served ┃ failed ┃ replacement (s) ┃ node lost (s) ┃   p99 / max ms ┃ drained ┃",
            "┡━━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━┩",
            "│ watcher │  2,210 │      0 │             4.8 │          20.0 │      180 / 310 │ yes     │",
            "│ abrupt  │  1,984 │     31 │           never │           0.0 │ 2,250 / 10,012 │ no      │",
            "└─────────┴────────┴────────┴─────────────────┴───────────────┴────────────────┴─────────┘",
            "watcher: the spot watcher drains the node on the notice; abrupt: lost with no warning",
        ]
    )
