"""Mid-upgrade, a region holds two cluster slots behind one load balancer, weighed by `rayfleet:upgrade.weight`.

Walks the offline plans: every launch template of each slot carries that slot's Ray
version, the listener forwards to both slots' target groups by weight (AWS: 0-999 each,
at most 5 groups), and the blue slot keeps every logical name it had, since a renamed
resource is a replaced one (a running cluster torn down).
"""

from __future__ import annotations

import re

import pulumi
import pytest

from stacks.loader import load_file
from stacks.outputs_model import StackOutputs
from stacks.plan import run_plan
from stacks.slots import forward_weights, new_slot_config
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack
from tests.fakes.node_boots import template_script

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LISTENER = "aws:lb/listener:Listener"
ATTACHMENT = "aws:autoscaling/attachment:Attachment"
RAY_PIN = re.compile(r"ray\[serve\]==(\d+\.\d+\.\d+)")


def _upgrading(env: str, weight: int, **cluster) -> dict:
    config = stack_config(env)
    config["rayfleet:upgrade"] = {"cluster": cluster or {"rayVersion": "2.60.1"}, "weight": weight}
    return config


@pytest.fixture(scope="module")
def mid_upgrade(tmp_path_factory):
    """Each environment mid-upgrade to Ray 2.60.1, 10 % of its traffic on green."""
    folder = tmp_path_factory.mktemp("mid-upgrade")
    return {env: run_plan(path=write_stack(folder, _upgrading(env, 10), env=env)) for env in ENVIRONMENTS}


def _comparable(inputs: dict) -> dict:
    """Inputs with file assets (objects without equality) as the files they name."""
    return {key: ("file", value.path) if isinstance(value, pulumi.FileAsset) else value for key, value in inputs.items()}


