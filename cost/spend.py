"""What a running instance costs per hour, by market, from the one price catalog: the spend rate's unit price.

    >>> price = hourly_price(PriceCatalog.load("/nonexistent"))
    >>> price("m6i.2xlarge", "us-east-1", Market.ON_DEMAND)
    Decimal('0.384')
    >>> price("m6i.2xlarge", "us-east-1", Market.SPOT) < price("m6i.2xlarge", "us-east-1", Market.ON_DEMAND)
    True

An on-demand instance costs the on-demand price; a spot instance the
catalog's spot price (a refreshed cache's mean over the zones, else the
family's spot factor). `rayfleet status --env` multiplies it by the running
instances of each ASG.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from components.contract import Market
from cost.prices import PriceCatalog


def hourly_price(prices: PriceCatalog) -> Callable[[str, str, Market], Decimal]:
    """price(instance type, region, market) -> $ per instance-hour."""

    def price(instance_type: str, region: str, market: Market) -> Decimal:
        if market == Market.SPOT:
            return prices.spot(instance_type, region)
        return prices.on_demand(instance_type, region)

    return price
