"""The deployer's decisions against a scripted dashboard: waiting, failing fast, timing out, history."""

from __future__ import annotations

import pytest

from serve_apps.deployer import DeployError, deploy, removed_apps, rollback, wait_until_healthy
from serve_apps.history import History, target_key
from serve_apps.status import parse_status


def app_details(status: str, running: int = 1, target: int = 1, dep_status: str = "HEALTHY", message: str = ""):
    return {
        "status": status,
        "route_prefix": "/digits",
        "message": message,
        "deployments": {
            "Digits": {
                "status": dep_status,
                "target_num_replicas": target,
                "replicas": [{"state": "RUNNING"}] * running + [{"state": "STARTING"}] * (target - running),
            }
        },
    }


class ScriptedDashboard:
    """Answers GETs from a list (the last one repeats) and records PUTs."""

    address = "http://dash:8265"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.puts = []

    def get_applications(self):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def put_applications(self, config):
        self.puts.append(config)


CONFIG = {
    "applications": [
        {"name": "digits", "route_prefix": "/digits", "import_path": "serve_apps.digits:app",
         "args": {"modelUri": "file:///m/digits-v1.json"}, "deployments": [{"name": "Digits"}]}
    ]
}


def test_status_counts_running_replicas_against_the_target():
    (app,) = parse_status({"applications": {"digits": app_details("RUNNING", running=1, target=2, dep_status="UPSCALING")}})
    assert (app.deployments[0].running, app.deployments[0].target) == (1, 2)
    assert not app.healthy


def test_waits_for_running_and_healthy_on_consecutive_polls():
    dash = ScriptedDashboard(
        {"applications": {"digits": app_details("RUNNING")}},  # stale: the old config
        {"applications": {"digits": app_details("DEPLOYING", running=0)}},
        {"applications": {"digits": app_details("RUNNING")}},
    )
    polls = []
    apps = wait_until_healthy(dash, ["digits"], timeout_s=5, poll_s=0, on_progress=lambda a, e: polls.append(a[0].status))
    assert polls == ["RUNNING", "DEPLOYING", "RUNNING", "RUNNING"]
    assert apps[0].healthy


def test_deploy_failed_stops_waiting_with_the_apps_last_message(tmp_path):
    dash = ScriptedDashboard({"applications": {}}, {"applications": {"digits": app_details(
        "DEPLOY_FAILED", running=0, dep_status="DEPLOY_FAILED", message="Traceback...\nRayfleetError: modelUri file:///m: no such file")}})
    history = History(tmp_path)
    with pytest.raises(DeployError) as caught:
        deploy(dash, CONFIG, history=history, confirm_removal=lambda n: True, poll_s=0)
    assert str(caught.value) == (
        "deployment to http://dash:8265 failed: digits is DEPLOY_FAILED: RayfleetError: modelUri file:///m: no such "
        "file. Fix: correct the application (see 'rayfleet serve status' and the replica logs), then deploy again "
        "or 'rayfleet serve rollback'"
    )
    assert [r.outcome for r in history.records()] == ["failed"]


def test_invalid_config_is_refused_before_anything_is_sent(tmp_path):
    from components.errors import RayfleetError

    dash = ScriptedDashboard({"applications": {}})
    with pytest.raises(RayfleetError):
        deploy(dash, {"applications": [{"name": "x"}]}, history=History(tmp_path), confirm_removal=lambda n: True)
    assert dash.puts == []


def test_removed_apps_are_those_running_but_not_in_the_config():
    assert removed_apps({"applications": {"digits": {}, "old": {}}}, CONFIG) == ["old"]
    assert removed_apps({}, CONFIG) == []


def test_rollback_with_no_earlier_good_config_says_so(tmp_path):
    from components.errors import RayfleetError

    history = History(tmp_path)
    history.record(CONFIG, "running", "http://dash:8265")
    with pytest.raises(RayfleetError) as caught:
        rollback(ScriptedDashboard({}), history, confirm_removal=lambda n: True)
    assert str(caught.value) == (
        f"nothing to roll back to in {tmp_path}: 1 deployment(s) recorded, none good before the latest. "
        "Fix: deploy a known-good config with 'rayfleet serve deploy'"
    )


def test_rollback_target_skips_failed_deployments(tmp_path):
    history = History(tmp_path)
    first = history.record({"applications": [], "n": 1}, "running", "a")
    history.record({"applications": [], "n": 2}, "running", "a")
    history.record({"applications": [], "n": 3}, "failed", "a")
    assert history.rollback_target().config["n"] == 2
    history.record({"applications": [], "n": 4}, "failed", "a")
    assert history.rollback_target().seq == 2
    assert first.seq == 1


def test_target_keys_are_folder_names():
    assert target_key("http://127.0.0.1:8265") == "127.0.0.1-8265"
    assert target_key("prod-us-east-1") == "prod-us-east-1"
