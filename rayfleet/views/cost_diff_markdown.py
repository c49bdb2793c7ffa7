"""A cost diff as GitHub-flavoured Markdown, to post on a pull request (`rayfleet cost diff --format markdown`).

    print(diff_markdown(diff_estimates(new, base, base_ref="origin/main")))

One table, a row per line that changed (every line with `everything`):
before (the side compared with), after (the environment or file under
review) and the delta, expected monthly USD; then the monthly total, and the
difference at min and max size underneath.
"""

from __future__ import annotations

from cost.diff import DiffLine, EstimateDiff
from rayfleet.views.money import signed_usd, usd

HEADER = ("Region", "Component", "Resource", "Market", "Before", "After", "Delta")
#: Text columns left, money right.
ALIGN = ("---", "---", "---", "---", "---:", "---:", "---:")


def _cell(text: str) -> str:
    # A pipe would end the cell; GitHub reads `\|` as a literal one.
    return text.replace("|", "\\|")


def _row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _line_row(line: DiffLine) -> tuple[str, ...]:
    what = str(line.market) if line.market else line.kind
    if line.instance_type != line.against_instance_type and line.instance_type and line.against_instance_type:
        what += f" ({line.against_instance_type} → {line.instance_type})"
    return (
        line.region,
        line.component,
        f"`{line.name}`",
        what,
        usd(line.against.expected) if line.against else "–",
        usd(line.monthly.expected) if line.monthly else "–",
        signed_usd(line.delta.expected),
    )


def diff_markdown(diff: EstimateDiff, everything: bool = False) -> str:
    delta = diff.delta
    lines = [
        f"#### Monthly cost: `{diff.env}` against `{diff.against_label}`",
        "",
        _row(HEADER),
        "| " + " | ".join(ALIGN) + " |",
        *(_row(_line_row(line)) for line in diff.shown(everything)),
        _row(("**Total**", "", "", "", f"**{usd(diff.against_total.expected)}**",
              f"**{usd(diff.total.expected)}**", f"**{signed_usd(delta.expected)}**")),
        "",
        f"Expected size, USD a month (730 h). At minimum size {signed_usd(delta.min)}, "
        f"at maximum {signed_usd(delta.max)}."
        + ("" if everything else f" {diff.unchanged} unchanged lines not shown."),
    ]
    return "\n".join(lines) + "\n"
