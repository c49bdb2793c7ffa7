"""The estimate's data model: a value per scenario (`Range`), priced lines, and the estimate they add up to.

    >>> Range(1, 3, 19).map(lambda n: n * 2)
    Range(min=2, expected=6, max=38)

The rules that make lines from a plan live in `cost.estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from components.contract import Market
from cost.decimals import decimal_text
from cost.prices import HOURS_PER_MONTH, PriceSource

SCENARIOS = ("min", "expected", "max")


@dataclass(frozen=True)
class Range:
    """One value per scenario."""

    min: Any
    expected: Any
    max: Any

    def map(self, fn) -> Range:
        return Range(fn(self.min), fn(self.expected), fn(self.max))

    def __add__(self, other: Range) -> Range:
        return Range(self.min + other.min, self.expected + other.expected, self.max + other.max)

    def __sub__(self, other: Range) -> Range:
        return Range(self.min - other.min, self.expected - other.expected, self.max - other.max)

    def to_json(self) -> dict[str, Any]:
        return {"min": _num(self.min), "expected": _num(self.expected), "max": _num(self.max)}

    @staticmethod
    def zero() -> Range:
        return Range(Decimal(0), Decimal(0), Decimal(0))


def _num(value: Any) -> Any:
    return decimal_text(value) if isinstance(value, Decimal) else value


@dataclass(frozen=True)
class Line:
    """One priced thing: a group of instances of one market, a gateway, a zone, ..."""

    region: str
    component: str
    name: str
    #: `instances`, `volumes`, `nat-gateway`, `public-ip`, `load-balancer`, `cache-nodes`, `hosted-zone`,
    #: `health-check`, `secret`.
    kind: str
    instance_type: str | None
    market: Market | None
    #: USD per unit per hour.
    hourly_price: Decimal
    count: Range
    monthly: Range
    #: For spot lines, the same instances' on-demand price (what spot saves against).
    on_demand_hourly: Decimal | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "component": self.component,
            "name": self.name,
            "instanceType": self.instance_type,
            "market": self.market.value if self.market else None,
            "hourlyPrice": decimal_text(self.hourly_price),
            "count": self.count.to_json(),
            "monthly": self.monthly.to_json(),
        }


@dataclass
class Estimate:
    env: str
    lines: list[Line]
    source: PriceSource
    notes: list[str] = field(default_factory=list)

    @property
    def monthly(self) -> Range:
        total = Range.zero()
        for line in self.lines:
            total = total + line.monthly
        return total

    @property
    def spot_savings(self) -> Range:
        """What the spot lines save per month against the same instances on-demand."""
        saved = Range.zero()
        for line in self.lines:
            if line.market == Market.SPOT and line.on_demand_hourly is not None:
                per = (line.on_demand_hourly - line.hourly_price) * HOURS_PER_MONTH
                saved = saved + line.count.map(lambda n, per=per: per * n)
        return saved

    @property
    def all_on_demand(self) -> Range:
        return self.monthly + self.spot_savings

    @property
    def regions(self) -> list[str]:
        return sorted({line.region for line in self.lines})

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "currency": "USD",
            "monthly": self.monthly.to_json(),
            "lines": [line.to_json() for line in self.lines],
            "priceSource": self.source.to_json(),
        }
