"""`rayfleet cost allocate --local` against a real local Ray head running two Serve applications.

The head is this test's own (GCS 6400, dashboard 8280, Serve 8030, its own temp dir and
token) and is stopped by process id afterwards, never with `ray stop`. It cannot be the session
cluster: `local up` reserves that head's every CPU for dev's apps at their maxReplicas (so that
autoscaling never leaves a replica pending), and the shares asserted here need apps of known
sizes, with request counts no other test adds to, on a head with room for them (4 CPUs).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest

from cost.ray_state import fetch_snapshot
from tests.fakes.cli import run_cli
from tests.fakes.local_head import local_head

TOKEN = "rfcost" + uuid.uuid4().hex
SERVE_CONFIG = {
    "proxy_location": "HeadOnly",
    "http_options": {"host": "127.0.0.1", "port": 8030},
    "applications": [
        {"name": "alpha", "route_prefix": "/alpha", "import_path": "tests.serve.cost_app:alpha"},
        {"name": "beta", "route_prefix": "/beta", "import_path": "tests.serve.cost_app:beta"},
    ],
}


def _call(url: str, method: str = "GET", body: dict | None = None) -> bytes:
    request = urllib.request.Request(
        url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read()


@pytest.fixture(scope="module")
def dashboard():
    temp_dir = Path(f"/tmp/rfcost-{uuid.uuid4().hex[:8]}")
    with local_head(temp_dir, gcs_port=6400, dashboard_port=8280, token=TOKEN) as url:
        _call(url + "/api/serve/applications/", "PUT", SERVE_CONFIG)
        deadline = time.monotonic() + 120
        while True:
            apps = json.loads(_call(url + "/api/serve/applications/"))["applications"]
            if {name: app["status"] for name, app in apps.items()} == {"alpha": "RUNNING", "beta": "RUNNING"}:
                break
            assert time.monotonic() < deadline, apps
            time.sleep(1)
        for _ in range(20):  # bounded: 20 requests per application
            for route in ("alpha", "beta"):
                assert urllib.request.urlopen(f"http://127.0.0.1:8030/{route}", timeout=10).read().decode() == route
        # The proxies export their counters every few seconds: wait (bounded) until both show 20.
        deadline = time.monotonic() + 60
        while fetch_snapshot(url, TOKEN).requests != {"alpha": 20, "beta": 20}:
            assert time.monotonic() < deadline, fetch_snapshot(url, TOKEN).requests
            time.sleep(2)
        yield url


@pytest.mark.slow
def test_local_allocation_sums_to_the_cluster_cost(dashboard):
    run = run_cli("cost", "allocate", "--local", "--json",
                  env={"RAY_DASHBOARD_ADDRESS": dashboard, "RAY_AUTH_TOKEN": TOKEN})
    assert run.code == 0, run.err
    data = json.loads(run.out)
    names = [s["name"] for s in data["shares"]]
    assert names[-2:] == ["__system__", "__idle__"] and set(names[:-2]) == {"alpha", "beta"}
    total = D(data["total"])
    assert total > 0
    assert sum(D(s["cost"]) for s in data["shares"]) == total
    (node,) = data["nodes"]
    assert (node["instanceType"], node["hourlyPrice"]) == ("m6i.xlarge", "0.192")  # dev's worker type, us-west-2
    assert D(node["cost"]) == total == D(node["hourlyPrice"]) * D(node["hours"])
    shares = {s["name"]: s for s in data["shares"]}
    alpha, beta = shares["alpha"], shares["beta"]
    assert alpha["deployments"][0]["replicas"] == 2 and D(alpha["deployments"][0]["cpuHours"]) > 0
    assert D(alpha["cost"]) > D(beta["cost"]) > 0  # two 1-CPU replicas against one 0.5-CPU replica
    assert (alpha["requests"], beta["requests"]) == (20, 20)
    assert D(alpha["costPer1000Requests"]) == D(alpha["cost"]) / 20 * 1000


@pytest.mark.slow
def test_local_allocation_view_and_a_refused_token(dashboard):
    run = run_cli("cost", "allocate", "--local", "--window", "90m",
                  env={"RAY_DASHBOARD_ADDRESS": dashboard, "RAY_AUTH_TOKEN": TOKEN})
    assert run.code == 0, run.err
    assert run.out.startswith(f"local ({dashboard}): $")
    assert "over the last 1.5 h window" in run.out
    for name in ("alpha", "beta", "__system__", "__idle__"):
        assert f" {name} " in run.out
    refused = run_cli("cost", "allocate", "--local", env={"RAY_DASHBOARD_ADDRESS": dashboard, "RAY_AUTH_TOKEN": "wrong"})
    assert refused.code == 1
    assert refused.err == (
        f"error: the Ray dashboard at {dashboard}/api/serve/applications/ refused the request (HTTP 403). "
        "Fix: pass its token with --token, or set RAY_AUTH_TOKEN (a local head keeps it in ~/.ray/auth_token)\n"
    )


@pytest.mark.slow
def test_cluster_by_address_prices_the_head_and_charges_its_rest_to_system(dashboard):
    run = run_cli("cost", "allocate", "--address", dashboard, "--env", "dev", "--token", TOKEN, "--json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    (node,) = data["nodes"]
    assert node["head"] is True
    assert (node["instanceType"], node["hourlyPrice"]) == ("m6i.large", "0.096")  # dev's head type, us-west-2
    shares = {s["name"]: D(s["cost"]) for s in data["shares"]}
    assert shares["__idle__"] == 0  # a cloud head's unrequested rest is system overhead, not idle capacity
    assert shares["__system__"] > 0
    assert sum(shares.values()) == D(data["total"]) == D(node["cost"])
