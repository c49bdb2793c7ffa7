"""How a change reaches running nodes, under mocks whose launch templates version like AWS's.

AWS starts an instance refresh only when an ASG's launch template or mixed
instances policy changes: never for `$Latest`, whose string stays the same while
the template gets new versions. The mocks number a template's latest version by
its inputs (a new number when they change), so comparing two plans shows which
ASGs a change would refresh.
"""

from __future__ import annotations

import shutil

import pytest

from components.artifacts.plan import node_agent_files
from components.contract import DRAIN_HOOK, HEAD_NODE_TYPE, MARKET_KEY, NODE_TYPE_KEY
from components.ray_cluster.plan import DRAIN_HEARTBEAT_SECONDS, HEAD_REFRESH, worker_refresh
from stacks import program
from stacks.loader import load_environment
from stacks.mocks import template_version
from stacks.node_groups import cluster_nodes
from stacks.plan import run_plan
from tests.fakes.environments import ENVIRONMENTS, ROOT, stack_config, write_stack

ASG = "aws:autoscaling/group:Group"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AGENT = "aws:s3/bucketObjectv2:BucketObjectv2"


def _role(asg) -> tuple[str, str]:
    tags = {t["key"]: t["value"] for t in asg.inputs["tags"]}
    return tags[NODE_TYPE_KEY], tags[MARKET_KEY]


def _specification(asg) -> tuple[str, str]:
    """The (template id, version) an ASG launches from and refreshes to."""
    if "launchTemplate" in asg.inputs:
        spec = asg.inputs["launchTemplate"]
        return spec["id"], spec["version"]
    spec = asg.inputs["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
    return spec["launchTemplateId"], spec["version"]


def _versions(plan, region: str) -> dict[tuple[str, str], str]:
    return {_role(asg): _specification(asg)[1] for asg in plan.of_type(ASG, region)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_asg_pins_its_templates_latest_version_by_number(plans, env):
    plan = plans(env)
    templates = {t.id: t for t in plan.of_type(TEMPLATE)}
    for asg in plan.of_type(ASG):
        template_id, version = _specification(asg)
        assert version not in ("$Latest", "$Default"), asg.name
        assert version == str(template_version(templates[template_id].inputs)), asg.name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_worker_asgs_replace_one_drained_node_at_a_time_within_desired_capacity(plans, env):
    for asg in plans(env).of_type(ASG):
        node_type, _ = _role(asg)
        refresh = asg.inputs["instanceRefresh"]
        preferences = refresh["preferences"]
        assert refresh["strategy"] == "Rolling"
        assert preferences["skipMatching"] is True
        if node_type == HEAD_NODE_TYPE:
            # Terminate first: two heads must never share the GCS store and the head address.
            assert (preferences["minHealthyPercentage"], preferences["maxHealthyPercentage"]) == (0, 100)
            continue
        # One at a time, never above the desired capacity Ray's autoscaler owns.
        assert (preferences["minHealthyPercentage"], preferences["maxHealthyPercentage"]) == (100, 100)
        assert int(preferences["instanceWarmup"]) >= 600
        assert [hook["name"] for hook in asg.inputs["initialLifecycleHooks"]] == [DRAIN_HOOK]


def test_an_unchanged_config_keeps_every_version(plans, tmp_path):
    again = run_plan(path=write_stack(tmp_path, stack_config("dev"), env="dev"))
    assert _versions(again, "us-west-2") == _versions(plans("dev"), "us-west-2")


def test_changing_a_worker_groups_instance_types_changes_the_version_its_asgs_refresh_to(plans, tmp_path):
    config = stack_config("prod")
    group = config["rayfleet:cluster"]["workerGroups"][0]
    assert group["instanceTypes"][0] != "m7i.2xlarge"
    group["instanceTypes"] = ["m7i.2xlarge", *group["instanceTypes"]]
    changed_plan = run_plan(path=write_stack(tmp_path, config, env="prod"))
    before, after = _versions(plans("prod"), "us-east-1"), _versions(changed_plan, "us-east-1")
    changed = {role[0] for role in before if before[role] != after[role]}
    # The head's autoscaler config names the group's resources, which these types leave as they were.
    assert changed == {group["name"]}


def test_a_change_only_the_heads_user_data_sees_refreshes_only_the_head(plans, tmp_path):
    # The autoscaler's idle timeout is in the head's autoscaler config alone.
    config = stack_config("dev")
    config["rayfleet:cluster"]["idleTimeoutMinutes"] = 17
    changed_plan = run_plan(path=write_stack(tmp_path, config, env="dev"))
    before, after = _versions(plans("dev"), "us-west-2"), _versions(changed_plan, "us-west-2")
    assert {role for role in before if before[role] != after[role]} == {(HEAD_NODE_TYPE, "on-demand")}


def test_changing_the_node_agent_code_changes_the_version_every_asg_refreshes_to(plans, tmp_path, monkeypatch):
    source = tmp_path / "source"
    for path in node_agent_files(ROOT):
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, source / path)
    with (source / "components/node_agents/spot_watcher.py").open("a") as agent:
        agent.write("\n# a change to the agent code\n")
    monkeypatch.setattr(program, "SOURCE_ROOT", source)
    changed = run_plan("dev")
    (old_agent,), (new_agent,) = plans("dev").of_type(AGENT), changed.of_type(AGENT)
    assert new_agent.inputs["key"] != old_agent.inputs["key"]
    before, after = _versions(plans("dev"), "us-west-2"), _versions(changed, "us-west-2")
    assert set(before) == set(after) and all(before[role] != after[role] for role in before)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_asg_waits_for_the_node_agent_and_its_roles_policies(plans, env):
    plan = plans(env)
    for region in load_environment(env).region_names:
        (agent,) = plan.of_type(AGENT, region)
        for asg in plan.of_type(ASG, region):
            role = "head" if _role(asg)[0] == HEAD_NODE_TYPE else "worker"
            policy = plan.named(f"cluster-{region}-{role}-policy")
            assert {agent.urn, policy.urn} <= set(asg.dependencies), asg.name


def test_readme_states_the_rollout_the_code_does():
    readme = " ".join((ROOT / "README.md").read_text().split())
    cpu, gpu = cluster_nodes(load_environment("prod"), "us-east-1").workers
    refresh = worker_refresh(cpu)
    assert (refresh.min_healthy_percentage, refresh.max_healthy_percentage) == (100, 100)
    assert "replaces one node at a time and never runs above its desired capacity" in readme
    assert f"({refresh.instance_warmup_seconds} s, {worker_refresh(gpu).instance_warmup_seconds} s for GPU groups" in readme
    assert f"before it goes (up to {DRAIN_HEARTBEAT_SECONDS} s)" in readme
    assert (HEAD_REFRESH.min_healthy_percentage, HEAD_REFRESH.max_healthy_percentage) == (0, 100)
    assert "**The head: terminate first.**" in readme
