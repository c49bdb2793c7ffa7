"""Allocation arithmetic: hand-built snapshots with round numbers, then responses recorded from a local Ray 2.60.

The recorded fixtures (tests/unit/fixtures/ray_*.json) are the dashboard's real answers
(`/api/serve/applications/`, `/api/v0/nodes`, `/api/v0/actors`, the proxies' request counters)
from a local head with 4 CPUs, later joined by a worker with 8 CPUs and 1 declared GPU,
running tests/serve/cost_app.py.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from components.contract import Market
from cost.allocation import IDLE, SYSTEM, NodePrice, allocate, node_rates
from cost.ray_state import Snapshot, request_counts
from tests.fakes.cost import GIB, SOURCE, actor, node, replica, run, snapshot

FIXTURES = Path(__file__).parent / "fixtures"


def costs(alloc):
    return {s.name: s.cost for s in alloc.shares}


def test_cpu_node_price_splits_75_25_between_cpus_and_memory():
    rates = node_rates(D("0.192"), {"CPU": D(4), "GPU": D(0), "memory": D(16)})
    assert rates == {"CPU": D("0.036"), "GPU": D(0), "memory": D("0.003")}


def test_gpu_node_price_splits_70_22_5_7_5():
    rates = node_rates(D("1.006"), {"CPU": D(4), "GPU": D(1), "memory": D(16)})
    assert rates == {"CPU": D("0.0565875"), "GPU": D("0.7042"), "memory": D("0.00471562500")}


def test_node_without_memory_gives_its_share_to_the_cpus():
    assert node_rates(D("0.2"), {"CPU": D(4), "GPU": D(0), "memory": D(0)})["CPU"] == D("0.05")


def test_replicas_pay_their_requests_and_the_rest_is_idle():
    snap = snapshot(
        [node("n1", 4, 16)],
        {"web": {"Web": [replica("a1", "n1", 18000)]}, "batch": {"Batch": [replica("a2", "n1", 0)]}},
        [actor("a1", "n1", {"CPU": 1.0}), actor("a2", "n1", {"CPU": 0.5, "memory": 2.0 * GIB})],
    )
    alloc = run(snap)  # 10 hours up, inside a 24 h window
    assert costs(alloc) == {
        "batch": D("0.24"),  # 0.5 CPU × 0.036 × 10 h + 2 GiB × 0.003 × 10 h
        "web": D("0.180"),  # 1 CPU × 0.036 × 5 h
        SYSTEM: D(0),
        IDLE: D("1.50"),  # 0.192 × 10 h = 1.92, less what was requested
    }
    assert alloc.total == D("1.920") == sum(costs(alloc).values())
    batch = alloc.share("batch").deployments["Batch"]
    assert (batch.replicas, batch.usage) == (1, {"CPU": D("5.0"), "GPU": D(0), "memory": D("20")})


def test_window_shorter_than_the_run_charges_only_the_window():
    snap = snapshot(
        [node("n1", 4, 16)],
        {"web": {"Web": [replica("a1", "n1", 18000)]}, "batch": {"Batch": [replica("a2", "n1", 0)]}},
        [actor("a1", "n1", {"CPU": 1.0}), actor("a2", "n1", {"CPU": 0.5, "memory": 2.0 * GIB})],
    )
    alloc = run(snap, window=6)
    assert costs(alloc) == {"web": D("0.180"), "batch": D("0.144"), SYSTEM: D(0), IDLE: D("0.828")}
    assert alloc.total == D("1.152")


def test_cloud_head_goes_to_system_with_controller_and_proxies():
    snap = snapshot(
        [node("head", 4, 16, head=True), node("gpu", 4, 16, gpus=1)],
        {"vision": {"Model": [replica("m1", "gpu", 0)]}},
        [
            actor("m1", "gpu", {"CPU": 1.0, "GPU": 1.0}),
            actor("ctl", "head", {"node:__internal_head__": 0.001}, class_name="ServeController"),
            actor("px", "gpu", {"CPU": 0.5}, class_name="ProxyActor"),
            actor("gone", "gpu", {"CPU": 2.0}, class_name="ProxyActor", state="DEAD"),
        ],
    )
    prices = {"head": D("0.192"), "gpu": D("1.006")}
    alloc = allocate(snap, lambda n: NodePrice("t", Market.ON_DEMAND, prices[n["node_id"]]), window_hours=D(24),
                     cluster="c", source=SOURCE, basis="test", head_is_system=True)
    vision = D("7.607875")  # (0.7042 GPU + 0.0565875 CPU) × 10 h
    proxy = D("0.2829375")  # 0.5 CPU × 0.0565875 × 10 h
    assert costs(alloc) == {
        "vision": vision,
        SYSTEM: proxy + D("1.920"),  # the proxy, and the whole head
        IDLE: D("10.060") - vision - proxy,
    }
    assert alloc.total == D("11.980")


def test_starting_replicas_hold_resources_and_dead_nodes_cost_nothing():
    dead = node("old", 8, 32)
    dead["state"] = "DEAD"
    snap = snapshot(
        [node("n1", 4, 16), dead],
        {"web": {"Web": [replica("a1", "n1", 0, state="STARTING"), replica("a2", "old", 0)]}},
        [actor("a1", "n1", {"CPU": 1.0}), actor("a2", "old", {"CPU": 1.0}, state="DEAD")],
    )
    alloc = run(snap)
    assert costs(alloc) == {"web": D("0.360"), SYSTEM: D(0), IDLE: D("1.560")}
    assert [n.node_id for n in alloc.nodes] == ["n1"]


def test_cost_per_thousand_requests_and_reconciliation():
    snap = snapshot([node("n1", 4, 16)], {"web": {"Web": [replica("a1", "n1", 0)]}},
                    [actor("a1", "n1", {"CPU": 2.0})], requests={"web": 1200})
    alloc = run(snap)
    web = alloc.share("web")
    assert web.cost == D("0.720")
    assert web.per_thousand_requests == D("0.6")
    alloc.reconcile(D("0.96"))
    assert alloc.reconciliation.factor == D("0.5")
    shares = {s["name"]: s for s in alloc.to_json()["shares"]}
    assert D(shares["web"]["reconciledCost"]) == D("0.36")
    assert shares[IDLE]["costPer1000Requests"] is None


def load(name):
    return Snapshot.from_json(json.loads((FIXTURES / name).read_text()))


def test_recorded_single_node_cluster_sums_to_its_cost_local_style():
    snap = load("ray_single_node.json")
    alloc = run(snap)
    assert [s.name for s in alloc.shares] == ["alpha", "beta", SYSTEM, IDLE]
    assert sum(costs(alloc).values()) == alloc.total
    (head,) = alloc.nodes
    hours = (D(str(snap.taken_at)) - D(str(snap.nodes[0]["start_time_ms"])) / 1000) / 3600
    assert head.hours == hours and alloc.total == D("0.192") * hours
    alpha = alloc.share("alpha").deployments["Alpha"]
    replicas = snap.serve["applications"]["alpha"]["deployments"]["Alpha"]["replicas"]
    expected = sum(D("0.036") * (D(str(snap.taken_at)) - D(str(r["start_time_s"]))) / 3600 for r in replicas)
    assert alpha.replicas == 2
    assert abs(alpha.cost - expected) < D("1e-20")  # 1 CPU each at 0.192 × 0.75 / 4 CPUs
    assert alloc.share(SYSTEM).cost == 0  # the controller and proxy request no CPU, GPU or memory
    assert alloc.share("alpha").requests == 31 and alloc.share("beta").requests == 12


def test_recorded_two_node_cluster_charges_the_gpu_replica_at_the_gpu_rate():
    snap = load("ray_two_nodes.json")
    alloc = run(snap, head_is_system=True)
    assert sum(costs(alloc).values()) == alloc.total
    worker = next(n for n in alloc.nodes if not n.head)
    assert worker.capacity["GPU"] == 1 and worker.rates["GPU"] == D("0.192") * D("0.70")
    gamma = alloc.share("gamma").deployments["Gamma"]
    assert gamma.usage["GPU"] > 0 and gamma.usage["CPU"] == gamma.usage["GPU"]
    assert {d.replicas for d in alloc.share("alpha").deployments.values()} == {5}
    # On a cloud cluster the head's unrequested rest is __system__; locally it would be __idle__.
    local_style = run(snap, head_is_system=False)
    moved = alloc.share(SYSTEM).cost - local_style.share(SYSTEM).cost
    assert moved > 0 and moved == local_style.share(IDLE).cost - alloc.share(IDLE).cost
    assert 0 < alloc.share(IDLE).cost < worker.cost


def test_request_counters_are_summed_per_application():
    text = (
        '# TYPE ray_serve_num_http_requests_total counter\n'
        'ray_serve_num_http_requests_total{application="a",route="/a",status_code="200"} 30.0\n'
        'ray_serve_num_http_requests_total{application="a",route="/a",status_code="500"} 2.0\n'
        'ray_serve_num_http_requests_total{application="b",route="/b",status_code="200"} 7.0\n'
        'ray_serve_deployment_request_counter_total{application="a",deployment="A"} 99.0\n'
    )
    assert request_counts(text) == {"a": 32, "b": 7}


@pytest.mark.parametrize("name", ["ray_single_node.json", "ray_two_nodes.json"])
def test_fixtures_are_real_dashboard_answers(name):
    raw = json.loads((FIXTURES / name).read_text())
    assert raw["serve"]["controller_info"]["actor_name"] == "SERVE_CONTROLLER_ACTOR"
    assert all("resources_total" in n for n in raw["nodes"])
    assert {a["class_name"] for a in raw["actors"]} >= {"ServeController", "ProxyActor"}
