"""The cost renderers, rendered at a fixed width (100 columns, no colour) and compared as text."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest
from rich.console import Console

from components.node_groups import Distribution, SpotPolicy
from cost.actuals import BudgetStatus, CostReport, DailyCost, Forecast
from cost.diff import diff_estimates
from cost.estimate import estimate
from rayfleet.output import THEME
from rayfleet.views.cost_allocate import allocation_view
from rayfleet.views.cost_estimate import diff_view, estimate_view
from rayfleet.views.cost_report import report_view
from tests.fakes.cost import (
    GIB, REGION, actor, cluster, node, planned, planned_asgs, replica, run, shipped_prices, snapshot, worker
)


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, theme=THEME, color_system=None, highlight=False)
    console.print(renderable)
    return console.file.getvalue()


@pytest.fixture
def prices():
    return shipped_prices()


def small_estimate(env: str, max_workers: int, prices):
    nodes = cluster(worker(types=("m6i.2xlarge", "m6a.2xlarge"), lo=1, hi=max_workers, expected=2,
                           spot=SpotPolicy(Distribution(1, 0, "price-capacity-optimized"))))
    nat = planned("aws:ec2/natGateway:NatGateway", f"{env}-nat-0", {}, component="network")
    return estimate(env, [*planned_asgs(nodes, cluster_name=env), nat], prices, {REGION: nodes})


ESTIMATE = """\
prod: $562.43 a month expected  (min $466.13, max $755.03; per line: min / expected / max)
└── us-east-1  $466.13 / $562.43 / $755.03
    ├── cluster  $433.28 / $529.58 / $722.18
    │   ├── prod-cpu-on-demand  on-demand m6i.2xlarge  ×0/0/0  $0.3840/h  $0.00 / $0.00 / $0.00  
    │   │   (on-demand fallback twin: counted 0, the spot group's counts include its instances)
    │   ├── prod-cpu-on-demand /dev/sda1  volumes  ×0/0/0  $0.0110/h  $0.00 / $0.00 / $0.00  (gp3 
    │   │   100 GB per instance)
    │   ├── prod-cpu-spot  on-demand m6i.2xlarge  ×1/1/1  $0.3840/h  $280.32 / $280.32 / $280.32
    │   ├── prod-cpu-spot  spot m6a.2xlarge  ×0/1/3  $0.1210/h  $0.00 / $88.30 / $264.90  
    │   │   (price-capacity-optimized)
    │   ├── prod-cpu-spot /dev/sda1  volumes  ×1/2/4  $0.0110/h  $8.00 / $16.00 / $32.00  (gp3 100 
    │   │   GB per instance)
    │   ├── prod-head  on-demand m6i.xlarge  ×1/1/1  $0.1920/h  $140.16 / $140.16 / $140.16
    │   └── prod-head /dev/sda1  volumes  ×1/1/1  $0.0066/h  $4.80 / $4.80 / $4.80  (gp3 60 GB per 
    │       instance)
    └── network  $32.85 / $32.85 / $32.85
        └── prod-nat-0  nat-gateway  ×1/1/1  $0.0450/h  $32.85 / $32.85 / $32.85  (+$0.045/GB 
            processed, not estimated)
spot saves $0.00 / $163.99 / $491.96 a month against the same instances on-demand ($466.13 / $726.42
/ $1,246.99)
prices: shipped, as of 2025-01-15
monthly = 730 hours; usage-priced charges (NAT and load balancer data, S3, transfer) are not 
estimated
spot: on-demand × per-family spot factor (cost/data/prices.json)
"""


def test_estimate_tree_renders_region_component_line(prices):
    assert render(estimate_view(small_estimate("prod", 4, prices))) == ESTIMATE


DIFF = """\
staging against prod: monthly cost, expected (and the difference at max)                            
┏━━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━┓
┃ region    ┃ component ┃ line                 ┃ market ┃ staging ┃   prod ┃ difference ┃   at max ┃
┡━━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━┩
│ us-east-1 │ cluster   │ staging-cpu-spot     │ spot   │  $88.30 │ $88.30 │      $0.00 │ -$176.60 │
│ us-east-1 │ cluster   │ staging-cpu-spot     │        │  $16.00 │ $16.00 │      $0.00 │  -$16.00 │
│           │           │ /dev/sda1            │        │         │        │            │          │
└───────────┴───────────┴──────────────────────┴────────┴─────────┴────────┴────────────┴──────────┘
staging $562.43 against prod $562.43: $0.00 a month expected (min $0.00, max -$192.60); 6 identical 
lines not shown
"""


def test_diff_table_shows_only_lines_that_differ(prices):
    diff = diff_estimates(small_estimate("staging", 2, prices), small_estimate("prod", 4, prices))
    assert render(diff_view(diff)) == DIFF


REPORT = """\
prod: $35.25 from 2026-11-01 to 2026-11-04 (end exclusive, unblended, tagged rayfleet:env=prod)
by rayfleet:component                   
┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┓
┃ rayfleet:component ┃   cost ┃  share ┃
┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━┩
│ cluster            │ $31.75 │ 90.1 % │
│ network            │  $3.50 │  9.9 % │
└────────────────────┴────────┴────────┘
per day                                                       
 date          cost                                           
 2026-11-01  $10.00  ████████████████████                     
 2026-11-02  $20.00  ████████████████████████████████████████ 
 2026-11-03   $5.25  ██████████                               
forecast 2026-11-04 to 2026-12-01: $310.40
budget rayfleet-prod-monthly: $335.25 of $400.00 (83.8 %), forecast $410.00
estimate vs actual: $300.00 a month expected; the period ran at $357.40 a month
forecast unavailable: HTTP 500
"""


def test_report_renders_groups_daily_bars_forecast_budget_and_estimate():
    report = CostReport(
        "prod", "rayfleet:component", "2026-11-01", "2026-11-04",
        [
            DailyCost("2026-11-01", D("10.00"), {"cluster": D("8.00"), "network": D("2.00")}),
            DailyCost("2026-11-02", D("20.00"), {"cluster": D("18.50"), "network": D("1.50")}),
            DailyCost("2026-11-03", D("5.25"), {"cluster": D("5.25")}),
        ],
        forecast=Forecast("2026-11-04", "2026-12-01", D("310.40")),
        budget=BudgetStatus("rayfleet-prod-monthly", D("400"), D("335.25"), D("410")),
        estimate_monthly=D("300"),
        notes=["forecast unavailable: HTTP 500"],
    )
    assert render(report_view(report)) == REPORT


ALLOCATION = """\
c: $1.9200 over the last 24 h window  (1 node; test)
 app / deployment ┃ replicas ┃ CPU h ┃ GPU h ┃ GiB h ┃    cost ┃  share ┃ per 1k req ┃  billed 
━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━╇━━━━━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━
 batch            │          │       │       │       │ $0.2400 │ 12.5 % │            │ $0.1200 
   Batch          │        1 │  5.00 │  0.00 │ 20.00 │ $0.2400 │        │            │         
 web              │          │       │       │       │ $0.1800 │  9.4 % │    $0.2000 │ $0.0900 
   Web            │        1 │  5.00 │  0.00 │  0.00 │ $0.1800 │        │            │         
 __system__       │          │       │       │       │ $0.0000 │  0.0 % │            │ $0.0000 
 __idle__         │          │       │       │       │ $1.5000 │ 78.1 % │            │ $0.7500 
reconciled with Cost Explorer: actual $0.96, factor 0.500
prices: shipped, as of 2025-01-15
"""


def test_allocation_table_lists_apps_then_system_and_idle_with_billed_costs():
    snap = snapshot(
        [node("n1", 4, 16)],
        {"web": {"Web": [replica("a1", "n1", 18000)]}, "batch": {"Batch": [replica("a2", "n1", 0)]}},
        [actor("a1", "n1", {"CPU": 1.0}), actor("a2", "n1", {"CPU": 0.5, "memory": 2.0 * GIB})],
        requests={"web": 900, "batch": 0},
    )
    alloc = run(snap)
    alloc.reconcile(D("0.96"))
    assert render(allocation_view(alloc)) == ALLOCATION
