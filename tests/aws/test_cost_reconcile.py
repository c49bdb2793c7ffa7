"""Reconciling an allocation with the bill: Cost Explorer's actual for the cluster (moto in-process: the `aws` fixture)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import boto3
from moto.moto_api._internal import moto_api_backend

from cost.actuals import cluster_actual
from cost.attribution import cloud_pricer, reconcile_with_bill
from cost.prices import PriceCatalog
from stacks.loader import load_environment
from tests.fakes.cost import actor, node, replica, run, snapshot


def _queue(amounts: list[str]) -> None:
    today = date.today()
    periods = [
        {"TimePeriod": {"Start": (today - timedelta(days=len(amounts) - i)).isoformat(),
                        "End": (today - timedelta(days=len(amounts) - i - 1)).isoformat()},
         "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}, "Groups": [], "Estimated": False}
        for i, amount in enumerate(amounts)
    ]
    moto_api_backend.set_ce_cost_usage(result={"ResultsByTime": periods}, account_id="123456789012")


def test_cluster_actual_sums_the_days_cost_explorer_returns(aws):
    _queue(["1.25", "2.50"])
    today = date.today()
    client = lambda service: boto3.client(service, region_name="us-east-1")  # noqa: E731
    assert cluster_actual("rayfleet-prod-us-east-1", today - timedelta(days=2), today, client) == D("3.75")


def test_allocation_is_scaled_to_the_bill(aws):
    _queue(["0.96"])
    alloc = run(snapshot([node("n1", 4, 16)], {"web": {"Web": [replica("a1", "n1", 0)]}},
                         [actor("a1", "n1", {"CPU": 2.0})]))
    reconcile_with_bill(alloc, "rayfleet-prod-us-east-1", D(24))
    assert alloc.reconciliation.actual == D("0.96")
    assert alloc.reconciliation.factor == D("0.5")  # computed 1.92


def test_no_bill_yet_leaves_a_note(aws):
    alloc = run(snapshot([node("n1", 4, 16)], {}, []))
    reconcile_with_bill(alloc, "rayfleet-prod-us-east-1", D(24))
    assert alloc.reconciliation is None
    assert alloc.notes == [
        "no reconciliation: Cost Explorer has no cost tagged rayfleet:cluster=rayfleet-prod-us-east-1 yet"
    ]


def test_cloud_nodes_are_priced_by_their_cpus_and_gpus(tmp_path):
    price = cloud_pricer(load_environment("prod"), "us-east-1", PriceCatalog.load(tmp_path))
    head = price(node("h", 4, 16, head=True))
    cpu = price(node("w1", 8, 32))
    gpu = price(node("w2", 4, 16, gpus=1))
    odd = price(node("w3", 2, 8))
    assert (head.instance_type, head.hourly) == ("m6i.xlarge", D("0.192"))
    assert (cpu.instance_type, cpu.hourly) == ("m6i.2xlarge", D("0.384"))
    assert (gpu.instance_type, gpu.hourly) == ("g5.xlarge", D("1.006"))
    assert odd.instance_type == "m6i.2xlarge"  # no match: the first worker group's first type
