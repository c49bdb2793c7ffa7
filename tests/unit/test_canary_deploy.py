"""The canary's phases against a simulated Serve: which configs it PUTs, and how it promotes or rolls back."""

from __future__ import annotations

import copy

import pytest

from components.errors import RayfleetError
from serve_apps.canary import Canary, changed_application, hidden, router_entry, running_entry, surging
from serve_apps.canary_plan import CanaryPolicy
from serve_apps.history import History
from serve_apps.prometheus import Sample

OLD = {"name": "digits", "route_prefix": "/digits", "import_path": "serve_apps.digits:app",
       "args": {"modelUri": "file:///m/digits-v1.json"}, "deployments": [{"name": "Digits", "num_replicas": 2}]}
NEW = {**copy.deepcopy(OLD), "args": {"modelUri": "file:///m/digits-v2.json"}}
HEALTH = {"name": "_region-health", "route_prefix": "/-/region-health", "import_path": "serve_apps.region_health:app",
          "runtime_env": {"working_dir": "s3://b/serve/code-1.zip"}}


class SimulatedServe:
    """A dashboard whose applications become what the last PUT asked for, all RUNNING and HEALTHY."""

    address = "http://dash:8265"

    def __init__(self, *entries):
        self.puts: list[dict] = []
        self.apps = {e["name"]: copy.deepcopy(e) for e in entries}

    def put_applications(self, config):
        self.puts.append(copy.deepcopy(config))
        self.apps = {e["name"]: copy.deepcopy(e) for e in config["applications"]}

    def get_applications(self):
        return {"applications": {name: {
            "status": "RUNNING", "route_prefix": e.get("route_prefix"), "deployed_app_config": e,
            "deployment_topology": {"ingress_deployment": "Digits" if name != "_region-health" else "RegionHealth"},
            "deployments": {"Digits": {"status": "HEALTHY", "target_num_replicas": 1, "replicas": [{"state": "RUNNING"}]}},
        } for name, e in self.apps.items()}}


class Counts:
    """What the canary router counted of each version: every read adds `per_read` (ok, errors) to both."""

    def __init__(self, stable=(30, 0), canary=(5, 0), router=True, canary_ms="20.0"):
        self.per_read = {"current": stable, "new": canary}
        self.at_ms = {"current": "20.0", "new": canary_ms}
        self.total = {version: [0.0, 0.0] for version in self.per_read}
        self.router = router

    def __call__(self) -> list[Sample]:
        samples = [Sample("ray_node_cpu_count", {}, 2.0)]
        if self.router:
            samples.append(Sample("ray_canary_router_percent", {"application": "digits", "deployment": "Digits"}, 10.0))
        for version, (ok, errors) in self.per_read.items():
            self.total[version][0] += ok
            self.total[version][1] += errors
            labels = {"application": "digits", "deployment": "Digits", "version": version}
            ok_total, errors_total = self.total[version]
            if not self.router:
                continue
            samples += [Sample("ray_canary_router_requests_total", {**labels, "outcome": "ok"}, ok_total),
                        Sample("ray_canary_router_requests_total", {**labels, "outcome": "error"}, errors_total),
                        Sample("ray_canary_router_latency_ms_bucket", {**labels, "le": self.at_ms[version]},
                               ok_total + errors_total),
                        Sample("ray_canary_router_latency_ms_bucket", {**labels, "le": "+Inf"}, ok_total + errors_total)]
        return samples


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(serve, counts, tmp_path, steps="10,50,100", **options):
    clock = FakeClock()
    events = []
    canary = Canary(serve, {"applications": [NEW, HEALTH]}, "digits", CanaryPolicy.from_options(10, steps, 10),
                    History(tmp_path), counts, on_event=events.append, poll_s=2.0, settle_poll_s=0, clock=clock,
                    sleep=clock.sleep, **options)
    return canary.run(), events


@pytest.fixture(autouse=True)
def no_schema_check(monkeypatch):
    # Ray's ServeDeploySchema is checked by the live tests; here the configs are the simulated Serve's.
    monkeypatch.setattr("serve_apps.canary.validate_serve_config", lambda config: None)


def names(config):
    return [a["name"] for a in config["applications"]]


