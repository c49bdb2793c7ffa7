"""`rayfleet status --local` against a Ray head of its own: it counts requests, reports latency, and an
error-raising request moves the error rate.

Not the session's shared cluster: `local up --file` with this stack would deploy the own app in place
of dev's applications there, and the counts asserted start from `local up`'s one smoke request.
The head runs on free ports with its own RAYFLEET_HOME, started and stopped by `rayfleet local up` /
`local down` (which stop exactly its processes), so no other cluster on the machine is touched.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.fakes.cli import run_cli
from tests.fakes.own_app import write_own_app, write_own_app_stack
from tests.fakes.ports import free_port

pytestmark = pytest.mark.slow

#: Ray's processes report metrics every 10 s (metrics_report_interval_ms); a few reports' worth.
METRICS_WAIT_S = 60


def _post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def _fraud(env: dict) -> dict:
    run = run_cli("status", "--local", "--json", env=env, timeout=60)
    assert run.code == 0, run.err
    return next(a for a in json.loads(run.out)["applications"] if a["name"] == "fraud")


def _wait_for(env: dict, done) -> dict:
    deadline = time.monotonic() + METRICS_WAIT_S
    while True:
        app = _fraud(env)
        if done(app["sinceStart"]) or time.monotonic() > deadline:
            return app
        time.sleep(2)


@pytest.fixture
def own_cluster(tmp_path):
    """The own fraud app on a local head of this test's: its RAYFLEET_HOME env, and its route's URL."""
    env = {"RAYFLEET_HOME": str(tmp_path / "home")}
    stack = write_own_app_stack(tmp_path, write_own_app(tmp_path / "outside"))
    serve_port = free_port()
    up = run_cli("local", "up", "--file", str(stack), "--ray-port", str(free_port()), "--dashboard-port", str(free_port()),
                 "--port", str(serve_port), "--json", env=env, timeout=600)
    try:
        assert up.code == 0, up.err
        yield env, f"http://127.0.0.1:{serve_port}/fraud"
    finally:
        down = run_cli("local", "down", env=env, timeout=120)
        assert down.code == 0, down.err


def test_status_local_counts_requests_reports_latency_and_moves_the_error_rate(own_cluster):
    env, url = own_cluster
    # `local up` smoke-tested the route once.
    start = _wait_for(env, lambda t: t["requests"] >= 1)["sinceStart"]
    assert (start["requests"], start["errors"]) == (1, 0), start

    assert [_post(url, {"amount": 10 * i}) for i in range(20)] == [200] * 20
    counted = _wait_for(env, lambda t: t["requests"] >= 21)
    total = counted["sinceStart"]
    assert (total["requests"], total["errors"], total["errorRate"]) == (21, 0, 0.0), total
    assert 0 < total["p50Ms"] <= total["p99Ms"], total
    assert counted["replicas"] == {"running": 1, "target": 1}
    assert counted["status"] == "RUNNING"

    assert _post(url, {"no amount": 1}) == 500  # the app raises KeyError
    failed = _wait_for(env, lambda t: t["errors"] >= 1)["sinceStart"]
    assert (failed["requests"], failed["errors"]) == (22, 1), failed
    assert failed["errorRate"] == pytest.approx(1 / 22)
