"""Two estimates compared line by line: two environments (`rayfleet cost diff --env staging --against prod`),
or a changed stack file and the same environment as committed (`cost diff --file new.yaml --base-ref main`).

    >>> d = diff_estimates(estimate_a, estimate_b)
    >>> d.delta.expected          # a's expected monthly cost minus b's
    Decimal("-5123.40")

Lines match on region, component, kind, market and the name with the
environment's name taken out where it is a hyphen-separated part of it (each
line shows its own name): `rayfleet-staging-us-east-1-cpu` and
`rayfleet-prod-us-east-1-cpu` are the same line, and dev's
`cluster-us-west-2-head /dev/sda1` keeps its device name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.contract import Market
from cost.estimate import Estimate, Line, Range


@dataclass(frozen=True)
class DiffLine:
    region: str
    component: str
    name: str
    kind: str
    market: Market | None
    instance_type: str | None
    against_instance_type: str | None
    monthly: Range | None
    against: Range | None

    @property
    def delta(self) -> Range:
        return (self.monthly or Range.zero()) - (self.against or Range.zero())

    @property
    def status(self) -> str:
        if self.against is None:
            return "added"
        if self.monthly is None:
            return "removed"
        return "changed" if self.delta != Range.zero() or self.instance_type != self.against_instance_type else "same"

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "component": self.component,
            "name": self.name,
            "market": self.market.value if self.market else None,
            "status": self.status,
            "instanceType": {"env": self.instance_type, "against": self.against_instance_type},
            "monthly": {
                "env": self.monthly.to_json() if self.monthly else None,
                "against": self.against.to_json() if self.against else None,
                "delta": self.delta.to_json(),
            },
        }


@dataclass
class EstimateDiff:
    env: str
    against: str
    lines: list[DiffLine]
    total: Range
    against_total: Range
    #: The git ref `against`'s stack file was read at (`cost diff --base-ref`); None: the file as it is now.
    base_ref: str | None = None

    @property
    def delta(self) -> Range:
        return self.total - self.against_total

    @property
    def against_label(self) -> str:
        """How reports name the side compared with: `prod`, or `dev@origin/main`."""
        return f"{self.against}@{self.base_ref}" if self.base_ref else self.against

    @property
    def unchanged(self) -> int:
        return sum(1 for line in self.lines if line.status == "same")

    def shown(self, everything: bool = False) -> list[DiffLine]:
        """The lines a report lists: those that differ, or every line with `everything` (`--all`)."""
        return list(self.lines) if everything else [line for line in self.lines if line.status != "same"]

    def to_json(self, everything: bool = False) -> dict[str, Any]:
        return {
            "env": self.env,
            "against": self.against,
            "baseRef": self.base_ref,
            "currency": "USD",
            "monthly": {"env": self.total.to_json(), "against": self.against_total.to_json(), "delta": self.delta.to_json()},
            "unchangedLines": self.unchanged,
            "lines": [line.to_json() for line in self.shown(everything)],
        }


def line_key(line: Line, env: str) -> tuple[str, str, str, str, str]:
    # Only a whole hyphen-separated part is the environment's name: dev's volumes are `... /dev/sda1`.
    name = re.sub(rf"(?<![^-]){re.escape(env)}(?![^-])", "<env>", line.name)
    return (line.region, line.component, line.kind, str(line.market or ""), name)


def _merge(lines: list[Line]) -> Line:
    """Lines that share a key (rare: two volumes of one ASG) are compared as their sum."""
    first = lines[0]
    total = Range.zero()
    for line in lines:
        total = total + line.monthly
    return Line(first.region, first.component, first.name, first.kind, first.instance_type, first.market,
                first.hourly_price, first.count, total)


def _by_key(est: Estimate) -> dict[tuple, Line]:
    grouped: dict[tuple, list[Line]] = {}
    for line in est.lines:
        grouped.setdefault(line_key(line, est.env), []).append(line)
    return {key: _merge(lines) for key, lines in grouped.items()}


def diff_estimates(env: Estimate, against: Estimate, *, base_ref: str | None = None) -> EstimateDiff:
    mine, theirs = _by_key(env), _by_key(against)
    lines = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        shown = a or b
        lines.append(
            DiffLine(
                region=key[0],
                component=key[1],
                name=shown.name,
                kind=key[2],
                market=shown.market,
                instance_type=a.instance_type if a else None,
                against_instance_type=b.instance_type if b else None,
                monthly=a.monthly if a else None,
                against=b.monthly if b else None,
            )
        )
    return EstimateDiff(env.env, against.env, lines, env.monthly, against.monthly, base_ref)


