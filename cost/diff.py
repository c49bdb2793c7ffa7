"""Two environments' estimates compared line by line (`rayfleet cost diff --env staging --against prod`).

    >>> d = diff_estimates(estimate_a, estimate_b)
    >>> d.delta.expected          # a's expected monthly cost minus b's
    Decimal("-5123.40")

Lines match on region, component, kind, market and the name with the
environment's name taken out (each line shows its own name) (`rayfleet-staging-us-east-1-cpu` and
`rayfleet-prod-us-east-1-cpu` are the same line).
"""

from __future__ import annotations

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

    @property
    def delta(self) -> Range:
        return self.total - self.against_total

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "against": self.against,
            "currency": "USD",
            "monthly": {"env": self.total.to_json(), "against": self.against_total.to_json(), "delta": self.delta.to_json()},
            "lines": [line.to_json() for line in self.lines],
        }


def line_key(line: Line, env: str) -> tuple[str, str, str, str, str]:
    return (line.region, line.component, line.kind, str(line.market or ""), line.name.replace(env, "<env>"))


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


def diff_estimates(env: Estimate, against: Estimate) -> EstimateDiff:
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
    return EstimateDiff(env.env, against.env, lines, env.monthly, against.monthly)


