"""The upgrade drill on the shared session cluster: a good version through the canary, then a bad one.

One run of `rayfleet drill upgrade --local --json` (both versions, under its paced load), then one test
per target: the good version loses no request; the bad one is rolled back on its own, failing at most
the canary share x the watch window x the rate.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from tests.fakes.cli import run_cli

RATE, WATCH, FIRST_STEP = 30, 20, 10


@pytest.fixture(scope="module")
def drill(local_cluster, rayfleet_home):
    run = run_cli("drill", "upgrade", "--local", "--rate", str(RATE), "--watch", str(WATCH),
                  "--steps", f"{FIRST_STEP},50,100", "--json", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=900)
    assert run.out, run.err
    report = json.loads(run.out)
    return {v["variant"]: v for v in report["variants"]} | {"steady": report["steady"], "code": run.code, "err": run.err}


def test_a_good_version_through_the_canary_loses_no_request(drill):
    good = drill["good"]
    assert (good["outcome"], good["failed"]) == ("promoted", 0), drill["err"]
    assert good["sent"] > RATE * WATCH * 3  # three steps watched under load
    assert [w["label"] for w in good["windows"] if w["label"].startswith("step ")] == ["step 10%", "step 50%", "step 100%"]


def test_a_version_that_fails_every_request_is_rolled_back_within_the_bound(drill):
    bad = drill["bad"]
    assert bad["outcome"] == "rolled back", drill["err"]
    assert bad["failureBound"] == FIRST_STEP / 100 * WATCH * RATE
    assert 0 < bad["failed"] <= bad["failureBound"]
    assert bad["secondsToRollback"] < WATCH


def post_digits(url: str) -> dict:
    body = json.dumps({"pixels": [0.0] * 64}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_after_the_drill_the_route_answers_as_before(drill, serve_url, current_config):
    digits = next(a for a in current_config["applications"] if a["name"] == "digits")
    assert not any(a["name"].startswith("_digits-") for a in current_config["applications"])
    assert "digit" in post_digits(serve_url + digits["route_prefix"])


def steady_requests(url: str, stop: threading.Event) -> None:
    """About 10 requests/s until `stop`: a canary judges only a version that answered enough requests."""
    while not stop.wait(0.1):
        try:
            post_digits(url)
        except OSError:
            pass  # the canary judges errors; this load only has to reach it


def test_serve_deploy_with_a_canary_promotes_the_changed_application(drill, local_cluster, rayfleet_home, tmp_path,
                                                                      serve_url, current_config):
    from tests.fakes.environments import stack_config, write_stack

    config = stack_config("dev")
    digits = next(a for a in config["rayfleet:serve"]["applications"] if a["name"] == "digits")
    digits["args"] = {**digits["args"], "driftWindow": 999}  # a new version: Serve's code version covers args
    address = local_cluster["state"].dashboard_url
    stop = threading.Event()
    route = next(a for a in current_config["applications"] if a["name"] == "digits")["route_prefix"]
    load = threading.Thread(target=steady_requests, args=(serve_url + route, stop), daemon=True)
    load.start()
    try:
        run = run_cli("serve", "deploy", "--file", str(write_stack(tmp_path, config)), "--address", address,
                      "--canary", "100", "--watch", "10", "--json", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=600)
    finally:
        stop.set()
        load.join()
    assert run.code == 0, run.err
    (report,) = json.loads(run.out)
    assert (report["application"], report["outcome"], [s["percent"] for s in report["steps"]]) == ("digits", "promoted", [100])
    assert "step 1/1 (100%): promote" in run.err
