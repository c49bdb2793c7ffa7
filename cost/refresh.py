"""Rebuild the local price cache from AWS: on-demand prices from the Pricing API, spot prices per AZ.

    refresh(["us-east-1"], cache_dir())          # what `rayfleet cost catalog refresh` runs

Each region's prices go to `<cache>/<region>.json` (`cost.prices.RegionCache`),
which `PriceCatalog.load()` then prefers to the shipped data file. Only the
instance types `components.catalog` knows are fetched. The Pricing API answers
only in us-east-1 (and a few others); credentials come from boto3's chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from cost.aws_errors import explain
from components.catalog import facts
from cost.prices import RegionCache
from components.errors import RayfleetError

#: The Pricing API's endpoint region.
PRICING_REGION = "us-east-1"
#: IAM actions the refresh needs.
PERMISSIONS = ("pricing:GetProducts", "ec2:DescribeSpotPriceHistory")


class RefreshError(RayfleetError):
    """AWS refused or could not answer a price query."""


def _filters(region: str, instance_type: str) -> list[dict[str, str]]:
    wanted = {
        "regionCode": region,
        "instanceType": instance_type,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted.items()]


def on_demand_price(price_list: Iterable[str]) -> Decimal | None:
    """The hourly USD price in a `get_products` PriceList (JSON strings), or None when it has none."""
    for item in price_list:
        product = json.loads(item) if isinstance(item, str) else item
        for offer in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in offer.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd is not None and dimension.get("unit", "Hrs") == "Hrs" and Decimal(usd) > 0:
                    return Decimal(usd)
    return None


def fetch_on_demand(pricing, region: str, types: list[str]) -> dict[str, Decimal]:
    prices = {}
    for instance_type in types:
        answer = pricing.get_products(ServiceCode="AmazonEC2", Filters=_filters(region, instance_type), MaxResults=10)
        price = on_demand_price(answer.get("PriceList", []))
        if price is not None:
            prices[instance_type] = price
    return prices


def fetch_spot(ec2, types: list[str], now: datetime) -> dict[str, dict[str, Decimal]]:
    """The latest Linux spot price of each type in each availability zone."""
    latest: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    paginator = ec2.get_paginator("describe_spot_price_history")
    for page in paginator.paginate(InstanceTypes=types, ProductDescriptions=["Linux/UNIX"], StartTime=now):
        for entry in page.get("SpotPriceHistory", []):
            key = (entry["InstanceType"], entry["AvailabilityZone"])
            seen = latest.get(key)
            if seen is None or entry["Timestamp"] > seen[0]:
                latest[key] = (entry["Timestamp"], Decimal(entry["SpotPrice"]))
    spot: dict[str, dict[str, Decimal]] = {}
    for (instance_type, zone), (_, price) in sorted(latest.items()):
        spot.setdefault(instance_type, {})[zone] = price
    return spot


def refresh_region(region: str, pricing, ec2, *, types: list[str] | None = None, now: datetime | None = None) -> RegionCache:
    now = now or datetime.now(timezone.utc)
    types = sorted(types or facts().instance_types)
    return RegionCache(
        region=region,
        as_of=now.date().isoformat(),
        on_demand=fetch_on_demand(pricing, region, types),
        spot=fetch_spot(ec2, types, now),
    )


def write_cache(folder: Path, entry: RegionCache) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry.region}.json"
    path.write_text(json.dumps(entry.to_json(), indent=1) + "\n")
    return path


def refresh(
    regions: list[str],
    folder: Path,
    *,
    types: list[str] | None = None,
    client: Callable[..., Any] | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> list[RegionCache]:
    """Refresh every region's cache file; `client(service, region)` makes boto3 clients (tests pass stubs)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        def client(service: str, region: str):
            return boto3.client(service, region_name=region)

    pricing = client("pricing", PRICING_REGION)
    done = []
    for region in regions:
        progress(f"prices for {region}")
        try:
            entry = refresh_region(region, pricing, client("ec2", region), types=types)
        except (BotoCoreError, ClientError) as err:
            raise RefreshError(
                f"could not refresh prices for {region}: {explain(err)}. Fix: check AWS credentials and that they allow "
                f"{', '.join(PERMISSIONS)}"
            ) from None
        write_cache(folder, entry)
        done.append(entry)
    return done