def test_a_good_version_is_promoted_step_by_step_and_then_serves_the_route_itself(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    report, events = run(serve, Counts(), tmp_path)
    assert report.outcome == "promoted"
    assert [s.percent for s in report.steps] == [10, 50, 100]
    routers = [p for p in serve.puts if any(a.get("import_path") == "serve_apps.canary_router:app" for a in p["applications"])]
    assert [next(a for a in p["applications"] if a["name"] == "digits")["deployments"][0]["user_config"]["percent"]
            for p in routers] == [0, 10, 50, 100]
    assert serve.puts[-1]["applications"] == [HEALTH, surging(NEW, "Digits")]
    assert "step 1/3 (10%): promote: errors 0.0% vs 0.0%; p99 20 ms vs 20 ms over 25 requests" in events
    assert History(tmp_path).records()[-1].outcome == "running"


def test_a_version_that_fails_every_request_is_rolled_back_and_the_current_one_serves_again(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    report, events = run(serve, Counts(canary=(0, 3)), tmp_path)
    assert report.outcome == "rolled back"
    assert [s.verdict.action for s in report.steps] == ["rollback"]
    assert report.steps[0].seconds < 10  # decided before the watch window ended
    after_decision = serve.puts[-3]
    router = next(a for a in after_decision["applications"] if a["name"] == "digits")
    assert router["deployments"][0]["user_config"] == {"percent": 0}
    assert serve.puts[-1]["applications"] == [HEALTH, surging(OLD, "Digits")]
    assert report.seconds_to_rollback is not None
    assert History(tmp_path).records()[-1].outcome == "failed"


def test_the_new_version_starts_beside_the_current_one_before_any_traffic_moves(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    run(serve, Counts(), tmp_path)
    first = serve.puts[0]
    assert names(first) == ["_region-health", "digits", "_digits-stable", "_digits-canary"]
    assert first["applications"][1] == OLD
    assert first["applications"][2]["route_prefix"] is None and first["applications"][3]["args"] == NEW["args"]


def test_the_router_takes_the_ingress_name_and_rayfleets_code():
    entry = router_entry(OLD, "Digits", 10, HEALTH["runtime_env"])
    assert entry == {
        "name": "digits", "route_prefix": "/digits", "import_path": "serve_apps.canary_router:app",
        "args": {"stable": "_digits-stable", "canary": "_digits-canary", "deployment": "Digits"},
        "deployments": [{"name": "Digits", "user_config": {"percent": 10}, "max_surge_percent": 1, "num_replicas": 2}],
        "runtime_env": {"working_dir": "s3://b/serve/code-1.zip"},
    }


def test_the_router_scales_as_the_ingress_it_replaces():
    autoscaling = {"min_replicas": 2, "max_replicas": 8, "target_ongoing_requests": 4}
    scaled = {**OLD, "deployments": [{"name": "Digits", "num_replicas": "auto", "autoscaling_config": autoscaling}]}
    deployment = router_entry(scaled, "Digits", 0, None)["deployments"][0]
    assert deployment["autoscaling_config"] == autoscaling
    assert "num_replicas" not in deployment


def test_a_copy_has_no_route():
    assert hidden(OLD, "_digits-stable")["route_prefix"] is None


def test_an_application_that_is_not_running_is_refused_with_the_fix():
    serve = SimulatedServe(HEALTH)
    with pytest.raises(RayfleetError) as err:
        running_entry(serve.get_applications(), "digits")
    assert str(err.value) == (
        "--canary: application 'digits' is not deployed on this cluster (running: none); a canary needs the current "
        "version RUNNING. Fix: deploy it first with 'rayfleet serve deploy' (without --canary), or name a running "
        "application with --app"
    )


def test_the_changed_application_is_the_one_whose_config_differs():
    serve = SimulatedServe(OLD, HEALTH)
    assert changed_application(serve.get_applications(), {"applications": [NEW, HEALTH]}) == "digits"
    with pytest.raises(RayfleetError, match=r"^--canary ships one application at a time; 0 differ"):
        changed_application(serve.get_applications(), {"applications": [OLD, HEALTH]})


def test_replacements_start_before_the_replicas_they_replace_stop():
    entry = surging({"name": "digits", "route_prefix": "/digits", "import_path": "serve_apps.digits:app"}, "Digits")
    assert entry["deployments"] == [{"name": "Digits", "max_surge_percent": 1}]


def test_on_a_full_machine_the_copies_reserve_no_cpu(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    run(serve, Counts(), tmp_path, reserve=False)
    copies = [a for a in serve.puts[0]["applications"] if a["name"].startswith("_digits")]
    assert [d["ray_actor_options"] for a in copies for d in a["deployments"]] == [{"num_cpus": 0, "num_gpus": 0}] * 2
    assert serve.puts[0]["applications"][1] == OLD  # the running version keeps what it reserved


class StuckServe(SimulatedServe):
    """The copies never become healthy: the cluster has no room for them."""

    def get_applications(self):
        details = super().get_applications()
        for name, app in details["applications"].items():
            if name.startswith("_digits"):
                app["status"] = "DEPLOYING"
        return details


def test_a_failed_step_puts_the_current_version_back_on_its_route(tmp_path):
    serve = StuckServe(OLD, HEALTH)
    clock = FakeClock()
    canary = Canary(serve, {"applications": [NEW, HEALTH]}, "digits", CanaryPolicy.from_options(10), History(tmp_path),
                    Counts(), settle_poll_s=0, timeout_s=0, clock=clock, sleep=clock.sleep)
    with pytest.raises(RayfleetError, match="timed out"):
        canary.run()
    assert serve.puts[-1]["applications"] == [HEALTH, surging(OLD, "Digits")]


def test_the_current_version_is_back_at_its_route_before_the_copies_are_deleted(tmp_path):
    serve = StuckServe(OLD, HEALTH)
    clock = FakeClock()
    events = []
    canary = Canary(serve, {"applications": [NEW, HEALTH]}, "digits", CanaryPolicy.from_options(10), History(tmp_path),
                    Counts(), on_event=events.append, settle_poll_s=0, timeout_s=0.2, clock=clock, sleep=clock.sleep)
    with pytest.raises(RayfleetError, match="timed out"):
        canary.run()
    assert names(serve.puts[-2]) == ["_region-health", "digits", "_digits-stable", "_digits-canary"]
    assert serve.puts[-2]["applications"][1] == surging(OLD, "Digits")
    assert names(serve.puts[-1]) == ["_region-health", "digits"]
    assert events[-1] == "restored: digits serves its current version; _digits-stable and _digits-canary are gone"
    assert History(tmp_path).records()[-1].outcome == "failed"


class InterruptedPromotion(SimulatedServe):
    """Ctrl-C while the application becomes the new version."""

    def put_applications(self, config):
        digits = next(a for a in config["applications"] if a["name"] == "digits")
        if digits.get("args") == NEW["args"] and not getattr(self, "interrupted", False):
            self.interrupted = True
            raise KeyboardInterrupt
        super().put_applications(config)


def test_an_interrupt_during_promotion_still_restores_and_records_the_history(tmp_path):
    serve = InterruptedPromotion(OLD, HEALTH)
    clock = FakeClock()
    events = []
    canary = Canary(serve, {"applications": [NEW, HEALTH]}, "digits", CanaryPolicy.from_options(10), History(tmp_path),
                    Counts(), on_event=events.append, settle_poll_s=0, clock=clock, sleep=clock.sleep)
    with pytest.raises(KeyboardInterrupt):
        canary.run()
    assert serve.puts[-1]["applications"] == [HEALTH, surging(OLD, "Digits")]
    assert "failed (KeyboardInterrupt); putting the current version of digits back" in events
    assert (History(tmp_path).records()[-1].outcome, History(tmp_path).records()[-1].note) == (
        "failed", "canary of digits stopped: KeyboardInterrupt")


def test_answers_the_router_counted_as_errors_roll_the_new_version_back(tmp_path):
    # A Response(status_code=500) or a dead replica: Serve's replica counters see no error, the router does.
    serve = SimulatedServe(OLD, HEALTH)
    report, _ = run(serve, Counts(canary=(1, 4)), tmp_path)
    assert report.outcome == "rolled back"
    assert report.steps[0].canary.errors >= 5


def test_a_slow_new_version_is_rolled_back_once_two_stretches_in_a_row_show_it(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    report, events = run(serve, Counts(stable=(60, 0), canary=(60, 0), canary_ms="100.0"), tmp_path)
    assert (report.outcome, [s.verdict.action for s in report.steps]) == ("rolled back", ["rollback"])
    step = report.steps[0].to_json()
    assert [(p["current"]["requests"], p["new"]["requests"]) for p in step["stretches"]] == [(120, 120), (120, 120)]
    assert report.steps[0].seconds < 10  # the second stretch decided it, before the window ended
    assert "in two stretches in a row" in step["reason"]


def test_a_router_whose_metrics_never_arrive_is_an_error_not_a_verdict(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    with pytest.raises(RayfleetError) as err:
        run(serve, Counts(router=False), tmp_path)
    assert str(err.value).startswith("--canary: no metrics of digits's canary router after 10 s (no request reached it, "
                                     "or Ray does not export its metrics), so neither version can be judged. Fix: run "
                                     "the canary while digits takes traffic")
    assert serve.puts[-1]["applications"][-1]["import_path"] == "serve_apps.digits:app"


def refusal(serve, tmp_path):
    with pytest.raises(RayfleetError) as err:
        run(serve, Counts(), tmp_path)
    assert serve.puts == []  # refused before anything is deployed
    return str(err.value)


class DetailedServe(SimulatedServe):
    """The running application's details carry `changes` (Serve's docs_path, route_prefix, deployments)."""

    def __init__(self, *entries, **changes):
        super().__init__(*entries)
        self.changes = changes

    def get_applications(self):
        details = super().get_applications()
        details["applications"]["digits"].update(self.changes)
        return details


def test_a_fastapi_ingress_is_refused_before_anything_is_deployed(tmp_path):
    message = refusal(DetailedServe(OLD, HEALTH, docs_path="/docs"), tmp_path)
    assert message == ("--canary cannot ship 'digits': its ingress is a FastAPI app (docs at /docs), which takes ASGI "
                       "messages, and the router forwards a request. Fix: deploy the new version without --canary")


def test_an_application_of_several_deployments_is_refused(tmp_path):
    deployments = {"Digits": {"status": "HEALTHY"}, "Preprocess": {"status": "HEALTHY"}}
    message = refusal(DetailedServe(OLD, HEALTH, deployments=deployments), tmp_path)
    assert message.startswith("--canary cannot ship 'digits': it has 2 deployments (Digits, Preprocess), and Serve "
                              "deletes all but the ingress")
    assert message.endswith("Fix: deploy the new version without --canary")


def test_an_application_with_no_route_is_refused(tmp_path):
    message = refusal(DetailedServe(OLD, HEALTH, route_prefix=None), tmp_path)
    assert message.startswith("--canary cannot ship 'digits': it has no route")


def test_an_interrupted_canary_is_refused_with_how_to_recover(tmp_path):
    routed = router_entry(OLD, "Digits", 10, None)
    message = refusal(SimulatedServe(routed, hidden(OLD, "_digits-stable"), hidden(NEW, "_digits-canary"), HEALTH), tmp_path)
    assert message == (
        "--canary cannot ship 'digits': its ingress is already the canary router (an earlier canary was interrupted). "
        "Fix: put one version back with 'rayfleet serve rollback' (the last running config) or 'rayfleet serve deploy "
        "--yes' without --canary (the new one); either also removes _digits-stable and _digits-canary"
    )


def test_a_step_the_new_version_barely_saw_is_watched_longer_then_rolled_back(tmp_path):
    serve = SimulatedServe(OLD, HEALTH)
    report, events = run(serve, Counts(canary=(0, 0)), tmp_path)
    assert report.outcome == "rolled back"
    assert report.steps[0].seconds == 30  # three windows of 10 s
    assert report.steps[0].verdict.reason.startswith("only 0 requests reached the new version (fewer than 20) in 3 windows")
    assert ("step 1/3: only 0 requests reached the new version (fewer than 20): watching longer; errors 0.0% vs 0.0% "
            "(up to 30 s in all)") in events
    assert History(tmp_path).records()[-1].outcome == "failed"


def test_a_named_application_is_refused_when_the_config_also_changes_another(tmp_path):
    other = {"name": "fraud", "route_prefix": "/fraud", "import_path": "serve_apps.fraud:app", "args": {"v": 1}}
    serve = SimulatedServe(OLD, other, HEALTH)
    clock = FakeClock()
    config = {"applications": [NEW, {**other, "args": {"v": 2}}, HEALTH]}
    canary = Canary(serve, config, "digits", CanaryPolicy.from_options(10), History(tmp_path), Counts(),
                    settle_poll_s=0, clock=clock, sleep=clock.sleep)
    with pytest.raises(RayfleetError) as err:
        canary.run()
    assert str(err.value) == (
        "--app digits: the config also changes fraud, which every PUT of the canary would deploy at once, judged by "
        "nothing. Fix: deploy those changes first (without --canary), or ship them one at a time with --canary --app "
        "NAME from a config that changes only that one"
    )
    assert serve.puts == []


def test_unreadable_metrics_stop_the_canary_before_anything_is_deployed(tmp_path):
    def unreachable():
        raise RayfleetError("--canary cannot read Serve's metrics: 10.0.1.5:8080 refused")

    serve = SimulatedServe(OLD, HEALTH)
    with pytest.raises(RayfleetError, match="^--canary cannot read Serve's metrics"):
        run(serve, unreachable, tmp_path)
    assert serve.puts == []
    with pytest.raises(RayfleetError) as err:
        run(serve, lambda: [], tmp_path)
    assert str(err.value) == ("--canary read no metrics from this cluster, so no step could be judged. Fix: check that "
                              "Ray exports metrics (each node's port 8080, or 'rayfleet local up' for the local "
                              "cluster), or deploy without --canary")
    assert serve.puts == []


def test_the_router_counts_alone_show_that_it_reports_once_its_share_gauge_aged_out(tmp_path):
    # Ray drops a gauge not set again within two report intervals; the request counter stays.
    class CountsOnly(Counts):
        def __call__(self):
            return [s for s in super().__call__() if s.name != "ray_canary_router_percent"]

    report, _ = run(SimulatedServe(OLD, HEALTH), CountsOnly(), tmp_path)
    assert report.outcome == "promoted"
