"""The deployer against the shared cluster's real dashboard: token, progress to RUNNING, rollback, removal.

Each test leaves the cluster running the dev environment's apps as it found them.
"""

from __future__ import annotations

import copy

import pytest

from components.contract import REGION_HEALTH_APP
from serve_apps.dashboard import Dashboard, DashboardError
from serve_apps.deployer import DeployError, deploy, rollback
from serve_apps.history import History


def _deployed_args(dashboard, app):
    return dashboard.get_applications()["applications"][app]["deployed_app_config"]["args"]


def test_deploy_shows_progress_until_running_then_rollback_restores(dashboard, current_config, tmp_path):
    history = History(tmp_path / "history")
    seen = []
    deploy(dashboard, current_config, history=history, confirm_removal=lambda names: False)
    changed = copy.deepcopy(current_config)
    changed["applications"][0]["args"] = {"maxBatchSize": 16}
    result = deploy(
        dashboard, changed, history=history, confirm_removal=lambda names: False,
        on_progress=lambda apps, elapsed: seen.append({a.name: a.status for a in apps}),
    )
    assert changed["applications"][0]["name"] == "sentiment"
    assert _deployed_args(dashboard, "sentiment") == {"maxBatchSize": 16}
    assert all(a.healthy for a in result.apps)
    assert seen[-1] == {"digits": "RUNNING", "sentiment": "RUNNING", REGION_HEALTH_APP: "RUNNING"}
    assert [r.outcome for r in history.records()] == ["running", "running"]

    restored, again = rollback(dashboard, history, confirm_removal=lambda names: False)
    assert restored.seq == 1
    assert _deployed_args(dashboard, "sentiment") == {}
    assert again.record.note == "rollback to #1"


def test_timeout_is_recorded_failed_and_rollback_skips_it(dashboard, current_config, tmp_path):
    history = History(tmp_path / "history")
    deploy(dashboard, current_config, history=history, confirm_removal=lambda names: False)
    impossible = copy.deepcopy(current_config)
    impossible["applications"][0]["deployments"][0]["ray_actor_options"]["num_cpus"] = 64
    with pytest.raises(DeployError) as caught:
        deploy(dashboard, impossible, history=history, confirm_removal=lambda names: False, timeout_s=3, poll_s=0.5)
    message = str(caught.value)
    assert message.startswith(f"timed out after 3 s waiting for {dashboard.address}: sentiment is ")
    assert message.endswith(
        "Fix: check 'rayfleet serve status' and whether the cluster has room for the replicas, "
        "or wait longer with --timeout"
    )
    assert [r.outcome for r in history.records()] == ["running", "failed"]
    restored, result = rollback(dashboard, history, confirm_removal=lambda names: False)
    assert restored.seq == 1
    assert all(a.healthy for a in result.apps)


def test_removing_an_app_needs_confirmation(dashboard, current_config, tmp_path):
    history = History(tmp_path / "history")
    asked = []
    without_digits = copy.deepcopy(current_config)
    without_digits["applications"] = [a for a in without_digits["applications"] if a["name"] != "digits"]
    with pytest.raises(DeployError) as caught:
        deploy(dashboard, without_digits, history=history, confirm_removal=lambda names: asked.append(names) or False)
    assert asked == [["digits"]]
    assert str(caught.value) == (
        f"not deployed: the new config would remove digits from {dashboard.address}, and removal was not "
        "confirmed. Fix: add them to rayfleet:serve.applications, or rerun with --yes"
    )
    assert "digits" in dashboard.get_applications()["applications"]
    assert history.records() == []


def test_wrong_token_is_refused_with_403(local_cluster):
    with pytest.raises(DashboardError) as caught:
        Dashboard(local_cluster["state"].dashboard_url, "not-the-token").get_applications()
    assert str(caught.value) == (
        f"the Ray dashboard at {local_cluster['state'].dashboard_url} rejected the token (403 Forbidden). Fix: use the cluster's "
        "current token (--token-file/--token, or the dashboardTokenSecretArn secret)"
    )


def test_missing_token_is_refused_with_401(local_cluster):
    with pytest.raises(DashboardError) as caught:
        Dashboard(local_cluster["state"].dashboard_url, None).get_applications()
    assert str(caught.value) == (
        f"the Ray dashboard at {local_cluster['state'].dashboard_url} requires a token (401 Unauthorized). Fix: pass --token-file "
        "or --token (for the cloud, the stack's dashboardTokenSecretArn holds it)"
    )


def test_status_cli_shows_apps_of_the_local_cluster(local_cluster, rayfleet_home):
    import json

    from tests.fakes.cli import run_cli

    address = local_cluster["state"].dashboard_url
    run = run_cli("serve", "status", "--address", address, "--json", env={"RAYFLEET_HOME": str(rayfleet_home)})
    assert run.code == 0, run.err
    apps = {a["name"]: a for a in json.loads(run.out)[0]["applications"]}
    assert apps["digits"]["routePrefix"] == "/digits"
    assert apps["digits"]["status"] == "RUNNING"
    assert apps["digits"]["deployments"][0]["running"] >= 1


def test_cli_deploy_then_rollback_through_the_local_dashboard(local_cluster, rayfleet_home):
    from tests.fakes.cli import run_cli

    env = {"RAYFLEET_HOME": str(rayfleet_home)}
    history = History.for_target(local_cluster["state"].dashboard_url)
    before = len(history.records())
    address = local_cluster["state"].dashboard_url
    run = run_cli("serve", "deploy", "--env", "dev", "--address", address, env=env, timeout=300)
    assert run.code == 0, run.err
    assert f"✓ {address}: every application RUNNING in " in run.err
    rows = [[cell.strip() for cell in line.split("│")][:4] for line in run.out.splitlines() if "│" in line]
    assert ["sentiment", "/sentiment", "RUNNING", "Sentiment"] in rows
    assert [REGION_HEALTH_APP, "/-/region-health", "RUNNING", "RegionHealth"] in rows
    back = run_cli("serve", "rollback", "--address", address, env=env, timeout=300)
    assert back.code == 0, back.err
    assert f"restored deployment #{before} of {history.folder}" in back.err
    assert [r.outcome for r in history.records()[before:]] == ["running", "running"]
