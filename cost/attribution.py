"""`rayfleet cost allocate` end to end: find the cluster, read it, price its nodes, allocate, reconcile.

    alloc = allocate_local(load_environment("dev"), "http://127.0.0.1:8265", window_hours=Decimal(24))

How nodes are priced:

- `--local`: every node as the environment's first worker group's first
  instance type, on-demand, in its primary region (a laptop has no price);
- a cloud cluster (`--env ENV --region R`, or `--address URL --env ENV`): the
  head as `cluster.head.instanceType`; each worker as the first instance type
  of the environment whose vCPUs and GPUs equal what the node advertises
  (else the first worker group's first type), on-demand, since Ray does not
  know the market a node was bought on. The reconciliation factor against
  Cost Explorer's actual corrects for spot discounts.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from components.catalog import instance_type
from components.contract import Market
from cost.allocation import Allocation, NodePrice, allocate
from cost.prices import PriceCatalog
from cost.ray_state import fetch_snapshot
from components.errors import RayfleetError
from stacks.config import EnvironmentConfig

LOCAL_DASHBOARD = "http://127.0.0.1:8265"


def _node_counts(node: dict[str, Any]) -> tuple[int, int]:
    resources = node.get("resources_total") or {}
    return int(resources.get("CPU", 0)), int(resources.get("GPU", 0))


def cloud_pricer(cfg: EnvironmentConfig, region: str, prices: PriceCatalog):
    worker_types = [t for g in cfg.cluster.worker_groups for t in g.instance_types]

    def price(node: dict[str, Any]) -> NodePrice:
        if node.get("is_head_node"):
            name = cfg.cluster.head.instance_type
        else:
            cpus, gpus = _node_counts(node)
            matching = [t for t in worker_types if (instance_type(t).vcpus, instance_type(t).gpus) == (cpus, gpus)]
            name = matching[0] if matching else worker_types[0]
        return NodePrice(name, Market.ON_DEMAND, prices.on_demand(name, region))

    return price


def local_pricer(cfg: EnvironmentConfig, prices: PriceCatalog):
    name = cfg.cluster.worker_groups[0].instance_types[0]
    hourly = prices.on_demand(name, cfg.primary_region.name)
    return lambda node: NodePrice(name, Market.ON_DEMAND, hourly)


def allocate_local(cfg: EnvironmentConfig, address: str, *, window_hours: Decimal, token: str | None = None,
                   prices: PriceCatalog | None = None) -> Allocation:
    prices = prices or PriceCatalog.load()
    region = cfg.primary_region.name
    name = cfg.cluster.worker_groups[0].instance_types[0]
    return allocate(
        fetch_snapshot(address, token),
        local_pricer(cfg, prices),
        window_hours=window_hours,
        cluster=f"local ({address})",
        source=prices.source([region]),
        basis=f"every local node priced as {cfg.env}'s worker type {name} on-demand in {region}",
        head_is_system=False,
    )


def allocate_cloud(cfg: EnvironmentConfig, region: str, address: str, *, window_hours: Decimal,
                   token: str | None = None, prices: PriceCatalog | None = None) -> Allocation:
    prices = prices or PriceCatalog.load()
    return allocate(
        fetch_snapshot(address, token),
        cloud_pricer(cfg, region, prices),
        window_hours=window_hours,
        cluster=cfg.cluster_id(region),
        source=prices.source([region]),
        basis=f"nodes priced by their CPUs/GPUs as {cfg.env}'s instance types, on-demand in {region}",
        head_is_system=True,
    )


def stack_dashboard(env: str, region: str, outputs_file: Path | None = None) -> tuple[str, str | None]:
    """The deployed cluster's dashboard URL and token, from the stack's outputs and Secrets Manager."""
    from stacks.outputs import dashboard_token, read_stack_outputs, stack_region

    found = stack_region(read_stack_outputs(env, outputs_file), env, region, needs=("dashboard_url",))
    secret_arn = found.dashboard_token_secret_arn
    return found.dashboard_url, dashboard_token(secret_arn, region) if secret_arn else None


def reconcile_with_bill(alloc: Allocation, cluster: str, window_hours: Decimal) -> None:
    """Scale to Cost Explorer's actual for the cluster over the window's whole days, when it has one."""
    from cost.actuals import cluster_actual

    days = max(1, int((window_hours / 24).to_integral_value()))
    end = date.today()
    try:
        actual = cluster_actual(cluster, end - timedelta(days=days), end)
    except RayfleetError as err:
        alloc.notes.append(f"no reconciliation: {err}")
        return
    if actual is None or actual == 0:
        alloc.notes.append(f"no reconciliation: Cost Explorer has no cost tagged rayfleet:cluster={cluster} yet")
        return
    alloc.reconcile(actual)
