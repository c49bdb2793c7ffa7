"""`cost catalog refresh`: the Pricing API through botocore's Stubber (moto has no Pricing), spot history on moto."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal as D

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from cost.prices import PriceCatalog
from cost.refresh import RefreshError, on_demand_price, refresh

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def product(instance_type: str, usd: str) -> str:
    """One PriceList entry as the Pricing API returns it (trimmed to what matters)."""
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": instance_type, "regionCode": "us-east-1"}},
            "terms": {
                "OnDemand": {
                    "ABC.JRTCKXETXF": {
                        "priceDimensions": {
                            "ABC.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}
                        }
                    }
                }
            },
        }
    )


def stubbed_pricing(answers: dict[str, str | None]):
    pricing = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(pricing)
    for instance_type, usd in answers.items():
        stub.add_response(
            "get_products",
            {"PriceList": [product(instance_type, usd)] if usd else [], "FormatVersion": "aws_v1"},
            {
                "ServiceCode": "AmazonEC2",
                "Filters": [
                    {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
                    {"Type": "TERM_MATCH", "Field": "instanceType", "Value": instance_type},
                    {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
                    {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
                    {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
                    {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
                    {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"},
                ],
                "MaxResults": 10,
            },
        )
    stub.activate()
    return pricing, stub


def test_price_list_entry_yields_its_hourly_usd_price():
    assert on_demand_price([product("m6i.xlarge", "0.1920000000")]) == D("0.192")
    assert on_demand_price([]) is None


def test_refresh_writes_the_cache_the_catalog_then_prefers(aws_credentials, tmp_path):
    pricing, stub = stubbed_pricing({"g5.xlarge": "1.0060000000", "m6i.xlarge": "0.2000000000"})
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")

        def client(service, region):
            return pricing if service == "pricing" else ec2

        entries = refresh(["us-east-1"], tmp_path, types=["m6i.xlarge", "g5.xlarge"], client=client)
    stub.assert_no_pending_responses()
    assert [e.region for e in entries] == ["us-east-1"]
    cached = json.loads((tmp_path / "us-east-1.json").read_text())
    assert cached["onDemandHourly"] == {"g5.xlarge": "1.0060000000", "m6i.xlarge": "0.2000000000"}
    # moto answers the spot history for every AZ of the region: the plumbing, not real prices
    assert set(cached["spotHourly"]) == {"g5.xlarge", "m6i.xlarge"}
    zones = cached["spotHourly"]["m6i.xlarge"]
    assert zones and all(z.startswith("us-east-1") for z in zones)
    prices = PriceCatalog.load(tmp_path)
    assert prices.on_demand("m6i.xlarge", "us-east-1") == D("0.2")
    mean = sum(D(p) for p in zones.values()) / len(zones)
    assert prices.spot("m6i.xlarge", "us-east-1") == mean
    assert prices.source(["us-east-1"]).kind == "aws-pricing-api"


def test_type_the_pricing_api_does_not_know_keeps_the_shipped_price(aws_credentials, tmp_path):
    pricing, _ = stubbed_pricing({"m6i.xlarge": None})
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        refresh(["us-east-1"], tmp_path, types=["m6i.xlarge"],
                client=lambda service, region: pricing if service == "pricing" else ec2)
    assert PriceCatalog.load(tmp_path).on_demand("m6i.xlarge", "us-east-1") == D("0.192")


def test_refused_pricing_call_names_the_region_and_permissions(aws_credentials, tmp_path):
    pricing = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(pricing)
    stub.add_client_error("get_products", service_error_code="AccessDeniedException", service_message="denied")
    stub.activate()
    with mock_aws(), pytest.raises(RefreshError) as err:
        ec2 = boto3.client("ec2", region_name="us-east-1")
        refresh(["us-east-1"], tmp_path, types=["m6i.xlarge"],
                client=lambda service, region: pricing if service == "pricing" else ec2)
    assert str(err.value) == (
        "could not refresh prices for us-east-1: AccessDeniedException: denied. Fix: check AWS credentials and that they allow pricing:GetProducts, "
        "ec2:DescribeSpotPriceHistory"
    )
    assert not (tmp_path / "us-east-1.json").exists()
