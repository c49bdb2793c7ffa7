"""The price catalog: every price rayfleet uses, from one place.

Prices come from the data file shipped with rayfleet (`cost/data/prices.json`,
public AWS list prices with their as-of date) or, for each region where it
exists, the local cache `rayfleet cost catalog refresh` builds from the AWS
Pricing API and the spot price history (`~/.rayfleet/prices/<region>.json`,
or `$RAYFLEET_PRICE_CACHE`). Instance facts (vCPUs, memory, GPUs) stay in
`components.catalog`; this module only knows what things cost. Money is `Decimal`.

    >>> prices = PriceCatalog.load("/nonexistent")
    >>> prices.on_demand("m6i.2xlarge", "us-east-1")
    Decimal('0.384')

Spot prices without a cache are the on-demand price times the family's
documented spot factor (`spotFactor` in prices.json); with a cache, the mean
of the latest price in each availability zone, since an Auto Scaling group
spreads its instances over the zones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from components.errors import RayfleetError
from cost.decimals import decimal_text

HOURS_PER_MONTH = Decimal(730)
SHIPPED_KIND = "shipped"
CACHE_KIND = "aws-pricing-api"
SHIPPED_FILE = "cost/data/prices.json"


class PriceNotFound(RayfleetError):
    """A thing the estimate must price has no price for its region."""


@dataclass(frozen=True)
class PriceSource:
    """Where the prices of an estimate came from, and how old they are."""

    kind: str
    as_of: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "asOf": self.as_of}


@dataclass(frozen=True)
class RegionCache:
    """One region's refreshed prices (`rayfleet cost catalog refresh`)."""

    region: str
    as_of: str
    on_demand: dict[str, Decimal]
    #: instance type -> availability zone -> latest spot price.
    spot: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "asOf": self.as_of,
            "source": "AWS Pricing API (pricing.get_products) and ec2.describe_spot_price_history",
            "onDemandHourly": {k: decimal_text(v) for k, v in sorted(self.on_demand.items())},
            "spotHourly": {k: {az: decimal_text(p) for az, p in sorted(v.items())} for k, v in sorted(self.spot.items())},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RegionCache:
        return cls(
            region=raw["region"],
            as_of=raw["asOf"],
            on_demand={k: Decimal(v) for k, v in raw.get("onDemandHourly", {}).items()},
            spot={k: {az: Decimal(p) for az, p in v.items()} for k, v in raw.get("spotHourly", {}).items()},
        )


def cache_dir() -> Path:
    """Where refreshed prices live: `$RAYFLEET_PRICE_CACHE`, else `~/.rayfleet/prices`."""
    configured = os.environ.get("RAYFLEET_PRICE_CACHE")
    return Path(configured) if configured else Path.home() / ".rayfleet" / "prices"


@lru_cache(maxsize=1)
def shipped() -> dict[str, Any]:
    return json.loads(resources.files("cost").joinpath("data/prices.json").read_text())


def _dec(value: str) -> Decimal:
    return Decimal(value)


