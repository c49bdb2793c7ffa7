"""A blue/green upgrade, rendered: its steps (the dry run) and where an upgrade stands.

    console.print(upgrade_steps_view(state, dry_run=True))
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from stacks.upgrade_plan import STEPS, UpgradeState, describe


def _mark(state: UpgradeState, name: str) -> tuple[str, str]:
    if name in state.done:
        return "✓ ", "ok"
    if name == state.failed:
        return "✗ ", "error"
    return "  ", "muted"


def upgrade_steps_view(state: UpgradeState, *, dry_run: bool = False) -> Group:
    header = Text(f"upgrade {state.env}: ", style="bold") + Text(
        f"Ray {state.from_version} ({state.from_slot}) -> Ray {state.to_version} ({state.to_slot})"
    )
    if dry_run:
        header += Text("  (dry run: nothing is changed)", style="muted")
    lines = [header]
    for number, step in enumerate(STEPS, 1):
        mark, style = _mark(state, step.name)
        lines.append(Text(mark, style=style) + Text(f"{number}. ") + Text(f"{step.name:<13}", style="key")
                     + Text(describe(step, state)))
    if state.error:
        lines.append(Text(f"failed at {state.failed}: {state.error}", style="error"))
    return Group(*lines)


def upgrade_json(state: UpgradeState, *, dry_run: bool = False) -> dict[str, Any]:
    return {
        **state.model_dump(mode="json", exclude={"live"}),
        "dry_run": dry_run,
        "steps": [
            {"name": s.name, "weight": s.weight, "does": describe(s, state),
             "state": "done" if s.name in state.done else "failed" if s.name == state.failed else "pending"}
            for s in STEPS
        ],
    }
