"""The region-health route on the shared cluster, as Route 53 sees it through a region's load balancer.

An application whose every replica stops makes the route answer 503 naming it within one
Route 53 check interval, and 200 again once a replica runs; an application allowed 0
replicas and scaled to zero leaves the region healthy. Each test leaves the cluster
running the dev environment's apps as it found them.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request

import pytest

from components.contract import REGION_HEALTH_ROUTE
from components.global_failover.plan import HEALTH_CHECK_INTERVAL_SECONDS
from serve_apps.deployer import deploy
from serve_apps.history import History
from serve_apps.status import parse_status

APP = "sentiment"
#: How often the test looks: fine enough to time a 10 s budget.
POLL_S = 0.25
HEALTHY = (200, ())


def region_health(serve_url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{serve_url}{REGION_HEALTH_ROUTE}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def app_state(dashboard, name: str):
    (app,) = [a for a in parse_status(dashboard.get_applications()) if a.name == name]
    return app


def wait_for(what: str, condition, timeout_s: float):
    """Poll `condition` until it returns something truthy; return (that, the monotonic time it did)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result, time.monotonic()
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        time.sleep(POLL_S)


def first_answer(serve_url: str, code: int, timeout_s: float) -> float:
    """When the route first answered `code` (monotonic time)."""
    _, at = wait_for(f"region-health answering {code}", lambda: region_health(serve_url)[0] == code, timeout_s)
    return at


def answers_for(serve_url: str, seconds: float) -> set[tuple[int, tuple[str, ...]]]:
    """Every distinct answer of the route over `seconds`: (status, the applications it names)."""
    answers = set()
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        code, body = region_health(serve_url)
        assert body["healthy"] is (code == 200)
        answers.add((code, tuple(body["unable"])))
        time.sleep(POLL_S)
    return answers


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.fixture
def restore(dashboard, current_config, tmp_path):
    """Redeploys the config `local up` deployed, whatever the test left behind."""
    yield
    deploy(dashboard, current_config, history=History(tmp_path / "restore"), confirm_removal=lambda names: False)


def _app_config(config: dict, name: str) -> dict:
    (app,) = [a for a in config["applications"] if a["name"] == name]
    return app


def test_region_turns_unhealthy_within_a_check_interval_when_an_app_loses_every_replica_then_recovers(
    dashboard, current_config, serve_url, restore
):
    wait_for("region healthy before the test", lambda: region_health(serve_url)[0] == 200, 60)
    # Every replica stops and none can start again (no node has 64 CPUs), as when the app's
    # worker group is gone: Serve replaces one replica at a time, so one replica at most.
    stranded = copy.deepcopy(current_config)
    deployment = _app_config(stranded, APP)["deployments"][0]
    deployment["autoscaling_config"].update(min_replicas=1, max_replicas=1)
    deployment["ray_actor_options"]["num_cpus"] = 64
    # Rendered configs start a replacement before stopping a replica (max_surge_percent): one that can never
    # start would keep the old replica serving. A lost worker group stops replicas first; so does this.
    deployment["max_surge_percent"] = 0
    dashboard.put_applications(stranded)

    _, no_replica_at = wait_for(
        f"{APP} without a running replica",
        lambda: all(d.running == 0 for d in app_state(dashboard, APP).deployments),
        120,
    )
    first_503 = first_answer(serve_url, 503, HEALTH_CHECK_INTERVAL_SECONDS + 5)
    assert first_503 - no_replica_at <= HEALTH_CHECK_INTERVAL_SECONDS
    # One interval on, every answer is 503 (each replica of the route answers from its own status at
    # most REGION_HEALTH_REFRESH_SECONDS old), and stays so while nothing runs: Route 53 needs 3 in a row.
    sleep_until(no_replica_at + HEALTH_CHECK_INTERVAL_SECONDS)
    assert answers_for(serve_url, HEALTH_CHECK_INTERVAL_SECONDS) == {
        (503, (f"{APP}: Sentiment has no running replica (UPDATING)",))
    }

    dashboard.put_applications(current_config)
    _, running_at = wait_for(
        f"{APP} running again", lambda: all(d.running > 0 for d in app_state(dashboard, APP).deployments), 180
    )
    first_200 = first_answer(serve_url, 200, HEALTH_CHECK_INTERVAL_SECONDS + 5)
    assert first_200 - running_at <= HEALTH_CHECK_INTERVAL_SECONDS
    sleep_until(running_at + HEALTH_CHECK_INTERVAL_SECONDS)
    assert answers_for(serve_url, HEALTH_CHECK_INTERVAL_SECONDS) == {HEALTHY}


def test_app_allowed_zero_replicas_and_scaled_to_zero_leaves_the_region_healthy(
    dashboard, current_config, serve_url, restore
):
    wait_for("region healthy before the test", lambda: region_health(serve_url)[0] == 200, 60)
    idle = copy.deepcopy(current_config)
    deployment = _app_config(idle, APP)["deployments"][0]
    deployment["autoscaling_config"].update(min_replicas=0, max_replicas=1, downscale_delay_s=1)
    dashboard.put_applications(idle)

    def scaled_to_zero():
        app = app_state(dashboard, APP)
        assert region_health(serve_url)[0] == 200, "the region turned unhealthy while the app scaled down"
        return app.status == "RUNNING" and all(d.running == 0 and d.target == 0 for d in app.deployments)

    wait_for(f"{APP} scaled to zero", scaled_to_zero, 120)
    assert answers_for(serve_url, HEALTH_CHECK_INTERVAL_SECONDS) == {HEALTHY}