def _forwarded(plan, listener) -> dict[str, int]:
    """The listener's forward weights by the cluster whose ASGs are attached to each target group."""
    clusters = {}
    for attachment in plan.of_type(ATTACHMENT):
        cluster = re.sub(r"-(head|[a-z0-9]+-(spot|on-demand))$", "", attachment.inputs["autoscalingGroupName"])
        clusters[attachment.inputs["lbTargetGroupArn"]] = cluster
    (action,) = listener.inputs["defaultActions"]
    return {clusters[g["arn"]]: int(g["weight"]) for g in action["forward"]["targetGroups"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_slots_launch_templates_install_that_slots_ray_version(mid_upgrade, env):
    versions: dict[str, set[str]] = {}
    for template in mid_upgrade[env].of_type(LAUNCH_TEMPLATE):
        slot = "green" if "-green-" in template.name else "blue"
        versions.setdefault(slot, set()).update(RAY_PIN.findall(template_script(template)))
    assert versions == {"blue": {"2.60.0"}, "green": {"2.60.1"}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_listener_that_forwards_splits_traffic_between_the_slots_by_the_upgrade_weight(mid_upgrade, env):
    plan = mid_upgrade[env]
    forwarding = [l for l in plan.of_type(LISTENER) if l.inputs["defaultActions"][0]["type"] == "forward"]
    assert forwarding
    for listener in forwarding:
        assert "targetGroupArn" not in listener.inputs["defaultActions"][0]
        assert {cluster.rsplit(f"rayfleet-{env}-", 1)[1]: w for cluster, w in _forwarded(plan, listener).items()} == {
            listener.region: 90,
            f"{listener.region}-green": 10,
        }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_blue_slot_keeps_every_resource_name_it_had_before_the_upgrade(plans, mid_upgrade, env):
    before = {(r.type, r.name) for r in plans(env).resources}
    during = {(r.type, r.name) for r in mid_upgrade[env].resources}
    assert before - during == set()
    added = during - before
    assert added and all("green" in name for _, name in added)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_blue_slots_resources_keep_their_inputs_apart_from_the_listener(plans, mid_upgrade, env):
    # A changed input is an update, or for some inputs a replacement: only the forward action may change.
    during = {(r.type, r.name): _comparable(r.inputs) for r in mid_upgrade[env].resources}
    changed = [(r.type, r.name) for r in plans(env).resources if during[(r.type, r.name)] != _comparable(r.inputs)]
    assert {t for t, _ in changed} <= {LISTENER, "pulumi:pulumi:Stack", "aws:cloudwatch/dashboard:Dashboard"}


def test_an_instance_type_change_gives_the_new_slot_its_own_launch_templates(tmp_path):
    config = _upgrading("dev", 0, workerGroups={"cpu": {"instanceTypes": ["m7i.xlarge"]}})
    plan = run_plan(path=write_stack(tmp_path, config, env="dev"))
    templates = {t.name: t.inputs["instanceType"] for t in plan.of_type(LAUNCH_TEMPLATE)}
    assert templates["cluster-us-west-2-cpu-template"] == "m6i.xlarge"
    assert templates["cluster-us-west-2-green-cpu-template"] == "m7i.xlarge"


def test_at_weight_zero_the_new_slot_runs_but_takes_no_traffic(tmp_path):
    cfg = load_file(write_stack(tmp_path, _upgrading("dev", 0), env="dev"))
    assert forward_weights(cfg) == {"blue": 100, "green": 0}
    assert new_slot_config(cfg).cluster.ray_version == "2.60.1"


def test_an_upgrade_that_changes_nothing_is_refused_naming_the_rule(tmp_path):
    from components.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_file(write_stack(tmp_path, _upgrading("dev", 0, rayVersion="2.60.0"), env="dev"))
    assert "changes nothing: an upgrade starts a second cluster only for a change that cannot roll in place" in str(
        caught.value
    )


def test_an_upgrade_of_an_unknown_worker_group_says_which_groups_exist(tmp_path):
    from components.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_file(write_stack(tmp_path, _upgrading("dev", 0, workerGroups={"cpus": {"instanceTypes": ["m7i.xlarge"]}}), env="dev"))
    assert "is not a worker group of rayfleet:cluster (cpu)" in str(caught.value)
    assert "did you mean 'cpu'?" in str(caught.value)


def test_mid_upgrade_the_outputs_name_the_new_slots_cluster_and_target_group_in_every_region(mid_upgrade):
    outputs = StackOutputs.model_validate(mid_upgrade["prod"].outputs)
    assert (outputs.live_slot, outputs.upgrade.slot, outputs.upgrade.ray_version, outputs.upgrade.weight) == (
        "blue", "green", "2.60.1", 10)
    for region, found in outputs.upgrade.regions.items():
        assert found.cluster_name == f"rayfleet-prod-{region}-green"
        assert found.missing("target_group_arn", "dashboard_url", "dashboard_token_secret_arn", "worker_asgs") == []
        assert found.target_group_arn != outputs.regions[region].target_group_arn


def test_a_green_stack_says_so_in_its_outputs(tmp_path):
    config = stack_config("dev")
    config["rayfleet:slot"] = "green"
    outputs = StackOutputs.model_validate(run_plan(path=write_stack(tmp_path, config, env="dev")).outputs)
    assert (outputs.slot, outputs.regions["us-west-2"].cluster_name) == ("green", "rayfleet-dev-us-west-2-green")
    assert outputs.regions["us-west-2"].cluster == "rayfleet-dev-us-west-2"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_mid_upgrade_the_new_slot_has_its_own_alarms_on_its_target_group_and_cluster(plans, mid_upgrade, env):
    alarm = "aws:cloudwatch/metricAlarm:MetricAlarm"
    before = {r.inputs["name"] for r in plans(env).of_type(alarm)}
    during = {r.inputs["name"]: r for r in mid_upgrade[env].of_type(alarm)}
    assert before <= set(during)
    for region in mid_upgrade[env].regions:
        if region == "global" or not any(r.region == region for r in mid_upgrade[env].of_type(LAUNCH_TEMPLATE)):
            continue
        green = during[f"rayfleet-{env}-{region}-green-boot-failed"]
        assert green.inputs["dimensions"]["Cluster"] == f"rayfleet-{env}-{region}-green"
        healthy = during[f"rayfleet-{env}-{region}-green-healthy-targets"]
        live = during[f"rayfleet-{env}-{region}-healthy-targets"]
        assert healthy.inputs["dimensions"]["TargetGroup"] != live.inputs["dimensions"]["TargetGroup"]
        assert healthy.inputs["dimensions"]["TargetGroup"].startswith("targetgroup/")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_mid_upgrade_the_new_slot_has_its_own_5xx_and_p99_alarms_on_its_target_group(mid_upgrade, env):
    during = {r.inputs["name"]: r for r in mid_upgrade[env].of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for region in mid_upgrade[env].regions:
        if region == "global" or not any(r.region == region for r in mid_upgrade[env].of_type(LAUNCH_TEMPLATE)):
            continue
        green_tg = during[f"rayfleet-{env}-{region}-green-healthy-targets"].inputs["dimensions"]["TargetGroup"]
        p99 = during[f"rayfleet-{env}-{region}-green-p99-latency"].inputs
        assert set(p99["dimensions"]) == {"TargetGroup", "LoadBalancer"} and p99["dimensions"]["TargetGroup"] == green_tg
        ratio = during[f"rayfleet-{env}-{region}-green-5xx-ratio"].inputs
        read = [q["metric"] for q in ratio["metricQueries"] if q.get("metric")]
        assert {m["metricName"] for m in read} == {"HTTPCode_Target_5XX_Count", "RequestCount"}
        assert all(m["dimensions"] == {"TargetGroup": green_tg, "LoadBalancer": p99["dimensions"]["LoadBalancer"]}
                   for m in read)
