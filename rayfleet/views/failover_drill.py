"""The failover drill, rendered: the dry run's steps and the drill's report.

    console.print(drill_steps_view(target, drill_steps(target, timeout=300, poll=5)))
    console.print(drill_result_view(result))
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from components.drills.failover import DrillResult, DrillStep, DrillTarget


def drill_steps_view(target: DrillTarget, steps: list[DrillStep], *, source: str) -> Group:
    header = Text(f"failover drill for {target.env}", style="bold") + Text(
        f"  ({target.mode}, {target.domain}; dry run: nothing is changed; IDs from {source})", style="muted"
    )
    lines = [header]
    for number, step in enumerate(steps, 1):
        lines.append(Text(f"{number}. ") + Text(step.title, style="key") + Text(f"  {step.detail}"))
    return Group(*lines)


def drill_result_view(result: DrillResult) -> Group:
    lines = []
    if result.timed_out:
        lines.append(
            Text("✗ ", style="error")
            + Text(
                f"Route 53 still answered {result.primary_region} for {result.domain} after "
                f"{result.timeout_seconds:g} s"
            )
        )
    else:
        lines.append(
            Text("✓ ", style="ok")
            + Text(f"{result.domain} moved from {result.primary_region} to {result.failover_region} in ")
            + Text(f"{result.failover_seconds:.1f} s", style="bold")
        )
    if result.unhealthy_seconds is not None:
        lines.append(
            Text(f"  health checkers reported {result.primary_region} down after {result.unhealthy_seconds:.1f} s")
        )
    else:
        lines.append(Text(f"  health checkers never reported {result.primary_region} down while polling", style="muted"))
    lines.append(Text(f"  {len(result.polls)} polls", style="muted"))
    restored = "health check restored (no longer inverted)" if result.restored else "health check NOT restored"
    lines.append(Text("  " + restored, style="ok" if result.restored else "error"))
    return Group(*lines)