class PriceCatalog:
    """Prices per region: a refreshed cache where one exists, the shipped data file otherwise."""

    def __init__(self, data: dict[str, Any], caches: dict[str, RegionCache]):
        self.data = data
        self.caches = caches

    @classmethod
    def load(cls, folder: Path | str | None = None) -> PriceCatalog:
        folder = Path(folder) if folder is not None else cache_dir()
        caches = {}
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                entry = RegionCache.from_json(json.loads(path.read_text()))
                caches[entry.region] = entry
        return cls(shipped(), caches)

    # --- where prices come from -----------------------------------------------

    @property
    def shipped_source(self) -> PriceSource:
        return PriceSource(SHIPPED_KIND, self.data["asOf"])

    def source(self, regions: list[str]) -> PriceSource:
        """The source of the instance prices for these regions: the cache, the shipped file, or both."""
        cached = [self.caches[r] for r in regions if r in self.caches]
        if not cached:
            return self.shipped_source
        oldest = min(c.as_of for c in cached)
        if len(cached) == len(regions):
            return PriceSource(CACHE_KIND, oldest)
        return PriceSource(f"{CACHE_KIND}+{SHIPPED_KIND}", min(oldest, self.data["asOf"]))

    def spot_basis(self, region: str) -> str:
        if region in self.caches and self.caches[region].spot:
            return f"spot: mean of the latest price per AZ ({self.caches[region].as_of})"
        return f"spot: on-demand × per-family spot factor ({SHIPPED_FILE})"

    # --- EC2 ------------------------------------------------------------------

    def on_demand(self, instance_type: str, region: str) -> Decimal:
        cache = self.caches.get(region)
        if cache and instance_type in cache.on_demand:
            return cache.on_demand[instance_type]
        price = self.data["ec2OnDemandHourly"].get(region, {}).get(instance_type)
        if price is None:
            raise PriceNotFound(
                f"no on-demand price for {instance_type} in {region}: the shipped catalog ({SHIPPED_FILE}, "
                f"as of {self.data['asOf']}) covers {', '.join(sorted(self.data['ec2OnDemandHourly']))}. "
                f"Fix: run 'rayfleet cost catalog refresh --regions {region}'"
            )
        return _dec(price)

    def spot_factor(self, instance_type: str) -> Decimal:
        factors = self.data["spotFactor"]
        return _dec(factors.get(instance_type.split(".", 1)[0], factors["default"]))

    def spot(self, instance_type: str, region: str) -> Decimal:
        cache = self.caches.get(region)
        if cache and cache.spot.get(instance_type):
            by_az = cache.spot[instance_type]
            return sum(by_az.values(), Decimal(0)) / len(by_az)
        return self.on_demand(instance_type, region) * self.spot_factor(instance_type)

    # --- other services -------------------------------------------------------

    def _regional(self, table: str, region: str, what: str) -> dict[str, Any]:
        entry = self.data[table].get(region)
        if entry is None:
            raise PriceNotFound(
                f"no {what} price for {region} in {SHIPPED_FILE} (regions: {', '.join(sorted(self.data[table]))}). "
                "Fix: add the region's prices to the data file"
            )
        return entry

    def nat_gateway_hourly(self, region: str) -> Decimal:
        return _dec(self._regional("natGateway", region, "NAT gateway")["hourly"])

    def nat_gateway_per_gb(self, region: str) -> Decimal:
        return _dec(self._regional("natGateway", region, "NAT gateway")["perGb"])

    def load_balancer_hourly(self, region: str, kind: str = "application") -> Decimal:
        return _dec(self._regional("loadBalancer", region, "load balancer")[kind]["hourly"])

    def load_balancer_lcu_hourly(self, region: str, kind: str = "application") -> Decimal:
        return _dec(self._regional("loadBalancer", region, "load balancer")[kind]["lcuHourly"])

    def elasticache_hourly(self, node_type: str, region: str) -> Decimal:
        prices = self._regional("elasticacheHourly", region, "ElastiCache")
        if node_type not in prices:
            raise PriceNotFound(
                f"no ElastiCache price for {node_type} in {region} (priced: {', '.join(sorted(prices))}). "
                f"Fix: use one of those node types, or add its price to {SHIPPED_FILE}"
            )
        return _dec(prices[node_type])

    def public_ipv4_hourly(self) -> Decimal:
        return _dec(self.data["publicIpv4Hourly"])

    def secret_monthly(self) -> Decimal:
        return _dec(self.data["secretsManagerSecretMonthly"])

    def hosted_zone_monthly(self) -> Decimal:
        return _dec(self.data["route53"]["hostedZoneMonthly"])

    def health_check_monthly(self, *, aws_endpoint: bool, options: int) -> Decimal:
        """A Route 53 health check: the base price plus one price per optional feature it uses."""
        kind = "aws" if aws_endpoint else "other"
        route53 = self.data["route53"]
        return _dec(route53["healthCheckMonthly"][kind]) + options * _dec(route53["healthCheckOptionMonthly"][kind])

    def ebs_gb_month(self, volume_type: str, region: str) -> Decimal:
        prices = self._regional("ebsGbMonth", region, "EBS")
        if volume_type not in prices:
            raise PriceNotFound(
                f"no EBS price for volume type {volume_type} in {region} (priced: {', '.join(sorted(prices))}). "
                "Fix: use gp3"
            )
        return _dec(prices[volume_type])
